package workload

import (
	"context"
	"fmt"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// HPATargetMissing fires when an HPA's scale target does not exist or its
// scale cannot be read.
var HPATargetMissing = checks.New(checks.Meta{
	ID:    "hpa.target_missing",
	Title: "HPA target not found",
	Description: "The HorizontalPodAutoscaler's scaleTargetRef names a workload that does not exist (or " +
		"whose scale subresource cannot be read: AbleToScale=False, reason FailedGetScale), so nothing is " +
		"autoscaled — typically a renamed or deleted Deployment, or a wrong kind or apiVersion in the " +
		"HPA.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindHPA},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "5m",
			Description: "how long the target must be missing before the check fires (an HPA applied before its Deployment finds it within seconds)"},
	},
	Remedy:   "kubectl get hpa NAME -n NS -o yaml and compare spec.scaleTargetRef with kubectl get deploy,sts -n NS; fix the reference or delete the stale HPA.",
	Priority: 75,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	targets := scaleTargets(env)
	for i := range env.Snap.HPAs {
		h := &env.Snap.HPAs[i]
		if h.DeletionTimestamp != nil {
			continue
		}
		target := fmt.Sprintf("%s %s", h.TargetKind, h.TargetName)
		var ev []checks.Evidence
		since := h.CreationTimestamp
		detail := ""
		if c, ok := hpaCond(h, "AbleToScale", "False"); ok && c.Reason == "FailedGetScale" {
			ev = append(ev, conditionEvidence(c))
			if c.LastTransitionTime.After(since) {
				since = c.LastTransitionTime
			}
			detail = checks.JoinNonEmpty(c.Reason, oneLine(c.Message, 400))
		} else if t, known := targetOf(env, targets, h); !known || t != nil {
			continue
		} else {
			detail = fmt.Sprintf("no %s named %s in namespace %s", h.TargetKind, h.TargetName, h.Namespace)
		}
		if env.Age(since) < wait {
			continue
		}
		if e := env.Index.LatestEvent(snapshot.KindHPA, h.Namespace, h.Name, "FailedGetScale"); e != nil {
			ev = append(ev, eventEvidence(e))
		}
		ev = append(ev, fieldEvidence("spec.scaleTargetRef", target, "", nil))
		f := env.Finding(checks.Ref(snapshot.KindHPA, &h.Meta), "FailedGetScale",
			fmt.Sprintf("hpa %s cannot scale its target %s: %s", h.Name, target, detail), ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})
