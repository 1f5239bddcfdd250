package anomaly

import (
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerRequests fires when the API server's request rate is
// anomalous for this cluster, up (a client storm) or down (clients that
// stopped talking to it).
var APIServerRequests = (&family{
	id:    "anomaly.apiserver_requests",
	title: "API server request rate anomaly",
	description: "The rate of resource requests the API server answers (apiserver_request_total, all codes: 3 days of 5-minute rates) " +
		"is anomalous for this cluster, above or below its baseline: the combined detector scores one of the latest points (`within`) at " +
		"or above `page_score`. A surge is a client storm (a controller in a hot loop, a LIST flood, a retry storm on errors); a drop is " +
		"clients that stopped reaching the server (a load balancer, a network partition, a crashed controller).",
	kind: snapshot.KindMetricsAPIServer, reason: "APIServerRequestsAnomaly",
	series: "apiserver_request_total",
	input: func(env *checks.Env) []*snapshot.Series {
		return sumByTime(env, "apiserver_request_total", "apiserver_request_total:rate", func(_ string, v float64, acc *[2]float64) {
			acc[0] += v
		}, func(_ *snapshot.Series, acc [2]float64) float64 { return acc[0] })
	},
	what:   func(map[string]string, string) string { return "the API server's request rate" },
	format: perSecond, dir: Both,
	remedy: "Find who sends the requests: apiserver_request_total by client (the audit log's user and userAgent) and by resource; " +
		"for a drop, check the clients' connectivity and the API server's load balancer.",
	priority: 25,
}).check()
