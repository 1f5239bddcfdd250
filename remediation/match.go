package remediation

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/rules"
)

// playbook is a validated playbook with its matchers compiled.
type playbook struct {
	*rules.Playbook
	alerts   []alertMatch
	severity checks.Severity
	maxUnh   float64 // 0: use the global value
}

type alertMatch struct {
	name     string
	matchers []*rules.Matcher
}

func compile(pbs []*rules.Playbook) ([]*playbook, error) {
	out := make([]*playbook, 0, len(pbs))
	for _, pb := range pbs {
		c := &playbook{Playbook: pb, severity: checks.Warning}
		if pb.Trigger.Severity != "" {
			s, err := checks.ParseSeverity(pb.Trigger.Severity)
			if err != nil {
				return nil, fmt.Errorf("playbook %s: %w", pb.Name, err)
			}
			c.severity = s
		}
		for _, a := range pb.Trigger.Alerts {
			am := alertMatch{name: a.Alertname}
			for _, m := range a.Matchers {
				pm, err := rules.ParseMatcher(m)
				if err != nil {
					return nil, fmt.Errorf("playbook %s: %w", pb.Name, err)
				}
				am.matchers = append(am.matchers, pm)
			}
			c.alerts = append(c.alerts, am)
		}
		if pb.Guards.MaxUnhealthy != "" {
			f, err := rules.ParseFraction(pb.Guards.MaxUnhealthy)
			if err != nil {
				return nil, fmt.Errorf("playbook %s: max_unhealthy: %w", pb.Name, err)
			}
			c.maxUnh = f
		}
		out = append(out, c)
	}
	return out, nil
}

// matchAlert reports whether the playbook is triggered by an alert.
func (p *playbook) matchAlert(labels map[string]string) bool {
	for _, a := range p.alerts {
		if a.name != "" && a.name != labels["alertname"] {
			continue
		}
		ok := true
		for _, m := range a.matchers {
			if !m.Matches(labels) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// matchFinding reports whether the playbook is triggered by a finding.
func (p *playbook) matchFinding(f *checks.Finding) bool {
	if f.Status == checks.Unknown || f.Severity.Rank() < p.severity.Rank() {
		return false
	}
	for _, sel := range p.Trigger.Checks {
		if f.Check == sel || strings.HasPrefix(f.Check, sel+".") {
			return true
		}
	}
	return false
}

// selects reports whether the target passes the trigger's object selector.
func (p *playbook) selects(t checks.ObjectRef) bool {
	o := p.Trigger.Object
	if o.Kind != "" && !strings.EqualFold(o.Kind, t.Kind) {
		return false
	}
	if len(o.Namespaces) > 0 && !slices.Contains(o.Namespaces, t.Namespace) {
		return false
	}
	if len(o.Names) > 0 {
		for _, g := range o.Names {
			if ok, _ := path.Match(g, t.Name); ok {
				return true
			}
		}
		return false
	}
	return true
}

// targetKind is the kind of object the playbook acts on.
func (p *playbook) targetKind() string {
	if p.Target.Kind != "" {
		return p.Target.Kind
	}
	return p.Trigger.Object.Kind
}

// alertTarget derives the target object from an alert's labels.
func (p *playbook) alertTarget(labels map[string]string) (checks.ObjectRef, error) {
	kind := p.targetKind()
	if kind == "" {
		return checks.ObjectRef{}, fmt.Errorf("playbook %s names no target kind", p.Name)
	}
	nameLabel, nsLabel := p.Target.NameLabel, p.Target.NamespaceLabel
	if nameLabel == "" {
		nameLabel = strings.ToLower(kind)
	}
	t := checks.ObjectRef{Kind: kind, Name: labels[nameLabel]}
	if t.Name == "" {
		return t, fmt.Errorf("alert %s has no %q label to name the %s", labels["alertname"], nameLabel, kind)
	}
	if nsLabel != "" {
		t.Namespace = labels[nsLabel]
		if t.Namespace == "" {
			return t, fmt.Errorf("alert %s has no %q label to name the %s's namespace", labels["alertname"], nsLabel, kind)
		}
	}
	return t, nil
}

// findingTarget is the object of a finding, or its node when the playbook
// acts on nodes and the finding is about something running on one.
func (p *playbook) findingTarget(f *checks.Finding) (checks.ObjectRef, bool) {
	kind := p.targetKind()
	if kind == "" || strings.EqualFold(kind, f.Object.Kind) {
		return f.Object, true
	}
	if strings.EqualFold(kind, "Node") && f.Node != "" {
		return checks.ObjectRef{Kind: "Node", Name: f.Node}, true
	}
	return checks.ObjectRef{}, false
}
