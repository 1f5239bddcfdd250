package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// StuckTerminating fires when a deleted pod outlives its deletion deadline.
var StuckTerminating = checks.New(checks.Meta{
	ID:    "pod.stuck_terminating",
	Title: "Pod stuck terminating",
	Description: "A deleted pod still exists well after its deletion deadline (metadata.deletionTimestamp, which the API server sets to the delete request's time " +
		"plus the grace period): its node is gone, NotReady or unreachable so no kubelet confirms that the containers stopped, a finalizer holds the object, " +
		"or the kubelet cannot kill a container or unmount a volume. A StatefulSet does not recreate the pod until it is gone, and its volumes stay attached.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "5m",
		Description: "how long past its deletionTimestamp (already the end of the grace period) a pod may still exist"}},
	Remedy: "If the node is gone or will not return, force-delete the pod: kubectl delete pod POD -n NS --grace-period=0 --force; " +
		"if a finalizer holds it, fix the controller that owns the finalizer or remove it: kubectl patch pod POD -n NS --type=merge -p '{\"metadata\":{\"finalizers\":null}}'.",
	Priority: 50,
}, runStuckTerminating)

func runStuckTerminating(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if p.DeletionTimestamp == nil {
			continue
		}
		over := env.Age(*p.DeletionTimestamp)
		if over < wait {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "pod is still terminating %s past its deletion deadline", round(over))
		ev := []checks.Evidence{fieldEvidence("metadata.deletionTimestamp", p.DeletionTimestamp.UTC().Format("2006-01-02T15:04:05Z"),
			"deletion deadline: the delete request's time plus the grace period", p.DeletionTimestamp)}
		if p.GracePeriod != nil {
			ev = append(ev, fieldEvidence("spec.terminationGracePeriodSeconds", fmt.Sprint(*p.GracePeriod), "", nil))
		}

		reason := "Terminating"
		nh := nodeOf(env, p.NodeName)
		switch {
		case p.NodeName == "":
			b.WriteString("; it was never scheduled, so only its finalizers keep it")
		case nh.gone:
			reason = "NodeGone"
			fmt.Fprintf(&b, "; its node %s no longer exists, so no kubelet will confirm it stopped", p.NodeName)
			ev = append(ev, nh.evidence(p.NodeName))
		case nh.bad():
			reason = "NodeNotReady"
			if nh.ready.Status == "Unknown" {
				reason = "NodeUnreachable"
			}
			fmt.Fprintf(&b, "; its node %s %s, so its kubelet cannot confirm the containers stopped", p.NodeName, nh.describe())
			ev = append(ev, nh.evidence(p.NodeName))
		case !nh.known:
			fmt.Fprintf(&b, "; node %s is not in the snapshot, so whether it is gone or down is unknown", p.NodeName)
		default:
			var running []string
			for c := range containers(p) {
				if c.State.State == snapshot.StateRunning {
					running = append(running, c.Name)
					ev = append(ev, stateEvidence(c, false))
				}
			}
			if len(running) > 0 {
				fmt.Fprintf(&b, "; the kubelet on node %s has not stopped container %s", p.NodeName, strings.Join(running, ", "))
			} else if len(p.Finalizers) == 0 {
				fmt.Fprintf(&b, "; the kubelet on node %s has not finished cleaning it up (volumes, sandbox)", p.NodeName)
			}
			if nh.node != nil {
				ev = append(ev, nh.evidence(p.NodeName))
			}
		}
		if len(p.Finalizers) > 0 {
			if reason == "Terminating" {
				reason = "FinalizerPending"
			}
			fmt.Fprintf(&b, "; finalizers holding it: %s", strings.Join(p.Finalizers, ", "))
			ev = append(ev, fieldEvidence("metadata.finalizers", strings.Join(p.Finalizers, ", "),
				"the API server keeps the object until every finalizer is removed", nil))
		}
		if e := latestPodEvent(env, p, nil, "FailedKillPod", "FailedPreStopHook", "FailedUnMount", "FailedUnmount"); e != nil {
			fmt.Fprintf(&b, "; %s: %s", e.Reason, firstLine(e.Message, 200))
			ev = append(ev, eventEvidence(e))
		}
		ev = append(ev, thresholdEvidence("for", durText(wait), "time allowed past the deletion deadline"))

		f := env.Finding(ref(p), reason, b.String(), ev...)
		t := *p.DeletionTimestamp
		f.Since = &t
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
