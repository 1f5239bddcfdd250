package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// EtcdNoLeader fires when etcd members see no leader (etcd-mixin
// etcdNoLeader: etcd_server_has_leader == 0 for 1m, critical).
var EtcdNoLeader = checks.New(checks.Meta{
	ID:    "controlplane.etcd_no_leader",
	Title: "etcd member without leader",
	Description: "An etcd member reports etcd_server_has_leader == 0 for longer than the `for` parameter (etcd-mixin etcdNoLeader: 1m, critical). " +
		"A member without a leader cannot serve writes or linearizable reads; when most members have none, etcd has lost quorum and " +
		"the API server fails every write.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindMetricsEtcd},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "1m", Description: "how long a member must have had no leader (with a single scrape, the scrape alone decides)"},
	},
	Remedy: "Check each member's health and peers: etcdctl endpoint status --cluster -w table and etcdctl endpoint health --cluster; " +
		"look for network partitions between members, stopped members and disk stalls in the etcd logs (\"lost leader\", \"election\").",
	Priority: 95,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	ss := series(env, "etcd_server_has_leader")
	if len(ss) == 0 {
		return missing(env, snapshot.KindMetricsEtcd, "etcd_server_has_leader")
	}
	wait := env.Params.Duration("for")
	var bad []string
	var ev []checks.Evidence
	var since time.Time
	for _, s := range ss {
		ok, from := sustained(s, wait, func(v float64) bool { return v == 0 })
		if !ok {
			continue
		}
		bad = append(bad, s.Labels["instance"])
		ev = append(ev, seriesEvidence(s, "0", "no leader since "+from.Format(time.RFC3339)))
		if since.IsZero() || from.Before(since) {
			since = from
		}
	}
	if len(bad) == 0 {
		return nil
	}
	msg := fmt.Sprintf("etcd member %s has no leader (etcd_server_has_leader == 0 since %s): it cannot serve writes", bad[0], since.Format(time.RFC3339))
	if len(bad) > 1 {
		msg = fmt.Sprintf("%d of %d etcd members have no leader (%s; since %s)", len(bad), len(ss), strings.Join(bad, ", "), since.Format(time.RFC3339))
		if 2*len(bad) > len(ss) {
			msg += ": etcd has lost quorum and the API server cannot write"
		}
	}
	ev = append(ev, threshold("for", shortDurOrSeconds(wait), "etcd-mixin etcdNoLeader"))
	f := env.Finding(cluster(env), "EtcdNoLeader", msg, ev...)
	f.Since = &since
	return []checks.Finding{f}
})

func shortDurOrSeconds(d time.Duration) string {
	if d%time.Minute == 0 && d > 0 {
		return shortDur(d)
	}
	return d.String()
}
