package anomaly

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is the snapshot time of the tests.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// week is a week of 5-minute points.
const week = 7 * 288

// gen is a series of n 5-minute points ending at now.
func gen(name string, labels map[string]string, n int, seed uint64, f func(i int, r *rand.Rand) float64) snapshot.Series {
	r := rand.New(rand.NewPCG(seed, 7))
	s := snapshot.Series{Name: name, Labels: labels, Source: "prometheus", Type: snapshot.Gauge}
	for i := 0; i < n; i++ {
		t := now.Add(-time.Duration(n-1-i) * 5 * time.Minute)
		s.Samples = append(s.Samples, snapshot.Sample{T: t.UnixMilli(), V: f(i, r)})
	}
	return s
}

// daily is a daily cycle: 1 at the day's peak (15:00), 0 at its trough.
func daily(i, n int) float64 {
	t := now.Add(-time.Duration(n-1-i) * 5 * time.Minute)
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 0.5 + 0.5*math.Cos(2*math.Pi*(h-15)/24)
}

// last reports whether i is one of the last k points of n.
func last(i, n, k int) bool { return i >= n-k }

func ls(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// snap is a live snapshot whose metrics came from Prometheus.
func snap(series []snapshot.Series, nodes ...snapshot.Node) *snapshot.Snapshot {
	m := &snapshot.Metrics{Series: series}
	for _, k := range append([]snapshot.Kind{snapshot.KindMetricsPrometheus}, snapshot.MetricKinds...) {
		m.Sources = append(m.Sources, snapshot.MetricSource{Kind: k, Collector: "prometheus", At: now})
	}
	return &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "test", Source: snapshot.SourceLive, CollectedAt: now, Metrics: m, Nodes: nodes}
}

func run(t *testing.T, c checks.Check, s *snapshot.Snapshot, params map[string]string) ([]checks.Finding, checks.Run) {
	t.Helper()
	p, err := checks.ResolveParams(c.Meta(), params)
	if err != nil {
		t.Fatal(err)
	}
	r := checks.Runner{Checks: []checks.Check{c}, Params: map[string]checks.Params{c.Meta().ID: p}}
	res := r.Run(context.Background(), s)
	return res.Findings, res.Runs[0]
}

// Generated histories: a week of 5-minute points, noisy, most with a daily
// cycle, some with an anomaly in their last points.
var (
	// Mean LIST latency: 40-90 ms with the day's load, log-normal noise.
	listLatency = func(spike float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			v := (0.04 + 0.05*daily(i, week)) * math.Exp(0.15*r.NormFloat64())
			if last(i, week, 2) {
				v *= spike
			}
			return v
		}
	}
	getLatency = func(i int, r *rand.Rand) float64 { return 0.004 * math.Exp(0.1*r.NormFloat64()) }
	// Request rates by code: ~200/s of 200s, a few 404s, rare 500s.
	requests = func(code string, scale func(i int) float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			base := map[string]float64{"200": 150, "201": 20, "404": 3, "500": 0.01}[code]
			v := base * (0.7 + 0.6*daily(i, week)) * (1 + 0.05*r.NormFloat64())
			if code == "500" {
				v = 0.02 * r.ExpFloat64() // an error every minute or so
			}
			return max(0, v*scale(i))
		}
	}
	flat  = func(int) float64 { return 1 }
	fsync = func(jump float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			v := 0.004 * math.Exp(0.25*r.NormFloat64())
			if last(i, week, 3) {
				v *= jump
			}
			return v
		}
	}
	pending = func(jump float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			v := float64(r.IntN(4)) // 0-3 pods waiting now and then
			if r.IntN(50) == 0 {
				v += 20 // a deployment's burst
			}
			if last(i, week, 2) {
				v += jump
			}
			return v
		}
	}
	depth = func(jump float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			v := math.Round(5 * daily(i, week) * r.Float64() * 4)
			if last(i, week, 3) {
				v += jump
			}
			return v
		}
	}
	memory = func(drop float64) func(i int, r *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			gi := float64(1 << 30)
			v := 9*gi - 2*gi*daily(i, week) + 0.2*gi*r.NormFloat64()
			if last(i, week, 2) {
				v -= drop
			}
			return v
		}
	}
)

