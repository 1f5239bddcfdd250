package metrics

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ClockSkew fires when a node's clock is off or not synchronised, with
// node-mixin's NodeClockSkewDetected (offset beyond ±50ms and not
// converging, for 10m) and NodeClockNotSynchronising (sync status 0 with
// a maximum error of 16s or more, for 10m). Needs node_exporter metrics
// in Prometheus.
var ClockSkew = checks.New(checks.Meta{
	ID:    "node.clock_skew",
	Title: "Node clock skew",
	Description: "A node's clock is off: its NTP offset (node_timex_offset_seconds) stays beyond ±`max_offset` for `for` and is not converging " +
		"(node-mixin NodeClockSkewDetected), or the kernel reports the clock unsynchronised (node_timex_sync_status 0) with a maximum error of 16s " +
		"or more (NodeClockNotSynchronising). Skewed clocks break certificate validation and token expiry, leases and leader election, " +
		"and make logs and events across nodes impossible to order.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsNode},
	Params: []checks.Param{
		{Name: "max_offset", Type: checks.Duration, Default: "50ms", Description: "clock offset tolerated (node-mixin: 0.05s)"},
		{Name: "for", Type: checks.Duration, Default: "10m", Description: "how long the skew or the lost synchronisation must last (node-mixin: 10m)"},
	},
	Remedy:   "On the node: timedatectl status and chronyc tracking (or ntpq -p); make sure an NTP daemon runs and reaches its servers (UDP 123).",
	Priority: 55,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	offsets := series(env, "node_timex_offset_seconds")
	syncs := series(env, "node_timex_sync_status")
	if len(offsets) == 0 && len(syncs) == 0 {
		return missing(env, snapshot.KindMetricsNode, "node_timex_offset_seconds")
	}
	wait := env.Params.Duration("for")
	limit := env.Params.Duration("max_offset").Seconds()
	deriv := map[string]float64{}
	for _, s := range series(env, snapshot.SeriesClockOffsetDeriv5m) {
		if l, ok := s.Last(); ok {
			deriv[hostKey(s.Labels)] = l.V
		}
	}
	maxErr := map[string]*snapshot.Series{}
	for _, s := range series(env, "node_timex_maxerror_seconds") {
		maxErr[hostKey(s.Labels)] = s
	}
	uname := unameMap(env)
	type hit struct {
		labels map[string]string
		reason string
		msg    string
		ev     []checks.Evidence
	}
	hits := map[string]hit{}
	for _, s := range offsets {
		k := hostKey(s.Labels)
		d, hasDeriv := deriv[k]
		pos, since := sustainedStrict(s, wait, func(v float64) bool { return v > limit })
		neg, since2 := sustainedStrict(s, wait, func(v float64) bool { return v < -limit })
		if !(pos && (!hasDeriv || d >= 0)) && !(neg && (!hasDeriv || d <= 0)) {
			continue
		}
		if neg {
			since = since2
		}
		l, _ := s.Last()
		ref, _ := nodeRef(env, s.Labels, uname)
		hits[k] = hit{s.Labels, "NodeClockSkewDetected",
			fmt.Sprintf("the clock of %s is off by %s and not converging (since %s)", ref.Name, seconds(math.Abs(l.V)), since.Format("2006-01-02T15:04:05Z07:00")),
			[]checks.Evidence{seriesEvidence(s, seconds(l.V), "offset from the NTP reference")}}
	}
	for _, s := range syncs {
		k := hostKey(s.Labels)
		if _, ok := hits[k]; ok {
			continue
		}
		unsynced, since := sustainedStrict(s, wait, func(v float64) bool { return v == 0 })
		me := maxErr[k]
		if !unsynced || me == nil {
			continue
		}
		ml, ok := me.Last()
		if !ok || ml.V < 16 {
			continue
		}
		ref, _ := nodeRef(env, s.Labels, uname)
		hits[k] = hit{s.Labels, "NodeClockNotSynchronising",
			fmt.Sprintf("the clock of %s is not synchronised (node_timex_sync_status 0 since %s, maximum error %s): no NTP daemon keeps it right",
				ref.Name, since.Format("2006-01-02T15:04:05Z07:00"), seconds(ml.V)),
			[]checks.Evidence{seriesEvidence(s, "0", "kernel clock not synchronised"), seriesEvidence(me, seconds(ml.V), "maximum clock error")}}
	}
	keys := make([]string, 0, len(hits))
	for k := range hits {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []checks.Finding
	for _, k := range keys {
		h := hits[k]
		ref, nodeName := nodeRef(env, h.labels, uname)
		ev := append(h.ev, threshold("max_offset", seconds(limit), "for "+shortDur(wait)+"; unsynchronised with a maximum error of 16s or more"))
		f := env.Finding(ref, h.reason, h.msg, ev...)
		f.Node = nodeName
		out = append(out, f)
	}
	return out
})
