package anomaly

import "github.com/kubepatrol/patrol/collectors/snapshot"

// SchedulerPending fires when a scheduling queue holds anomalously many
// pods for this cluster.
var SchedulerPending = (&family{
	id:    "anomaly.scheduler_pending",
	title: "Scheduler queue anomaly",
	description: "A scheduling queue (active, backoff, unschedulable, gated; scheduler_pending_pods, the most in each 5 minutes) holds " +
		"anomalously many pods for this cluster: the combined detector, run over a week of 5-minute points, scores one of the latest " +
		"points (`within`) at or above `page_score` above its baseline. A backlog that is unusual although below " +
		"controlplane.scheduler_backlog's fixed limit: pods that no longer fit, a slow scheduler, a burst of new work.",
	kind: snapshot.KindMetricsScheduler, reason: "SchedulerPendingAnomaly",
	series: SeriesSchedulerPending,
	what:   func(l map[string]string, _ string) string { return "the scheduler's " + l["queue"] + " queue" },
	format: count, dir: Up,
	remedy: "kubectl get pods -A --field-selector status.phase=Pending and their FailedScheduling events: capacity, taints, affinity, " +
		"quota or volume binding; for the active queue, the scheduler's own latency (scheduler_scheduling_attempt_duration_seconds).",
	priority: 30,
}).check()
