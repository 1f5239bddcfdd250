package prom

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestQueryRange: an arbitrary expression goes to /api/v1/query_range as
// written, with the range, the step and the credentials; the recorded
// matrix comes back as series; failures say why.
func TestQueryRange(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "metrics", "prometheus", "apiserver_request_total.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got url.Values
	var path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got, path, auth = r.Form, r.URL.Path, r.Header.Get("Authorization")
		switch r.Form.Get("query") {
		case "bad(":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`))
			return
		case "forbidden":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"forbidden","error":"denied"}`))
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opt := Options{URL: srv.URL + "/", BearerTokenFile: token, Matchers: `cluster="ignored"`}
	end := recordedAt
	start := end.Add(-10 * time.Minute)
	const expr = `sum by (code) (rate(apiserver_request_total[5m]))`
	ss, err := QueryRange(context.Background(), opt, expr, start, end, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/api/v1/query_range" || got.Get("query") != expr || got.Get("step") != "300" ||
		got.Get("start") != formatTime(start) || got.Get("end") != formatTime(end) || auth != "Bearer s3cret" {
		t.Errorf("request %s %v auth %q", path, got, auth)
	}
	if len(ss) != 5 || ss[0].Labels["code"] != "200" || len(ss[0].Samples) != 3 || ss[0].Source != "prometheus" || ss[0].Type != snapshot.Gauge ||
		ss[0].Samples[2] != (snapshot.Sample{T: 1795301612000, V: 10.768066253444436}) {
		t.Errorf("series: %+v", ss)
	}

	for _, tc := range []struct {
		name, expr        string
		start, end        time.Time
		step              time.Duration
		url, want         string
		noRequestExpected bool
	}{
		{"parse error", "bad(", start, end, time.Minute, "", "bad_data: 1:5: parse error", false},
		{"forbidden", "forbidden", start, end, time.Minute, "", "Forbidden", false},
		{"unreachable", "up", start, end, time.Minute, "http://127.0.0.1:1", "Unreachable", true},
		{"empty", " ", start, end, time.Minute, "", "empty PromQL expression", true},
		{"backwards", "up", end, start, time.Minute, "", "the end must be after the start", true},
		{"too many points", "up", end.Add(-30 * 24 * time.Hour), end, time.Minute, "", "Prometheus allows 11000: use a larger step", true},
		{"no step", "up", start, end, 0, "", "must be positive", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opt
			if tc.url != "" {
				o.URL = tc.url
			}
			_, err := QueryRange(context.Background(), o, tc.expr, tc.start, tc.end, tc.step)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestExtraSignals: signals passed in Options.Extra are collected like
// snapshot.Signals: their PromQL gets the extra matchers and the job
// scope, their own lookback (capped by MaxLookback) and step, a fallback
// runs only when its primary is empty, and a failure is recorded against
// the signal.
func TestExtraSignals(t *testing.T) {
	week := 7 * 24 * time.Hour
	extra := []snapshot.Signal{
		{Name: "x:depth", Kind: snapshot.KindMetricsControllerManager, Type: snapshot.SignalGauge, JobScoped: true,
			History: true, Lookback: week, Step: 5 * time.Minute, Expr: `max by (name) (max_over_time(workqueue_depth{}[5m]))`},
		{Name: "x:latency", Kind: snapshot.KindMetricsAPIServer, Type: snapshot.SignalGauge, History: true, Lookback: week, Step: 5 * time.Minute,
			Expr: `sum(rate(new_seconds_sum{}[5m]))`},
		{Name: "x:latency_old", Kind: snapshot.KindMetricsAPIServer, Type: snapshot.SignalGauge, History: true, Lookback: week, Step: 5 * time.Minute,
			FallbackFor: "x:latency", Expr: `sum(rate(old_seconds_sum{}[5m]))`},
		{Name: "x:failing", Kind: snapshot.KindMetricsEtcd, Type: snapshot.SignalGauge, History: true, Lookback: week, Step: 5 * time.Minute,
			Expr: `histogram_quantile(0.99, sum by (le) (rate(fails_bucket{}[5m])))`},
	}
	p := newFakeProm(t, `cluster="c"`)
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"name":"deployment"},"values":[[1795301012,"1"],[1795301312,"7"]]}]}}`
	var mu sync.Mutex
	var seen []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		switch {
		case strings.Contains(q, "max_over_time(workqueue_depth"), strings.Contains(q, "old_seconds_sum"):
			mu.Lock()
			seen = append(seen, r.Form)
			mu.Unlock()
			_, _ = w.Write([]byte(matrix))
		case strings.Contains(q, "new_seconds_sum"):
			mu.Lock()
			seen = append(seen, r.Form)
			mu.Unlock()
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
		case strings.Contains(q, "fails_bucket"):
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`))
		default:
			p.Config.Handler.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	s := &snapshot.Snapshot{CollectedAt: recordedAt}
	if err := AddTo(context.Background(), s, Options{URL: srv.URL, Matchers: `cluster="c"`, Extra: extra, MaxLookback: 3 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("extra queries: %v", seen)
	}
	for _, q := range seen {
		expr := q.Get("query")
		if !strings.Contains(expr, `cluster="c"`) || q.Get("step") != "300" || q.Get("start") != formatTime(recordedAt.Add(-72*time.Hour)) {
			t.Errorf("extra query: %v", q)
		}
		if strings.Contains(expr, "workqueue_depth") && !strings.Contains(expr, `job=~".*controller-manager.*|kcm"`) {
			t.Errorf("not job-scoped: %s", expr)
		}
	}
	d := s.Metrics.Find("x:depth", nil)
	if len(d) != 1 || d[0].Labels["name"] != "deployment" || len(d[0].Samples) != 2 || d[0].Source != "prometheus" || d[0].Type != snapshot.Gauge {
		t.Errorf("x:depth: %+v", d)
	}
	if len(s.Metrics.Find("x:latency_old", nil)) != 1 {
		t.Error("the fallback of an empty extra signal was not collected")
	}
	if e, ok := s.Metrics.SignalError(snapshot.KindMetricsEtcd, "x:failing"); !ok || !strings.Contains(e, "too many samples") {
		t.Errorf("x:failing error %q %v", e, ok)
	}
}
