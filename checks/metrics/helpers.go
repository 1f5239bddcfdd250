package metrics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// sourceRank orders metric sources: Prometheus first (longer windows and
// history), then direct scrapes. When both delivered a signal, the checks
// read one source only, so that nothing is counted twice.
func sourceRank(s string) int {
	switch s {
	case "prometheus":
		return 0
	case "scrape":
		return 1
	}
	return 2
}

// series returns the series called name from the best source.
func series(env *checks.Env, name string) []*snapshot.Series {
	all := env.Snap.Metrics.Find(name, nil)
	if len(all) == 0 {
		return nil
	}
	best := all[0].Source
	for _, s := range all {
		if sourceRank(s.Source) < sourceRank(best) {
			best = s.Source
		}
	}
	out := all[:0:0]
	for _, s := range all {
		if s.Source == best {
			out = append(out, s)
		}
	}
	return out
}

// histograms returns the histograms called name from the best source.
func histograms(env *checks.Env, name string) []*snapshot.Histogram {
	all := env.Snap.Metrics.FindHistograms(name, nil)
	if len(all) == 0 {
		return nil
	}
	best := all[0].Source
	for _, h := range all {
		if sourceRank(h.Source) < sourceRank(best) {
			best = h.Source
		}
	}
	out := all[:0:0]
	for _, h := range all {
		if h.Source == best {
			out = append(out, h)
		}
	}
	return out
}

// cluster is the object of cluster-wide findings.
func cluster(env *checks.Env) checks.ObjectRef {
	return checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}
}

// at returns a pointer to a copy of t.
func at(t time.Time) *time.Time { return &t }

// seriesEvidence renders a series' newest sample.
func seriesEvidence(s *snapshot.Series, value, msg string) checks.Evidence {
	name := s.Name
	if name == snapshot.SeriesAPIServer5xx {
		name = "apiserver_request_total" // a filtered view of it: the labels say which
	}
	ev := checks.Evidence{Type: checks.EvMetric, Path: snapshot.MetricSelector(name, s.Labels), Value: value, Message: msg, Source: s.Source}
	if l, ok := s.Last(); ok {
		ev.Time = at(l.Time())
	}
	return ev
}

// histEvidence renders a histogram.
func histEvidence(h *snapshot.Histogram, value, msg string) checks.Evidence {
	return checks.Evidence{Type: checks.EvMetric, Path: snapshot.MetricSelector(h.Name, h.Labels), Value: value, Message: msg,
		Source: h.Source, Time: at(h.Time())}
}

func threshold(name, value, msg string) checks.Evidence {
	return checks.Evidence{Type: checks.EvThreshold, Path: name, Value: value, Message: msg}
}

// missing returns an unknown finding when a signal the check needs is
// absent although its component was read, because its query failed (a
// Prometheus timeout on one query): the check cannot tell.
func missing(env *checks.Env, kind snapshot.Kind, signals ...string) []checks.Finding {
	var ev []checks.Evidence
	var names []string
	for _, s := range signals {
		if e, ok := env.Snap.Metrics.SignalError(kind, s); ok {
			ev = append(ev, checks.Evidence{Type: checks.EvCoverage, Path: "metrics/" + s, Value: "Failed", Message: e})
			names = append(names, s)
		}
	}
	if len(ev) == 0 {
		return nil
	}
	f := env.Finding(cluster(env), "DataUnavailable",
		fmt.Sprintf("cannot evaluate %q: could not read %s", env.Meta.Title, strings.Join(names, ", ")), ev...)
	f.Status = checks.Unknown
	return []checks.Finding{f}
}

// window describes how long data covers, for messages: "over the last 5m"
// or "since the process started 3d ago".
func window(covered time.Duration, lifetime bool) string {
	if lifetime {
		return "since the process started " + node.Round(covered) + " ago"
	}
	return "over the last " + node.Round(covered)
}

// seconds renders a latency: 850ms, 1.25s, 42s.
func seconds(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		return snapshot.FormatValue(v)
	case v < 0.01:
		return strconv.FormatFloat(math.Round(v*10000)/10, 'f', -1, 64) + "ms"
	case v < 1:
		return strconv.FormatFloat(math.Round(v*1000), 'f', -1, 64) + "ms"
	case v < 10:
		return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) + "s"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "s"
}

