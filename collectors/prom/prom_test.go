package prom

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// recordedAt is when testdata/metrics/prometheus was recorded from a
// Prometheus 2.42 scraping the local control plane and a node_exporter.
var recordedAt = time.Date(2026, 11, 21, 22, 53, 32, 0, time.UTC)

// fakeProm serves the recorded payloads: a query is answered with the file
// of the signal whose PromQL it is, anything else with an empty result.
type fakeProm struct {
	*httptest.Server
	mu       sync.Mutex
	requests []url.Values
	paths    []string
	auth     []string
	status   int           // forced HTTP status for queries
	delay    time.Duration // before answering queries
	empty    map[string]bool
	files    map[string]string // query -> file
	fail     map[string]int    // signal -> HTTP status
}

const emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

func newFakeProm(t *testing.T, extra string) *fakeProm {
	t.Helper()
	f := &fakeProm{empty: map[string]bool{}, files: map[string]string{}, fail: map[string]int{}}
	for name, q := range Queries(extra, nil) {
		f.files[q] = name
	}
	dir := filepath.Join("..", "..", "testdata", "metrics", "prometheus")
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.requests = append(f.requests, r.Form)
		f.paths = append(f.paths, r.URL.Path)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		status, delay := f.status, f.delay
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/status/buildinfo" {
			body, _ := os.ReadFile(filepath.Join(dir, "buildinfo.json"))
			_, _ = w.Write(body)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"forbidden","error":"denied"}`))
			return
		}
		q := r.Form.Get("query")
		name := f.files[q]
		if q == "max by (job) (up) == 0" {
			name = "up_down"
		}
		if code := f.fail[name]; code != 0 {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`))
			return
		}
		body, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(name, ":", "__")+".json"))
		if name == "" || f.empty[name] || err != nil {
			body = []byte(emptyVector)
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProm) queries() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.requests...)
}

func gap(s *snapshot.Snapshot, k snapshot.Kind) snapshot.CoverageReason {
	g, ok := s.Gap(k)
	if !ok {
		return ""
	}
	return g.Reason
}

