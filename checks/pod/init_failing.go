package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// InitFailing fires when an init container keeps failing, so the pod never
// gets to start its app containers.
var InitFailing = checks.New(checks.Meta{
	ID:    "pod.init_failing",
	Title: "Init container failing",
	Description: "An init container exits with an error again and again (Init:Error, Init:CrashLoopBackOff): the pod stays in initialization and its app containers never start. " +
		"Typical causes are a failing migration, a dependency the init script waits for that is down, or a bad command.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "minRestarts", Type: checks.Int, Default: "3",
		Description: "restarts an init container must have made before its failures are reported (init scripts sometimes exit until a dependency is up)"}},
	Remedy:   "Read the failed init container's logs: kubectl logs POD -n NS -c INIT_CONTAINER --previous; kubectl describe pod POD -n NS.",
	Priority: 72,
}, runInitFailing)

// initFailing reports whether a classic init container keeps failing: in
// back-off, just failed again, or running again after failing.
func initFailing(c ctr, minRestarts int) bool {
	if !c.init || int(c.RestartCount) < minRestarts {
		return false
	}
	switch {
	case waiting(c, "CrashLoopBackOff"):
		return true
	case c.State.State == snapshot.StateTerminated:
		return c.State.ExitCode != 0
	case c.State.State == snapshot.StateRunning:
		return c.LastState.State == snapshot.StateTerminated && c.LastState.ExitCode != 0
	}
	return false
}

func runInitFailing(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	minRestarts := env.Params.Int("minRestarts")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) {
			continue
		}
		var c ctr
		found := false
		for x := range containers(p) {
			if initFailing(x, minRestarts) {
				c, found = x, true
				break // init containers run in order: the first failing one blocks the rest
			}
		}
		if !found {
			continue
		}
		last, inLast := lastRun(c)
		status, reason := "Init:Error", "InitContainerError"
		if waiting(c, "CrashLoopBackOff") {
			status, reason = "Init:CrashLoopBackOff", "InitCrashLoopBackOff"
		} else if last.Reason != "" && last.Reason != "Error" {
			status = "Init:" + last.Reason
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s keeps failing (%s, %s)", c.label(), status, plural(int(c.RestartCount), "restart", "restarts"))
		if last.State == snapshot.StateTerminated {
			fmt.Fprintf(&b, "; last run ended with %s", termination(last))
			if last.FinishedAt != nil {
				fmt.Fprintf(&b, " %s ago", round(env.Age(*last.FinishedAt)))
			}
			if m := firstLine(last.Message, 200); m != "" {
				b.WriteString(": " + m)
			}
		}
		b.WriteString("; the app containers cannot start")

		ev := []checks.Evidence{stateEvidence(c, false)}
		if inLast && last.State != "" {
			ev = append(ev, stateEvidence(c, true))
		}
		ev = append(ev, restartEvidence(c),
			thresholdEvidence("minRestarts", fmt.Sprint(minRestarts), "init container restarts before failures are reported"))
		if bo := backOffEvent(env, p, c.Name); bo != nil {
			ev = append(ev, eventEvidence(bo))
		}
		if ic, ok := snapshot.FindCondition(p.Conditions, "Initialized"); ok && ic.Status != "True" {
			ev = append(ev, conditionEvidence(ic))
		}

		f := env.Finding(ref(p), reason, b.String(), ev...)
		if ic, ok := snapshot.FindCondition(p.Conditions, "Initialized"); ok && ic.Status == "False" && !ic.LastTransitionTime.IsZero() {
			t := ic.LastTransitionTime
			f.Since = &t
		}
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
