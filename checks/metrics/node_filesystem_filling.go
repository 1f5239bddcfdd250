package metrics

import (
	"context"
	"fmt"
	"sort"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/anomaly"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// FilesystemFilling fires when a node's filesystem is about to fill up,
// with node-mixin's NodeFilesystemSpaceFillingUp (less than 40% free and
// predicted full within 24 hours from the last 6 hours' trend: warning;
// less than 20% and full within 4 hours: critical) and
// NodeFilesystemAlmostOutOfSpace (less than 5% free: warning, 3%:
// critical) rules, plus the anomaly detector: when the free-space history
// (anomaly.SeriesNodeFilesystem) shows an anomalous drop, a filesystem
// below warning_free_percent fires at once (NodeFilesystemSpaceDropping)
// instead of waiting for the 6-hour trend to hold for an hour, and a
// filesystem that fires anyway carries the detector's evidence. Needs
// node_exporter metrics in Prometheus.
var FilesystemFilling = checks.New(checks.Meta{
	ID:    "node.filesystem_filling",
	Title: "Node filesystem filling up",
	Description: "A node's filesystem (node_exporter's node_filesystem_avail_bytes) is filling up: less than `warning_free_percent` free and, at the rate " +
		"of the last 6 hours (predict_linear), full within 24 hours; or less than `critical_free_percent` free and full within 4 hours, " +
		"the prediction holding for `for` (node-mixin NodeFilesystemSpaceFillingUp); or almost out of space whatever the trend (NodeFilesystemAlmostOutOfSpace); " +
		"or below `warning_free_percent` right after a drop that the anomaly detector scores at or above detect.PageScore against the filesystem's " +
		"own week of free space (NodeFilesystemSpaceDropping: a sudden write the linear prediction has not caught up with yet). " +
		"Read-only filesystems are ignored. A full root or image filesystem makes the kubelet evict pods and stops image pulls, logging and etcd.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsNode},
	Params: []checks.Param{
		{Name: "warning_free_percent", Type: checks.Float, Default: "40", Description: "free space below which a filesystem predicted full within 24h fires a warning (node-mixin fsSpaceFillingUpWarningThreshold)"},
		{Name: "critical_free_percent", Type: checks.Float, Default: "20", Description: "free space below which a filesystem predicted full within 4h is critical (fsSpaceFillingUpCriticalThreshold)"},
		{Name: "full_warning_percent", Type: checks.Float, Default: "5", Description: "free space below which the check warns whatever the trend (fsSpaceAvailableWarningThreshold)"},
		{Name: "full_critical_percent", Type: checks.Float, Default: "3", Description: "free space below which the check is critical whatever the trend (fsSpaceAvailableCriticalThreshold)"},
		{Name: "for", Type: checks.Duration, Default: "1h", Description: "how long the prediction must have said full (node-mixin: 1h; a trend seen for less is noise such as a build filling a cache)"},
	},
	Remedy: "On the node: df -h and du -xh --max-depth=2 MOUNTPOINT | sort -h | tail; prune unused images (crictl rmi --prune), rotate container logs, " +
		"and find pods with large emptyDir volumes; grow the disk if the usage is legitimate.",
	Priority: 65,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	avail := series(env, "node_filesystem_avail_bytes")
	if len(avail) == 0 {
		return missing(env, snapshot.KindMetricsNode, "node_filesystem_avail_bytes")
	}
	key := func(ls map[string]string) string {
		return hostKey(ls) + "|" + ls["device"] + "|" + ls["mountpoint"]
	}
	idx := func(name string) map[string]*snapshot.Series {
		m := map[string]*snapshot.Series{}
		for _, s := range series(env, name) {
			m[key(s.Labels)] = s
		}
		return m
	}
	size, ro := idx("node_filesystem_size_bytes"), idx("node_filesystem_readonly")
	p24, p4 := idx(snapshot.SeriesFSPredict24h), idx(snapshot.SeriesFSPredict4h)
	hist := idx(anomaly.SeriesNodeFilesystem)
	last := func(m map[string]*snapshot.Series, k string) (float64, bool) {
		if s := m[k]; s != nil {
			if l, ok := s.Last(); ok {
				return l.V, true
			}
		}
		return 0, false
	}
	wait := env.Params.Duration("for")
	fillsUp := func(m map[string]*snapshot.Series, k string) bool {
		s := m[k]
		if s == nil {
			return false
		}
		ok, _ := sustainedStrict(s, wait, func(v float64) bool { return v < 0 })
		return ok
	}
	warnFree, critFree := env.Params.Float("warning_free_percent"), env.Params.Float("critical_free_percent")
	fullWarn, fullCrit := env.Params.Float("full_warning_percent"), env.Params.Float("full_critical_percent")
	uname := unameMap(env)

	type fs struct {
		s       *snapshot.Series
		free    float64 // percent
		avail   float64
		size    float64
		sev     checks.Severity
		reason  string
		horizon string
		drop    *anomaly.Verdict // an anomalous drop of free space, if any
	}
	hosts := map[string][]fs{}
	for _, s := range avail {
		k := key(s.Labels)
		a, ok1 := s.Last()
		sz, ok2 := last(size, k)
		if !ok1 || !ok2 || sz <= 0 {
			continue
		}
		if r, ok := last(ro, k); ok && r != 0 {
			continue
		}
		free := a.V / sz * 100
		f := fs{s: s, free: free, avail: a.V, size: sz}
		if free < warnFree && fillsUp(p24, k) {
			f.sev, f.reason, f.horizon = checks.Warning, "NodeFilesystemSpaceFillingUp", "24 hours"
		}
		if free < critFree && fillsUp(p4, k) {
			f.sev, f.reason, f.horizon = checks.Critical, "NodeFilesystemSpaceFillingUp", "4 hours"
		}
		if free < fullWarn && f.sev.Rank() < checks.Critical.Rank() {
			f.sev, f.reason, f.horizon = checks.Warning, "NodeFilesystemAlmostOutOfSpace", ""
			if free < fullCrit {
				f.sev = checks.Critical
			}
		}
		if h := hist[k]; h != nil {
			if v := anomaly.Judge(h, env.Now, anomaly.Options{Direction: anomaly.Down}); v.Anomalous {
				f.drop = &v
				if f.sev == "" && free < warnFree {
					f.sev, f.reason = checks.Warning, "NodeFilesystemSpaceDropping"
				}
			}
		}
		if f.sev == "" {
			continue
		}
		hosts[hostKey(s.Labels)] = append(hosts[hostKey(s.Labels)], f)
	}
	var out []checks.Finding
	keys := make([]string, 0, len(hosts))
	for k := range hosts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, hk := range keys {
		fss := hosts[hk]
		sortByWorst(fss, func(f fs) float64 { return float64(f.sev.Rank())*1000 - f.free }, func(f fs) string { return f.s.Labels["mountpoint"] })
		w := fss[0]
		ref, nodeName := nodeRef(env, w.s.Labels, uname)
		where := ref.Name
		msg := fmt.Sprintf("filesystem %s (%s, %s) on %s has %s free (%s of %s)", w.s.Labels["mountpoint"], w.s.Labels["device"], w.s.Labels["fstype"],
			where, percent(w.free/100), checks.Bytes(w.avail), checks.Bytes(w.size))
		if w.horizon != "" {
			msg += " and, at the rate of the last 6 hours, fills up within " + w.horizon
		}
		if d := w.drop; d != nil {
			msg += fmt.Sprintf(" after an anomalous drop from its usual %s (anomaly score %.2f)", checks.Bytes(d.Explanation.Expected), d.Score)
		}
		var ev []checks.Evidence
		var others []string
		for i, f := range fss {
			if i > 0 {
				others = append(others, fmt.Sprintf("%s %s free", f.s.Labels["mountpoint"], percent(f.free/100)))
			}
			if i < 4 {
				ev = append(ev, seriesEvidence(f.s, checks.Bytes(f.avail), fmt.Sprintf("%s free of %s", percent(f.free/100), checks.Bytes(f.size))))
			}
		}
		if len(others) > 0 {
			msg += "; also " + joinMax(others, 3)
		}
		if s := p24[key(w.s.Labels)]; s != nil {
			if l, ok := s.Last(); ok {
				ev = append(ev, seriesEvidence(s, checks.Bytes(l.V), "free space predicted in 24h from the last 6h"))
			}
		}
		if d := w.drop; d != nil {
			ev = append(ev, anomaly.Evidence(*d, checks.Bytes, detect.PageScore)...)
		}
		ev = append(ev, threshold("warning_free_percent", fmt.Sprintf("%g%%", warnFree),
			fmt.Sprintf("and full within 24h; critical below %g%% and full within 4h; almost full below %g%%/%g%%", critFree, fullWarn, fullCrit)))
		f := env.Finding(ref, w.reason, msg, ev...)
		f.Severity, f.Node = w.sev, nodeName
		out = append(out, f)
	}
	return out
})

func joinMax(items []string, n int) string {
	if len(items) <= n {
		return joinComma(items)
	}
	return joinComma(items[:n]) + fmt.Sprintf(" and %d more", len(items)-n)
}

func joinComma(items []string) string {
	out := ""
	for i, s := range items {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
