package workload

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// HPAMetricsUnavailable fires when an HPA cannot compute its metrics and
// therefore does not scale.
var HPAMetricsUnavailable = checks.New(checks.Meta{
	ID:    "hpa.metrics_unavailable",
	Title: "HPA cannot read its metrics",
	Description: "ScalingActive=False for longer than the threshold with a reason such as " +
		"FailedGetResourceMetric, FailedGetPodsMetric, FailedGetExternalMetric or InvalidSelector: the " +
		"HorizontalPodAutoscaler cannot compute a replica count and the workload stays at its current size " +
		"whatever the load. Common causes: metrics-server (or the custom/external metrics adapter) missing " +
		"or down, containers without a CPU/memory request, a wrong metric name. ScalingDisabled (target " +
		"scaled to zero) is not a fault.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindHPA},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "5m",
			Description: "how long metrics must be unavailable before the check fires (new pods need a minute or two before metrics-server reports them)"},
	},
	Remedy:   "kubectl describe hpa NAME -n NS; kubectl get apiservice v1beta1.metrics.k8s.io and kubectl top pods -n NS to check metrics-server; set resources.requests for the metric's resource on every container.",
	Priority: 70,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.HPAs {
		h := &env.Snap.HPAs[i]
		if h.DeletionTimestamp != nil {
			continue
		}
		c, ok := hpaCond(h, "ScalingActive", "False")
		if !ok || c.Reason == "ScalingDisabled" {
			continue
		}
		since := c.LastTransitionTime
		if since.IsZero() {
			since = h.CreationTimestamp
		}
		if env.Age(since) < wait {
			continue
		}
		reason := firstNonEmpty(c.Reason, "ScalingInactive")
		ev := []checks.Evidence{conditionEvidence(c)}
		detail := oneLine(c.Message, 500)
		if e := env.Index.LatestEvent(snapshot.KindHPA, h.Namespace, h.Name,
			"FailedGetResourceMetric", "FailedGetContainerResourceMetric", "FailedGetPodsMetric", "FailedGetObjectMetric",
			"FailedGetExternalMetric", "FailedComputeMetricsReplicas", "InvalidSelector", "InvalidMetricSourceType"); e != nil {
			ev = append(ev, eventEvidence(e))
			if detail == "" {
				detail = oneLine(e.Message, 500)
			}
		}
		msg := fmt.Sprintf("hpa %s cannot compute its metrics for %s and does not scale %s %s (stuck at %s): %s",
			h.Name, round(env.Age(since)), h.TargetKind, h.TargetName, plural(int(h.CurrentReplicas), "replica", "replicas"), checks.JoinNonEmpty(reason, detail))
		if hint := metricsHint(c.Message); hint != "" {
			msg += " — " + hint
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "metrics unavailable at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindHPA, &h.Meta), reason, msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

// metricsHint names the usual cause behind the HPA controller's messages.
func metricsHint(msg string) string {
	switch {
	case strings.Contains(msg, "missing request for"):
		return "a container of the target has no request for that resource; utilization targets need requests on every container"
	case strings.Contains(msg, "custom.metrics.k8s.io"), strings.Contains(msg, "external.metrics.k8s.io"),
		strings.Contains(msg, "custom metrics API"), strings.Contains(msg, "external metrics API"):
		return "the custom/external metrics adapter is not serving this metric"
	case strings.Contains(msg, "metrics.k8s.io"), strings.Contains(msg, "resource metrics API"):
		return "the resource metrics API (metrics-server) is not serving"
	case strings.Contains(msg, "did not receive metrics for targeted pods"), strings.Contains(msg, "did not receive metrics for any ready pods"):
		return "no ready pod of the target reports metrics"
	}
	return ""
}
