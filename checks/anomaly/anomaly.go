// Package anomaly holds the anomaly checks: the combined detector of
// analysis/detect run over the history of control-plane and node metrics
// (API server latency, errors and traffic, etcd's WAL fsync latency, the
// scheduler's queues, the controller-manager's work queues, nodes'
// available memory). A check fires when the latest points of a series are
// anomalous for that series: scored at or above `page_score`
// (detect.PageScore, about one in 10⁴) against the series' own baseline,
// on the side that means trouble. Thresholds say when a value is bad for
// any cluster; these checks say when it is unusual for this one.
//
// The histories are range queries of Prometheus (Signals: a week at
// 5-minute steps; the API server's request rates come from
// apiserver_request_total's 3-day history that collectors/prom gathers
// anyway). Each check requires metrics/prometheus and its component's
// kind: without a Prometheus it is skipped, with an unreachable one it is
// unknown, and so is it when the history could not be read or is too short
// for the detector to judge its latest point.
package anomaly

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Checks lists the anomaly checks.
func Checks() []checks.Check {
	return []checks.Check{
		APIServerLatency, APIServerErrors, APIServerRequests, EtcdFsync,
		SchedulerPending, WorkqueueDepth, NodeMemory,
	}
}

// family is one anomaly check: which history it reads, what its series
// are about, which side of the baseline is trouble and how values read.
type family struct {
	id, title, description, remedy, reason string
	kind                                   snapshot.Kind
	// series is the history's name in the snapshot (one of Signals, or
	// a series another signal provides); input, when set, derives the
	// series from others instead (the API server's error ratio).
	series string
	input  func(env *checks.Env) []*snapshot.Series
	// what names one series: "the mean latency of LIST requests"; obj
	// is the name of the object its finding is about.
	what   func(labels map[string]string, obj string) string
	format func(float64) string
	dir    Direction
	// nodes: the series are node_exporter's, about the Node (or Host) of
	// their instance; otherwise they are about the cluster.
	nodes    bool
	params   []checks.Param
	priority int
}

// Parameters every anomaly check has.
var commonParams = []checks.Param{
	{Name: "page_score", Type: checks.Float, Default: strconv.FormatFloat(detect.PageScore, 'g', -1, 64),
		Description: "anomaly score at or above which a point is anomalous (detect.PageScore: about one in 10⁴ for the series; 0.2 is the detector's more sensitive NAB operating point)"},
	{Name: "within", Type: checks.Duration, Default: "15m", Description: "how recent an anomalous point must be to fire: the latest points of the history"},
	{Name: "window", Type: checks.Duration, Default: "1d", Description: "the detector's trailing window (its baseline's memory; the warm-up before it judges anything)"},
}

func (f *family) check() checks.Check {
	return checks.New(checks.Meta{
		ID: f.id, Title: f.title, Description: f.description, Severity: checks.Warning,
		Requires: []snapshot.Kind{snapshot.KindMetricsPrometheus, f.kind},
		Params:   append(append([]checks.Param{}, commonParams...), f.params...),
		Remedy:   f.remedy, Priority: f.priority,
	}, f.run)
}

