package anomaly

import "github.com/kubepatrol/patrol/collectors/snapshot"

// EtcdFsync fires when an etcd member's p99 WAL fsync latency is
// anomalously high for it, before it crosses etcd-mixin's thresholds.
var EtcdFsync = (&family{
	id:    "anomaly.etcd_fsync",
	title: "etcd WAL fsync latency anomaly",
	description: "A member's p99 WAL fsync latency (etcd_disk_wal_fsync_duration_seconds over 5m) is anomalously high for that member: " +
		"the combined detector, run over a week of 5-minute points, scores one of the latest points (`within`) at or above `page_score` above its baseline. " +
		"A disk that got slower (a noisy neighbour, a degraded volume, a backup) before controlplane.etcd_slow_disk's absolute thresholds.",
	kind: snapshot.KindMetricsEtcd, reason: "EtcdFsyncAnomaly",
	series: SeriesEtcdFsync,
	what: func(l map[string]string, _ string) string {
		return "the p99 WAL fsync latency of etcd member " + l["instance"]
	},
	format: seconds, dir: Up,
	remedy: "Check the member's disk (iostat -x, the volume's IOPS and throughput limits, other tenants), and whether a defragmentation, " +
		"a snapshot or a backup ran; etcd needs a dedicated low-latency disk.",
	priority: 30,
}).check()