func TestAddToRecorded(t *testing.T) {
	p := newFakeProm(t, `cluster="local"`)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &snapshot.Snapshot{Cluster: "test", CollectedAt: recordedAt}
	if err := AddTo(context.Background(), s, Options{URL: p.URL, BearerTokenFile: token, Matchers: `cluster="local"`}); err != nil {
		t.Fatal(err)
	}
	if len(s.Coverage) != 0 {
		t.Fatalf("coverage gaps: %+v", s.Coverage)
	}
	for _, k := range append([]snapshot.Kind{snapshot.KindMetricsPrometheus}, snapshot.MetricKinds...) {
		src, ok := s.Metrics.Source(k)
		if !ok || src.Collector != "prometheus" || src.Version != "2.42.0+ds" || !src.At.Equal(recordedAt) {
			t.Errorf("source %s: %+v %v", k, src, ok)
		}
	}
	for _, a := range p.auth {
		if a != "Bearer s3cret" {
			t.Fatalf("Authorization header %q", a)
		}
	}
	// Every query carries the extra matchers; range queries their lookback and step.
	for _, q := range p.queries() {
		expr := q.Get("query")
		if expr == "" {
			continue
		}
		if !strings.Contains(expr, `cluster="local"`) {
			t.Errorf("query without the extra matchers: %s", expr)
		}
		if strings.HasPrefix(expr, "sum by (code) (rate(apiserver_request_total") {
			if q.Get("step") != "300" || q.Get("start") != formatTime(recordedAt.Add(-72*time.Hour)) || q.Get("end") != formatTime(recordedAt) {
				t.Errorf("error-budget range query: %v", q)
			}
		}
		if strings.HasPrefix(expr, "min by (instance) (etcd_server_has_leader") && (q.Get("step") != "60" || q.Get("start") != formatTime(recordedAt.Add(-time.Hour))) {
			t.Errorf("history query: %v", q)
		}
	}

	// Counters become rates over their window, with the recorded samples.
	codes := s.Metrics.Find("apiserver_request_total", nil)
	if len(codes) != 5 {
		t.Fatalf("apiserver_request_total: %d series", len(codes))
	}
	c := s.Metrics.Find("apiserver_request_total", map[string]string{"code": "200"})[0]
	if c.Type != snapshot.Rate || c.Window != 5*time.Minute || len(c.Samples) != 3 || c.Samples[2] != (snapshot.Sample{T: 1795301612000, V: 10.768066253444436}) {
		t.Errorf("code 200: %+v", c)
	}
	// Gauges keep their by-labels and history.
	q := s.Metrics.Find("etcd_server_quota_backend_bytes", nil)
	if len(q) != 1 || q[0].Labels["instance"] != "127.0.0.1:2381" || q[0].Samples[0].V != 4294967296 || q[0].Type != snapshot.Gauge {
		t.Errorf("quota: %+v", q)
	}
	if l := s.Metrics.Find("etcd_server_has_leader", nil); len(l) != 1 || len(l[0].Samples) < 5 {
		t.Errorf("has_leader history: %+v", l)
	}
	// Histograms: bucket series grouped, sorted, +Inf last, empty ones dropped.
	hs := s.Metrics.FindHistograms("apiserver_request_sli_duration_seconds", map[string]string{"verb": "PUT", "resource": "leases"})
	if len(hs) != 1 {
		t.Fatalf("PUT leases histograms: %d", len(hs))
	}
	h := hs[0]
	if h.Window != 5*time.Minute || len(h.Buckets) != 22 || !math.IsInf(h.Buckets[21].UpperBound, 1) || h.Buckets[0].UpperBound != 0.05 || h.Count != h.Buckets[21].Count || h.Count <= 0 {
		t.Errorf("histogram: %+v", h)
	}
	for i := 1; i < len(h.Buckets); i++ {
		if h.Buckets[i].UpperBound <= h.Buckets[i-1].UpperBound {
			t.Fatalf("buckets not sorted: %+v", h.Buckets)
		}
	}
	for _, h := range s.Metrics.Histograms {
		if h.Total() <= 0 {
			t.Errorf("empty histogram kept: %s", snapshot.MetricSelector(h.Name, h.Labels))
		}
	}
	if p99 := h.Quantile(0.99); !(p99 > 0 && p99 <= 1) {
		t.Errorf("PUT leases p99 = %v", p99)
	}
	// The fallback is not queried when the SLI histogram has data.
	for _, q := range p.queries() {
		if strings.Contains(q.Get("query"), "apiserver_request_duration_seconds_bucket") {
			t.Errorf("fallback queried: %s", q.Get("query"))
		}
	}
	// node_exporter series keep all their labels.
	fs := s.Metrics.Find("node_filesystem_avail_bytes", nil)
	if len(fs) != 1 || fs[0].Labels["mountpoint"] != "/" || fs[0].Labels["instance"] == "" {
		t.Errorf("filesystem: %+v", fs)
	}
	if err := snapshot.Write(discard{}, s); err != nil {
		t.Errorf("snapshot does not encode: %v", err)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestFallbackAndMissingComponent(t *testing.T) {
	p := newFakeProm(t, "")
	p.empty["apiserver_request_sli_duration_seconds"] = true
	for _, sig := range snapshot.Signals {
		if sig.Kind == snapshot.KindMetricsEtcd || sig.Kind == snapshot.KindMetricsScheduler {
			p.empty[sig.Name] = true
		}
	}
	s := &snapshot.Snapshot{CollectedAt: recordedAt}
	if err := AddTo(context.Background(), s, Options{URL: p.URL}); err != nil {
		t.Fatal(err)
	}
	fallback := false
	for _, q := range p.queries() {
		fallback = fallback || strings.Contains(q.Get("query"), "increase(apiserver_request_duration_seconds_bucket")
	}
	if !fallback {
		t.Error("the fallback histogram was not queried")
	}
	if r := gap(s, snapshot.KindMetricsEtcd); r != snapshot.NotCollected {
		t.Errorf("etcd gap = %q", r)
	}
	if g, _ := s.Gap(snapshot.KindMetricsEtcd); !strings.Contains(g.Message, "has no etcd_server_has_leader series") {
		t.Errorf("etcd gap message: %q", g.Message)
	}
	if r := gap(s, snapshot.KindMetricsAPIServer); r != "" {
		t.Errorf("apiserver gap = %q", r)
	}
}

func TestTargetDown(t *testing.T) {
	p := newFakeProm(t, "")
	for _, sig := range snapshot.Signals {
		if sig.Kind == snapshot.KindMetricsEtcd {
			p.empty[sig.Name] = true
		}
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("query") == "max by (job) (up) == 0" {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"kube-etcd"},"value":[1795301277,"0"]}]}}`))
			return
		}
		p.Config.Handler.ServeHTTP(w, r)
	}))
	defer down.Close()
	s := &snapshot.Snapshot{CollectedAt: recordedAt}
	if err := AddTo(context.Background(), s, Options{URL: down.URL}); err != nil {
		t.Fatal(err)
	}
	g, _ := s.Gap(snapshot.KindMetricsEtcd)
	if g.Reason != snapshot.Unreachable || !strings.Contains(g.Message, `job "kube-etcd"`) {
		t.Errorf("etcd gap: %+v", g)
	}
}

func TestUnavailablePrometheus(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	cases := []struct {
		name   string
		url    func(p *fakeProm) string
		setup  func(p *fakeProm)
		opt    Options
		reason snapshot.CoverageReason
	}{
		{"refused", func(*fakeProm) string { return closed() }, nil, Options{}, snapshot.Unreachable},
		{"unauthorized", nil, func(p *fakeProm) { p.status = http.StatusUnauthorized }, Options{}, snapshot.Unauthorized},
		{"forbidden", nil, func(p *fakeProm) { p.status = http.StatusForbidden }, Options{}, snapshot.Forbidden},
		{"timeout", nil, func(p *fakeProm) { p.delay = 2 * time.Second }, Options{Timeout: 200 * time.Millisecond}, snapshot.Timeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newFakeProm(t, "")
			if c.setup != nil {
				c.setup(p)
			}
			opt := c.opt
			opt.URL = p.URL
			if c.url != nil {
				opt.URL = c.url(p)
			}
			s := &snapshot.Snapshot{CollectedAt: recordedAt}
			start := time.Now()
			if err := AddTo(context.Background(), s, opt); err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			for _, k := range append([]snapshot.Kind{snapshot.KindMetricsPrometheus}, snapshot.MetricKinds...) {
				if r := gap(s, k); r != c.reason {
					t.Errorf("%s: reason %q, want %q", k, r, c.reason)
				}
			}
			if s.Metrics != nil && len(s.Metrics.Series) > 0 {
				t.Errorf("series from an unavailable Prometheus")
			}
		})
	}
}

func TestPartialFailure(t *testing.T) {
	p := newFakeProm(t, "")
	p.fail["apiserver_request_total"] = http.StatusUnprocessableEntity
	s := &snapshot.Snapshot{CollectedAt: recordedAt}
	if err := AddTo(context.Background(), s, Options{URL: p.URL}); err != nil {
		t.Fatal(err)
	}
	if r := gap(s, snapshot.KindMetricsAPIServer); r != "" {
		t.Fatalf("apiserver gap %q although other apiserver queries worked", r)
	}
	e, ok := s.Metrics.SignalError(snapshot.KindMetricsAPIServer, "apiserver_request_total")
	if !ok || !strings.Contains(e, "HTTP 422") || !strings.Contains(e, "too many samples") {
		t.Errorf("signal error = %q, %v", e, ok)
	}
}

func TestNoURL(t *testing.T) {
	s := &snapshot.Snapshot{}
	if err := AddTo(context.Background(), s, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]snapshot.Kind{snapshot.KindMetricsPrometheus}, snapshot.MetricKinds...) {
		if r := gap(s, k); r != snapshot.NotCollected {
			t.Errorf("%s: %q", k, r)
		}
	}
	if err := AddTo(context.Background(), s, Options{URL: "prometheus:9090"}); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}

func TestExpr(t *testing.T) {
	got := Queries(`cluster="a"`, map[snapshot.Kind]string{snapshot.KindMetricsControllerManager: "kcm"})
	want := map[string]string{
		"apiserver_request_total":                         `sum by (code) (rate(apiserver_request_total{verb!~"WATCH|WATCHLIST|CONNECT",resource!="",cluster="a"}[5m]))`,
		"apiserver_request_sli_duration_seconds":          `sum by (verb, scope, resource, le) (increase(apiserver_request_sli_duration_seconds_bucket{verb!~"WATCH|WATCHLIST|CONNECT",resource!="",subresource!~"proxy|attach|log|exec|portforward",cluster="a"}[5m]))`,
		"etcd_server_has_leader":                          `min by (instance) (etcd_server_has_leader{cluster="a"})`,
		"workqueue_depth":                                 `max by (name) (workqueue_depth{job=~"kcm",cluster="a"})`,
		"apiserver_client_certificate_expiration_seconds": `sum by (le) (increase(apiserver_client_certificate_expiration_seconds_bucket{cluster="a"}[5m]))`,
		snapshot.SeriesFSPredict24h:                       `predict_linear(node_filesystem_avail_bytes{fstype!="",mountpoint!="",cluster="a"}[6h], 86400)`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], w)
		}
	}
	if d := promDuration(90 * time.Second); d != "90s" {
		t.Errorf("promDuration = %s", d)
	}
}

// TestSnapshotRoundTrip: metrics survive the snapshot's JSON form,
// non-finite values and +Inf buckets included.
func TestSnapshotRoundTrip(t *testing.T) {
	s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "c", CollectedAt: recordedAt, Metrics: &snapshot.Metrics{
		Sources: []snapshot.MetricSource{{Kind: snapshot.KindMetricsAPIServer, Collector: "scrape", URL: "https://x/metrics", At: recordedAt, Window: 5 * time.Second,
			Errors: map[string]string{"a": "b"}}},
		Series: []snapshot.Series{{Name: "x", Labels: map[string]string{"a": "b"}, Source: "scrape", Type: snapshot.Rate, Window: time.Minute,
			Samples: snapshot.Samples{{T: 1, V: 0.5}, {T: 2, V: math.NaN()}, {T: 3, V: math.Inf(1)}, {T: 4, V: math.Inf(-1)}, {T: 5, V: 1e-300}}}},
		Histograms: []snapshot.Histogram{{Name: "h", T: 9, Window: time.Minute, Start: 1, Count: 3, Sum: 1.5,
			Buckets: []snapshot.Bucket{{UpperBound: 0.1, Count: 1}, {UpperBound: math.Inf(1), Count: 3}}}},
	}}
	var b strings.Builder
	if err := snapshot.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.Read(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if d := cmp.Diff(s.Metrics, got.Metrics, cmpopts.EquateNaNs()); d != "" {
		t.Errorf("round trip:\n%s\n%s", d, b.String())
	}
	// The compact pair form is read too.
	var ss snapshot.Samples
	if err := ss.UnmarshalJSON([]byte(`[[1,2.5],[2,"NaN"],{"t":3,"v":"+Inf"}]`)); err != nil || len(ss) != 3 || ss[0].V != 2.5 || !math.IsNaN(ss[1].V) || !math.IsInf(ss[2].V, 1) {
		t.Errorf("samples: %v %v", ss, err)
	}
}
