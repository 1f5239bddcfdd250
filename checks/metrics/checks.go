// Package metrics holds the checks over metric samples: the control
// plane's latency, errors, throttling and backlogs, etcd's health and
// disks, client certificates, and, from node_exporter, nodes' disks,
// memory and clocks.
//
// The inputs are the named series and histograms of snapshot.Signals,
// delivered by collectors/prom (Prometheus queries) or collectors/scrape
// (direct /metrics scrapes); a check reads one source when both delivered
// (Prometheus first). Each check requires its component's metric kind
// (metrics/apiserver, metrics/etcd, metrics/scheduler,
// metrics/controller-manager, metrics/node), so it is unknown when the
// source could not be read and skipped when nobody collected it.
// Thresholds default to the Kubernetes SLOs and to kubernetes-mixin,
// etcd-mixin and node-mixin alerts; docs/metrics.md lists them.
package metrics

import "github.com/kubepatrol/patrol/checks"

// Checks lists the metric checks.
func Checks() []checks.Check {
	return []checks.Check{
		APIServerLatency, APIServerErrors, APIServerThrottling, ClientCertExpiring,
		EtcdNoLeader, EtcdLeaderChanges, EtcdDBSize, EtcdSlowDisk,
		SchedulerBacklog, WorkqueueBacklog,
		FilesystemFilling, MemoryExhausting, ClockSkew,
	}
}
