package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// HPAReplicasMismatch fires when an HPA's decision has not taken effect:
// its current replicas differ from its desired replicas, or its target's
// spec.replicas differs from what the HPA sees, for too long.
var HPAReplicasMismatch = checks.New(checks.Meta{
	ID:    "hpa.replicas_mismatch",
	Title: "HPA replicas not reached",
	Description: "status.currentReplicas differs from status.desiredReplicas, or the target's spec.replicas " +
		"differs from the HPA's current replicas, for longer than the threshold since the last scale: the " +
		"autoscaler decided a size the workload does not reach (pods cannot be created because of a quota " +
		"or admission denial, the scale update is rejected), or something else keeps resetting the " +
		"target's replicas (a GitOps tool or a manifest that sets spec.replicas fighting the HPA).",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindHPA},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long the mismatch must last since the last scale before the check fires (kubernetes-mixin KubeHpaReplicasMismatch)"},
	},
	Remedy:   "kubectl describe hpa NAME -n NS and kubectl describe deployment TARGET -n NS; look for FailedCreate (quota) on the target's ReplicaSet, and remove spec.replicas from manifests applied by CI or GitOps.",
	Priority: 45,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	targets := scaleTargets(env)
	for i := range env.Snap.HPAs {
		h := &env.Snap.HPAs[i]
		if h.DeletionTimestamp != nil {
			continue
		}
		if c, ok := hpaCond(h, "ScalingActive", "False"); ok && c.Reason == "ScalingDisabled" {
			continue // target scaled to zero on purpose
		}
		if c, ok := hpaCond(h, "AbleToScale", "False"); ok && c.Reason == "FailedGetScale" {
			continue // no target (hpa.target_missing)
		}
		t, known := targetOf(env, targets, h)
		if known && t == nil {
			continue // hpa.target_missing
		}
		if t != nil && t.spec == 0 {
			continue
		}
		desiredGap := h.DesiredReplicas > 0 && h.CurrentReplicas != h.DesiredReplicas
		specGap := t != nil && t.spec != h.CurrentReplicas && !t.rolling
		if !desiredGap && !specGap {
			continue
		}
		since := h.CreationTimestamp
		if h.LastScaleTime != nil && h.LastScaleTime.After(since) {
			since = *h.LastScaleTime
		}
		if t != nil && t.rolling && t.progressAt.After(since) {
			// Surge pods of a rollout count in currentReplicas.
			since = t.progressAt
		}
		if env.Age(since) < wait {
			continue
		}
		ev := []checks.Evidence{fieldEvidence("status.currentReplicas", fmt.Sprint(h.CurrentReplicas),
			fmt.Sprintf("desiredReplicas=%d, minReplicas=%d, maxReplicas=%d", h.DesiredReplicas, h.MinReplicas, h.MaxReplicas), nil)}
		if h.LastScaleTime != nil {
			ev = append(ev, fieldEvidence("status.lastScaleTime", h.LastScaleTime.Format(time.RFC3339), "", h.LastScaleTime))
		}
		var msg, reason string
		if desiredGap {
			reason = "DesiredReplicasNotReached"
			msg = fmt.Sprintf("hpa %s wants %d replicas but %s %s has %d, %s after the last scale",
				h.Name, h.DesiredReplicas, h.TargetKind, h.TargetName, h.CurrentReplicas, round(env.Age(since)))
		} else {
			reason = "TargetReplicasOverridden"
			msg = fmt.Sprintf("hpa %s sees %d replicas but %s %s has spec.replicas=%d, %s after the last scale: something else sets the target's replicas",
				h.Name, h.CurrentReplicas, h.TargetKind, h.TargetName, t.spec, round(env.Age(since)))
		}
		if t != nil {
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "target/" + t.kind + "/" + t.name,
				Value: fmt.Sprintf("spec.replicas=%d", t.spec), Message: fmt.Sprintf("status.replicas=%d", t.status)})
			if t.failure != nil {
				msg += fmt.Sprintf("; %s %s reports %s: %s", t.kind, t.name, firstNonEmpty(t.failure.Reason, "ReplicaFailure"), oneLine(t.failure.Message, 300))
				e := conditionEvidence(*t.failure)
				e.Path = "target/" + t.kind + "/" + t.name + "." + e.Path
				ev = append(ev, e)
			}
		}
		if c, ok := hpaCond(h, "AbleToScale", "False"); ok {
			msg += "; " + checks.JoinNonEmpty(c.Reason, oneLine(c.Message, 300))
			ev = append(ev, conditionEvidence(c))
		}
		if e := env.Index.LatestEvent(snapshot.KindHPA, h.Namespace, h.Name, "FailedRescale", "FailedUpdateScale"); e != nil {
			ev = append(ev, eventEvidence(e))
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "mismatch at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindHPA, &h.Meta), reason, msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})
