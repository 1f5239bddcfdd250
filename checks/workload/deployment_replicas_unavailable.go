package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DeploymentReplicasUnavailable fires when a Deployment has had fewer
// available replicas than desired for longer than a threshold.
var DeploymentReplicasUnavailable = checks.New(checks.Meta{
	ID:    "deployment.replicas_unavailable",
	Title: "Deployment replicas unavailable",
	Description: "status.availableReplicas has stayed below spec.replicas for longer than the threshold: the " +
		"service runs with reduced capacity, or not at all when no replica is available (then the finding is " +
		"critical). The message names the pods that are not ready and why (crash loop, image pull, " +
		"scheduling, quota). Paused and scaled-to-zero Deployments are skipped.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDeployment},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long replicas must be unavailable before the check fires (kubernetes-mixin KubeDeploymentReplicasMismatch)"},
		{Name: "min_unavailable_fraction", Type: checks.Float, Default: "0",
			Description: "fire only when more than this fraction of the desired replicas is unavailable (0 = any)"},
	},
	Remedy:   "kubectl get pods -n NS -l SELECTOR and kubectl describe pod on a failing one; fix the cause named in the finding (image, config, resources, node capacity).",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	minFrac := env.Params.Float("min_unavailable_fraction")
	byOwner := replicaSetsByOwner(env)
	for i := range env.Snap.Deployments {
		d := &env.Snap.Deployments[i]
		if d.Paused || d.Replicas <= 0 || d.DeletionTimestamp != nil {
			continue
		}
		if d.Generation > 0 && d.ObservedGeneration < d.Generation {
			continue // status is about an older spec
		}
		missing := d.Replicas - d.AvailableReplicas
		if missing <= 0 || float64(missing)/float64(d.Replicas) <= minFrac {
			continue
		}
		rss := byOwner.of(d)
		ts := troubles(env, deploymentPods(env, rss), nil)
		var ev []checks.Evidence
		var since time.Time
		pick := func(t time.Time) {
			if !t.IsZero() && (since.IsZero() || t.Before(since)) {
				since = t
			}
		}
		avail, hasAvail := snapshot.FindCondition(d.Conditions, "Available")
		if hasAvail && avail.Status == "False" {
			pick(avail.LastTransitionTime)
			ev = append(ev, conditionEvidence(avail))
		}
		pick(earliest(ts))
		fail, hasFail := snapshot.FindCondition(d.Conditions, "ReplicaFailure")
		if hasFail && fail.Status == "True" {
			pick(fail.LastTransitionTime)
			ev = append(ev, conditionEvidence(fail))
		}
		if since.IsZero() {
			// Nothing dates the shortfall (no pods in the snapshot):
			// do not guess.
			continue
		}
		if since.Before(d.CreationTimestamp) {
			since = d.CreationTimestamp
		}
		if env.Age(since) < wait {
			continue
		}
		msg := fmt.Sprintf("deployment %s has %d/%d replicas available for %s", d.Name, d.AvailableReplicas, d.Replicas, round(env.Age(since)))
		switch {
		case len(ts) > 0:
			msg += ": " + summarize(ts)
			ev = append(ev, troubleEvidence(ts)...)
		case hasFail && fail.Status == "True":
			msg += ": " + checks.JoinNonEmpty(fail.Reason, oneLine(fail.Message, 400))
		default:
			if rs := newestReplicaSet(rss); rs != nil {
				if e := freshEvent(env, snapshot.KindReplicaSet, rs.Namespace, rs.Name, time.Hour, "FailedCreate"); e != nil {
					msg += ": FailedCreate: " + oneLine(e.Message, 400)
					ev = append(ev, eventEvidence(e))
				}
			}
		}
		ev = append([]checks.Evidence{fieldEvidence("status.availableReplicas", fmt.Sprint(d.AvailableReplicas),
			fmt.Sprintf("spec.replicas=%d, readyReplicas=%d, updatedReplicas=%d, unavailableReplicas=%d",
				d.Replicas, d.ReadyReplicas, d.UpdatedReplicas, d.UnavailableReplicas), nil)}, ev...)
		ev = append(ev, thresholdEvidence("for", wait.String(), "replicas unavailable at least this long"))
		reason := "ReplicasUnavailable"
		f := env.Finding(checks.Ref(snapshot.KindDeployment, &d.Meta), reason, msg, ev...)
		if d.AvailableReplicas == 0 {
			f.Severity = checks.Critical
			f.Reason = "NoReplicasAvailable"
		}
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})
