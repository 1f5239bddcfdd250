package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// JobFailed fires when a Job has failed for good.
var JobFailed = checks.New(checks.Meta{
	ID:    "job.failed",
	Title: "Job failed",
	Description: "The Job has condition Failed=True (or FailureTarget=True while its pods terminate): it hit " +
		"its backoffLimit (BackoffLimitExceeded), its activeDeadlineSeconds (DeadlineExceeded), a pod " +
		"failure policy rule (PodFailurePolicy) or maxFailedIndexes, and will not be retried. The finding " +
		"carries the failed pods' exit codes and termination messages when the pods are still there. A " +
		"CronJob's failed Job fires only while it is the CronJob's newest finished run, no later run has " +
		"succeeded and the CronJob is not suspended (cronjob.failing judges the series).",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindJob},
	Remedy:   "kubectl logs job/NAME -n NS (or kubectl logs POD --previous for the failed pods) to read why it failed; fix and re-create the Job (Jobs are immutable).",
	Priority: 60,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	lastSuccess := cronSuccesses(env.Snap)
	crons := map[string]*snapshot.CronJob{}
	for i := range env.Snap.CronJobs {
		c := &env.Snap.CronJobs[i]
		crons[checks.NN(c.Namespace, c.Name)] = c
	}
	byCron := map[string][]*snapshot.Job{}
	for i := range env.Snap.Jobs {
		j := &env.Snap.Jobs[i]
		if o, ok := j.Controller(); ok && o.Kind == "CronJob" {
			byCron[checks.NN(j.Namespace, o.Name)] = append(byCron[checks.NN(j.Namespace, o.Name)], j)
		}
	}
	for i := range env.Snap.Jobs {
		j := &env.Snap.Jobs[i]
		c, ok := jobFailed(j)
		if !ok || j.DeletionTimestamp != nil {
			continue
		}
		end := jobEnd(j)
		if end.IsZero() {
			end = j.CreationTimestamp
		}
		if o, ok := j.Controller(); ok && o.Kind == "CronJob" {
			// A CronJob's runs are judged by cronjob.failing; here only
			// its newest finished run counts, while the CronJob is
			// active and no later run succeeded.
			if t, ok := lastSuccess[checks.NN(j.Namespace, o.Name)]; ok && t.After(end) {
				continue
			}
			if cj := crons[checks.NN(j.Namespace, o.Name)]; cj != nil && cj.Suspend {
				continue
			}
			if newerFinished(byCron[checks.NN(j.Namespace, o.Name)], j) {
				continue
			}
		}
		reason := firstNonEmpty(c.Reason, "Failed")
		msg := fmt.Sprintf("job %s failed: %s", j.Name, reason)
		if m := oneLine(c.Message, 300); m != "" {
			msg += ": " + m
		}
		ev := []checks.Evidence{conditionEvidence(c),
			fieldEvidence("status.failed", fmt.Sprint(j.Failed), jobCounts(j), nil)}
		failed := failedPods(env, j)
		if len(failed) > 0 {
			last := failed[0]
			msg += fmt.Sprintf(" (%s failed; last: %s)", plural(int(j.Failed), "pod", "pods"), podFailure(last))
			for k, p := range failed {
				if k >= 5 {
					break
				}
				e := checks.Evidence{Type: checks.EvRelation, Path: "pod/" + p.Name, Value: firstNonEmpty(p.Reason, p.Phase), Message: podFailure(p)}
				if fc, path, ok := failedContainer(p); ok {
					e.Value = termination(fc.State)
					e.Time = fc.State.FinishedAt
					e.Path = "pod/" + p.Name + "." + path + ".state.terminated"
				} else if fc, path, ok := restartedContainer(p); ok {
					e.Value = termination(fc.LastState)
					e.Time = fc.LastState.FinishedAt
					e.Path = "pod/" + p.Name + "." + path + ".lastState.terminated"
				}
				if p.NodeName != "" {
					e.Source = "node/" + p.NodeName
				}
				ev = append(ev, e)
			}
		} else if j.Failed > 0 {
			msg += fmt.Sprintf(" (%s failed)", plural(int(j.Failed), "pod", "pods"))
		}
		if e := env.Index.LatestEvent(snapshot.KindJob, j.Namespace, j.Name, "BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded"); e != nil {
			ev = append(ev, eventEvidence(e))
		}
		f := env.Finding(checks.Ref(snapshot.KindJob, &j.Meta), reason, msg, ev...)
		if !c.LastTransitionTime.IsZero() {
			f.Since = at(c.LastTransitionTime)
		}
		out = append(out, f)
	}
	return out
})