func (f *family) run(ctx context.Context, env *checks.Env) []checks.Finding {
	if _, ok := env.Snap.Metrics.Source(snapshot.KindMetricsPrometheus); !ok {
		// Prometheus was not asked at all (no gap for it either, or the
		// runner would have skipped or failed the check): the histories
		// cannot exist, and a scrape's two samples are none. Nothing to
		// judge, nothing to report.
		return nil
	}
	var ss []*snapshot.Series
	if f.input != nil {
		ss = f.input(env)
	} else {
		ss = history(env, f.series)
	}
	if len(ss) == 0 {
		return f.unavailable(env)
	}
	o := Options{Window: env.Params.Duration("window"), Within: env.Params.Duration("within"),
		Page: env.Params.Float("page_score"), Direction: f.dir}
	vs := JudgeAll(ctx, ss, env.Now, o)
	judged := 0
	byObj := map[string][]Verdict{}
	refs := map[string]checks.ObjectRef{}
	nodes := map[string]string{}
	var uname map[string]string
	if f.nodes {
		uname = unameMap(env)
	}
	for _, v := range vs {
		if !v.Judged {
			continue
		}
		judged++
		if !v.Anomalous {
			continue
		}
		ref, node := checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}, ""
		if f.nodes {
			ref, node = nodeObject(env, uname, v.Series.Labels)
		}
		k := ref.String()
		byObj[k] = append(byObj[k], v)
		refs[k], nodes[k] = ref, node
	}
	if judged == 0 {
		return f.tooShort(env, vs)
	}
	keys := make([]string, 0, len(byObj))
	for k := range byObj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []checks.Finding
	for _, k := range keys {
		hot := byObj[k]
		sort.SliceStable(hot, func(i, j int) bool {
			if hot[i].Score != hot[j].Score {
				return hot[i].Score > hot[j].Score
			}
			return selector(hot[i].Series) < selector(hot[j].Series)
		})
		w := hot[0]
		msg := f.message(w, refs[k].Name, o.Page)
		if len(hot) > 1 {
			var others []string
			for _, v := range hot[1:] {
				others = append(others, fmt.Sprintf("%s %s (score %.2f)", f.what(v.Series.Labels, refs[k].Name), f.format(v.Value), v.Score))
			}
			msg += "; also " + joinMax(others, 3)
		}
		var ev []checks.Evidence
		for i, v := range hot {
			if i == 3 {
				break
			}
			ev = append(ev, Evidence(v, f.format, o.Page)...)
		}
		fd := env.Finding(refs[k], f.reason, msg, ev...)
		fd.Node = nodes[k]
		if !w.Since.IsZero() {
			since := w.Since
			fd.Since = &since
		}
		out = append(out, fd)
	}
	return out
}

// message is the finding's sentence about its worst series.
func (f *family) message(v Verdict, obj string, page float64) string {
	e := v.Explanation
	side := "above"
	if !v.Above() {
		side = "below"
	}
	msg := fmt.Sprintf("%s is %s, %s its usual %s (± %s)", f.what(v.Series.Labels, obj), f.format(v.Value), side, f.format(e.Expected), f.format(e.Spread))
	if !v.Since.IsZero() && v.Since.Before(v.At) {
		msg += " since " + clock(v.Since, v.Step)
	}
	return msg + fmt.Sprintf(" (anomaly score %.2f ≥ %.2f: %s)", v.Score, page, strings.Join(fired(e, page), ", "))
}

// fired names the tests that raised the alarm (the top one when none
// did on its own, which the seasonal veto cannot cause: it only lowers).
func fired(e detect.Explanation, page float64) []string {
	fs := e.Fired(page)
	if len(fs) == 0 && len(e.Tests) > 0 {
		fs = []string{e.Tests[0].Test}
	}
	return fs
}

// Evidence renders a verdict: the series' latest points, the baseline it
// was compared with, and the score with the tests behind it.
func Evidence(v Verdict, format func(float64) string, page float64) []checks.Evidence {
	e := v.Explanation
	at := v.At
	var pts []string
	for _, x := range v.Recent(12) {
		pts = append(pts, clock(x.Time(), v.Step)+"="+format(x.V))
	}
	last := v.Series.Samples[len(v.Series.Samples)-1]
	lt := last.Time()
	series := checks.Evidence{Type: checks.EvMetric, Path: selector(v.Series), Value: format(last.V), Source: v.Series.Source, Time: &lt,
		Message: fmt.Sprintf("last %d of %d points, every %s: %s", len(pts), v.Samples, shortDur(v.Step), strings.Join(pts, " "))}
	base := fmt.Sprintf("median %s, robust σ %s over the trailing %d points (%s)", format(e.Median), format(e.Spread), v.Window, shortDur(time.Duration(v.Window)*v.Step))
	if e.Season != 0 {
		sign := "+"
		if e.Season < 0 {
			sign = "-"
		}
		base += fmt.Sprintf(", %s%s for this time of day (the seasonal profile)", sign, format(math.Abs(e.Season)))
	}
	baseline := checks.Evidence{Type: checks.EvThreshold, Path: "baseline", Value: format(e.Expected), Message: base, Time: &at}
	var tests []string
	for _, t := range e.Tests {
		if t.Score > 0 {
			tests = append(tests, fmt.Sprintf("%s %.2f", t.Test, t.Score))
		}
	}
	p := fmt.Sprintf("p ≈ %.1g", pValue(v.Score))
	if v.Score >= 1 {
		p = "p ≤ 1e-10"
	}
	msg := fmt.Sprintf("combined detector, %s; fired: %s; tests: %s", p, strings.Join(fired(e, page), ", "), strings.Join(tests, ", "))
	if e.Vetoed {
		msg += "; capped by the seasonal veto"
	}
	score := checks.Evidence{Type: checks.EvThreshold, Path: "anomaly_score", Value: strconv.FormatFloat(round(v.Score, 3), 'f', -1, 64),
		Message: msg + fmt.Sprintf(" (page_score %g)", page), Time: &at}
	return []checks.Evidence{series, baseline, score}
}

