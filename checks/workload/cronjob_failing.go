package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// CronJobFailing fires when a CronJob's runs no longer succeed.
var CronJobFailing = checks.New(checks.Meta{
	ID:    "cronjob.failing",
	Title: "CronJob failing",
	Description: "The CronJob's most recent finished Job failed, or (when its Jobs are no longer kept) its " +
		"last scheduled run ended without success: status.lastSuccessfulTime is older than " +
		"status.lastScheduleTime and no Job is active. Backups, reports and cleanups silently stop " +
		"happening. Suspended CronJobs, CronJobs that never ran, and runs still in progress stay quiet.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindCronJob},
	Params: []checks.Param{
		{Name: "grace", Type: checks.Duration, Default: "5m",
			Description: "how long after the last schedule time an unfinished, untracked run is given before it counts as failed"},
	},
	Remedy:   "kubectl get jobs -n NS -l for the CronJob's Jobs, then kubectl logs job/JOB -n NS for the failed run; kubectl create job --from=cronjob/NAME NAME-manual -n NS to retry once fixed.",
	Priority: 55,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	grace := env.Params.Duration("grace")
	byCron := jobsByCronJob(env.Snap)
	for i := range env.Snap.CronJobs {
		c := &env.Snap.CronJobs[i]
		if c.Suspend || c.DeletionTimestamp != nil || c.LastScheduleTime == nil {
			continue
		}
		ref := checks.Ref(snapshot.KindCronJob, &c.Meta)
		statusEv := fieldEvidence("status.lastScheduleTime", c.LastScheduleTime.Format(time.RFC3339),
			fmt.Sprintf("schedule %q, %d active", c.Schedule, c.Active), c.LastScheduleTime)
		successEv := fieldEvidence("status.lastSuccessfulTime", "never", "", nil)
		lastOK := "it never succeeded"
		if c.LastSuccessfulTime != nil {
			successEv = fieldEvidence("status.lastSuccessfulTime", c.LastSuccessfulTime.Format(time.RFC3339), "", c.LastSuccessfulTime)
			lastOK = "last success " + round(env.Age(*c.LastSuccessfulTime)) + " ago"
		}

		// The newest finished Job tells how the latest run ended.
		jobs := cronJobJobs(byCron, c)
		var lastDone *snapshot.Job
		for k := len(jobs) - 1; k >= 0; k-- {
			if _, done := finishedCondition(jobs[k]); done {
				lastDone = jobs[k]
				break
			}
		}
		if lastDone != nil {
			fc, failed := jobFailed(lastDone)
			if !failed {
				continue
			}
			end := jobEnd(lastDone)
			if c.LastSuccessfulTime != nil && !end.IsZero() && c.LastSuccessfulTime.After(end) {
				continue // a later run succeeded and its Job is already gone
			}
			msg := fmt.Sprintf("cronjob %s: its latest run, job %s, failed: %s", c.Name, lastDone.Name, checks.JoinNonEmpty(fc.Reason, oneLine(fc.Message, 300)))
			ev := []checks.Evidence{statusEv, successEv,
				{Type: checks.EvRelation, Path: "job/" + lastDone.Name, Value: firstNonEmpty(fc.Reason, "Failed"),
					Message: oneLine(fc.Message, 1024), Time: timePtr(end)}}
			if pods := failedPods(env, lastDone); len(pods) > 0 {
				msg += " (" + podFailure(pods[0]) + ")"
			}
			msg += "; " + lastOK
			if n := failedInARow(jobs); n > 1 {
				msg += fmt.Sprintf("; the last %d kept runs all failed", n)
			}
			f := env.Finding(ref, firstNonEmpty(fc.Reason, "JobFailed"), msg, ev...)
			if !end.IsZero() {
				f.Since = at(end)
			}
			out = append(out, f)
			continue
		}
		if c.Active > 0 || hasRunSince(jobs, *c.LastScheduleTime) {
			continue // the latest run is in progress or ended well
		}
		// The latest run's Job is gone (history limits, TTL): it did not
		// end in success if the last success predates it.
		if c.LastSuccessfulTime != nil && !c.LastSuccessfulTime.Before(*c.LastScheduleTime) {
			continue
		}
		if env.Age(*c.LastScheduleTime) < grace {
			continue
		}
		msg := fmt.Sprintf("cronjob %s: its last run, scheduled %s ago, did not succeed and no Job is active; %s",
			c.Name, round(env.Age(*c.LastScheduleTime)), lastOK)
		ev := []checks.Evidence{statusEv, successEv}
		// The controller's events name the failed run ("Saw completed
		// job: sync-29541600, status: Failed") or why none was created.
		if e := env.Index.LatestEvent(snapshot.KindCronJob, c.Namespace, c.Name,
			"SawCompletedJob", "FailedCreate", "TooManyMissedTimes", "InvalidSchedule", "MissSchedule"); e != nil &&
			(e.Reason != "SawCompletedJob" || strings.Contains(e.Message, "Failed")) {
			msg += ": " + e.Reason + ": " + oneLine(e.Message, 300)
			ev = append(ev, eventEvidence(e))
		}
		f := env.Finding(ref, "LastRunNotSuccessful", msg, ev...)
		f.Since = at(*c.LastScheduleTime)
		out = append(out, f)
	}
	return out
})

// hasRunSince reports whether a Job of the run scheduled at t (or a later
// one) is in the snapshot.
func hasRunSince(jobs []*snapshot.Job, t time.Time) bool {
	for _, j := range jobs {
		if !j.CreationTimestamp.Before(t) {
			return true
		}
	}
	return false
}

// failedInARow counts the newest finished Jobs that failed, in a row.
func failedInARow(jobs []*snapshot.Job) int {
	n := 0
	for k := len(jobs) - 1; k >= 0; k-- {
		if _, done := finishedCondition(jobs[k]); !done {
			continue
		}
		if _, failed := jobFailed(jobs[k]); !failed {
			break
		}
		n++
	}
	return n
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return at(t)
}
