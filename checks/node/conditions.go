// Package node holds the checks over Nodes: readiness, pressure
// conditions, heartbeats, scheduling and capacity.
package node

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// conditionCheck builds a check that fires while a node condition has a
// given status for longer than the check's `for` parameter.
func conditionCheck(m checks.Meta, condType, badStatus, reason string, describe func(n *snapshot.Node, c snapshot.Condition, age time.Duration) string) checks.Check {
	m.Requires = []snapshot.Kind{snapshot.KindNode}
	m.Params = append([]checks.Param{{Name: "for", Type: checks.Duration, Default: "1m",
		Description: "how long the condition must hold before the check fires"}}, m.Params...)
	return checks.New(m, func(ctx context.Context, env *checks.Env) []checks.Finding {
		var out []checks.Finding
		wait := env.Params.Duration("for")
		for i := range env.Snap.Nodes {
			n := &env.Snap.Nodes[i]
			c, ok := snapshot.FindCondition(n.Conditions, condType)
			if !ok || c.Status != badStatus {
				continue
			}
			since := c.LastTransitionTime
			age := env.Age(since)
			if !since.IsZero() && age < wait {
				continue
			}
			f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), reason, describe(n, c, age),
				ConditionEvidence(c))
			if condType == "Ready" {
				// A node that is being removed goes NotReady or
				// unreachable on its way out: worth a note, not a page.
				if why, ev, ok := beingRemoved(env, n); ok {
					f.Severity = checks.Info
					f.Message += "; the node is being removed (" + why + ")"
					f.Evidence = append(f.Evidence, ev)
				}
			}
			if !since.IsZero() {
				f.Since = &since
			}
			f.Node = n.Name
			out = append(out, f)
		}
		return out
	})
}

// ConditionEvidence renders a node condition as evidence.
func ConditionEvidence(c snapshot.Condition) checks.Evidence {
	ev := checks.Evidence{Type: checks.EvCondition, Path: "status.conditions[" + c.Type + "]",
		Value: c.Status, Message: checks.JoinNonEmpty(c.Reason, c.Message)}
	if !c.LastTransitionTime.IsZero() {
		t := c.LastTransitionTime
		ev.Time = &t
	}
	return ev
}

// Round renders a duration for people (see checks.Round).
func Round(d time.Duration) string { return checks.Round(d) }

// NotReady fires when the kubelet itself reports the node not ready.
var NotReady = conditionCheck(checks.Meta{
	ID:    "node.not_ready",
	Title: "Node not ready",
	Description: "The kubelet reports Ready=False: the node runs but cannot host pods (runtime down, CNI not ready, PLEG unhealthy, pressure). " +
		"A node on its way out (being deleted, tainted by the Cluster Autoscaler or Karpenter for removal, or cordoned and drained) is reported as info.",
	Severity: checks.Critical,
	Priority: 90,
	Remedy:   "kubectl describe node NODE; check the kubelet and container runtime on the node (journalctl -u kubelet).",
}, "Ready", "False", "NodeNotReady", func(n *snapshot.Node, c snapshot.Condition, age time.Duration) string {
	return fmt.Sprintf("node %s is NotReady for %s: %s", n.Name, Round(age), checks.JoinNonEmpty(c.Reason, c.Message))
})

// Unreachable fires when the node controller lost the kubelet's status
// (Ready=Unknown), typically a dead node, a stopped kubelet or a partition.
var Unreachable = conditionCheck(checks.Meta{
	ID:    "node.unreachable",
	Title: "Node unreachable",
	Description: "Ready=Unknown: the kubelet stopped posting node status (node down, kubelet stopped, or network partition). Pods on it are evicted after the toleration period. " +
		"A node on its way out (being deleted, tainted by the Cluster Autoscaler or Karpenter for removal, or cordoned and drained) is reported as info.",
	Severity: checks.Critical,
	Priority: 95,
	Remedy:   "Check whether the machine is up and the kubelet runs; if the node is gone, delete the Node object so its pods are rescheduled.",
}, "Ready", "Unknown", "NodeUnreachable", func(n *snapshot.Node, c snapshot.Condition, age time.Duration) string {
	msg := c.Message
	if msg == "" {
		msg = "Kubelet stopped posting node status"
	}
	return fmt.Sprintf("node %s is unreachable for %s: %s", n.Name, Round(age), msg)
})

func pressure(id, cond, title, what, remedy string) checks.Check {
	return conditionCheck(checks.Meta{
		ID: id, Title: title, Severity: checks.Warning, Priority: 60, Remedy: remedy,
		Description: fmt.Sprintf("The kubelet reports %s=True: %s", cond, what),
	}, cond, "True", cond, func(n *snapshot.Node, c snapshot.Condition, age time.Duration) string {
		return fmt.Sprintf("node %s has %s for %s: %s", n.Name, cond, Round(age), checks.JoinNonEmpty(c.Reason, c.Message))
	})
}

// MemoryPressure fires on MemoryPressure=True.
var MemoryPressure = pressure("node.memory_pressure", "MemoryPressure", "Node under memory pressure",
	"available memory is below the eviction threshold; the kubelet evicts pods and the scheduler avoids the node.",
	"Find the largest consumers (kubectl top pods --sort-by=memory -A on the node) and set memory limits.")

// DiskPressure fires on DiskPressure=True.
var DiskPressure = pressure("node.disk_pressure", "DiskPressure", "Node under disk pressure",
	"the root or image filesystem is nearly full; the kubelet garbage-collects images and evicts pods.",
	"Free space on the node: prune unused images (crictl rmi --prune), large emptyDir volumes and logs.")

// PIDPressure fires on PIDPressure=True.
var PIDPressure = pressure("node.pid_pressure", "PIDPressure", "Node under PID pressure",
	"the node is running out of process IDs; new processes and containers fail to start.",
	"Find the pod leaking processes or threads; set pod PID limits (podPidsLimit).")

// NetworkUnavailable fires on NetworkUnavailable=True.
var NetworkUnavailable = pressure("node.network_unavailable", "NetworkUnavailable", "Node network unavailable",
	"the node's network (routes, CNI) is not configured; pods on it cannot reach the cluster network.",
	"Check the CNI plugin's pod on the node and the cloud route controller.")

// Checks lists the node checks.
func Checks() []checks.Check {
	return []checks.Check{
		NotReady, Unreachable, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable,
		Cordoned, HeartbeatStale, KubeletVersionSkew, PodsNearCapacity, ReadinessFlapping, ProblemCondition,
	}
}