func apiserverRequests(scale500, scaleAll func(i int) float64) []snapshot.Series {
	var out []snapshot.Series
	for j, code := range []string{"200", "201", "404", "500"} {
		sc := scaleAll
		if code == "500" {
			sc = func(i int) float64 { return scale500(i) * scaleAll(i) }
		}
		s := gen("apiserver_request_total", ls("code", code), week, uint64(10+j), requests(code, sc))
		s.Type, s.Window = snapshot.Rate, 5*time.Minute
		out = append(out, s)
	}
	return out
}

var (
	worker1 = snapshot.Node{Meta: snapshot.Meta{Name: "worker-1", UID: "u1"}, InternalIP: "10.0.0.11"}
	worker2 = snapshot.Node{Meta: snapshot.Meta{Name: "worker-2", UID: "u2"}, InternalIP: "10.0.0.12"}
)

type want struct {
	reason   string
	objects  []string
	contains []string
}

// TestChecks: each check on its clean history (quiet) and on the same
// history with an anomaly in the last points (fires, on the right object).
func TestChecks(t *testing.T) {
	node := func(inst string) map[string]string { return ls("instance", inst, "job", "node-exporter") }
	for _, tc := range []struct {
		name  string
		check checks.Check
		s     *snapshot.Snapshot
		want  *want
	}{
		{"latency clean", APIServerLatency, snap([]snapshot.Series{
			gen(SeriesAPIServerLatency, ls("verb", "LIST"), week, 1, listLatency(1)),
			gen(SeriesAPIServerLatency, ls("verb", "GET"), week, 2, getLatency)}), nil},
		{"latency of LIST ×8", APIServerLatency, snap([]snapshot.Series{
			gen(SeriesAPIServerLatency, ls("verb", "LIST"), week, 1, listLatency(8)),
			gen(SeriesAPIServerLatency, ls("verb", "GET"), week, 2, getLatency)}),
			&want{"APIServerLatencyAnomaly", []string{"Cluster/test"}, []string{"the mean latency of LIST requests is", "above its usual"}}},
		{"latency drop is good news", APIServerLatency, snap([]snapshot.Series{
			gen(SeriesAPIServerLatency, ls("verb", "LIST"), week, 1, listLatency(0.05))}), nil},
		{"latency from the pre-1.27 fallback", APIServerLatency, snap([]snapshot.Series{
			gen(SeriesAPIServerLatencyFallback, ls("verb", "LIST"), week, 1, listLatency(8))}),
			&want{"APIServerLatencyAnomaly", []string{"Cluster/test"}, []string{"LIST requests"}}},
		{"errors clean", APIServerErrors, snap(apiserverRequests(flat, flat)), nil},
		{"errors: 5xx ×500 in the last 10 minutes", APIServerErrors, snap(apiserverRequests(func(i int) float64 {
			if last(i, week, 2) {
				return 500
			}
			return 1
		}, flat)), &want{"APIServerErrorsAnomaly", []string{"Cluster/test"}, []string{"the API server's 5xx error ratio is"}}},
		{"requests clean", APIServerRequests, snap(apiserverRequests(flat, flat)), nil},
		{"requests drop to a tenth", APIServerRequests, snap(apiserverRequests(flat, func(i int) float64 {
			if last(i, week, 2) {
				return 0.1
			}
			return 1
		})), &want{"APIServerRequestsAnomaly", []string{"Cluster/test"}, []string{"the API server's request rate is", "below its usual"}}},
		{"fsync clean", EtcdFsync, snap([]snapshot.Series{gen(SeriesEtcdFsync, ls("instance", "10.0.0.1:2381"), week, 3, fsync(1))}), nil},
		{"fsync ×20", EtcdFsync, snap([]snapshot.Series{
			gen(SeriesEtcdFsync, ls("instance", "10.0.0.1:2381"), week, 3, fsync(20)),
			gen(SeriesEtcdFsync, ls("instance", "10.0.0.2:2381"), week, 4, fsync(1))}),
			&want{"EtcdFsyncAnomaly", []string{"Cluster/test"}, []string{"etcd member 10.0.0.1:2381 is"}}},
		{"pending clean", SchedulerPending, snap([]snapshot.Series{gen(SeriesSchedulerPending, ls("queue", "unschedulable"), week, 5, pending(0))}), nil},
		{"300 unschedulable pods", SchedulerPending, snap([]snapshot.Series{
			gen(SeriesSchedulerPending, ls("queue", "unschedulable"), week, 5, pending(300)),
			gen(SeriesSchedulerPending, ls("queue", "active"), week, 6, pending(0))}),
			&want{"SchedulerPendingAnomaly", []string{"Cluster/test"}, []string{"the scheduler's unschedulable queue is"}}},
		{"work queues clean", WorkqueueDepth, snap([]snapshot.Series{gen(SeriesWorkqueueDepth, ls("name", "deployment"), week, 7, depth(0))}), nil},
		{"endpoint slices queue +400", WorkqueueDepth, snap([]snapshot.Series{
			gen(SeriesWorkqueueDepth, ls("name", "deployment"), week, 7, depth(0)),
			gen(SeriesWorkqueueDepth, ls("name", "endpointslice"), week, 8, depth(400))}),
			&want{"WorkqueueDepthAnomaly", []string{"Cluster/test"}, []string{`the depth of work queue "endpointslice" is`}}},
		{"memory clean", NodeMemory, snap([]snapshot.Series{gen(SeriesNodeMemory, node("10.0.0.11:9100"), week, 9, memory(0))}, worker1), nil},
		{"worker-2 loses 6 GiB", NodeMemory, snap([]snapshot.Series{
			gen(SeriesNodeMemory, node("10.0.0.11:9100"), week, 9, memory(0)),
			gen(SeriesNodeMemory, node("10.0.0.12:9100"), week, 10, memory(6<<30))}, worker1, worker2),
			&want{"NodeMemoryAnomaly", []string{"Node/worker-2"}, []string{"the memory available on worker-2 is", "below its usual"}}},
		{"memory rising is good news", NodeMemory, snap([]snapshot.Series{gen(SeriesNodeMemory, node("10.0.0.11:9100"), week, 9, memory(-6<<30))}, worker1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, r := run(t, tc.check, tc.s, nil)
			if tc.want == nil {
				if len(fs) > 0 || r.Result != checks.ResultOK {
					for _, f := range fs {
						t.Logf("%s %s: %s", f.Object, f.Reason, f.Message)
					}
					t.Fatalf("%d findings, result %s: want quiet", len(fs), r.Result)
				}
				return
			}
			if len(fs) != len(tc.want.objects) {
				t.Fatalf("%d findings (%s %s), want %d", len(fs), r.Result, r.Detail, len(tc.want.objects))
			}
			for i, f := range fs {
				if f.Status != checks.Firing || f.Reason != tc.want.reason || f.Object.String() != tc.want.objects[i] {
					t.Errorf("finding %s %s %s, want firing %s on %s", f.Status, f.Reason, f.Object, tc.want.reason, tc.want.objects[i])
				}
				for _, c := range tc.want.contains {
					if !strings.Contains(f.Message, c) {
						t.Errorf("message %q lacks %q", f.Message, c)
					}
				}
				if len(f.Evidence) < 3 || f.Evidence[0].Type != checks.EvMetric || f.Evidence[1].Path != "baseline" || f.Evidence[2].Path != "anomaly_score" {
					t.Errorf("evidence: %+v", f.Evidence)
				}
				t.Logf("%s", f.Message)
			}
		})
	}
}

