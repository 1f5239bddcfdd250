package metrics

import (
	"context"
	"fmt"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// EtcdLeaderChanges fires when etcd elects leaders too often (etcd-mixin
// etcdHighNumberOfLeaderChanges: 4 or more within 15 minutes).
var EtcdLeaderChanges = checks.New(checks.Meta{
	ID:    "controlplane.etcd_leader_changes",
	Title: "etcd leader changes",
	Description: "etcd changed leaders more than `max_changes` times within `window` (etcd-mixin etcdHighNumberOfLeaderChanges: 4 in 15 minutes), " +
		"from etcd_server_leader_changes_seen_total. Every election stalls writes for about a second; frequent ones mean members miss heartbeats " +
		"because of slow disks, CPU starvation or a flaky network between members. With a single scrape the lifetime count (less the first election) " +
		"is averaged over the member's uptime.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsEtcd},
	Params: []checks.Param{
		{Name: "window", Type: checks.Duration, Default: "15m", Description: "window the changes are counted in"},
		{Name: "max_changes", Type: checks.Int, Default: "3", Description: "leader changes tolerated within the window"},
	},
	Remedy: "Check etcd's disk latency (controlplane.etcd_slow_disk), CPU and the network between members; etcd logs name each election " +
		"(\"elected leader\", \"lost leader\"); consider raising --heartbeat-interval and --election-timeout on high-latency links.",
	Priority: 80,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	ss := series(env, "etcd_server_leader_changes_seen_total")
	if len(ss) == 0 {
		return missing(env, snapshot.KindMetricsEtcd, "etcd_server_leader_changes_seen_total")
	}
	win := env.Params.Duration("window")
	var worst *snapshot.Series
	var most, inc float64
	for _, s := range ss {
		n, cov, ok := s.Increase(win)
		if !ok {
			continue
		}
		if lifetime(s) {
			n = max(n-1, 0) // the first election after start
		}
		per := perWindow(n, cov, win)
		if worst == nil || per > most {
			worst, most, inc = s, per, n
		}
	}
	if worst == nil || most <= float64(env.Params.Int("max_changes")) {
		return nil
	}
	_, cov, _ := worst.Increase(win)
	msg := fmt.Sprintf("etcd changed leader %s times %s (seen by member %s): every election stalls writes",
		count(most), perWindowText(cov, win, lifetime(worst)), worst.Labels["instance"])
	return []checks.Finding{env.Finding(cluster(env), "EtcdHighNumberOfLeaderChanges", msg,
		seriesEvidence(worst, count(inc), "leader changes "+window(cov, lifetime(worst))),
		threshold("max_changes", fmt.Sprint(env.Params.Int("max_changes")), "per "+shortDur(win)+" (etcd-mixin etcdHighNumberOfLeaderChanges: 4 in 15m)"))}
})
