package metrics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// burnWindows are kubernetes-mixin's KubeAPIErrorBudgetBurn alerts: the
// error ratio must exceed factor × the error budget over both the long and
// the short window (multi-window, multi-burn-rate alerting from the Google
// SRE workbook).
var burnWindows = []struct {
	long, short time.Duration
	factor      float64
	severity    checks.Severity
}{
	{time.Hour, 5 * time.Minute, 14.4, checks.Critical},
	{6 * time.Hour, 30 * time.Minute, 6, checks.Critical},
	{24 * time.Hour, 2 * time.Hour, 3, checks.Warning},
	{72 * time.Hour, 6 * time.Hour, 1, checks.Warning},
}

// APIServerErrors fires on a high share of 5xx API responses, or when the
// error budget of the API server's availability SLO burns too fast.
var APIServerErrors = checks.New(checks.Meta{
	ID:    "controlplane.apiserver_errors",
	Title: "API server errors",
	Description: "The API server answers too many resource requests with 5xx: the ratio over the last window is above the warning or critical threshold " +
		"(the older kubernetes-mixin KubeAPIErrorsHigh: 1% and 3%), or, with Prometheus history, the availability error budget burns too fast over " +
		"kubernetes-mixin's KubeAPIErrorBudgetBurn windows (1h and 5m above 14.4× the budget, 6h and 30m above 6×: critical; 1d and 2h above 3×, " +
		"3d and 6h above 1×: warning; the budget is 1 - slo). Watches and health probes are not counted. Server errors break controllers " +
		"and clients; the failing verb and resource usually point at etcd, an aggregated API or a webhook.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsAPIServer},
	Params: []checks.Param{
		{Name: "warning_ratio", Type: checks.Float, Default: "0.01", Description: "5xx share of requests over the window that fires a warning (kubernetes-mixin KubeAPIErrorsHigh: 1%)"},
		{Name: "critical_ratio", Type: checks.Float, Default: "0.03", Description: "5xx share that fires as critical (KubeAPIErrorsHigh: 3%)"},
		{Name: "window", Type: checks.Duration, Default: "5m", Description: "window of the 5xx ratio (with direct scrapes, the time between the two scrapes)"},
		{Name: "slo", Type: checks.Float, Default: "0.99", Description: "availability objective whose error budget (1 - slo) the burn rates are measured against (kubernetes-mixin: 99% over 30 days)"},
		{Name: "min_requests", Type: checks.Int, Default: "100", Description: "ignore windows with fewer requests"},
	},
	Remedy: "Look at which verb and resource fail (evidence) and at the API server's log (kubectl logs -n kube-system kube-apiserver-NODE | grep -E ' 5[0-9][0-9] |error'); " +
		"503s usually come from an unavailable aggregated API or etcd, 500s from webhooks or storage errors.",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	ss := series(env, "apiserver_request_total")
	if len(ss) == 0 {
		return missing(env, snapshot.KindMetricsAPIServer, "apiserver_request_total")
	}
	minReq := float64(env.Params.Int("min_requests"))
	budget := 1 - env.Params.Float("slo")
	warn, crit := env.Params.Float("warning_ratio"), env.Params.Float("critical_ratio")
	r := newErrorRatio(ss)
	if r == nil {
		return nil
	}
	var ev []checks.Evidence
	sev := checks.Severity("")
	reason, msg := "", ""

	short := r.over(env.Params.Duration("window"))
	if short.total >= minReq && short.ratio() >= warn {
		sev, reason = checks.Warning, "KubeAPIErrorsHigh"
		if short.ratio() >= crit {
			sev = checks.Critical
		}
		msg = fmt.Sprintf("%s of API requests failed with 5xx %s (%s of %s)", percent(short.ratio()),
			window(short.covered, r.lifetime), count(short.errors), count(short.total))
		ev = append(ev, r.evidence(short))
	}
	if budget > 0 && !r.lifetime {
		for _, b := range burnWindows {
			l, s := r.over(b.long), r.over(b.short)
			if l.covered < b.long*9/10 || l.total < minReq || s.total < minReq {
				continue
			}
			limit := b.factor * budget
			if l.ratio() <= limit || s.ratio() <= limit {
				continue
			}
			sev, reason = maxSeverity(sev, b.severity), "KubeAPIErrorBudgetBurn"
			msg = fmt.Sprintf("the API server burns its %s availability error budget %.1f× too fast: %s of requests failed with 5xx over the last %s and %s over the last %s",
				percent(1-budget), l.ratio()/budget, percent(l.ratio()), shortDur(b.long), percent(s.ratio()), shortDur(b.short))
			ev = append(ev, r.evidence(l), r.evidence(s),
				threshold("burn_rate", fmt.Sprintf("%g×", b.factor), fmt.Sprintf("error ratio above %s over %s and %s", percent(limit), shortDur(b.long), shortDur(b.short))))
			break // the windows are ordered most urgent first
		}
	}
	if reason == "" {
		return nil
	}
	if top := top5xx(env); len(top) > 0 {
		var names []string
		for i, t := range top {
			if i == 3 {
				break
			}
			names = append(names, t.what)
			ev = append(ev, seriesEvidence(t.s, t.rate, t.msg))
		}
		msg += "; failing: " + strings.Join(names, ", ")
	}
	ev = append(ev, threshold("warning_ratio", percent(warn), "critical at "+percent(crit)))
	f := env.Finding(cluster(env), reason, msg, ev...)
	f.Severity = sev
	return []checks.Finding{f}
})

