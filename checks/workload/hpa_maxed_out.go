package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// HPAMaxedOut fires when an HPA has been pinned at its maximum while its
// metrics ask for more.
var HPAMaxedOut = checks.New(checks.Meta{
	ID:    "hpa.maxed_out",
	Title: "HPA at its maximum replicas",
	Description: "The HorizontalPodAutoscaler runs at spec.maxReplicas and wants at least that many " +
		"(ScalingLimited=True, reason TooManyReplicas) for longer than the threshold: load exceeds what the " +
		"maximum can serve, so latency and errors grow. HPAs with minReplicas equal to maxReplicas are " +
		"fixed-size on purpose and skipped.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindHPA},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long the HPA must be at its maximum before the check fires (kubernetes-mixin KubeHpaMaxedOut)"},
	},
	Remedy:   "kubectl describe hpa NAME -n NS to see the current metric values; raise spec.maxReplicas if the cluster has room, or find why load or per-pod usage grew.",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.HPAs {
		h := &env.Snap.HPAs[i]
		if h.MaxReplicas <= 0 || h.MinReplicas >= h.MaxReplicas || h.DeletionTimestamp != nil {
			continue
		}
		if h.CurrentReplicas != h.MaxReplicas || h.DesiredReplicas < h.MaxReplicas {
			continue
		}
		if _, inactive := hpaCond(h, "ScalingActive", "False"); inactive {
			continue // desired is not computed from metrics (hpa.metrics_unavailable)
		}
		var ev []checks.Evidence
		var since time.Time
		if c, ok := hpaCond(h, "ScalingLimited", "True"); ok {
			if c.Reason != "TooManyReplicas" {
				continue
			}
			since = c.LastTransitionTime
			ev = append(ev, conditionEvidence(c))
		} else if _, ok := snapshot.FindCondition(h.Conditions, "ScalingLimited"); ok {
			continue // the controller says it is not limited
		}
		if since.IsZero() && h.LastScaleTime != nil {
			since = *h.LastScaleTime
		}
		if since.IsZero() {
			since = h.CreationTimestamp
		}
		if env.Age(since) < wait {
			continue
		}
		ev = append([]checks.Evidence{fieldEvidence("status.currentReplicas", fmt.Sprint(h.CurrentReplicas),
			fmt.Sprintf("desiredReplicas=%d, minReplicas=%d, maxReplicas=%d", h.DesiredReplicas, h.MinReplicas, h.MaxReplicas), nil)}, ev...)
		ev = append(ev, thresholdEvidence("for", wait.String(), "at the maximum at least this long"))
		msg := fmt.Sprintf("hpa %s has been at its maximum of %d replicas for %s (%s %s): demand exceeds what maxReplicas allows",
			h.Name, h.MaxReplicas, round(env.Age(since)), h.TargetKind, h.TargetName)
		f := env.Finding(checks.Ref(snapshot.KindHPA, &h.Meta), "TooManyReplicas", msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})
