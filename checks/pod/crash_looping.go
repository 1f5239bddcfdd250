package pod

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// CrashLooping fires when an app or sidecar container keeps exiting and the
// kubelet backs off restarting it.
var CrashLooping = checks.New(checks.Meta{
	ID:    "pod.crash_looping",
	Title: "Container crash-looping",
	Description: "An app or sidecar container keeps exiting and the kubelet backs off restarting it (CrashLoopBackOff): " +
		"the pod serves nothing, or less than it should. The last termination's exit code, reason and message usually name the cause.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "minRestarts", Type: checks.Int, Default: "3",
		Description: "restarts a container must have made before its back-off counts as a crash loop (the first back-offs last 10s, 20s and 40s, so a container that failed once or twice on start-up may still recover)"}},
	Remedy: "Read the crashed run's logs and the exit reason: kubectl logs POD -n NS -c CONTAINER --previous; kubectl describe pod POD -n NS " +
		"(exit 1: an application error in the logs; 137: OOM kill or failed liveness probe; 127: command not found; 0: the main process must not exit).",
	Priority: 70,
}, runCrashLooping)

// A container restarted after a back-off at least this long has crashed
// several times in a row (the kubelet's back-off doubles from 10s and is
// reset after 10 minutes of running).
const backOffGap = 30 * time.Second

// backOffReset is how long a container must run before the kubelet forgets
// its back-off.
const backOffReset = 10 * time.Minute

// crashLooping reports whether a long-running container is in a crash loop:
// backing off after at least minRestarts restarts, just exited again
// between two back-offs, or just restarted after a back-off.
func crashLooping(env *checks.Env, p *snapshot.Pod, c ctr, minRestarts int) bool {
	if c.init || int(c.RestartCount) < minRestarts {
		return false
	}
	if waiting(c, "CrashLoopBackOff") {
		return true
	}
	if restartedAfterBackOff(env, c) {
		return true
	}
	if c.State.State != snapshot.StateTerminated {
		return false
	}
	// A terminated container in a live pod is restarted when its restart
	// policy says so; then it is between two crashes.
	switch {
	case c.Sidecar, p.RestartPolicy == "", p.RestartPolicy == "Always":
		return true
	case p.RestartPolicy == "OnFailure":
		return c.State.ExitCode != 0
	}
	return false
}

// restartedAfterBackOff reports whether a running container was started
// again after a visible back-off and has not yet run long enough for the
// kubelet to reset it: caught in the running phase of a crash loop.
func restartedAfterBackOff(env *checks.Env, c ctr) bool {
	st, fin := c.State.StartedAt, c.LastState.FinishedAt
	if c.State.State != snapshot.StateRunning || c.LastState.State != snapshot.StateTerminated || st == nil || fin == nil {
		return false
	}
	// A node reboot or runtime restart also leaves a gap; its containers end
	// with reason Unknown (exit 255) or a clean stop (0, SIGTERM).
	l := c.LastState
	if l.Reason == "Unknown" || l.Reason == "ContainerStatusUnknown" || l.ExitCode == 0 || l.ExitCode == 143 {
		return false
	}
	return st.Sub(*fin) >= backOffGap && env.Age(*st) < backOffReset
}

// lastRun returns the state of the container's latest finished run.
func lastRun(c ctr) (snapshot.ContainerState, bool) {
	if c.State.State == snapshot.StateTerminated {
		return c.State, false
	}
	return c.LastState, true
}

func livenessEvent(env *checks.Env, p *snapshot.Pod, c ctr, last snapshot.ContainerState) *snapshot.Event {
	// Only a probe failure of this container near the last termination
	// explains it.
	near := func(e *snapshot.Event) bool {
		return last.FinishedAt == nil || !e.LastTime.Before(last.FinishedAt.Add(-5*time.Minute))
	}
	if e := latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return strings.HasPrefix(e.Message, "Liveness probe") && near(e) && forContainer(e, c.Name, nil)
	}, "Unhealthy"); e != nil {
		return e
	}
	return latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return strings.Contains(e.Message, "liveness probe") && near(e) &&
			forContainer(e, c.Name, func(m string) bool { return strings.Contains(m, "ontainer "+c.Name+" ") })
	}, "Killing")
}

// livenessText renders a liveness event for a message.
func livenessText(e *snapshot.Event) string {
	m := firstLine(e.Message, 160)
	if strings.HasPrefix(m, "Liveness probe") {
		return "; " + m
	}
	return "; liveness probe failing: " + m
}

func runCrashLooping(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	minRestarts := env.Params.Int("minRestarts")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) {
			continue
		}
		var hits []ctr
		for c := range longRunning(p) {
			if crashLooping(env, p, c, minRestarts) {
				hits = append(hits, c)
			}
		}
		if len(hits) == 0 {
			continue
		}
		worst := hits[0]
		for _, c := range hits[1:] {
			if c.RestartCount > worst.RestartCount {
				worst = c
			}
		}

		last, inLast := lastRun(worst)
		var b strings.Builder
		switch {
		case waiting(worst, "CrashLoopBackOff"):
			fmt.Fprintf(&b, "%s is in CrashLoopBackOff after %s", worst.label(), plural(int(worst.RestartCount), "restart", "restarts"))
		case worst.State.State == snapshot.StateRunning:
			fmt.Fprintf(&b, "%s is crash-looping (%s): restarted %s ago after a %s back-off", worst.label(),
				plural(int(worst.RestartCount), "restart", "restarts"), round(env.Age(*worst.State.StartedAt)),
				round(worst.State.StartedAt.Sub(*worst.LastState.FinishedAt)))
		default:
			fmt.Fprintf(&b, "%s keeps crashing (%s)", worst.label(), plural(int(worst.RestartCount), "restart", "restarts"))
		}
		if last.State == snapshot.StateTerminated {
			fmt.Fprintf(&b, "; last run ended with %s", termination(last))
			if last.FinishedAt != nil {
				fmt.Fprintf(&b, " %s ago", round(env.Age(*last.FinishedAt)))
			}
			if last.ExitCode == 0 && (last.Reason == "Completed" || last.Reason == "") {
				b.WriteString(": the process exits successfully but restartPolicy " + firstNonEmpty(p.RestartPolicy, "Always") + " restarts it (a long-running container must not exit)")
			} else if m := clipMiddle(last.Message, 200); m != "" {
				b.WriteString(": " + m)
			}
		}
		live := livenessEvent(env, p, worst, last)
		if live != nil && last.Reason != "OOMKilled" {
			b.WriteString(livenessText(live))
		}
		b.WriteString(moreContainers(len(hits) - 1))

		ev := []checks.Evidence{stateEvidence(worst, false)}
		if inLast && last.State != "" {
			ev = append(ev, stateEvidence(worst, true))
		}
		ev = append(ev, restartEvidence(worst),
			thresholdEvidence("minRestarts", fmt.Sprint(minRestarts), "restarts before a back-off counts as a crash loop"))
		for _, c := range hits {
			if c.Name != worst.Name {
				l, _ := lastRun(c)
				ev = append(ev, fieldEvidence(c.path()+".restartCount", fmt.Sprint(c.RestartCount), "also crash-looping; last run: "+termination(l), nil))
			}
		}
		backoff := backOffEvent(env, p, worst.Name)
		if backoff != nil {
			ev = append(ev, eventEvidence(backoff))
		}
		if live != nil {
			ev = append(ev, eventEvidence(live))
		}

		f := env.Finding(ref(p), "CrashLoopBackOff", b.String(), ev...)
		if backoff != nil && !backoff.FirstTime.IsZero() {
			t := backoff.FirstTime
			f.Since = &t
		}
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
