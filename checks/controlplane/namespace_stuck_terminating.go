package controlplane

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// NamespaceStuckTerminating fires on namespaces whose deletion does not
// finish, and names what holds them: an aggregated API whose discovery
// fails (the namespace controller then cannot list, so cannot delete, the
// namespace's content), objects that wait on their finalizers, or a
// finalizer on the namespace itself.
var NamespaceStuckTerminating = checks.New(checks.Meta{
	ID:    "namespace.stuck_terminating",
	Title: "Namespace stuck terminating",
	Description: "A namespace has been Terminating (metadata.deletionTimestamp set) for longer than the threshold. " +
		"The namespace controller deletes every object in it before removing the namespace; it stops when API discovery fails for an aggregated API " +
		"(an unavailable APIService such as v1beta1.metrics.k8s.io: NamespaceDeletionDiscoveryFailure), and it waits for objects whose finalizers are never removed " +
		"(their controller was uninstalled first: NamespaceFinalizersRemaining). Meanwhile the namespace's name cannot be reused and re-installs into it fail.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNamespace},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long after its deletion a namespace may still be Terminating (deleting a namespace's content normally takes seconds to a few minutes)"},
	},
	Remedy: "kubectl get namespace NS -o yaml and read status.conditions; for a discovery failure fix or delete the unavailable APIService (kubectl get apiservice | grep False); " +
		"for remaining content list it (kubectl api-resources --verbs=list --namespaced -o name | xargs -n1 kubectl get -n NS --ignore-not-found) and fix the controller that owns its finalizers.",
	Priority: 30,
}, runNamespaceStuckTerminating)

// remaining is an object still in a terminating namespace.
type remaining struct {
	kind       snapshot.Kind
	name       string
	finalizers []string
	deleting   bool
}

