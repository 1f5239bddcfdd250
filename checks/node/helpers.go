package node

import (
	"fmt"
	"sort"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// at returns a pointer to a copy of t, for Evidence.Time and Finding.Since.
func at(t time.Time) *time.Time { return &t }

// terminal reports whether a pod has finished (Succeeded or Failed): the
// kubelet and scheduler no longer count it against the node.
func terminal(p *snapshot.Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// daemonPod reports whether a pod belongs to a DaemonSet (or is a static
// mirror pod): such pods stay on cordoned nodes by design.
func daemonPod(p *snapshot.Pod) bool {
	for _, o := range p.Owners {
		if o.Kind == "DaemonSet" || o.Kind == "Node" {
			return true
		}
	}
	return false
}

// readyState returns the node's Ready condition status ("True", "False",
// "Unknown", or "" when the kubelet never reported one).
func readyState(n *snapshot.Node) (snapshot.Condition, string) {
	c, ok := snapshot.FindCondition(n.Conditions, "Ready")
	if !ok {
		return c, ""
	}
	return c, c.Status
}

// nodeEvents returns the events about a node, oldest first. Node events
// normally carry no involved namespace, but some recorders put them in
// "default"; both are read.
func nodeEvents(ix *checks.Index, name string) []*snapshot.Event {
	a := ix.EventsFor(snapshot.KindNode, "", name)
	b := ix.EventsFor(snapshot.KindNode, "default", name)
	if len(b) == 0 {
		return a
	}
	out := append(append([]*snapshot.Event{}, a...), b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTime.Before(out[j].LastTime) })
	return out
}

// latestNodeEvent returns the newest event about a node with one of the
// reasons.
func latestNodeEvent(ix *checks.Index, name string, reasons ...string) *snapshot.Event {
	evs := nodeEvents(ix, name)
	for i := len(evs) - 1; i >= 0; i-- {
		for _, r := range reasons {
			if evs[i].Reason == r {
				return evs[i]
			}
		}
	}
	return nil
}

// plural renders "1 pod", "3 pods".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
