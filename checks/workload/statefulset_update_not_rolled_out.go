package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// revisionLabel is the label the StatefulSet controller puts on each pod:
// the name of the ControllerRevision the pod was created from.
const revisionLabel = "controller-revision-hash"

// StatefulSetUpdateNotRolledOut fires when a StatefulSet's rolling update
// has stopped before every pod runs the update revision.
var StatefulSetUpdateNotRolledOut = checks.New(checks.Meta{
	ID:    "statefulset.update_not_rolled_out",
	Title: "StatefulSet update not rolled out",
	Description: "status.currentRevision differs from status.updateRevision and fewer than spec.replicas pods " +
		"are updated, with no progress for longer than the threshold while a pod is not ready. The " +
		"StatefulSet controller updates one pod at a time and waits for every pod to be Running and Ready: " +
		"a crashing updated pod (a bad new revision) or a broken pod of the old revision (which the " +
		"controller will not replace, kubernetes/kubernetes#67250) stops the rollout for good. With " +
		"updateStrategy OnDelete pods only change when deleted, so a pending update is reported as info. " +
		"Pods below a RollingUpdate partition keep the current revision on purpose: a rollout that has " +
		"updated every ordinal from the partition up stays quiet.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindStatefulSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long the rollout must make no progress before the check fires (kubernetes-mixin KubeStatefulSetUpdateNotRolledOut)"},
	},
	Remedy:   "kubectl rollout status statefulset/NAME -n NS; if the updated pod fails, fix or roll back the template (kubectl rollout undo statefulset/NAME); if an old-revision pod is broken, delete it (kubectl delete pod NAME-N) so it is recreated at the new revision.",
	Priority: 65,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.StatefulSets {
		s := &env.Snap.StatefulSets[i]
		// Ordinals below the partition keep the current revision on
		// purpose: the rollout is done once the others are updated.
		held := partitioned(s)
		want := s.Replicas - held
		if s.Replicas <= 0 || s.DeletionTimestamp != nil || s.UpdateRevision == "" ||
			s.CurrentRevision == "" || s.CurrentRevision == s.UpdateRevision || s.UpdatedReplicas >= want {
			continue
		}
		if s.Generation > 0 && s.ObservedGeneration < s.Generation {
			continue
		}
		pods := podsOf(env, s.UID)
		var lastProgress time.Time
		for _, p := range pods {
			if p.Labels[revisionLabel] == s.UpdateRevision {
				if p.CreationTimestamp.After(lastProgress) {
					lastProgress = p.CreationTimestamp
				}
			}
		}
		ref := checks.Ref(snapshot.KindStatefulSet, &s.Meta)
		revEv := []checks.Evidence{
			fieldEvidence("status.updateRevision", s.UpdateRevision, "", nil),
			fieldEvidence("status.currentRevision", s.CurrentRevision, "", nil),
			fieldEvidence("status.updatedReplicas", fmt.Sprint(s.UpdatedReplicas),
				fmt.Sprintf("spec.replicas=%d, readyReplicas=%d, updateStrategy=%s", s.Replicas, s.ReadyReplicas, firstNonEmpty(s.UpdateStrategy, "RollingUpdate")), nil),
		}
		if held > 0 {
			revEv = append(revEv, fieldEvidence("spec.updateStrategy.rollingUpdate.partition", fmt.Sprint(s.Partition),
				fmt.Sprintf("%s below it keep revision %s on purpose; %d must be updated", plural(int(held), "pod", "pods"), s.CurrentRevision, want), nil))
		}
		if s.UpdateStrategy == "OnDelete" {
			n := s.Replicas - s.UpdatedReplicas
			f := env.Finding(ref, "OnDeleteUpdatePending",
				fmt.Sprintf("statefulset %s has %s on revision %s; updateStrategy OnDelete rolls out revision %s only as pods are deleted",
					s.Name, plural(int(n), "pod", "pods"), s.CurrentRevision, s.UpdateRevision), revEv...)
			f.Severity = checks.Info
			if !lastProgress.IsZero() {
				f.Since = at(lastProgress)
			}
			out = append(out, f)
			continue
		}
		// With podManagementPolicy Parallel a broken pod the rollout
		// does not touch (below the partition) does not hold it.
		ts := troubles(env, pods, func(p *snapshot.Pod) bool { return !orderedReady(s) && belowPartition(s, p.Name) })
		if len(ts) == 0 && s.StatusReplicas >= s.Replicas && (len(pods) > 0 || s.ReadyReplicas >= s.Replicas) {
			// Every pod is fine: the rollout is moving, or a partition
			// holds it on purpose.
			continue
		}
		fc := freshEvent(env, snapshot.KindStatefulSet, s.Namespace, s.Name, time.Hour, "FailedCreate")
		// Dated by the newest updated pod, the rollout has made no
		// progress since; without one, by how long the blocker lasts.
		dated := !lastProgress.IsZero()
		if !dated {
			lastProgress = earliest(ts)
			if fc != nil && (lastProgress.IsZero() || eventStart(fc).Before(lastProgress)) {
				lastProgress = eventStart(fc)
			}
		}
		if lastProgress.IsZero() || env.Age(lastProgress) < wait {
			continue
		}
		progress := fmt.Sprintf("%d/%d pods updated", s.UpdatedReplicas, want)
		if held > 0 {
			progress += fmt.Sprintf(" (partition %d keeps %d at the current revision)", s.Partition, held)
		}
		msg := fmt.Sprintf("statefulset %s rollout to revision %s stuck for %s with %s",
			s.Name, s.UpdateRevision, round(env.Age(lastProgress)), progress)
		if !dated {
			msg = fmt.Sprintf("statefulset %s rollout to revision %s is blocked with %s",
				s.Name, s.UpdateRevision, progress)
		}
		reason := "RolloutStuck"
		ev := revEv
		switch {
		case len(ts) > 0:
			w := ts[0]
			if w.pod.Labels[revisionLabel] == s.UpdateRevision {
				reason = "UpdatedPodFailing"
				msg += ": updated " + summarize(ts) + " — the new revision does not become ready"
			} else if belowPartition(s, w.pod.Name) {
				reason = "OldRevisionPodBlocking"
				msg += ": " + summarize(ts) + fmt.Sprintf(" — pod %s is below the partition (%d) and kept at the current revision on purpose, but it has not been ready for %s and the controller (OrderedReady) waits for every pod to be Ready before updating the next; fix it (deleting it recreates it at the current revision)",
					w.pod.Name, s.Partition, round(env.Age(w.since)))
			} else {
				reason = "OldRevisionPodBlocking"
				msg += ": " + summarize(ts) + fmt.Sprintf(" — pod %s is on the old revision, not ready for %s, and the controller waits for it to be Ready before updating it; delete it to recreate it at %s",
					w.pod.Name, round(env.Age(w.since)), s.UpdateRevision)
			}
			ev = append(ev, troubleEvidence(ts)...)
		case fc != nil:
			reason = "FailedCreate"
			msg += ": FailedCreate: " + oneLine(fc.Message, 400)
		default:
			msg += fmt.Sprintf(": %d/%d replicas ready", s.ReadyReplicas, s.Replicas)
		}
		if fc != nil {
			ev = append(ev, eventEvidence(fc))
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "no rollout progress at least this long"))
		f := env.Finding(ref, reason, msg, ev...)
		f.Since = at(lastProgress)
		out = append(out, f)
	}
	return out
})
