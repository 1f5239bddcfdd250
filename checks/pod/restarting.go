package pod

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Restarting fires when a container that runs now has restarted several
// times and recently: it recovers, but keeps dying.
var Restarting = checks.New(checks.Meta{
	ID:    "pod.restarting",
	Title: "Container restarting",
	Description: "A container is running now but has restarted repeatedly, the last time recently: it dies intermittently (crashes under load, liveness probe kills, OOM kills) " +
		"without being in CrashLoopBackOff. Each restart drops in-flight requests and resets caches. " +
		"A last restart caused by the node itself (a reboot or runtime restart: reason Unknown, or a clean stop shared by several pods of the node at the same moment) does not count.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{
		{Name: "minRestarts", Type: checks.Int, Default: "3",
			Description: "restarts a container must have made in total"},
		{Name: "window", Type: checks.Duration, Default: "1h",
			Description: "how recent the last restart (lastState.terminated.finishedAt) must be"},
	},
	Remedy:   "Read why the previous run ended: kubectl logs POD -n NS -c CONTAINER --previous and kubectl describe pod POD -n NS (Last State, Events: Unhealthy, Killing).",
	Priority: 30,
}, runRestarting)

func runRestarting(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	minRestarts := env.Params.Int("minRestarts")
	window := env.Params.Duration("window")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) {
			continue
		}
		var hits []ctr
		for c := range longRunning(p) {
			if int(c.RestartCount) < minRestarts || c.State.State != snapshot.StateRunning || restartedAfterBackOff(env, c) {
				continue
			}
			last := c.LastState
			if last.State != snapshot.StateTerminated || last.FinishedAt == nil || env.Age(*last.FinishedAt) > window {
				continue
			}
			if nodeRestart(env, p, last) {
				continue
			}
			hits = append(hits, c)
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
		last := worst.LastState
		var b strings.Builder
		fmt.Fprintf(&b, "%s has restarted %s, the last time %s ago with %s", worst.label(),
			plural(int(worst.RestartCount), "time", "times"), round(env.Age(*last.FinishedAt)), termination(last))
		if m := firstLine(last.Message, 200); m != "" {
			b.WriteString(": " + m)
		}
		live := livenessEvent(env, p, worst, last)
		if live != nil && last.Reason != "OOMKilled" {
			b.WriteString(livenessText(live))
		}
		b.WriteString(moreContainers(len(hits) - 1))

		ev := []checks.Evidence{stateEvidence(worst, true), restartEvidence(worst), stateEvidence(worst, false)}
		for _, c := range hits {
			if c.path() != worst.path() {
				ev = append(ev, fieldEvidence(c.path()+".restartCount", fmt.Sprint(c.RestartCount), "last run: "+termination(c.LastState), c.LastState.FinishedAt))
			}
		}
		if live != nil {
			ev = append(ev, eventEvidence(live))
		}
		ev = append(ev,
			thresholdEvidence("minRestarts", fmt.Sprint(minRestarts), "total restarts before the check fires"),
			thresholdEvidence("window", durText(window), "the last restart must be this recent"))

		f := env.Finding(ref(p), "Restarting", b.String(), ev...)
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}

// nodeRestart reports whether a container's last termination came from its
// node rather than from the container: the runtime lost it (reason Unknown
// or ContainerStatusUnknown), or it stopped cleanly (exit 0, 143 SIGTERM,
// 255) within two minutes of containers of at least two other pods on the
// same node, as a node reboot or a container runtime restart does.
func nodeRestart(env *checks.Env, p *snapshot.Pod, last snapshot.ContainerState) bool {
	if last.Reason == "Unknown" || last.Reason == "ContainerStatusUnknown" {
		return true
	}
	switch last.ExitCode {
	case 0, 143, 255:
	default:
		return false
	}
	if p.NodeName == "" || last.FinishedAt == nil {
		return false
	}
	t := *last.FinishedAt
	others := 0
	for _, o := range env.Index.PodsByNode[p.NodeName] {
		if o == p {
			continue
		}
		for c := range containers(o) {
			f := c.LastState.FinishedAt
			if c.LastState.State == snapshot.StateTerminated && f != nil && f.Sub(t).Abs() <= 2*time.Minute {
				others++
				break
			}
		}
		if others >= 2 {
			return true
		}
	}
	return false
}
