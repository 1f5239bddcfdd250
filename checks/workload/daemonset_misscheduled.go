package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DaemonSetMisscheduled fires when daemon pods run on nodes the DaemonSet
// no longer targets.
var DaemonSetMisscheduled = checks.New(checks.Meta{
	ID:    "daemonset.misscheduled",
	Title: "DaemonSet pods on nodes they should not run on",
	Description: "status.numberMisscheduled is above zero: daemon pods keep running on nodes the DaemonSet " +
		"should not run on, typically because the node got a NoSchedule taint the pods do not tolerate " +
		"(running pods are not evicted by NoSchedule) or its labels changed. They use resources and may do " +
		"work (log shipping, storage plugins) on nodes meant for something else, and the DaemonSet's " +
		"counts no longer add up.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDaemonSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long pods must be misscheduled before the check fires (kubernetes-mixin KubeDaemonSetMisScheduled)"},
	},
	Remedy:   "kubectl get pods -n NS -o wide -l SELECTOR to find the pods on the nodes named in the finding; delete them, or add the toleration / fix the node labels if they should run there.",
	Priority: 30,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.DaemonSets {
		ds := &env.Snap.DaemonSets[i]
		if ds.NumberMisscheduled <= 0 || ds.DeletionTimestamp != nil || env.Age(ds.CreationTimestamp) < wait {
			continue
		}
		// Find the pods the controller counts as misscheduled: on a node
		// whose labels no longer match, or with a taint the DaemonSet's
		// tolerations (and the controller's defaults) do not tolerate.
		var suspects []string
		var ev []checks.Evidence
		var newest time.Time
		for _, p := range podsOf(env, ds.UID) {
			if p.NodeName == "" || p.DeletionTimestamp != nil {
				continue
			}
			n := env.Index.Nodes[p.NodeName]
			if n == nil {
				continue
			}
			why := ""
			if kv, bad := selectorMismatch(ds.NodeSelector, n); bad {
				why = "node no longer matches nodeSelector " + kv
			} else if t, tainted := blockingTaint(ds, n); tainted {
				why = "node has taint " + taintString(t) + ", which the DaemonSet does not tolerate"
				if t.TimeAdded != nil && t.TimeAdded.After(newest) {
					newest = *t.TimeAdded
				}
			}
			if why == "" {
				continue
			}
			suspects = append(suspects, fmt.Sprintf("pod %s on %s (%s)", p.Name, n.Name, why))
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "pod/" + p.Name, Value: n.Name, Message: why, Source: "node/" + n.Name})
		}
		if !newest.IsZero() && env.Age(newest) < wait {
			continue
		}
		msg := fmt.Sprintf("daemonset %s has %s on nodes it should not run on", ds.Name, plural(int(ds.NumberMisscheduled), "pod", "pods"))
		if len(suspects) > 0 {
			msg += ": " + strings.Join(suspects, "; ")
		}
		ev = append([]checks.Evidence{fieldEvidence("status.numberMisscheduled", fmt.Sprint(ds.NumberMisscheduled),
			fmt.Sprintf("desiredNumberScheduled=%d, currentNumberScheduled=%d", ds.DesiredNumberScheduled, ds.CurrentNumberScheduled), nil)}, ev...)
		f := env.Finding(checks.Ref(snapshot.KindDaemonSet, &ds.Meta), "Misscheduled", msg, ev...)
		if !newest.IsZero() {
			f.Since = at(newest)
		}
		out = append(out, f)
	}
	return out
})
