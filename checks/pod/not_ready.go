package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// NotReady fires when a running pod stays not ready: its containers run but
// a readiness (or startup) probe fails, or a readiness gate is not met.
var NotReady = checks.New(checks.Meta{
	ID:    "pod.not_ready",
	Title: "Pod running but not ready",
	Description: "A pod is Running but Ready=False for longer than expected: a container runs but its readiness or startup probe keeps failing, or a readiness gate " +
		"(e.g. a load balancer's target health) is not met. The pod receives no Service traffic, and rollouts that wait for it stall. " +
		"Pods whose containers crash or cannot start, pods on a NotReady node, terminating and finished pods are left to other checks.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "5m",
		Description: "how long the pod and the unready container must have been not ready before the check fires"}},
	Remedy: "Read the probe failures (kubectl describe pod POD -n NS, Events: Unhealthy) and the container's logs; check the probe's path, port and timeout " +
		"against what the application serves, and the dependencies it checks.",
	Priority: 20,
}, runNotReady)

func runNotReady(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) || p.Phase != phaseRunning {
			continue
		}
		ready, ok := snapshot.FindCondition(p.Conditions, "Ready")
		if !ok || ready.Status == "True" {
			continue
		}
		since := ready.LastTransitionTime
		if since.IsZero() && p.StartTime != nil {
			since = *p.StartTime
		}
		if since.IsZero() || env.Age(since) < wait {
			continue
		}
		// A dead or unreachable node makes every pod on it not ready; the
		// node checks report that once.
		if nodeOf(env, p.NodeName).bad() {
			continue
		}

		// Containers that run but are not ready, for long enough: a probe
		// fails. Crashing or waiting containers are other checks' findings.
		var unready []ctr
		for c := range longRunning(p) {
			if !c.HasStatus || c.Ready || c.State.State != snapshot.StateRunning {
				continue
			}
			if c.State.StartedAt != nil && env.Age(*c.State.StartedAt) < wait {
				continue
			}
			unready = append(unready, c)
		}
		cr, hasCR := snapshot.FindCondition(p.Conditions, "ContainersReady")
		gates := len(unready) == 0 && hasCR && cr.Status == "True"
		if len(unready) == 0 && !gates {
			continue
		}
		age := env.Age(since)
		var b strings.Builder
		ev := []checks.Evidence{conditionEvidence(ready)}
		reason := "ContainersNotReady"
		if gates {
			reason = "ReadinessGatesNotReady"
			fmt.Fprintf(&b, "pod is not ready for %s although its containers are: %s", round(age),
				firstNonEmpty(firstLine(ready.Message, 240), "a readiness gate is not satisfied"))
			ev = append(ev, conditionEvidence(cr))
		} else {
			c := unready[0]
			started := c.Started == nil || *c.Started
			probe := "readiness"
			if !started {
				probe = "startup"
			}
			fmt.Fprintf(&b, "%s is running but not ready for %s", c.label(), round(age))
			prefix := "Readiness probe"
			if !started {
				prefix = "Startup probe"
			}
			ue := latestPodEvent(env, p, func(e *snapshot.Event) bool {
				return strings.HasPrefix(e.Message, prefix) && forContainer(e, c.Name, nil)
			}, "Unhealthy")
			if ue == nil {
				ue = latestPodEvent(env, p, func(e *snapshot.Event) bool {
					return (strings.HasPrefix(e.Message, "Readiness probe") || strings.HasPrefix(e.Message, "Startup probe")) &&
						forContainer(e, c.Name, nil)
				}, "Unhealthy")
			}
			if ue != nil {
				reason = "Unhealthy"
				fmt.Fprintf(&b, ": %s", firstLine(ue.Message, 240))
			} else {
				fmt.Fprintf(&b, " (its %s probe has not succeeded)", probe)
			}
			b.WriteString(moreContainers(len(unready) - 1))
			for _, u := range unready {
				st := "true"
				if u.Started != nil && !*u.Started {
					st = "false"
				}
				ev = append(ev, fieldEvidence(u.path()+".ready", "false", "running for "+startedText(env, u)+", started="+st, u.State.StartedAt))
			}
			if ue != nil {
				ev = append(ev, eventEvidence(ue))
			}
		}
		ev = append(ev, thresholdEvidence("for", durText(wait), "pods not ready for longer are reported"))

		f := env.Finding(ref(p), reason, b.String(), ev...)
		t := since
		f.Since = &t
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}

func startedText(env *checks.Env, c ctr) string {
	if c.State.StartedAt == nil {
		return "an unknown time"
	}
	return round(env.Age(*c.State.StartedAt))
}
