package workload

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DeploymentRolloutStuck fires when a Deployment's rollout has stopped:
// the controller gave up waiting (Progressing=False ProgressDeadlineExceeded)
// or the new ReplicaSet cannot create its pods (ReplicaFailure, e.g.
// FailedCreate from a quota or an admission webhook).
var DeploymentRolloutStuck = checks.New(checks.Meta{
	ID:    "deployment.rollout_stuck",
	Title: "Deployment rollout stuck",
	Description: "The Deployment controller reports Progressing=False with reason ProgressDeadlineExceeded " +
		"(the new ReplicaSet did not become available within progressDeadlineSeconds) or ReplicaFailure " +
		"(pods cannot be created: quota exceeded, admission webhook denial, missing ServiceAccount). " +
		"The new version is not serving and the rollout will not finish by itself; the message names the " +
		"new ReplicaSet and why its pods fail.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindDeployment},
	Params: []checks.Param{
		{Name: "replica_failure_for", Type: checks.Duration, Default: "5m",
			Description: "how long a ReplicaFailure (pods cannot be created) must last before the check fires"},
	},
	Remedy:   "kubectl rollout status deployment/NAME -n NS and kubectl describe rs NEW_RS; fix the cause named in the finding, or kubectl rollout undo deployment/NAME -n NS to return to the last working ReplicaSet.",
	Priority: 70,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("replica_failure_for")
	byOwner := replicaSetsByOwner(env)
	for i := range env.Snap.Deployments {
		d := &env.Snap.Deployments[i]
		if d.Paused || d.Replicas == 0 || d.DeletionTimestamp != nil || d.Generation > 0 && d.ObservedGeneration < d.Generation {
			// Paused rollouts wait on purpose, a scaled-to-zero one has
			// nothing to roll out; an unobserved spec makes the
			// conditions stale (deployment.generation_mismatch).
			continue
		}
		rss := byOwner.of(d)
		prog, hasProg := snapshot.FindCondition(d.Conditions, "Progressing")
		if hasProg && prog.Status == "False" && prog.Reason == "ProgressDeadlineExceeded" {
			newRS := namedReplicaSet(prog.Message, rss)
			if newRS == nil {
				newRS = newestReplicaSet(rss)
			}
			out = append(out, deadlineFinding(env, d, prog, newRS))
			continue
		}
		// ReplicaFailure on the Deployment (copied from its ReplicaSet) or
		// on the newest ReplicaSet itself.
		fail, ok := snapshot.FindCondition(d.Conditions, "ReplicaFailure")
		if (!ok || fail.Status != "True") && !slices.ContainsFunc(rss, failingOrShort) {
			continue // nothing below can fire: spare finding the newest ReplicaSet
		}
		newRS := newestReplicaSet(rss)
		var failRS *snapshot.ReplicaSet
		if !ok || fail.Status != "True" {
			ok = false
			if newRS != nil {
				if c, has := snapshot.FindCondition(newRS.Conditions, "ReplicaFailure"); has && c.Status == "True" {
					fail, ok, failRS = c, true, newRS
				}
			}
		}
		if ok {
			since := fail.LastTransitionTime
			if !since.IsZero() && env.Age(since) < wait {
				continue
			}
			if since.IsZero() && env.Age(d.CreationTimestamp) < wait {
				continue
			}
			out = append(out, replicaFailureFinding(env, d, fail, failRS, newRS, wait))
			continue
		}
		// No condition (older controllers, or the condition was not yet
		// written): a FailedCreate series on the new ReplicaSet that has
		// lasted longer than the threshold and is still being reported.
		if newRS != nil && newRS.StatusReplicas < newRS.Replicas {
			if e := freshEvent(env, snapshot.KindReplicaSet, newRS.Namespace, newRS.Name, 10*time.Minute, "FailedCreate"); e != nil &&
				env.Age(eventStart(e)) >= wait {
				c := snapshot.Condition{Type: "ReplicaFailure", Status: "True", Reason: "FailedCreate",
					Message: strings.TrimPrefix(e.Message, "Error creating: "), LastTransitionTime: eventStart(e)}
				out = append(out, replicaFailureFinding(env, d, c, newRS, newRS, wait))
			}
		}
	}
	return out
})

// failingOrShort reports whether a ReplicaSet reports ReplicaFailure or has
// fewer pods than it wants: what makes its Deployment's rollout stuck.
func failingOrShort(rs *snapshot.ReplicaSet) bool {
	if c, ok := snapshot.FindCondition(rs.Conditions, "ReplicaFailure"); ok && c.Status == "True" {
		return true
	}
	return rs.StatusReplicas < rs.Replicas
}

var rsNameInMessage = regexp.MustCompile(`ReplicaSet "([^"]+)"`)

// namedReplicaSet returns the ReplicaSet a Progressing message names.
func namedReplicaSet(msg string, rss []*snapshot.ReplicaSet) *snapshot.ReplicaSet {
	m := rsNameInMessage.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	for _, rs := range rss {
		if rs.Name == m[1] {
			return rs
		}
	}
	return nil
}

