package workload

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// StatefulSetReplicasNotReady fires when a StatefulSet has had fewer ready
// replicas than desired for longer than a threshold.
var StatefulSetReplicasNotReady = checks.New(checks.Meta{
	ID:    "statefulset.replicas_not_ready",
	Title: "StatefulSet replicas not ready",
	Description: "status.readyReplicas has stayed below spec.replicas for longer than the threshold. A " +
		"StatefulSet's members are individually addressed (databases, queues, quorum systems), so a " +
		"missing member often means lost redundancy or quorum; with OrderedReady a broken pod also stops " +
		"every higher ordinal from being created. Critical when no replica is ready.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindStatefulSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long replicas must be not ready before the check fires (kubernetes-mixin KubeStatefulSetReplicasMismatch)"},
	},
	Remedy:   "kubectl describe statefulset NAME -n NS and kubectl describe pod NAME-N for the pod named in the finding; check its PersistentVolumeClaim (kubectl get pvc -n NS) when it is Pending; a pod stuck Terminating on a dead node is only replaced once you confirm the node is down and run kubectl delete pod NAME-N -n NS --force --grace-period=0.",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	_, podsGap := env.Snap.Gap(snapshot.KindPod)
	for i := range env.Snap.StatefulSets {
		s := &env.Snap.StatefulSets[i]
		if s.Replicas <= 0 || s.DeletionTimestamp != nil || s.ReadyReplicas >= s.Replicas {
			continue
		}
		pods := podsOf(env, s.UID)
		ts := troubles(env, pods, nil)
		var missing []string
		if !podsGap {
			missing = missingOrdinals(s, pods)
		}
		var since time.Time
		pick := func(t time.Time) {
			if !t.IsZero() && (since.IsZero() || t.Before(since)) {
				since = t
			}
		}
		pick(earliest(ts))
		var ev []checks.Evidence
		fc := freshEvent(env, snapshot.KindStatefulSet, s.Namespace, s.Name, time.Hour, "FailedCreate")
		if fc != nil {
			pick(eventStart(fc))
		}
		if since.IsZero() {
			continue // nothing dates the shortfall
		}
		if since.Before(s.CreationTimestamp) {
			since = s.CreationTimestamp
		}
		if env.Age(since) < wait {
			continue
		}
		msg := fmt.Sprintf("statefulset %s has %d/%d replicas ready for %s", s.Name, s.ReadyReplicas, s.Replicas, round(env.Age(since)))
		var parts []string
		if len(ts) > 0 {
			parts = append(parts, summarize(ts))
		}
		if len(missing) > 0 {
			m := "pod " + missing[0] + " not created"
			if len(missing) > 1 {
				m = fmt.Sprintf("%d pods not created: %s", len(missing), strings.Join(missing, ", "))
			}
			if fc != nil {
				m += ": FailedCreate: " + oneLine(fc.Message, 400)
			} else if len(ts) > 0 && orderedReady(s) {
				m += " (OrderedReady creates higher ordinals only once lower ones are Ready)"
			}
			parts = append(parts, m)
		} else if fc != nil && len(ts) == 0 {
			parts = append(parts, "FailedCreate: "+oneLine(fc.Message, 400))
		}
		if len(parts) > 0 {
			msg += ": " + strings.Join(parts, "; ")
		}
		ev = append(ev, fieldEvidence("status.readyReplicas", fmt.Sprint(s.ReadyReplicas),
			fmt.Sprintf("spec.replicas=%d, status.replicas=%d, currentReplicas=%d, updatedReplicas=%d",
				s.Replicas, s.StatusReplicas, s.CurrentReplicas, s.UpdatedReplicas), nil))
		ev = append(ev, troubleEvidence(ts)...)
		if len(missing) > 0 {
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "pods", Value: strings.Join(missing, ","), Message: "pods not created"})
		}
		if fc != nil {
			ev = append(ev, eventEvidence(fc))
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "replicas not ready at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindStatefulSet, &s.Meta), "ReplicasNotReady", msg, ev...)
		if s.ReadyReplicas == 0 {
			f.Severity, f.Reason = checks.Critical, "NoReplicasReady"
		}
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

// missingOrdinals names the pods NAME-start…NAME-(start+replicas-1) that
// do not exist, start being spec.ordinals.start (0 by default). It returns
// nothing when an existing pod carries an ordinal outside that range: the
// snapshot's ordinals.start is then stale or unknown (a snapshot from
// before it was projected) and the names would be guesses.
func missingOrdinals(s *snapshot.StatefulSet, pods []*snapshot.Pod) []string {
	lo, hi := int(s.OrdinalsStart), int(s.OrdinalsStart)+int(s.Replicas)
	have := map[int]bool{}
	for _, p := range pods {
		n, ok := ordinal(s.Name, p.Name)
		if !ok {
			continue
		}
		if n < lo || n >= hi {
			if p.DeletionTimestamp != nil {
				continue // a scale-down in progress
			}
			return nil
		}
		have[n] = true
	}
	var out []string
	for i := lo; i < hi; i++ {
		if !have[i] {
			out = append(out, fmt.Sprintf("%s-%d", s.Name, i))
		}
	}
	return out
}

// orderedReady reports whether the StatefulSet creates and updates its
// pods one at a time, each waiting for the previous one to be Ready (the
// default podManagementPolicy OrderedReady, as opposed to Parallel).
func orderedReady(s *snapshot.StatefulSet) bool { return s.PodManagementPolicy != "Parallel" }

// partitioned returns how many replicas a RollingUpdate partition keeps at
// the current revision on purpose: those whose ordinal is below
// spec.updateStrategy.rollingUpdate.partition.
func partitioned(s *snapshot.StatefulSet) int32 {
	if s.UpdateStrategy == "OnDelete" || s.Partition <= s.OrdinalsStart {
		return 0
	}
	return min(s.Partition-s.OrdinalsStart, s.Replicas)
}

// belowPartition reports whether pod is one of the ordinals the partition
// keeps at the current revision.
func belowPartition(s *snapshot.StatefulSet, pod string) bool {
	n, ok := ordinal(s.Name, pod)
	return ok && partitioned(s) > 0 && n < int(s.Partition)
}

// ordinal parses NAME-N.
func ordinal(set, pod string) (int, bool) {
	rest, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}
