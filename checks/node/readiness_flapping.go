package node

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ReadinessFlapping fires on nodes whose Ready condition goes back and
// forth: each NotReady spell evicts or strands pods, and a node that keeps
// recovering hides from checks that look at one moment only.
var ReadinessFlapping = checks.New(checks.Meta{
	ID:    "node.readiness_flapping",
	Title: "Node readiness flapping",
	Description: "The node went NotReady (NodeNotReady / NodeReady events) repeatedly within the window and its Ready condition changed recently. " +
		"Flapping nodes (kubelet restarts, runtime hangs, PLEG timeouts, network drops) disrupt pods each time and are easy to miss in a single look.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNode, snapshot.KindEvent},
	Params: []checks.Param{
		{Name: "window", Type: checks.Duration, Default: "1h",
			Description: "how far back readiness transitions are counted"},
		{Name: "min_flaps", Type: checks.Int, Default: "3",
			Description: "NotReady spells within the window at which the check fires"},
	},
	Remedy:   "Look at why the node drops: kubectl describe node NODE (events, conditions) and journalctl -u kubelet -u containerd on the node around the transitions (PLEG, runtime, OOM, network).",
	Priority: 70,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	window, minFlaps := env.Params.Duration("window"), env.Params.Int("min_flaps")
	start := env.Now.Add(-window)
	var out []checks.Finding
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		ready, st := readyState(n)
		if st != "" && !ready.LastTransitionTime.IsZero() && ready.LastTransitionTime.Before(start) {
			// No Ready transition within the window: whatever the events
			// say, the node has not flapped in it.
			continue
		}
		down := map[string]int{} // NodeNotReady by source: kubelet and node controller both record one
		up := map[string]int{}
		var evs []*snapshot.Event
		var first time.Time
		for _, e := range nodeEvents(env.Index, n.Name) {
			if (e.Reason != "NodeNotReady" && e.Reason != "NodeReady") || e.LastTime.Before(start) {
				continue
			}
			c := checks.EventCountSince(e, start)
			if e.Reason == "NodeNotReady" {
				down[e.Source] += c
			} else {
				up[e.Source] += c
			}
			evs = append(evs, e)
			f := e.FirstTime
			if f.IsZero() {
				f = e.LastTime
			}
			if first.IsZero() || f.Before(first) {
				first = f
			}
		}
		flaps := max(maxOf(down), maxOf(up))
		if flaps < minFlaps {
			continue
		}
		msg := fmt.Sprintf("node %s went NotReady about %d times in the last %s", n.Name, flaps, Round(window))
		var ev []checks.Evidence
		if st != "" {
			msg += fmt.Sprintf("; it has been Ready=%s for %s", st, Round(env.Age(ready.LastTransitionTime)))
			ev = append(ev, ConditionEvidence(ready))
		}
		// Newest events first, a handful is enough to show the pattern.
		for j := len(evs) - 1; j >= 0 && len(ev) < 6; j-- {
			e := evs[j]
			ev = append(ev, checks.Evidence{Type: checks.EvEvent, Path: "events[" + e.Reason + "]",
				Value: fmt.Sprintf("%s x%d", e.Reason, e.Count), Message: e.Message, Source: e.Source, Time: at(e.LastTime)})
		}
		ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "min_flaps", Value: strconv.Itoa(minFlaps),
			Message: "NotReady spells within " + Round(window)})
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), "NodeReadinessFlapping", msg, ev...)
		if !first.IsZero() {
			f.Since = at(first)
		}
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})

func maxOf(m map[string]int) int {
	best := 0
	for _, v := range m {
		best = max(best, v)
	}
	return best
}