// percent renders a ratio as a percentage: 4.2%.
func percent(r float64) string {
	p := r * 100
	switch {
	case p >= 10:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 1:
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.2g%%", p)
}

// count renders a possibly fractional count (rates times windows).
func count(v float64) string {
	if v >= 10 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// sustained reports whether a series has satisfied ok for at least
// `within`: its trailing run of samples that satisfy ok spans that long,
// or is its whole history (a history shorter
// than `within`, such as two scrapes, is judged on what it has). since is
// the run's first sample.
func sustained(s *snapshot.Series, within time.Duration, ok func(float64) bool) (bool, time.Time) {
	return held(s, within, ok, false)
}

// sustainedStrict is sustained without the short-history allowance: the
// run must span `within`, as a Prometheus alert's `for` would require.
func sustainedStrict(s *snapshot.Series, within time.Duration, ok func(float64) bool) (bool, time.Time) {
	return held(s, within, ok, true)
}

func held(s *snapshot.Series, within time.Duration, ok func(float64) bool, strict bool) (bool, time.Time) {
	last, has := s.Last()
	if !has || !ok(last.V) {
		return false, time.Time{}
	}
	i := len(s.Samples) - 1
	for i >= 0 && ok(s.Samples[i].V) {
		i--
	}
	first := s.Samples[i+1]
	if last.T-first.T >= within.Milliseconds() || (i < 0 && !strict) {
		return true, first.Time()
	}
	return false, time.Time{}
}

// lifetime reports whether a series or histogram holds totals since the
// process started rather than a window.
func lifetime(s *snapshot.Series) bool { return s.Type == snapshot.Counter }

// nodeRef finds the node a node_exporter series is about (checks.NodeOf).
func nodeRef(env *checks.Env, labels map[string]string, uname map[string]string) (checks.ObjectRef, string) {
	return checks.NodeOf(env, labels, uname)
}

// unameMap maps node_exporter instances to their host names.
func unameMap(env *checks.Env) map[string]string {
	m := map[string]string{}
	for _, s := range series(env, "node_uname_info") {
		if n := s.Labels["nodename"]; n != "" {
			m[s.Labels["instance"]] = n
		}
	}
	return m
}

// hostKey identifies a node_exporter target.
func hostKey(labels map[string]string) string {
	return labels["job"] + "/" + labels["instance"]
}

// sortByWorst orders items by a score, highest first, then by key.
func sortByWorst[T any](xs []T, score func(T) float64, key func(T) string) {
	sort.SliceStable(xs, func(i, j int) bool {
		a, b := score(xs[i]), score(xs[j])
		if a != b {
			return a > b
		}
		return key(xs[i]) < key(xs[j])
	})
}

// more renders "; 3 more: a, b" for the items after the first.
func more(items []string, n int) string {
	if len(items) <= 1 {
		return ""
	}
	rest := items[1:]
	if len(rest) > n {
		return fmt.Sprintf("; %d more, e.g. %s", len(rest), strings.Join(rest[:n], ", "))
	}
	return "; also " + strings.Join(rest, ", ")
}

// secondsDur converts seconds to a duration.
func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// quantile estimates a histogram quantile; atLeast is set when it falls in
// the +Inf bucket, where the estimate is only a lower bound (the highest
// finite bucket bound).
func quantile(h *snapshot.Histogram, q float64) (v float64, atLeast bool) {
	v = h.Quantile(q)
	return v, !math.IsNaN(v) && v >= lastFinite(h)
}

// above reports whether a quantile from quantile() exceeds limit: a lower
// bound at or beyond the limit counts.
func above(v float64, atLeast bool, limit float64) bool {
	return !math.IsNaN(v) && (v > limit || (atLeast && v >= limit))
}

// latencyText renders a quantile from quantile(): "42s", "≥ 10s".
func latencyText(v float64, atLeast bool) string {
	if atLeast {
		return "≥ " + seconds(v)
	}
	return seconds(v)
}
