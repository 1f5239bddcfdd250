package pod

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Evicted reports pods the kubelet evicted (or rejected at admission) that
// linger as Failed objects.
var Evicted = checks.New(checks.Meta{
	ID:    "pod.evicted",
	Title: "Pod evicted",
	Description: "The kubelet evicted the pod (phase Failed, reason Evicted) because its node ran short of memory, disk or PIDs, or the pod outgrew its ephemeral-storage limit; " +
		"pods the kubelet rejected at admission (OutOfcpu, OutOfmemory, NodeAffinity, UnexpectedAdmissionError) or killed for a node shutdown are reported the same way. " +
		"Their controllers replace them, but the Failed pods stay until deleted, and many of them point at a node or workload short of a resource.",
	Severity: checks.Info,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "warnAt", Type: checks.Int, Default: "10",
		Description: "number of evicted pods in one namespace from which each of them is reported as a warning (they are accumulating)"}},
	Remedy: "Fix the resource the eviction message names (memory or ephemeral-storage requests and limits, the node's disk), " +
		"then delete the stale pods: kubectl delete pods -n NS --field-selector=status.phase=Failed",
	Priority: 40,
}, runEvicted)

// evictedReason reports whether a Failed pod was evicted or rejected by
// the kubelet rather than failing on its own.
func evictedReason(p *snapshot.Pod) bool {
	if p.Phase != phaseFailed || p.DeletionTimestamp != nil {
		return false
	}
	switch {
	case p.Reason == "Evicted", p.Reason == "UnexpectedAdmissionError", p.Reason == "NodeAffinity", p.Reason == "NodeShutdown",
		strings.HasPrefix(p.Reason, "OutOf"):
		return true
	case p.Reason == "Terminated" && strings.Contains(p.Message, "node shutdown"):
		return true
	}
	return false
}

var (
	reLowOn   = regexp.MustCompile(`low on resource: ([A-Za-z0-9./_-]+?)\.?(\s|$)`)
	reHadCond = regexp.MustCompile(`had condition: \[([A-Za-z, ]+)\]`)
)

// evictionResource names the resource an eviction or rejection was about.
func evictionResource(reason, msg string) string {
	if m := reLowOn.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	if m := reHadCond.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "ephemeral") || strings.Contains(low, "emptydir"):
		return "ephemeral-storage"
	case strings.HasPrefix(reason, "OutOf"):
		return strings.TrimPrefix(reason, "OutOf")
	}
	return ""
}

// evictedAt estimates when the kubelet evicted the pod.
func evictedAt(p *snapshot.Pod) time.Time {
	if c, ok := snapshot.FindCondition(p.Conditions, "DisruptionTarget"); ok && c.Status == "True" && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime
	}
	var t time.Time
	for c := range containers(p) {
		if f := c.State.FinishedAt; f != nil && f.After(t) {
			t = *f
		}
	}
	if !t.IsZero() {
		return t
	}
	if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && c.Status != "True" && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime
	}
	if p.StartTime != nil && p.Reason != "Evicted" && len(p.Containers) > 0 && !p.Containers[0].HasStatus {
		return *p.StartTime // rejected at admission: it never ran
	}
	return time.Time{}
}

func runEvicted(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	warnAt := env.Params.Int("warnAt")
	perNS := map[string]int{}
	for i := range env.Snap.Pods {
		if evictedReason(&env.Snap.Pods[i]) {
			perNS[env.Snap.Pods[i].Namespace]++
		}
	}
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !evictedReason(p) {
			continue
		}
		at := evictedAt(p)
		var b strings.Builder
		verb := "was evicted"
		switch {
		case p.Reason == "NodeShutdown" || p.Reason == "Terminated":
			verb = "was killed by a node shutdown (" + p.Reason + ")"
		case p.Reason != "Evicted":
			verb = "was rejected by the kubelet at admission (" + p.Reason + ")"
		}
		b.WriteString("pod " + verb)
		if p.NodeName != "" {
			b.WriteString(" on node " + p.NodeName)
		}
		if r := evictionResource(p.Reason, p.Message); r != "" {
			b.WriteString(" for " + r)
		}
		if !at.IsZero() {
			fmt.Fprintf(&b, " %s ago", round(env.Age(at)))
		}
		if m := firstLine(p.Message, 300); m != "" {
			b.WriteString(": " + m)
		}
		n := perNS[p.Namespace]
		if n > 1 {
			fmt.Fprintf(&b, " (%d evicted pods in namespace %s)", n, p.Namespace)
		}

		ev := []checks.Evidence{fieldEvidence("status.reason", p.Reason, clip(p.Message, 1024), timePtr(at))}
		if c, ok := snapshot.FindCondition(p.Conditions, "DisruptionTarget"); ok {
			ev = append(ev, conditionEvidence(c))
		}
		if kind, name, ok := env.Index.WorkloadOf(p); ok {
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "metadata.ownerReferences", Value: kind + "/" + name,
				Message: "the controller replaces evicted pods; the Failed pod object stays"})
		}
		ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "params.warnAt", Value: fmt.Sprint(warnAt),
			Message: fmt.Sprintf("%s in namespace %s", plural(n, "evicted pod", "evicted pods"), p.Namespace)})

		f := env.Finding(ref(p), p.Reason, b.String(), ev...)
		if n >= warnAt {
			f.Severity = checks.Warning
		}
		f.Since = timePtr(at)
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
