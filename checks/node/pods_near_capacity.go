package node

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PodsNearCapacity fires when a node hosts almost as many pods as its
// allocatable pod count (the kubelet's maxPods): new pods then fail to
// schedule there with "Too many pods" even when CPU and memory are free.
var PodsNearCapacity = checks.New(checks.Meta{
	ID:    "node.pods_near_capacity",
	Title: "Node near its pod limit",
	Description: "The non-terminated pods on the node reach the threshold share of its allocatable pods (the kubelet's maxPods, often 110, or fewer on cloud CNIs that allot IPs per node). " +
		"At the limit the scheduler rejects the node with \"Too many pods\" whatever its free CPU and memory.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNode, snapshot.KindPod},
	Params: []checks.Param{
		{Name: "threshold", Type: checks.Float, Default: "95",
			Description: "percentage of allocatable pods in use at which the check fires (kubernetes-mixin's KubeletTooManyPods uses 95%)"},
	},
	Remedy:   "Spread or reduce pods (kubectl get pods -A -o wide --field-selector spec.nodeName=NODE), add nodes, or raise the kubelet's maxPods where the CNI's IP allotment allows.",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	threshold := env.Params.Float("threshold")
	var out []checks.Finding
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		limit := n.Allocatable["pods"]
		if limit <= 1 || n.Labels["eks.amazonaws.com/compute-type"] == "fargate" || virtualNode(n) {
			// A node made for one pod (EKS Fargate) is full by design;
			// virtual nodes have no real pod limit.
			continue
		}
		var running int64
		for _, p := range env.Index.PodsByNode[n.Name] {
			if !terminal(p) {
				running++
			}
		}
		pct := 100 * float64(running) / float64(limit)
		if pct < threshold {
			continue
		}
		msg := fmt.Sprintf("node %s runs %d of its %d allocatable pods (%.0f%%)", n.Name, running, limit, pct)
		reason := "PodsNearCapacity"
		if running >= limit {
			reason = "TooManyPods"
			msg += "; the scheduler rejects it with \"Too many pods\""
		}
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), reason, msg,
			checks.Evidence{Type: checks.EvField, Path: "status.allocatable.pods", Value: strconv.FormatInt(limit, 10)},
			checks.Evidence{Type: checks.EvRelation, Path: "pods", Value: strconv.FormatInt(running, 10),
				Message: "pods bound to the node that are not Succeeded or Failed"},
			checks.Evidence{Type: checks.EvThreshold, Path: "threshold", Value: fmt.Sprintf("%g%%", threshold)})
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})
