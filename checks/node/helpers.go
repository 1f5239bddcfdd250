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

// removalTaints are put on a node by the autoscaler that is about to
// delete it: the Cluster Autoscaler, and Karpenter (v1 and v0.3x).
var removalTaints = []string{"ToBeDeletedByClusterAutoscaler", "karpenter.sh/disrupted", "karpenter.sh/disruption"}

// beingRemoved reports whether a node is on its way out of the cluster:
// being deleted, tainted by an autoscaler that is removing it, or cordoned
// with every workload pod drained from it (a node pool upgrade or a manual
// decommission). Such a node going NotReady is expected.
func beingRemoved(env *checks.Env, n *snapshot.Node) (string, checks.Evidence, bool) {
	if n.DeletionTimestamp != nil {
		return "its Node object is being deleted", checks.Evidence{Type: checks.EvField, Path: "metadata.deletionTimestamp",
			Value: n.DeletionTimestamp.UTC().Format(time.RFC3339), Time: n.DeletionTimestamp}, true
	}
	for _, t := range n.Taints {
		for _, k := range removalTaints {
			if t.Key == k {
				return "taint " + t.Key, checks.Evidence{Type: checks.EvField, Path: "spec.taints[" + t.Key + "]", Value: t.Effect,
					Message: "an autoscaler is removing the node", Time: t.TimeAdded}, true
			}
		}
	}
	if !n.Unschedulable {
		return "", checks.Evidence{}, false
	}
	if _, gap := env.Snap.Gap(snapshot.KindPod); gap || env.Snap.Namespace != "" {
		return "", checks.Evidence{}, false // not every pod of the node is known
	}
	for _, p := range env.Index.PodsByNode[n.Name] {
		if !terminal(p) && !daemonPod(p) && p.DeletionTimestamp == nil {
			return "", checks.Evidence{}, false
		}
	}
	return "cordoned and drained", checks.Evidence{Type: checks.EvField, Path: "spec.unschedulable", Value: "true",
		Message: "cordoned, and no workload pod runs on it any more"}, true
}

// virtualNode reports whether a node is not a machine with a kubelet but a
// virtual-kubelet provider (AKS virtual nodes on ACI, Admiralty, Liqo) or a
// kwok simulation: their version and pod counts follow other rules.
func virtualNode(n *snapshot.Node) bool {
	if _, kwok := n.Annotations["kwok.x-k8s.io/node"]; kwok {
		return true
	}
	if n.Labels["type"] == "virtual-kubelet" {
		return true
	}
	for _, t := range n.Taints {
		if t.Key == "virtual-kubelet.io/provider" {
			return true
		}
	}
	return false
}
