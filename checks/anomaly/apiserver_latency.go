package anomaly

import (
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerLatency fires when the API server's mean request latency of a
// verb is anomalously high for this cluster, although it may still be
// within the SLO that controlplane.apiserver_latency judges.
var APIServerLatency = (&family{
	id:    "anomaly.apiserver_latency",
	title: "API server latency anomaly",
	description: "The mean latency of a verb's resource requests (apiserver_request_sli_duration_seconds, or apiserver_request_duration_seconds " +
		"before 1.27; `_sum` / `_count` over 5m, by verb) is anomalously high for this cluster: the combined detector, run over a week " +
		"of 5-minute points, scores one of the latest points (`within`) at or above `page_score` above its baseline. " +
		"A slowdown that is unusual although not yet over the SLO: a slow webhook, etcd under pressure, a client listing too much.",
	kind: snapshot.KindMetricsAPIServer, reason: "APIServerLatencyAnomaly",
	input: func(env *checks.Env) []*snapshot.Series {
		if ss := history(env, SeriesAPIServerLatency); len(ss) > 0 {
			return ss
		}
		return history(env, SeriesAPIServerLatencyFallback)
	},
	series: SeriesAPIServerLatency,
	what:   func(l map[string]string, _ string) string { return "the mean latency of " + l["verb"] + " requests" },
	format: seconds, dir: Up,
	remedy: "Compare with controlplane.apiserver_latency and the slowest resources (apiserver_request_duration_seconds by resource); " +
		"look for slow admission webhooks (apiserver_admission_webhook_admission_duration_seconds), etcd latency and large LISTs in the audit log.",
	priority: 30,
}).check()
