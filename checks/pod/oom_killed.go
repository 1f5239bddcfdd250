package pod

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// OOMKilled fires when the kernel killed a container for exceeding its
// memory (reason OOMKilled in the current or the last state).
var OOMKilled = checks.New(checks.Meta{
	ID:    "pod.oom_killed",
	Title: "Container OOMKilled",
	Description: "The kernel's OOM killer ended a container (reason OOMKilled, usually exit code 137): it used more memory than its limit, " +
		"or the node ran out of memory when it has no limit. Each kill loses in-flight work; repeated kills turn into a crash loop, and the finding becomes critical then.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "window", Type: checks.Duration, Default: "24h",
		Description: "how recent an OOM kill must be to report it (lastState keeps the last kill until the next termination)"}},
	Remedy: "Compare the container's memory usage with its limit (kubectl top pod POD -n NS --containers) and raise resources.limits.memory, " +
		"or fix the leak; for JVM and similar runtimes, size the heap below the limit.",
	Priority: 75,
}, runOOMKilled)

type oomHit struct {
	c    ctr
	st   snapshot.ContainerState
	last bool
}

func runOOMKilled(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	window := env.Params.Duration("window")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if p.DeletionTimestamp != nil || p.Phase == phaseSucceeded {
			continue
		}
		var hits []oomHit
		for c := range containers(p) {
			for _, last := range []bool{false, true} {
				st := c.State
				if last {
					st = c.LastState
				}
				if st.State != snapshot.StateTerminated || st.Reason != "OOMKilled" {
					continue
				}
				if st.FinishedAt != nil && env.Age(*st.FinishedAt) > window {
					continue
				}
				hits = append(hits, oomHit{c: c, st: st, last: last})
				break
			}
		}
		if len(hits) == 0 {
			continue
		}
		// The worst is the container crash-looping on it, else the latest kill.
		worst := hits[0]
		for _, h := range hits[1:] {
			a, b := waiting(h.c, "CrashLoopBackOff"), waiting(worst.c, "CrashLoopBackOff")
			switch {
			case a != b:
				if a {
					worst = h
				}
			case later(h.st.FinishedAt, worst.st.FinishedAt):
				worst = h
			}
		}
		c, st := worst.c, worst.st

		var b strings.Builder
		fmt.Fprintf(&b, "%s was OOMKilled (exit code %d)", c.label(), st.ExitCode)
		if st.FinishedAt != nil {
			fmt.Fprintf(&b, " %s ago", round(env.Age(*st.FinishedAt)))
		}
		limit, hasLimit := c.Limits["memory"]
		req, hasReq := c.Requests["memory"]
		switch {
		case hasLimit && hasReq && req != limit:
			fmt.Fprintf(&b, "; memory limit %s (request %s)", quantity("memory", limit), quantity("memory", req))
		case hasLimit:
			fmt.Fprintf(&b, "; memory limit %s", quantity("memory", limit))
		default:
			b.WriteString("; it has no memory limit, so the kernel killed it when the node ran out of memory")
		}
		crash := waiting(c, "CrashLoopBackOff")
		switch {
		case crash:
			fmt.Fprintf(&b, "; now in CrashLoopBackOff after %s", plural(int(c.RestartCount), "restart", "restarts"))
		case c.RestartCount > 0:
			fmt.Fprintf(&b, "; %s", plural(int(c.RestartCount), "restart", "restarts"))
		}
		b.WriteString(moreContainers(len(hits) - 1))

		specPath := "spec.containers[" + c.Name + "].resources"
		if c.inInit {
			specPath = "spec.initContainers[" + c.Name + "].resources"
		}
		ev := []checks.Evidence{stateEvidence(c, worst.last)}
		if hasLimit {
			ev = append(ev, fieldEvidence(specPath+".limits.memory", quantity("memory", limit), "", nil))
		} else {
			ev = append(ev, fieldEvidence(specPath+".limits.memory", "none", "no memory limit: the kill came from node-level memory exhaustion", nil))
		}
		if hasReq {
			ev = append(ev, fieldEvidence(specPath+".requests.memory", quantity("memory", req), "", nil))
		}
		if crash {
			ev = append(ev, stateEvidence(c, false))
		}
		if c.RestartCount > 0 {
			ev = append(ev, restartEvidence(c))
		}
		for _, h := range hits {
			if h.c.Name != c.Name || h.c.path() != c.path() {
				ev = append(ev, stateEvidence(h.c, h.last))
			}
		}
		ev = append(ev, thresholdEvidence("window", durText(window), "OOM kills older than this are not reported"))

		f := env.Finding(ref(p), "OOMKilled", b.String(), ev...)
		if crash {
			f.Severity = checks.Critical
		}
		if st.FinishedAt != nil {
			t := *st.FinishedAt
			f.Since = &t
		}
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}

func later(a, b *time.Time) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	return a.After(*b)
}
