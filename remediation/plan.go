package remediation

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Plan says what the engine would decide for an alert (labels) or a
// finding, without recording or doing anything: the matching playbook,
// the target, every guard's verdict as of now, the diagnosis findings and
// the steps it would take. It returns nil when no playbook matches.
// `patrol remediate --dry-run` and `patrol runbook` show it.
func (e *Engine) Plan(ctx context.Context, labels map[string]string, f *checks.Finding) *ledger.Record {
	now := e.clock.Now().UTC()
	var pb *playbook
	var target checks.ObjectRef
	var targetErr error
	trig := ledger.Trigger{Status: "firing"}
	switch {
	case f != nil:
		trig.Source, trig.Fingerprint, trig.Check, trig.Severity, trig.Message = "finding", f.Key(), f.Check, string(f.Severity), f.Message
		for _, p := range e.playbooks() {
			if !p.matchFinding(f) {
				continue
			}
			if t, ok := p.findingTarget(f); ok && p.selects(t) {
				pb, target = p, t
				break
			}
		}
	default:
		trig.Source, trig.Alertname, trig.Labels, trig.Severity = "alertmanager", labels["alertname"], labels, labels["severity"]
		if pb = e.matchAlert(labels); pb != nil {
			target, targetErr = pb.alertTarget(labels)
		}
	}
	if pb == nil {
		return nil
	}
	rec := &ledger.Record{
		Schema: ledger.RecordSchema, Cluster: e.opt.Cluster, State: ledger.Planned, Trigger: trig, Target: target,
		Playbook: pb.Name, PlaybookVersion: pb.Version, DryRun: true, CreatedAt: now, UpdatedAt: now,
	}
	if f != nil {
		rec.Evidence = f.Evidence
	}
	if targetErr != nil {
		rec.State = ledger.Refused
		rec.Guards = []ledger.Verdict{{Guard: GuardTarget, Reason: targetErr.Error()}}
		rec.Message = "refused by guard target: " + targetErr.Error()
		return rec
	}
	snap := e.snapshot(ctx)
	sick := e.sick(target.Kind, snap)
	if f == nil && !e.unhealthyNodes(snap)[target.String()] {
		e.mu.Lock()
		if !e.firing[target.Kind][target.String()][trig.Fingerprint] {
			sick++ // the alert itself says its target is sick
		}
		e.mu.Unlock()
	}
	var refusal *ledger.Verdict
	rec.Guards, refusal = e.guards.Evaluate(decision{
		pb: pb, target: target, dryRun: e.opt.DryRun || !pb.Enabled, now: now, snap: snap, sick: sick,
		pageOnly: len(pb.Steps) == 0, plan: true,
	})
	if len(pb.Diagnosis.Checks) > 0 {
		rec.Findings = e.runChecks(ctx, pb.Diagnosis.Checks, target, true)
	}
	for _, st := range pb.Steps {
		s := ledger.Step{Name: st.Name, Action: st.Action, Target: target, Params: st.Params, Risk: risk(st), Status: ledger.StepDryRun}
		switch {
		case refusal != nil:
			s.Status, s.Message = ledger.StepSkipped, "refused by guard "+refusal.Guard
		case !st.IsEnabled():
			s.Status, s.Message = ledger.StepSkipped, "step is switched off in the playbook (enabled: false)"
		case st.When == "node_gone":
			if gone, why := e.nodeGone(ctx, target); !gone {
				s.Status, s.Message = ledger.StepSkipped, "when node_gone: "+why
			} else {
				s.Message = "would " + describe(st.Action, target, st.Params) + " (" + why + ")"
			}
		default:
			s.Message = "would " + describe(st.Action, target, st.Params)
			if s.Risk == "high" {
				s.Message += " after approval (high risk)"
			}
		}
		rec.Steps = append(rec.Steps, s)
	}
	if refusal != nil {
		rec.State, rec.Message = ledger.Refused, "refused by guard "+refusal.Guard+": "+refusal.Reason
	} else if pb.Escalate != nil && (len(pb.Steps) == 0 || pb.Verify != nil) {
		rec.Message = "would page " + strings.Join(pb.Escalate.Pagers, ", ")
		if len(pb.Steps) > 0 {
			rec.Message += " if " + strings.Join(pb.Verify.Checks, ", ") + " still fire after " + pb.Verify.Timeout.Value().String()
		}
	}
	return rec
}

// describe says in words what a step does.
func describe(action string, t checks.ObjectRef, p map[string]string) string {
	switch action {
	case "cordon":
		return "cordon " + t.String() + " (spec.unschedulable: true)"
	case "uncordon":
		return "uncordon " + t.String()
	case "drain":
		return "drain " + t.String() + " (evictions honouring PodDisruptionBudgets, timeout " + orDefault(p["timeout"], "5m") + ")"
	case "restart":
		return "rollout-restart " + t.String()
	case "delete_pod":
		s := "delete " + t.String()
		if p["force"] == "true" {
			s += " with grace period 0"
		}
		return s
	case "scale":
		if r := p["replicas"]; r != "" {
			return "scale " + t.String() + " to " + r + " replicas"
		}
		return "scale " + t.String() + " by " + p["delta"]
	case "annotate":
		return fmt.Sprintf("annotate %s with %s=%s", t, p["key"], p["value"])
	case "page":
		return "page " + orDefault(p["pagers"], "the playbook's pagers")
	}
	return action + " " + t.String()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
