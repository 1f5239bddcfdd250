package node

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// unschedulableTaint is the taint the node lifecycle controller adds (with
// its timeAdded) when spec.unschedulable is set, i.e. on kubectl cordon.
const unschedulableTaint = "node.kubernetes.io/unschedulable"

// Cordoned fires on nodes left unschedulable for longer than a threshold:
// a cordon forgotten after maintenance quietly removes capacity.
var Cordoned = checks.New(checks.Meta{
	ID:    "node.cordoned",
	Title: "Node cordoned for long",
	Description: "The node has spec.unschedulable=true (kubectl cordon or drain) for longer than the threshold. " +
		"A cordon left behind after maintenance silently removes the node's capacity from the scheduler.",
	Severity: checks.Info,
	Requires: []snapshot.Kind{snapshot.KindNode},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "24h",
			Description: "how long the node must be unschedulable before the check fires (info)"},
		{Name: "warn_after", Type: checks.Duration, Default: "7d",
			Description: "how long the node must be unschedulable before the finding is a warning"},
	},
	Remedy:   "If the maintenance is over: kubectl uncordon NODE; if the node is being retired, drain and delete it (kubectl drain NODE --ignore-daemonsets --delete-emptydir-data; kubectl delete node NODE).",
	Priority: 20,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait, warnAfter := env.Params.Duration("for"), env.Params.Duration("warn_after")
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if !n.Unschedulable {
			continue
		}
		ev := []checks.Evidence{{Type: checks.EvField, Path: "spec.unschedulable", Value: "true"}}
		var since time.Time
		for _, t := range n.Taints {
			if t.Key == unschedulableTaint && t.TimeAdded != nil {
				since = *t.TimeAdded
				ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "spec.taints[" + unschedulableTaint + "].timeAdded",
					Value: since.Format(time.RFC3339), Message: "taint added when the node was cordoned", Time: at(since)})
				break
			}
		}
		if since.IsZero() {
			// Older dumps may miss the taint; the kubelet records
			// NodeNotSchedulable when it sees the cordon.
			if e := latestNodeEvent(env.Index, n.Name, "NodeNotSchedulable"); e != nil {
				// The newest occurrence: an aggregated event may span
				// earlier cordons that were lifted since.
				since = e.LastTime
				ev = append(ev, checks.Evidence{Type: checks.EvEvent, Path: "events[NodeNotSchedulable]", Value: e.Reason,
					Message: e.Message, Source: e.Source, Time: at(since)})
			}
		}
		if since.IsZero() {
			// Without a start time the cordon may be seconds old (a drain
			// in progress): stay quiet rather than guess.
			continue
		}
		age := env.Age(since)
		if age < wait {
			continue
		}
		var workloads, daemons int
		for _, p := range env.Index.PodsByNode[n.Name] {
			if terminal(p) {
				continue
			}
			if daemonPod(p) {
				daemons++
			} else {
				workloads++
			}
		}
		state := plural(workloads, "workload pod") + " still run on it"
		if workloads == 1 {
			state = "1 workload pod still runs on it"
		}
		if workloads == 0 {
			state = "no workload pod runs on it (drained), so its capacity is idle"
			if env.Snap.Namespace != "" {
				state = "no workload pod of namespace " + env.Snap.Namespace + " runs on it (other namespaces were not collected)"
			}
		}
		ev = append(ev,
			checks.Evidence{Type: checks.EvRelation, Path: "pods", Value: fmt.Sprintf("%d", workloads),
				Message: fmt.Sprintf("%s and %s on the node", plural(workloads, "non-DaemonSet pod"), plural(daemons, "DaemonSet/static pod"))},
			checks.Evidence{Type: checks.EvThreshold, Path: "for", Value: Round(wait), Message: "cordoned for " + Round(age)})
		msg := fmt.Sprintf("node %s has been cordoned (unschedulable) for %s; %s", n.Name, Round(age), state)
		if c, st := readyState(n); st != "" && st != "True" {
			msg += fmt.Sprintf("; it is also Ready=%s", st)
			ev = append(ev, ConditionEvidence(c))
		}
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), "NodeCordoned", msg, ev...)
		if age >= warnAfter {
			f.Severity = checks.Warning
		}
		f.Since = at(since)
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})
