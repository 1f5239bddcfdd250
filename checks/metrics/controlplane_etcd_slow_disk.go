package metrics

import (
	"context"
	"fmt"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// EtcdSlowDisk fires when etcd's disk is too slow: WAL fsync or backend
// commit latency above etcd-mixin's etcdHighFsyncDurations (p99 > 0.5s
// warning, > 1s critical) and etcdHighCommitDurations (p99 > 0.25s).
var EtcdSlowDisk = checks.New(checks.Meta{
	ID:    "controlplane.etcd_slow_disk",
	Title: "etcd disk too slow",
	Description: "The 99th percentile of an etcd member's WAL fsync (etcd_disk_wal_fsync_duration_seconds) or backend commit " +
		"(etcd_disk_backend_commit_duration_seconds) latency is above etcd-mixin's thresholds: etcdHighFsyncDurations (0.5s warning, 1s critical) " +
		"and etcdHighCommitDurations (0.25s). etcd writes every change to disk before acknowledging it; a slow disk slows every API write, " +
		"makes members miss heartbeats and triggers leader elections. etcd's own guidance is a p99 fsync below 10ms.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsEtcd},
	Params: []checks.Param{
		{Name: "fsync_warning", Type: checks.Duration, Default: "500ms", Description: "p99 WAL fsync latency that fires a warning (etcd-mixin etcdHighFsyncDurations)"},
		{Name: "fsync_critical", Type: checks.Duration, Default: "1s", Description: "p99 WAL fsync latency that fires as critical"},
		{Name: "commit_warning", Type: checks.Duration, Default: "250ms", Description: "p99 backend commit latency that fires a warning (etcd-mixin etcdHighCommitDurations)"},
		{Name: "min_samples", Type: checks.Int, Default: "10", Description: "ignore members with fewer fsyncs or commits in the window"},
	},
	Remedy: "Put etcd's data directory on a dedicated low-latency SSD (fio --rw=write --ioengine=sync --fdatasync=1 --bs=2300 should give a p99 under 10ms); " +
		"check for noisy neighbours on the disk (iostat -x 1) and for throttled cloud volumes (IOPS/burst credits).",
	Priority: 85,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	fsync := histograms(env, "etcd_disk_wal_fsync_duration_seconds")
	commit := histograms(env, "etcd_disk_backend_commit_duration_seconds")
	if len(fsync) == 0 && len(commit) == 0 {
		return missing(env, snapshot.KindMetricsEtcd, "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds")
	}
	minN := float64(env.Params.Int("min_samples"))
	type slow struct {
		h        *snapshot.Histogram
		what     string
		p, limit float64
		sev      checks.Severity
		reason   string
		atLeast  bool
	}
	var found []slow
	check := func(hs []*snapshot.Histogram, what, reason string, warn, crit float64) {
		for _, h := range hs {
			if h.Total() < minN {
				continue
			}
			p, atLeast := quantile(h, 0.99)
			if !above(p, atLeast, warn) {
				continue
			}
			s := slow{h, what, p, warn, checks.Warning, reason, atLeast}
			if crit > 0 && above(p, atLeast, crit) {
				s.sev, s.limit = checks.Critical, crit
			}
			found = append(found, s)
		}
	}
	check(fsync, "WAL fsync", "EtcdHighFsyncDurations", env.Params.Duration("fsync_warning").Seconds(), env.Params.Duration("fsync_critical").Seconds())
	check(commit, "backend commit", "EtcdHighCommitDurations", env.Params.Duration("commit_warning").Seconds(), 0)
	if len(found) == 0 {
		return nil
	}
	sortByWorst(found, func(s slow) float64 { return float64(s.sev.Rank())*1000 + s.p/s.limit }, func(s slow) string { return s.what + s.h.Labels["instance"] })
	w := found[0]
	var items []string
	var ev []checks.Evidence
	for _, s := range found {
		items = append(items, fmt.Sprintf("%s p99 %s on %s", s.what, latencyText(s.p, s.atLeast), s.h.Labels["instance"]))
		ev = append(ev, histEvidence(s.h, "p99="+latencyText(s.p, s.atLeast), fmt.Sprintf("%s %ss %s", count(s.h.Total()), s.what, window(s.h.Covered(), s.h.Window == 0))))
	}
	msg := fmt.Sprintf("etcd %s latency on %s is %s at p99 %s (threshold %s): the disk is too slow for etcd, which slows every API write%s",
		w.what, w.h.Labels["instance"], latencyText(w.p, w.atLeast), window(w.h.Covered(), w.h.Window == 0), seconds(w.limit), more(items, 3))
	ev = append(ev, threshold("fsync_warning", seconds(env.Params.Duration("fsync_warning").Seconds()),
		"commit_warning "+seconds(env.Params.Duration("commit_warning").Seconds())))
	f := env.Finding(cluster(env), w.reason, msg, ev...)
	f.Severity = w.sev
	return []checks.Finding{f}
})
