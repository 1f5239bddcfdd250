package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// JobNotCompleted fires when a Job has been running for too long without
// completing.
var JobNotCompleted = checks.New(checks.Meta{
	ID:    "job.not_completed",
	Title: "Job not completed",
	Description: "A Job that is neither complete nor failed has been running longer than max_duration, is past " +
		"its activeDeadlineSeconds without having been failed by the controller, or every one of its active " +
		"pods has been unable to run (unschedulable, image pull, crash loop, config error) for longer than " +
		"stuck_for. A stuck Job blocks the next run of its CronJob under concurrencyPolicy Forbid and holds " +
		"resources. Suspended Jobs and Jobs that reached their completions are skipped.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindJob},
	Params: []checks.Param{
		{Name: "max_duration", Type: checks.Duration, Default: "12h",
			Description: "how long a Job may run before the check fires (kubernetes-mixin KubeJobNotCompleted)"},
		{Name: "stuck_for", Type: checks.Duration, Default: "15m",
			Description: "how long all active pods may fail to run before the check fires"},
	},
	Remedy:   "kubectl describe job NAME -n NS and kubectl logs job/NAME -n NS; fix the pods named in the finding, or set spec.activeDeadlineSeconds so a hung Job fails instead of running forever.",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	maxDur := env.Params.Duration("max_duration")
	stuckFor := env.Params.Duration("stuck_for")
	for i := range env.Snap.Jobs {
		j := &env.Snap.Jobs[i]
		if j.Suspend || j.DeletionTimestamp != nil || j.StartTime == nil || j.CompletionTime != nil {
			continue
		}
		if _, done := finishedCondition(j); done {
			continue
		}
		if c, ok := snapshot.FindCondition(j.Conditions, "Suspended"); ok && c.Status == "True" {
			continue
		}
		if j.Completions != nil && j.Succeeded >= *j.Completions {
			continue // completions reached; the controller is finishing it
		}
		if j.Completions == nil && j.Succeeded > 0 && j.Active == 0 {
			continue // work queue: one success and no active pods completes it
		}
		start := *j.StartTime
		age := env.Age(start)
		ts := troubles(env, podsOf(env, j.UID), func(p *snapshot.Pod) bool { return p.Phase == "Failed" })
		ev := []checks.Evidence{fieldEvidence("status.startTime", start.Format(time.RFC3339), jobCounts(j), at(start))}
		var reason, msg string
		since := start
		switch {
		case j.ActiveDeadlineSeconds != nil && age > time.Duration(*j.ActiveDeadlineSeconds)*time.Second+time.Minute:
			reason = "DeadlineExceeded"
			since = start.Add(time.Duration(*j.ActiveDeadlineSeconds) * time.Second)
			msg = fmt.Sprintf("job %s is past its activeDeadlineSeconds (%ds) by %s but has not been failed: the job controller is not acting on it",
				j.Name, *j.ActiveDeadlineSeconds, round(env.Age(since)))
			ev = append(ev, fieldEvidence("spec.activeDeadlineSeconds", fmt.Sprint(*j.ActiveDeadlineSeconds), "", nil))
		case age >= maxDur:
			reason = "JobNotCompleted"
			msg = fmt.Sprintf("job %s has been running for %s without completing (%s)", j.Name, round(age), progress(j))
			ev = append(ev, thresholdEvidence("max_duration", maxDur.String(), "a Job may run this long"))
		case len(ts) > 0 && int32(len(ts)) >= j.Active && ts[len(ts)-1].rank >= 60 && env.Age(latest(ts)) >= stuckFor:
			// Every active pod is failing to run, and has been for a while.
			reason = "PodsNotRunning"
			since = latest(ts)
			msg = fmt.Sprintf("job %s cannot make progress: its active pods have not run for %s (%s)", j.Name, round(env.Age(since)), progress(j))
			ev = append(ev, thresholdEvidence("stuck_for", stuckFor.String(), "all active pods failing at least this long"))
		default:
			continue
		}
		if len(ts) > 0 {
			msg += ": " + summarize(ts)
			ev = append(ev, troubleEvidence(ts)...)
		}
		f := env.Finding(checks.Ref(snapshot.KindJob, &j.Meta), reason, msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

// progress renders a Job's counts for people.
func progress(j *snapshot.Job) string {
	s := fmt.Sprintf("%d active, %d succeeded", j.Active, j.Succeeded)
	if j.Completions != nil {
		s = fmt.Sprintf("%d active, %d/%d succeeded", j.Active, j.Succeeded, *j.Completions)
	}
	if j.Failed > 0 {
		s += fmt.Sprintf(", %d failed", j.Failed)
	}
	return s
}

// latest returns the newest since among troubles: when the last of them
// started.
func latest(ts []trouble) time.Time {
	var t time.Time
	for _, x := range ts {
		if x.since.After(t) {
			t = x.since
		}
	}
	return t
}