func deadlineFinding(env *checks.Env, d *snapshot.Deployment, prog snapshot.Condition, newRS *snapshot.ReplicaSet) checks.Finding {
	ev := []checks.Evidence{conditionEvidence(prog),
		fieldEvidence("spec.progressDeadlineSeconds", fmt.Sprint(d.ProgressDeadlineSeconds), "", nil)}
	msg := fmt.Sprintf("deployment %s rollout stuck (ProgressDeadlineExceeded): no progress within its %ds deadline", d.Name, d.ProgressDeadlineSeconds)
	if !prog.LastTransitionTime.IsZero() {
		msg += fmt.Sprintf(" (gave up %s ago)", round(env.Age(prog.LastTransitionTime)))
	}
	if m := strings.TrimSuffix(oneLine(prog.Message, 200), "."); m != "" {
		msg += ": " + m
	}
	msg += "; " + newReplicaSetStory(env, d, newRS, &ev)
	f := env.Finding(checks.Ref(snapshot.KindDeployment, &d.Meta), "ProgressDeadlineExceeded", msg, ev...)
	if !prog.LastTransitionTime.IsZero() {
		f.Since = at(prog.LastTransitionTime)
	}
	return f
}

// newReplicaSetStory tells what the new ReplicaSet's pods are doing, and
// appends its evidence.
func newReplicaSetStory(env *checks.Env, d *snapshot.Deployment, rs *snapshot.ReplicaSet, ev *[]checks.Evidence) string {
	if rs == nil {
		return fmt.Sprintf("%d/%d replicas updated, %d available, %d unavailable", d.UpdatedReplicas, d.Replicas, d.AvailableReplicas, d.UnavailableReplicas)
	}
	*ev = append(*ev, checks.Evidence{Type: checks.EvRelation, Path: "replicaset/" + rs.Name,
		Value:   fmt.Sprintf("%d/%d ready", rs.ReadyReplicas, rs.Replicas),
		Message: fmt.Sprintf("new ReplicaSet (revision %s), %s created", firstNonEmpty(rs.Annotations["deployment.kubernetes.io/revision"], "?"), plural(int(rs.StatusReplicas), "pod", "pods")),
		Time:    at(rs.CreationTimestamp)})
	s := fmt.Sprintf("new ReplicaSet %s has %d/%d pods ready", rs.Name, rs.ReadyReplicas, rs.Replicas)
	if c, ok := snapshot.FindCondition(rs.Conditions, "ReplicaFailure"); ok && c.Status == "True" {
		*ev = append(*ev, rsCondEvidence(rs, c))
		return s + ": " + checks.JoinNonEmpty(c.Reason, oneLine(c.Message, 400))
	}
	ts := troubles(env, podsOf(env, rs.UID), nil)
	if len(ts) > 0 {
		*ev = append(*ev, troubleEvidence(ts)...)
		return s + ": " + summarize(ts)
	}
	if e := freshEvent(env, snapshot.KindReplicaSet, rs.Namespace, rs.Name, time.Hour, "FailedCreate"); e != nil {
		*ev = append(*ev, eventEvidence(e))
		return s + ": FailedCreate: " + oneLine(e.Message, 400)
	}
	return s
}

func rsCondEvidence(rs *snapshot.ReplicaSet, c snapshot.Condition) checks.Evidence {
	e := conditionEvidence(c)
	e.Path = "replicaset/" + rs.Name + "." + e.Path
	return e
}

func replicaFailureFinding(env *checks.Env, d *snapshot.Deployment, c snapshot.Condition, failRS, newRS *snapshot.ReplicaSet, wait time.Duration) checks.Finding {
	var ev []checks.Evidence
	if failRS != nil {
		ev = append(ev, rsCondEvidence(failRS, c))
	} else {
		ev = append(ev, conditionEvidence(c))
	}
	rs := failRS
	if rs == nil {
		rs = newRS
	}
	who := "its ReplicaSet"
	if rs != nil {
		who = "ReplicaSet " + rs.Name
		if e := env.Index.LatestEvent(snapshot.KindReplicaSet, rs.Namespace, rs.Name, "FailedCreate"); e != nil {
			ev = append(ev, eventEvidence(e))
		}
	}
	ev = append(ev, fieldEvidence("status", fmt.Sprintf("%d/%d available", d.AvailableReplicas, d.Replicas),
		fmt.Sprintf("%d updated, %d pods exist", d.UpdatedReplicas, d.StatusReplicas), nil),
		thresholdEvidence("replica_failure_for", wait.String(), "ReplicaFailure lasted at least this long"))
	reason := firstNonEmpty(c.Reason, "ReplicaFailure")
	msg := fmt.Sprintf("deployment %s cannot create pods", d.Name)
	if !c.LastTransitionTime.IsZero() {
		msg += " for " + round(env.Age(c.LastTransitionTime))
	}
	msg += fmt.Sprintf(" (%d/%d available): %s reports %s: %s", d.AvailableReplicas, d.Replicas, who, reason, oneLine(c.Message, 400))
	f := env.Finding(checks.Ref(snapshot.KindDeployment, &d.Meta), reason, msg, ev...)
	if !c.LastTransitionTime.IsZero() {
		f.Since = at(c.LastTransitionTime)
	}
	return f
}
