package node

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// problemConditions are node conditions that node-problem-detector (and the
// cloud providers' variants of it: GKE, AKS) set to True when it detects a
// problem, with what the problem means.
var problemConditions = map[string]string{
	"KernelDeadlock":              "the kernel reports hung tasks (a deadlock): containers on it may hang",
	"ReadonlyFilesystem":          "a filesystem was remounted read-only after I/O errors: pods cannot write",
	"FilesystemCorruptionProblem": "filesystem corruption was detected",
	"CorruptDockerOverlay2":       "the container runtime's overlay2 storage is corrupt",
	"FrequentKubeletRestart":      "the kubelet keeps restarting",
	"FrequentDockerRestart":       "Docker keeps restarting",
	"FrequentContainerdRestart":   "containerd keeps restarting",
	"FrequentCrioRestart":         "CRI-O keeps restarting",
	"FrequentUnregisterNetDevice": "the kernel keeps failing to unregister network devices (pods get stuck terminating)",
	"ContainerRuntimeProblem":     "the container runtime is unhealthy",
	"ContainerRuntimeUnhealthy":   "the container runtime is unhealthy",
	"KubeletProblem":              "the kubelet is unhealthy",
	"KubeletUnhealthy":            "the kubelet is unhealthy",
	"DockerProblem":               "Docker is unhealthy",
	"SystemdProblem":              "systemd reports failed units",
	"NTPProblem":                  "the clock is not synchronised",
	"GPUProblem":                  "a GPU reports errors",
	"RebootScheduled":             "the cloud provider scheduled a reboot of the VM",
	"RedeployScheduled":           "the cloud provider scheduled a redeploy of the VM",
	"FreezeScheduled":             "the cloud provider scheduled a freeze of the VM",
	"PreemptScheduled":            "the cloud provider will preempt (evict) the spot VM",
	"TerminateScheduled":          "the cloud provider scheduled the VM's termination",
	"VMEventScheduled":            "the cloud provider scheduled a maintenance event on the VM",
}

// ProblemCondition fires on nodes where node-problem-detector (or a cloud
// provider's node health agent) set a problem condition to True.
var ProblemCondition = checks.New(checks.Meta{
	ID:    "node.problem_condition",
	Title: "Node problem detected",
	Description: "A node condition that node-problem-detector, or the node health agent of GKE or AKS, sets to True on a problem is True: " +
		"KernelDeadlock, ReadonlyFilesystem, CorruptDockerOverlay2, FrequentKubeletRestart, FrequentContainerdRestart, FrequentUnregisterNetDevice, " +
		"ContainerRuntimeProblem, KubeletProblem, or a scheduled VM event (RebootScheduled, PreemptScheduled, TerminateScheduled…). " +
		"The node may still be Ready while pods on it hang, fail to write or are about to be evicted.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNode},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "1m",
		Description: "how long the condition must have been True before the check fires"}},
	Remedy: "kubectl describe node NODE and read the condition's message; drain and replace the node for kernel, filesystem and runtime problems " +
		"(kubectl drain NODE --ignore-daemonsets --delete-emptydir-data), or move workloads off it before a scheduled VM event.",
	Priority: 65,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	var out []checks.Finding
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		var hits []snapshot.Condition
		for _, c := range n.Conditions {
			if _, known := problemConditions[c.Type]; !known || c.Status != "True" {
				continue
			}
			if !c.LastTransitionTime.IsZero() && env.Age(c.LastTransitionTime) < wait {
				continue
			}
			hits = append(hits, c)
		}
		if len(hits) == 0 {
			continue
		}
		sort.SliceStable(hits, func(a, b int) bool { return hits[a].Type < hits[b].Type })
		var parts []string
		var ev []checks.Evidence
		var since time.Time
		for _, c := range hits {
			p := c.Type + ": " + problemConditions[c.Type]
			if m := strings.TrimSpace(checks.JoinNonEmpty(c.Reason, c.Message)); m != "" {
				p += " (" + m + ")"
			}
			parts = append(parts, p)
			ev = append(ev, ConditionEvidence(c))
			if !c.LastTransitionTime.IsZero() && (since.IsZero() || c.LastTransitionTime.Before(since)) {
				since = c.LastTransitionTime
			}
		}
		w := hits[0]
		msg := fmt.Sprintf("node %s reports %s", n.Name, strings.Join(parts, "; "))
		if !since.IsZero() {
			msg += fmt.Sprintf(", for %s", Round(env.Age(since)))
		}
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), w.Type, msg, ev...)
		if !since.IsZero() {
			f.Since = at(since)
		}
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})
