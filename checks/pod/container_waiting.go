package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ContainerWaiting fires when a scheduled pod's containers stay in
// ContainerCreating or PodInitializing too long.
var ContainerWaiting = checks.New(checks.Meta{
	ID:    "pod.container_waiting",
	Title: "Container stuck creating",
	Description: "A scheduled pod's container stays in ContainerCreating, or its app containers stay in PodInitializing behind an init container that does not finish. " +
		"The kubelet's events name the cause: a volume that cannot be attached or mounted (FailedAttachVolume, FailedMount: a missing ConfigMap or Secret, a Multi-Attach error), " +
		"a pod sandbox or network that cannot be set up (FailedCreatePodSandBox), or a very slow image pull.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "5m",
		Description: "how long a container may be created, or an init container may run, before the check fires"}},
	Remedy: "kubectl describe pod POD -n NS and read the Events: fix the volume (missing ConfigMap/Secret, PVC still attached to another node, CSI driver), " +
		"or the CNI plugin on the node for FailedCreatePodSandBox; for a long init container, read its logs (kubectl logs POD -n NS -c INIT).",
	Priority: 60,
}, runContainerWaiting)

// creationEvent picks the kubelet event that best explains a stuck
// creation: the most specific failure reason, newest first; a Pulling
// event without a later Pulled when nothing failed.
func creationEvent(env *checks.Env, p *snapshot.Pod) *snapshot.Event {
	evs := podEvents(env, p, creationFailures...)
	var best *snapshot.Event
	rank := func(e *snapshot.Event) int {
		r := len(creationFailures) - indexOf(creationFailures, e.Reason)
		// A mount that names its cause beats the generic timeout that
		// follows it ("Unable to attach or mount volumes: ... timed out").
		if e.Reason == "FailedMount" && !strings.HasPrefix(e.Message, "Unable to attach or mount volumes") {
			r += len(creationFailures)
		}
		if e.Reason == "FailedAttachVolume" {
			r += 2 * len(creationFailures)
		}
		return r
	}
	for _, e := range evs {
		if best == nil || rank(e) >= rank(best) {
			best = e
		}
	}
	return best
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return len(ss)
}

func runContainerWaiting(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		bl, ok := creationBlocker(env, p)
		if !ok {
			continue
		}
		age := env.Age(bl.since)
		if age < wait {
			continue
		}
		c := bl.c
		reason := bl.reason
		var b strings.Builder
		var ev []checks.Evidence
		if bl.noStatus {
			fmt.Fprintf(&b, "pod has been waiting for its containers to be created for %s on node %s", round(age), p.NodeName)
		} else if bl.reason == "PodInitializing" {
			fmt.Fprintf(&b, "%s has been running for %s and has not completed, so the app containers stay in PodInitializing", c.label(), round(age))
			ev = append(ev, stateEvidence(c, false))
		} else {
			fmt.Fprintf(&b, "%s has been %s for %s", c.label(), bl.reason, round(age))
			ev = append(ev, stateEvidence(c, false))
		}

		fe := creationEvent(env, p)
		switch {
		case fe != nil:
			reason = fe.Reason
			fmt.Fprintf(&b, ": %s: %s", fe.Reason, firstLine(fe.Message, 300))
			ev = append(ev, eventEvidence(fe))
			for _, r := range creationFailures {
				if o := latestPodEvent(env, p, nil, r); o != nil && o != fe {
					ev = append(ev, eventEvidence(o))
				}
			}
			if m, ok := parseMissingRef(fe.Message); ok {
				ev = append(ev, refEvidence(p, m))
			}
			if strings.Contains(strings.ToLower(fe.Message), "volume") {
				for _, claim := range p.Claims {
					ev = append(ev, claimEvidence(env, p.Namespace, claim))
				}
			}
		case bl.reason != "PodInitializing":
			pulling := latestPodEvent(env, p, func(e *snapshot.Event) bool { return forContainer(e, c.Name, nil) }, "Pulling", "Pulled")
			if pulling != nil && pulling.Reason == "Pulling" {
				fmt.Fprintf(&b, ": still pulling the image (%s)", firstLine(pulling.Message, 200))
				ev = append(ev, eventEvidence(pulling))
			} else {
				b.WriteString(" and no kubelet event explains it")
			}
		}
		nh := nodeOf(env, p.NodeName)
		if d := nh.describe(); d != "" {
			fmt.Fprintf(&b, "; its node %s %s", p.NodeName, d)
			ev = append(ev, nh.evidence(p.NodeName))
		}
		ev = append(ev, thresholdEvidence("for", durText(wait), "creation or initialization is reported after this long"))

		f := env.Finding(ref(p), reason, b.String(), ev...)
		f.Since = timePtr(bl.since)
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