// TestCoverage: without Prometheus the checks are skipped, with an
// unreachable one unknown; a history that failed, is missing or is too
// short gives an unknown finding that says which.
func TestCoverage(t *testing.T) {
	s := snap(nil)
	s.Metrics.Sources = s.Metrics.Sources[1:] // no metrics/prometheus
	s.Coverage = []snapshot.Coverage{{Kind: snapshot.KindMetricsPrometheus, Reason: snapshot.NotCollected, Message: "no Prometheus URL configured"}}
	if _, r := run(t, EtcdFsync, s, nil); r.Result != checks.ResultSkipped {
		t.Errorf("no Prometheus: %s, want skipped", r.Result)
	}
	// Scrapes only, and nobody recorded that Prometheus was not asked: nothing
	// to judge (a scrape's two samples are no history), no unknown finding.
	scraped := snap([]snapshot.Series{gen(SeriesEtcdFsync, ls("instance", "a"), 2, 1, fsync(1))})
	scraped.Metrics.Sources = scraped.Metrics.Sources[1:]
	if fs, r := run(t, EtcdFsync, scraped, nil); r.Result != checks.ResultOK || len(fs) != 0 {
		t.Errorf("without Prometheus: %s %+v", r.Result, fs)
	}
	s.Coverage[0].Reason = snapshot.Unreachable
	if fs, r := run(t, EtcdFsync, s, nil); r.Result != checks.ResultUnknown || len(fs) != 1 || fs[0].Status != checks.Unknown {
		t.Errorf("Prometheus unreachable: %s %+v, want unknown", r.Result, fs)
	}

	failed := snap(nil)
	failed.Metrics.Sources[2].Errors = map[string]string{SeriesEtcdFsync: "HTTP 422: query processing would load too many samples"}
	if failed.Metrics.Sources[2].Kind != snapshot.KindMetricsEtcd {
		t.Fatal("sources out of order")
	}
	for _, tc := range []struct {
		name, reason, contains string
		s                      *snapshot.Snapshot
	}{
		{"query failed", "DataUnavailable", "could not read " + SeriesEtcdFsync, failed},
		{"not collected", "HistoryUnavailable", "prom.Options.Extra = anomaly.Signals", snap(nil)},
		{"an hour of history", "InsufficientHistory", "the longest history has 12 points over 55m",
			snap([]snapshot.Series{gen(SeriesEtcdFsync, ls("instance", "a"), 12, 1, fsync(1))})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, r := run(t, EtcdFsync, tc.s, nil)
			if r.Result != checks.ResultFindings || len(fs) != 1 || fs[0].Status != checks.Unknown || fs[0].Reason != tc.reason ||
				!strings.Contains(fs[0].Message, tc.contains) {
				t.Fatalf("%s %+v, want one unknown %s finding mentioning %q", r.Result, fs, tc.reason, tc.contains)
			}
		})
	}
	// A short window judges a short history.
	fs, r := run(t, EtcdFsync, snap([]snapshot.Series{gen(SeriesEtcdFsync, ls("instance", "a"), 12, 1, fsync(1))}), map[string]string{"window": "30m"})
	if r.Result != checks.ResultOK || len(fs) != 0 {
		t.Errorf("window 30m over an hour: %s %+v, want ok", r.Result, fs)
	}
}

