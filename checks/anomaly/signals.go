package anomaly

import (
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// HistoryLookback and HistoryStep are the range of the anomaly histories:
// a week at 5-minute steps, 2,017 points per series. The detector learns a
// baseline over its window (a day) and calibrates each of its tests against
// about a week of that series' own history; with less it only pages on
// values far beyond everything it has seen (see docs/detectors.md). Node
// histories, a series or several per node, are taken at NodeHistoryStep
// (673 points a week) so that a fleet's snapshot stays within reach; their
// min_over_time keeps the dips a coarser step would skip.
const (
	HistoryLookback = 7 * 24 * time.Hour
	HistoryStep     = 5 * time.Minute
	NodeHistoryStep = 15 * time.Minute
)

// Names of the anomaly histories in the snapshot.
const (
	SeriesAPIServerLatency         = "apiserver_request_sli_duration_seconds:mean_5m"
	SeriesAPIServerLatencyFallback = "apiserver_request_duration_seconds:mean_5m"
	SeriesEtcdFsync                = "etcd_disk_wal_fsync_duration_seconds:p99_5m"
	SeriesSchedulerPending         = "scheduler_pending_pods:max_5m"
	SeriesWorkqueueDepth           = "workqueue_depth:max_5m"
	SeriesNodeMemory               = "node_memory_MemAvailable_bytes:min_15m"
	SeriesNodeFilesystem           = "node_filesystem_avail_bytes:min_15m"
)

var (
	// The API call latency SLO's requests (snapshot.Signals' filter).
	sloRequests = []snapshot.Matcher{
		{Name: "verb", Op: "!~", Value: "WATCH|WATCHLIST|CONNECT"},
		{Name: "resource", Op: "!=", Value: ""},
		{Name: "subresource", Op: "!~", Value: "proxy|attach|log|exec|portforward"},
	}
	nodeFS = []snapshot.Matcher{{Name: "fstype", Op: "!=", Value: ""}, {Name: "mountpoint", Op: "!=", Value: ""}}
)

// Signals are the histories the anomaly checks read, as Prometheus range
// queries over HistoryLookback at HistoryStep (NodeHistoryStep for nodes). collectors/prom collects
// them when they are passed in prom.Options.Extra, with the same rules as
// snapshot.Signals (extra label matchers, job scoping, the fallback,
// coverage, MaxLookback). The API server's request and error rates are
// not here: they come from snapshot.Signals' apiserver_request_total (3
// days by code in 5-minute steps).
//
// Each aggregates to few series and avoids histogram buckets where a mean
// does: a week of `_bucket` series of the API server is tens of millions
// of samples, its `_sum` and `_count` a twentieth of that.
var Signals = []snapshot.Signal{
	{Name: SeriesAPIServerLatency, Kind: snapshot.KindMetricsAPIServer, Metric: "apiserver_request_sli_duration_seconds", Type: snapshot.SignalGauge,
		Match: sloRequests, History: true, Lookback: HistoryLookback, Step: HistoryStep,
		Expr: `sum by (verb) (rate(apiserver_request_sli_duration_seconds_sum{}[5m])) / sum by (verb) (rate(apiserver_request_sli_duration_seconds_count{}[5m]))`,
		Doc:  "mean request latency by verb (without webhooks and priority-and-fairness queueing), for anomaly.apiserver_latency"},
	{Name: SeriesAPIServerLatencyFallback, Kind: snapshot.KindMetricsAPIServer, Metric: "apiserver_request_duration_seconds", Type: snapshot.SignalGauge,
		Match: sloRequests, History: true, Lookback: HistoryLookback, Step: HistoryStep, FallbackFor: SeriesAPIServerLatency,
		Expr: `sum by (verb) (rate(apiserver_request_duration_seconds_sum{}[5m])) / sum by (verb) (rate(apiserver_request_duration_seconds_count{}[5m]))`,
		Doc:  "mean request latency by verb, before Kubernetes 1.27"},
	{Name: SeriesEtcdFsync, Kind: snapshot.KindMetricsEtcd, Metric: "etcd_disk_wal_fsync_duration_seconds", Type: snapshot.SignalGauge,
		History: true, Lookback: HistoryLookback, Step: HistoryStep,
		Expr: `histogram_quantile(0.99, sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{}[5m])))`,
		Doc:  "p99 WAL fsync latency per member, for anomaly.etcd_fsync"},
	{Name: SeriesSchedulerPending, Kind: snapshot.KindMetricsScheduler, Metric: "scheduler_pending_pods", Type: snapshot.SignalGauge,
		History: true, Lookback: HistoryLookback, Step: HistoryStep,
		Expr: `sum by (queue) (max_over_time(scheduler_pending_pods{}[5m]))`,
		Doc:  "the most pods waiting per scheduling queue in each step, for anomaly.scheduler_pending"},
	{Name: SeriesWorkqueueDepth, Kind: snapshot.KindMetricsControllerManager, Metric: "workqueue_depth", Type: snapshot.SignalGauge,
		History: true, Lookback: HistoryLookback, Step: HistoryStep, JobScoped: true,
		Expr: `max by (name) (max_over_time(workqueue_depth{}[5m]))`,
		Doc:  "the deepest each controller work queue got in each step, for anomaly.workqueue_depth"},
	{Name: SeriesNodeMemory, Kind: snapshot.KindMetricsNode, Metric: "node_memory_MemAvailable_bytes", Type: snapshot.SignalGauge,
		History: true, Lookback: HistoryLookback, Step: NodeHistoryStep,
		Expr: `min_over_time(node_memory_MemAvailable_bytes{}[15m])`,
		Doc:  "the least memory available per node in each 15 minutes, for anomaly.node_memory"},
	{Name: SeriesNodeFilesystem, Kind: snapshot.KindMetricsNode, Metric: "node_filesystem_avail_bytes", Type: snapshot.SignalGauge,
		Match: nodeFS, History: true, Lookback: HistoryLookback, Step: NodeHistoryStep,
		Expr: `min_over_time(node_filesystem_avail_bytes{}[15m])`,
		Doc:  "the least free space per filesystem in each 15 minutes, for node.filesystem_filling's anomalous drops"},
}