// clock renders a sample time as 15:04 in UTC, with seconds when the
// samples come faster than a minute.
func clock(t time.Time, step time.Duration) string {
	if step < time.Minute {
		return t.UTC().Format("15:04:05")
	}
	return t.UTC().Format("15:04")
}

// pValue is the tail probability a score stands for.
func pValue(score float64) float64 {
	return expNeg(score * detect.MaxSurprise)
}

// unavailable explains an absent history: its query failed, or nobody
// collected it.
func (f *family) unavailable(env *checks.Env) []checks.Finding {
	name := f.series
	if name == "" {
		name = "the input series"
	}
	reason, msg := "HistoryUnavailable", fmt.Sprintf("cannot evaluate %q: the snapshot has no %s history (collect with Prometheus and the anomaly signals: prom.Options.Extra = anomaly.Signals)", f.title, name)
	ev := checks.Evidence{Type: checks.EvCoverage, Path: "metrics/" + name, Value: "Missing"}
	if e, ok := env.Snap.Metrics.SignalError(f.kind, name); ok {
		reason, msg = "DataUnavailable", fmt.Sprintf("cannot evaluate %q: could not read %s", f.title, name)
		ev.Value, ev.Message = "Failed", e
	}
	fd := env.Finding(checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}, reason, msg, ev)
	fd.Status = checks.Unknown
	return []checks.Finding{fd}
}

// tooShort: every series is still in the detector's warm-up.
func (f *family) tooShort(env *checks.Env, vs []Verdict) []checks.Finding {
	longest := vs[0]
	for _, v := range vs {
		if v.Covered > longest.Covered {
			longest = v
		}
	}
	msg := fmt.Sprintf("cannot judge %q yet: the longest history has %d points over %s", f.title, longest.Samples, shortDur(longest.Covered))
	if longest.Finite < longest.Samples {
		msg += fmt.Sprintf(", %d of them without a value (no data, or below the check's minimum)", longest.Samples-longest.Finite)
	}
	if longest.Window > 0 {
		msg += fmt.Sprintf("; the detector first learns a baseline over its window of %d points (%s)", longest.Window, shortDur(time.Duration(longest.Window)*longest.Step))
	}
	fd := env.Finding(checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}, "InsufficientHistory", msg,
		checks.Evidence{Type: checks.EvCoverage, Path: "metrics/" + longest.Series.Name, Value: "InsufficientHistory",
			Message: fmt.Sprintf("%d series, the longest %s", len(vs), shortDur(longest.Covered))})
	fd.Status = checks.Unknown
	return []checks.Finding{fd}
}

// JudgeAll judges every series, concurrently (one detector per series),
// and returns the verdicts in the order of ss. It stops early, with the
// remaining verdicts unjudged, when ctx ends.
func JudgeAll(ctx context.Context, ss []*snapshot.Series, now time.Time, o Options) []Verdict {
	out := make([]Verdict, len(ss))
	workers := min(runtime.GOMAXPROCS(0), len(ss))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= len(ss) {
					return
				}
				if ctx.Err() != nil {
					out[j] = Verdict{Series: ss[j], Samples: len(ss[j].Samples)}
					continue
				}
				out[j] = Judge(ss[j], now, o)
			}
		}()
	}
	wg.Wait()
	return out
}

// history returns the series called name, from Prometheus when several
// collectors delivered it (a scrape's two samples are no history).
func history(env *checks.Env, name string) []*snapshot.Series {
	all := env.Snap.Metrics.Find(name, nil)
	var prom []*snapshot.Series
	for _, s := range all {
		if s.Source == "prometheus" {
			prom = append(prom, s)
		}
	}
	if len(prom) > 0 {
		return prom
	}
	return all
}

func selector(s *snapshot.Series) string { return snapshot.MetricSelector(s.Name, s.Labels) }

func joinMax(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
