package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PendingTooLong fires for pods stuck in Pending for reasons no more
// specific pod check explains.
var PendingTooLong = checks.New(checks.Meta{
	ID:    "pod.pending_too_long",
	Title: "Pod pending too long",
	Description: "A pod has stayed in phase Pending for longer than expected without a more specific cause: no scheduler acted on it (a custom schedulerName " +
		"whose scheduler is not running), or it was bound to a node whose kubelet never started it (a dead or NotReady node). " +
		"Pods that are unschedulable, cannot pull an image, fail on configuration, or are stuck creating containers are reported by those checks instead.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "15m",
		Description: "how long a pod may stay Pending (kubernetes-mixin's KubePodNotReady waits 15m)"}},
	Remedy: "kubectl describe pod POD -n NS; for an unscheduled pod, check that its schedulerName's scheduler runs; " +
		"for a pod bound to a node, check the node and its kubelet (kubectl describe node NODE).",
	Priority: 10,
}, runPendingTooLong)

func runPendingTooLong(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) || p.Phase != phasePending {
			continue
		}
		age := env.Age(p.CreationTimestamp)
		if age < wait {
			continue
		}
		// Leave what other checks explain to them.
		if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok && c.Status == "False" {
			continue // unschedulable, scheduler error or scheduling gates
		}
		if p.NodeName == "" && latestPodEvent(env, p, nil, "FailedScheduling") != nil {
			continue
		}
		explained := false
		for c := range containers(p) {
			explained = explained || failing(c)
		}
		if _, ok := creationBlocker(env, p); ok || explained {
			continue
		}

		var b strings.Builder
		var ev []checks.Evidence
		reason := "PendingTooLong"
		ev = append(ev, fieldEvidence("status.phase", p.Phase, checks.JoinNonEmpty(p.Reason, p.Message), nil))
		switch {
		case p.NodeName == "":
			reason = "NotScheduled"
			sched := firstNonEmpty(p.SchedulerName, "default-scheduler")
			fmt.Fprintf(&b, "pod has been Pending for %s and no scheduler has acted on it (schedulerName %s)", round(age), sched)
			ev = append(ev, fieldEvidence("spec.schedulerName", sched, "no PodScheduled condition and no FailedScheduling event: the scheduler never tried", nil))
		default:
			fmt.Fprintf(&b, "pod has been Pending for %s; it was bound to node %s %s ago", round(age), p.NodeName, round(env.Age(scheduledAt(p))))
			nh := nodeOf(env, p.NodeName)
			if d := nh.describe(); d != "" {
				reason = "NodeUnavailable"
				fmt.Fprintf(&b, " and the node %s", d)
				ev = append(ev, nh.evidence(p.NodeName))
			} else {
				var waitingOn []string
				for c := range containers(p) {
					if waiting(c) && c.State.Reason != "" {
						waitingOn = append(waitingOn, c.Name+": "+c.State.Reason)
						ev = append(ev, stateEvidence(c, false))
					}
				}
				if len(waitingOn) > 0 {
					fmt.Fprintf(&b, " and its containers are waiting (%s)", strings.Join(waitingOn, ", "))
				} else {
					b.WriteString(" but the kubelet has not started it")
				}
			}
			if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok {
				ev = append(ev, conditionEvidence(c))
			}
		}
		if p.Message != "" {
			b.WriteString(": " + firstLine(p.Message, 200))
		}
		if e := latestPodEvent(env, p, func(e *snapshot.Event) bool { return e.Type == "Warning" }); e != nil {
			ev = append(ev, eventEvidence(e))
		}
		ev = append(ev, thresholdEvidence("for", durText(wait), "Pending pods are reported after this long"))

		f := env.Finding(ref(p), reason, b.String(), ev...)
		t := p.CreationTimestamp
		f.Since = &t
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
