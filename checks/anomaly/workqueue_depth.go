package anomaly

import "github.com/kubepatrol/patrol/collectors/snapshot"

// WorkqueueDepth fires when a controller-manager work queue is
// anomalously deep for it.
var WorkqueueDepth = (&family{
	id:    "anomaly.workqueue_depth",
	title: "Controller work queue anomaly",
	description: "A kube-controller-manager work queue (workqueue_depth, the deepest in each 5 minutes) is anomalously deep for that " +
		"queue: the combined detector, run over a week of 5-minute points, scores one of the latest points (`within`) at or above `page_score` " +
		"above its baseline. A controller falling behind before controlplane.workqueue_backlog's fixed depth: a burst of objects, " +
		"a slow API server, a controller retrying errors.",
	kind: snapshot.KindMetricsControllerManager, reason: "WorkqueueDepthAnomaly",
	series: SeriesWorkqueueDepth,
	what:   func(l map[string]string, _ string) string { return "the depth of work queue " + quote(l["name"]) },
	format: count, dir: Up,
	remedy: "Look at the controller's log for errors and retries (workqueue_retries_total by name), at the API server's latency and " +
		"throttling, and at what created the objects the queue holds.",
	priority: 30,
}).check()

func quote(s string) string { return `"` + s + `"` }