func maxSeverity(a, b checks.Severity) checks.Severity {
	if a.Rank() >= b.Rank() {
		return a
	}
	return b
}

// shortDur renders 5m, 1h, 1d, 3d.
func shortDur(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// errorRatio holds the request and 5xx rates over time, summed over codes.
type errorRatio struct {
	times    []int64
	total    map[int64]float64
	errs     map[int64]float64
	win      time.Duration
	lifetime bool
	source   string
}

type ratioWindow struct {
	total, errors float64
	covered       time.Duration
	at            time.Time
}

func (w ratioWindow) ratio() float64 {
	if w.total <= 0 {
		return 0
	}
	return w.errors / w.total
}

func is5xx(code string) bool { return len(code) == 3 && code[0] == '5' }

func newErrorRatio(ss []*snapshot.Series) *errorRatio {
	r := &errorRatio{total: map[int64]float64{}, errs: map[int64]float64{}, source: ss[0].Source}
	for _, s := range ss {
		switch s.Type {
		case snapshot.Rate:
			r.win = s.Window
		case snapshot.Counter:
			inc, cov, ok := s.Increase(0)
			if !ok {
				continue
			}
			r.lifetime, r.win = true, cov
			l, _ := s.Last()
			r.total[l.T] += inc
			if is5xx(s.Labels["code"]) {
				r.errs[l.T] += inc
			}
			continue
		default:
			continue
		}
		for _, x := range s.Samples {
			v := x.V * s.Window.Seconds()
			if v != v { // NaN
				continue
			}
			r.total[x.T] += v
			if is5xx(s.Labels["code"]) {
				r.errs[x.T] += v
			}
		}
	}
	if len(r.total) == 0 || r.win <= 0 {
		return nil
	}
	for t := range r.total {
		r.times = append(r.times, t)
	}
	sort.Slice(r.times, func(i, j int) bool { return r.times[i] < r.times[j] })
	return r
}

// over sums the samples whose windows end within the last d (at least the
// newest one).
func (r *errorRatio) over(d time.Duration) ratioWindow {
	last := r.times[len(r.times)-1]
	w := ratioWindow{at: time.UnixMilli(last).UTC()}
	for i := len(r.times) - 1; i >= 0; i-- {
		t := r.times[i]
		if i < len(r.times)-1 && t <= last-d.Milliseconds() {
			break
		}
		w.total += r.total[t]
		w.errors += r.errs[t]
		w.covered += r.win
	}
	return w
}

func (r *errorRatio) evidence(w ratioWindow) checks.Evidence {
	return checks.Evidence{Type: checks.EvMetric, Path: `apiserver_request_total{code=~"5.."} / apiserver_request_total`,
		Value: percent(w.ratio()), Message: fmt.Sprintf("%s of %s requests failed %s", count(w.errors), count(w.total), window(w.covered, r.lifetime)),
		Source: r.source, Time: at(w.at)}
}

type failing struct {
	s        *snapshot.Series
	what     string
	perSec   float64
	rate     string
	msg      string
	lifetime bool
}

// top5xx lists the failing verb/resource/code combinations, most first.
func top5xx(env *checks.Env) []failing {
	var out []failing
	for _, s := range series(env, snapshot.SeriesAPIServer5xx) {
		ps, cov, ok := s.PerSecond(0)
		if !ok || ps <= 0 {
			continue
		}
		what := strings.TrimSpace(s.Labels["code"] + " " + s.Labels["verb"] + " " + s.Labels["resource"])
		inc, _, _ := s.Increase(0)
		out = append(out, failing{s: s, what: what, perSec: ps, rate: fmt.Sprintf("%.3g/s", ps),
			msg: fmt.Sprintf("%s responses %s", count(inc), window(cov, lifetime(s))), lifetime: lifetime(s)})
	}
	sortByWorst(out, func(f failing) float64 { return f.perSec }, func(f failing) string { return f.what })
	return out
}