func runNamespaceStuckTerminating(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	var terminating []*snapshot.Namespace
	for i := range env.Snap.Namespaces {
		ns := &env.Snap.Namespaces[i]
		if ns.DeletionTimestamp != nil && env.Age(*ns.DeletionTimestamp) >= wait {
			terminating = append(terminating, ns)
		}
	}
	if len(terminating) == 0 {
		return nil
	}
	broken := unavailableAPIServices(env)
	content := map[string][]remaining{}
	snapshot.EachMeta(env.Snap, func(k snapshot.Kind, m *snapshot.Meta) {
		if m.Namespace == "" || k == snapshot.KindEvent {
			return
		}
		content[m.Namespace] = append(content[m.Namespace], remaining{kind: k, name: m.Name, finalizers: m.Finalizers, deleting: m.DeletionTimestamp != nil})
	})

	var out []checks.Finding
	for _, ns := range terminating {
		del := *ns.DeletionTimestamp
		age := env.Age(del)
		ev := []checks.Evidence{{Type: checks.EvField, Path: "metadata.deletionTimestamp", Value: del.Format(time.RFC3339),
			Message: "Terminating for " + node.Round(age), Time: at(del)}}
		var causes []string
		reason := "NamespaceTerminating"

		if len(broken) > 0 {
			reason = "DiscoveryFailed"
			var names []string
			for _, a := range broken {
				c, _ := snapshot.FindCondition(a.Conditions, "Available")
				names = append(names, fmt.Sprintf("%s (%s)", groupVersion(a), nonEmpty(c.Reason, "Available="+nonEmpty(c.Status, "missing"))))
				e := checks.Evidence{Type: checks.EvRelation, Path: "apiservice/" + a.Name + ".status.conditions[Available]",
					Value: nonEmpty(c.Status, "missing"), Message: strings.TrimSpace(c.Reason + ": " + c.Message)}
				if !c.LastTransitionTime.IsZero() {
					e.Time = at(c.LastTransitionTime)
				}
				ev = append(ev, e)
			}
			causes = append(causes, "API discovery fails for "+strings.Join(names, ", ")+
				", so the namespace controller cannot list the namespace's resources to delete them (NamespaceDeletionDiscoveryFailure)")
		}

		if scope := env.Snap.Namespace; scope != "" && scope != ns.Name {
			// Collected for another namespace: this one's content is unknown.
			causes = append(causes, "its content was not collected (the snapshot covers namespace "+scope+" only)")
			ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "params.for", Value: node.Round(wait),
				Message: "namespaces Terminating longer than this are reported"})
			f := env.Finding(checks.Ref(snapshot.KindNamespace, &ns.Meta), reason,
				fmt.Sprintf("namespace %s has been Terminating for %s: %s", ns.Name, node.Round(age), strings.Join(causes, "; ")), ev...)
			f.Since = at(del)
			out = append(out, f)
			continue
		}
		objs := content[ns.Name]
		var held []remaining
		for _, o := range objs {
			if len(o.finalizers) > 0 {
				held = append(held, o)
			}
		}
		sort.SliceStable(held, func(a, b int) bool {
			if held[a].kind != held[b].kind {
				return held[a].kind < held[b].kind
			}
			return held[a].name < held[b].name
		})
		switch {
		case len(held) > 0:
			if reason == "NamespaceTerminating" {
				reason = "FinalizersRemaining"
			}
			var parts []string
			for i, o := range held {
				if i == 3 {
					parts = append(parts, fmt.Sprintf("and %d more", len(held)-3))
					break
				}
				parts = append(parts, fmt.Sprintf("%s %s (finalizers: %s)", o.kind, o.name, strings.Join(o.finalizers, ", ")))
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: strings.ToLower(string(o.kind)) + "/" + ns.Name + "/" + o.name + ".metadata.finalizers",
					Value: strings.Join(o.finalizers, ", "), Message: "the object is not deleted until its finalizers are removed"})
			}
			what := fmt.Sprintf("%d objects in it wait for their finalizers", len(held))
			if len(held) == 1 {
				what = "an object in it waits for its finalizers"
			}
			causes = append(causes, what+": "+strings.Join(parts, "; "))
		case len(objs) > 0:
			if reason == "NamespaceTerminating" {
				reason = "ContentRemaining"
			}
			causes = append(causes, fmt.Sprintf("%s of the collected kinds are still in it", plural(len(objs), "object", "objects")))
		}
		if len(ns.Finalizers) > 0 {
			if reason == "NamespaceTerminating" {
				reason = "FinalizersRemaining"
			}
			causes = append(causes, "the namespace itself carries finalizers "+strings.Join(ns.Finalizers, ", "))
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "metadata.finalizers", Value: strings.Join(ns.Finalizers, ", ")})
		}
		if len(causes) == 0 {
			causes = append(causes, "none of the collected objects remains in it: look for custom resources with finalizers whose controller is gone")
		}
		ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "params.for", Value: node.Round(wait),
			Message: "namespaces Terminating longer than this are reported"})
		f := env.Finding(checks.Ref(snapshot.KindNamespace, &ns.Meta), reason,
			fmt.Sprintf("namespace %s has been Terminating for %s: %s", ns.Name, node.Round(age), strings.Join(causes, "; ")), ev...)
		f.Since = at(del)
		out = append(out, f)
	}
	return out
}

// unavailableAPIServices returns the aggregated APIServices (backed by a
// Service) that are not Available, by name.
func unavailableAPIServices(env *checks.Env) []*snapshot.APIService {
	var out []*snapshot.APIService
	for i := range env.Snap.APIServices {
		a := &env.Snap.APIServices[i]
		if a.Service == nil {
			continue
		}
		if c, ok := snapshot.FindCondition(a.Conditions, "Available"); ok && c.Status != "True" {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// groupVersion renders an APIService's group/version: metrics.k8s.io/v1beta1.
func groupVersion(a *snapshot.APIService) string {
	if a.Group != "" && a.Version != "" {
		return a.Group + "/" + a.Version
	}
	if v, g, ok := strings.Cut(a.Name, "."); ok {
		return g + "/" + v
	}
	return a.Name
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