// cronSuccesses maps namespace/cronjob name to the newest time one of its
// Jobs succeeded, from the CronJob's status and its completed Jobs.
func cronSuccesses(s *snapshot.Snapshot) latestTimes {
	m := latestTimes{}
	for i := range s.CronJobs {
		c := &s.CronJobs[i]
		if c.LastSuccessfulTime != nil {
			m.add(checks.NN(c.Namespace, c.Name), *c.LastSuccessfulTime)
		}
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if o, ok := j.Controller(); ok && o.Kind == "CronJob" && jobSucceeded(j) {
			m.add(checks.NN(j.Namespace, o.Name), jobEnd(j))
		}
	}
	return m
}

// newerFinished reports whether a Job created after j has finished.
func newerFinished(jobs []*snapshot.Job, j *snapshot.Job) bool {
	for _, o := range jobs {
		if o != j && o.CreationTimestamp.After(j.CreationTimestamp) {
			if _, done := finishedCondition(o); done {
				return true
			}
		}
	}
	return false
}

// failedPods returns a Job's failed pods (or pods whose containers failed
// and restarted, for restartPolicy OnFailure), newest failure first.
func failedPods(env *checks.Env, j *snapshot.Job) []*snapshot.Pod {
	var out []*snapshot.Pod
	for _, p := range podsOf(env, j.UID) {
		if p.Phase == "Failed" {
			out = append(out, p)
			continue
		}
		if _, _, ok := restartedContainer(p); ok {
			out = append(out, p)
		}
	}
	end := func(p *snapshot.Pod) (t int64) {
		if c, _, ok := failedContainer(p); ok && c.State.FinishedAt != nil {
			return c.State.FinishedAt.UnixNano()
		}
		if c, _, ok := restartedContainer(p); ok && c.LastState.FinishedAt != nil {
			return c.LastState.FinishedAt.UnixNano()
		}
		return p.CreationTimestamp.UnixNano()
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ea, eb := end(out[a]), end(out[b]); ea != eb {
			return ea > eb
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// restartedContainer returns a container whose last run failed.
func restartedContainer(p *snapshot.Pod) (*snapshot.Container, string, bool) {
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.LastState.State == snapshot.StateTerminated && (c.LastState.ExitCode != 0 || c.LastState.Reason == "OOMKilled") {
			return c, "status.containerStatuses[" + c.Name + "]", true
		}
	}
	return nil, "", false
}

// podFailure renders why a pod of a Job failed: "pod x: container main
// exit code 1 (Error): connection refused" or "pod x: DeadlineExceeded: Pod
// was active on the node longer than the specified deadline".
func podFailure(p *snapshot.Pod) string {
	var parts []string
	if p.Reason != "" {
		parts = append(parts, checks.JoinNonEmpty(p.Reason, oneLine(p.Message, 200)))
	}
	if c, _, ok := failedContainer(p); ok {
		s := fmt.Sprintf("container %s failed with %s", c.Name, termination(c.State))
		if m := oneLine(c.State.Message, 200); m != "" {
			s += ": " + m
		}
		parts = append(parts, s)
	} else if c, _, ok := restartedContainer(p); ok {
		s := fmt.Sprintf("container %s failed with %s (restarted %d times)", c.Name, termination(c.LastState), c.RestartCount)
		if m := oneLine(c.LastState.Message, 200); m != "" {
			s += ": " + m
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = append(parts, firstNonEmpty(p.Phase, "failed"))
	}
	return "pod " + p.Name + " " + strings.Join(parts, "; ")
}

// jobCounts renders a Job's pod counts.
func jobCounts(j *snapshot.Job) string {
	s := fmt.Sprintf("active=%d, succeeded=%d, failed=%d", j.Active, j.Succeeded, j.Failed)
	if j.Completions != nil {
		s += fmt.Sprintf(", completions=%d", *j.Completions)
	}
	if j.BackoffLimit != nil {
		s += fmt.Sprintf(", backoffLimit=%d", *j.BackoffLimit)
	}
	if j.ActiveDeadlineSeconds != nil {
		s += fmt.Sprintf(", activeDeadlineSeconds=%d", *j.ActiveDeadlineSeconds)
	}
	return s
}
