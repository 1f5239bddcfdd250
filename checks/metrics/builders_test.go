package metrics

import (
	"context"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// now is the snapshot time of the tests.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func ms(d time.Duration) int64 { return now.Add(-d).UnixMilli() }

// snap builds a live snapshot whose metrics came from src ("prometheus" or
// "scrape") for every metric kind.
func snap(src string, series []snapshot.Series, hists []snapshot.Histogram, nodes ...snapshot.Node) *snapshot.Snapshot {
	m := &snapshot.Metrics{Series: series, Histograms: hists}
	for _, k := range snapshot.MetricKinds {
		m.Sources = append(m.Sources, snapshot.MetricSource{Kind: k, Collector: src, At: now})
	}
	for i := range m.Series {
		if m.Series[i].Source == "" {
			m.Series[i].Source = src
		}
	}
	for i := range m.Histograms {
		if m.Histograms[i].Source == "" {
			m.Histograms[i].Source = src
		}
	}
	return &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "test", Source: snapshot.SourceLive, CollectedAt: now, Metrics: m, Nodes: nodes}
}

func ls(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// gauge is a series with one sample per step ending at now, oldest first.
func gauge(name string, labels map[string]string, step time.Duration, vals ...float64) snapshot.Series {
	s := snapshot.Series{Name: name, Labels: labels, Type: snapshot.Gauge}
	for i, v := range vals {
		s.Samples = append(s.Samples, snapshot.Sample{T: ms(time.Duration(len(vals)-1-i) * step), V: v})
	}
	return s
}

// rate is a Rate series whose samples tile the time (step = window).
func rate(name string, labels map[string]string, window time.Duration, perSec ...float64) snapshot.Series {
	s := gauge(name, labels, window, perSec...)
	s.Type, s.Window = snapshot.Rate, window
	return s
}

// counter is a lifetime counter started `up` ago.
func counter(name string, labels map[string]string, up time.Duration, v float64) snapshot.Series {
	return snapshot.Series{Name: name, Labels: labels, Type: snapshot.Counter, Start: ms(up), Samples: snapshot.Samples{{T: ms(0), V: v}}}
}

// hist builds a histogram over window from per-bucket (not cumulative)
// counts: bounds[i] gets counts[i]; the +Inf bucket is added.
func hist(name string, labels map[string]string, window time.Duration, bounds []float64, counts []float64) snapshot.Histogram {
	h := snapshot.Histogram{Name: name, Labels: labels, T: ms(0), Window: window}
	cum := 0.0
	for i, b := range bounds {
		cum += counts[i]
		h.Buckets = append(h.Buckets, snapshot.Bucket{UpperBound: b, Count: cum})
	}
	if len(counts) > len(bounds) {
		cum += counts[len(bounds)]
	}
	h.Buckets = append(h.Buckets, snapshot.Bucket{UpperBound: math.Inf(1), Count: cum})
	h.Count = cum
	return h
}

// obs spreads observations over buckets: at maps a bucket's upper bound
// (math.Inf(1) for the +Inf bucket) to how many observations fall in it.
func obs(bounds []float64, at map[float64]float64) []float64 {
	counts := make([]float64, len(bounds)+1)
	for b, n := range at {
		i := sort.SearchFloat64s(bounds, b)
		counts[i] += n
	}
	return counts
}

var sliBounds = []float64{0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}

// run runs one check over s through the Runner (so Requires and coverage
// apply) with parameter overrides.
func run(t *testing.T, c checks.Check, s *snapshot.Snapshot, params map[string]string) ([]checks.Finding, checks.Run) {
	t.Helper()
	p, err := checks.ResolveParams(c.Meta(), params)
	if err != nil {
		t.Fatal(err)
	}
	r := &checks.Runner{Checks: []checks.Check{c}, Params: map[string]checks.Params{c.Meta().ID: p}}
	res := r.Run(context.Background(), s)
	return res.Findings, res.Runs[0]
}

// expect is what a case expects: no finding (Reason ""), or one finding
// (per object when Objects is set) with this reason, severity and message
// fragments.
type expect struct {
	Reason   string
	Severity checks.Severity
	Contains []string
	Excludes []string
	Objects  []string
	Status   checks.Status
}

type tcase struct {
	name   string
	snap   *snapshot.Snapshot
	params map[string]string
	want   expect
}

func runCases(t *testing.T, c checks.Check, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, r := run(t, c, tc.snap, tc.params)
			if r.Result == checks.ResultError {
				t.Fatalf("check error: %s", r.Detail)
			}
			if tc.want.Reason == "" {
				for _, f := range fs {
					t.Errorf("unexpected finding: %s %s %s: %s", f.Reason, f.Severity, f.Object, f.Message)
				}
				return
			}
			n := 1
			if len(tc.want.Objects) > 0 {
				n = len(tc.want.Objects)
			}
			if len(fs) != n {
				for _, f := range fs {
					t.Logf("finding: %s %s %s: %s", f.Reason, f.Severity, f.Object, f.Message)
				}
				t.Fatalf("%d findings, want %d", len(fs), n)
			}
			var objs []string
			for _, f := range fs {
				objs = append(objs, f.Object.String())
				if f.Reason != tc.want.Reason {
					t.Errorf("reason %s, want %s (%s)", f.Reason, tc.want.Reason, f.Message)
				}
				if tc.want.Severity != "" && f.Severity != tc.want.Severity {
					t.Errorf("severity %s, want %s (%s)", f.Severity, tc.want.Severity, f.Message)
				}
				st := tc.want.Status
				if st == "" {
					st = checks.Firing
				}
				if f.Status != st {
					t.Errorf("status %s, want %s", f.Status, st)
				}
				for _, c := range tc.want.Contains {
					if !strings.Contains(f.Message, c) {
						t.Errorf("message %q lacks %q", f.Message, c)
					}
				}
				for _, c := range tc.want.Excludes {
					if strings.Contains(f.Message, c) {
						t.Errorf("message %q has %q", f.Message, c)
					}
				}
				if f.Status == checks.Firing {
					hasMetric := false
					for _, e := range f.Evidence {
						hasMetric = hasMetric || e.Type == checks.EvMetric
						if e.Type == checks.EvMetric && (e.Path == "" || e.Value == "" || e.Time == nil) {
							t.Errorf("metric evidence without path, value or time: %+v", e)
						}
					}
					if !hasMetric {
						t.Errorf("no metric evidence: %+v", f.Evidence)
					}
				}
				t.Logf("%s %s %s: %s", f.Reason, f.Severity, f.Object, f.Message)
			}
			if len(tc.want.Objects) > 0 {
				sort.Strings(objs)
				want := append([]string(nil), tc.want.Objects...)
				sort.Strings(want)
				if strings.Join(objs, ",") != strings.Join(want, ",") {
					t.Errorf("objects %v, want %v", objs, want)
				}
			}
		})
	}
}
