package metrics

import (
	"context"
	"fmt"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// EtcdDBSize fires when an etcd database approaches its backend quota
// (etcd-mixin etcdDatabaseQuotaLowSpace: above 95%, critical).
var EtcdDBSize = checks.New(checks.Meta{
	ID:    "controlplane.etcd_db_size",
	Title: "etcd database near its quota",
	Description: "An etcd member's database file (etcd_mvcc_db_total_size_in_bytes) uses more than `warning_ratio` of its backend quota " +
		"(etcd_server_quota_backend_bytes; 2 GiB unless --quota-backend-bytes is set), critical above `critical_ratio` (etcd-mixin " +
		"etcdDatabaseQuotaLowSpace: 95%). At the quota etcd raises the NOSPACE alarm and refuses every write, so the API server can no " +
		"longer create or update anything. The message says how much of the file is free pages that a defragmentation would reclaim.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsEtcd},
	Params: []checks.Param{
		{Name: "warning_ratio", Type: checks.Float, Default: "0.8", Description: "database size over quota that fires a warning"},
		{Name: "critical_ratio", Type: checks.Float, Default: "0.95", Description: "database size over quota that fires as critical (etcd-mixin etcdDatabaseQuotaLowSpace: 95%)"},
	},
	Remedy: "Compact and defragment (etcdctl compact $(etcdctl endpoint status -w json | jq '.[0].Status.header.revision'); etcdctl defrag --cluster), " +
		"then etcdctl alarm disarm if NOSPACE was raised; find what fills it (many Events, large ConfigMaps/Secrets, CRs) and raise --quota-backend-bytes (8 GiB max recommended).",
	Priority: 85,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	sizes := series(env, "etcd_mvcc_db_total_size_in_bytes")
	if len(sizes) == 0 {
		return missing(env, snapshot.KindMetricsEtcd, "etcd_mvcc_db_total_size_in_bytes")
	}
	quotaS := byInstance(series(env, "etcd_server_quota_backend_bytes"))
	inUseS := byInstance(series(env, "etcd_mvcc_db_total_size_in_use_in_bytes"))
	quota, inUse := lastValues(quotaS), lastValues(inUseS)
	warn, crit := env.Params.Float("warning_ratio"), env.Params.Float("critical_ratio")
	var worst *snapshot.Series
	var ratio, size, q float64
	for _, s := range sizes {
		l, ok := s.Last()
		inst := s.Labels["instance"]
		if !ok || quota[inst] <= 0 {
			continue
		}
		if r := l.V / quota[inst]; worst == nil || r > ratio {
			worst, ratio, size, q = s, r, l.V, quota[inst]
		}
	}
	if worst == nil || ratio < warn {
		return nil
	}
	inst := worst.Labels["instance"]
	msg := fmt.Sprintf("etcd database on %s is %s, %s of its %s quota; at the quota etcd refuses all writes (NOSPACE)",
		inst, checks.Bytes(size), percent(ratio), checks.Bytes(q))
	ev := []checks.Evidence{seriesEvidence(worst, checks.Bytes(size), "database file size")}
	if u, ok := inUse[inst]; ok && u > 0 && u < size {
		msg += fmt.Sprintf("; %s of it is free space a defragmentation would reclaim", checks.Bytes(size-u))
		ev = append(ev, seriesEvidence(inUseS[inst], checks.Bytes(u), "logically used"))
	}
	ev = append(ev, seriesEvidence(quotaS[inst], checks.Bytes(q), "backend quota"),
		threshold("warning_ratio", percent(warn), "critical at "+percent(crit)))
	f := env.Finding(cluster(env), "EtcdDatabaseQuotaLowSpace", msg, ev...)
	if ratio >= crit {
		f.Severity = checks.Critical
	}
	return []checks.Finding{f}
})

// byInstance maps each series' instance label to the series.
func byInstance(ss []*snapshot.Series) map[string]*snapshot.Series {
	m := map[string]*snapshot.Series{}
	for _, s := range ss {
		m[s.Labels["instance"]] = s
	}
	return m
}

// lastValues maps keys to their series' newest values.
func lastValues(m map[string]*snapshot.Series) map[string]float64 {
	out := map[string]float64{}
	for k, s := range m {
		if l, ok := s.Last(); ok {
			out[k] = l.V
		}
	}
	return out
}