// TestGolden pins the whole finding (message, evidence, since) of one
// anomaly per family: testdata/detect/checks/<check>.golden.json.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		check checks.Check
		s     *snapshot.Snapshot
	}{
		{APIServerLatency, snap([]snapshot.Series{gen(SeriesAPIServerLatency, ls("verb", "LIST"), week, 1, listLatency(8))})},
		{NodeMemory, snap([]snapshot.Series{gen(SeriesNodeMemory, ls("instance", "10.0.0.12:9100", "job", "node-exporter"), week, 10, memory(6<<30))}, worker2)},
	} {
		id := tc.check.Meta().ID
		t.Run(id, func(t *testing.T) {
			fs, _ := run(t, tc.check, tc.s, nil)
			got, err := json.MarshalIndent(fs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("..", "..", "testdata", "detect", "checks", id+".golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./checks/anomaly -run TestGolden -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, d)
			}
		})
	}
}

// TestSignals: every signal is a history with the anomaly lookback and
// step, named as the checks read it, with one `{}` per selector.
func TestSignals(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Signals {
		if seen[s.Name] {
			t.Errorf("%s: duplicate", s.Name)
		}
		seen[s.Name] = true
		if step := map[bool]time.Duration{false: HistoryStep, true: NodeHistoryStep}[s.Kind == snapshot.KindMetricsNode]; !s.History || s.Lookback != HistoryLookback || s.Step != step || s.Expr == "" || s.Doc == "" {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if n := strings.Count(s.Expr, "{}"); n == 0 || n != strings.Count(s.Expr, "{") {
			t.Errorf("%s: every selector needs a {} for the matchers: %s", s.Name, s.Expr)
		}
	}
	for _, c := range Checks() {
		m := c.Meta()
		if !strings.HasPrefix(m.ID, "anomaly.") || !checks.ValidID(m.ID) || len(m.Requires) != 2 || m.Requires[0] != snapshot.KindMetricsPrometheus {
			t.Errorf("%s: %+v", m.ID, m)
		}
		if _, err := checks.ResolveParams(m, nil); err != nil {
			t.Error(err)
		}
	}
}

// TestQuietOnCleanHistories: over 20 clean weeks of every generator, the
// points that score at or above PageScore (raw, before any cooldown, after
// two days of history) are about as rare as PageScore means: one in 10⁴.
// The checks look at the last three points, so a clean series fires about
// once in 3,000 runs.
func TestQuietOnCleanHistories(t *testing.T) {
	for name, g := range map[string]func(i int, r *rand.Rand) float64{
		"LIST latency": listLatency(1), "GET latency": getLatency, "fsync": fsync(1), "pending pods": pending(0),
		"queue depth": depth(0), "memory": memory(0), "2xx rate": requests("200", flat), "5xx rate": requests("500", flat),
	} {
		hot, total := 0, 0
		for seed := uint64(100); seed < 120; seed++ {
			s := gen("x", nil, week, seed, g)
			d := detect.NewCombined(detect.Options{Alarm: detect.PageScore})
			for i, x := range s.Samples {
				d.Update(x.Time(), x.V)
				if i >= 2*288 {
					total++
					if d.Explain().Raw >= detect.PageScore {
						hot++
					}
				}
			}
		}
		if rate := float64(hot) / float64(total); rate > 2e-4 {
			t.Errorf("%s: %d of %d clean points score >= %.1f (%.1g)", name, hot, total, detect.PageScore, rate)
		}
	}
}

// TestRecordedSnapshots: the metric snapshots recorded from the local
// control plane (testdata/metrics/snapshots) predate the anomaly
// histories. From Prometheus, every check says why it cannot judge: the
// history was not collected, or (the API server's request rates, an hour
// of them) is shorter than the detector's window. From scrapes only, with
// no Prometheus at all, they have nothing to say.
func TestRecordedSnapshots(t *testing.T) {
	for _, tc := range []struct {
		file    string
		reasons map[string]string
	}{
		{"local-prometheus.json", map[string]string{
			"anomaly.apiserver_latency": "HistoryUnavailable", "anomaly.apiserver_errors": "InsufficientHistory",
			"anomaly.apiserver_requests": "InsufficientHistory", "anomaly.etcd_fsync": "HistoryUnavailable",
			"anomaly.scheduler_pending": "HistoryUnavailable", "anomaly.workqueue_depth": "HistoryUnavailable",
			"anomaly.node_memory": "HistoryUnavailable"}},
		{"local-scrape.json", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "..", "testdata", "metrics", "snapshots", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := snapshot.Read(f)
			if err != nil {
				t.Fatal(err)
			}
			res := (&checks.Runner{Checks: Checks()}).Run(context.Background(), s)
			got := map[string]string{}
			for _, f := range res.Findings {
				if f.Status != checks.Unknown {
					t.Errorf("%s fired: %s", f.Check, f.Message)
				}
				got[f.Check] = f.Reason
			}
			for _, r := range res.Runs {
				if r.Result == checks.ResultError || r.Result == checks.ResultTimeout {
					t.Errorf("%s: %s %s", r.Check, r.Result, r.Detail)
				}
			}
			if d := cmp.Diff(tc.reasons, map[string]string(nilIfEmpty(got))); d != "" {
				t.Errorf("unknown findings (-want +got):\n%s", d)
			}
		})
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// TestIdleCluster: an error ratio needs min_requests per step; a cluster
// that never has them cannot be judged, and the finding says why.
func TestIdleCluster(t *testing.T) {
	idle := func(i int) float64 { return 0.001 }
	fs, _ := run(t, APIServerErrors, snap(apiserverRequests(flat, idle)), nil)
	if len(fs) != 1 || fs[0].Reason != "InsufficientHistory" || !strings.Contains(fs[0].Message, "2016 of them without a value") {
		t.Errorf("%+v", fs)
	}
}
