//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/anomaly"
	"github.com/kubepatrol/patrol/collectors/prom"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestAnomaly shifts a real metric of the local API server and checks
// that the anomaly detector sees it through a Debian Prometheus (started
// as in TestMetrics, scraping every 2s): after a quiet baseline, a burst
// of GETs of pods that do not exist multiplies the request rate and adds a
// stream of 404s. Then
//
//   - `patrol analyze --query` over the request rate (one series: NAB's
//     three CSV columns) flags the burst and nothing before it at the
//     paging level, and by code (several series: a series column) flags
//     the 404s, with a chart;
//   - anomaly.apiserver_requests fires on a snapshot of the same history.
//
// The series are 1-second steps of 10-second rates, so the detector's
// window is 40 samples instead of a day of 5-minute ones; it runs in about
// two minutes.
func TestAnomaly(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, cfg)
	from := time.Now().Add(-5 * time.Second)

	const baseline = 70 * time.Second
	t.Logf("baseline: %s of the cluster's own traffic", baseline)
	time.Sleep(baseline)
	burstStart := time.Now()
	sent, notFound := burst404(t, cfg, 12*time.Second)
	burstEnd := time.Now()
	t.Logf("burst: %d GETs of missing pods, %d answered 404, %s to %s", sent, notFound, burstStart.Format("15:04:05"), burstEnd.Format("15:04:05"))
	if notFound < 1000 {
		t.Fatalf("the burst did not happen: %d 404s", notFound)
	}
	// Prometheus scrapes every 2s; a 10s rate covers the burst's end 10s later.
	time.Sleep(6 * time.Second)
	to := time.Now()

	const total = `sum(rate(apiserver_request_total{verb!~"WATCH|WATCHLIST|CONNECT"}[10s]))`
	const byCode = `sum by (code) (rate(apiserver_request_total{verb!~"WATCH|WATCHLIST|CONNECT"}[10s]))`
	window := []string{"--window", "40", "--period", "none", "--step", "1s",
		"--start", from.UTC().Format(time.RFC3339), "--end", to.UTC().Format(time.RFC3339), "--prometheus-url", p.url}

	t.Run("analyze one series", func(t *testing.T) {
		rows := analyzeQuery(t, append([]string{"--query", total}, window...)...)
		if len(rows) < 60 || len(rows[0]) != 3 {
			t.Fatalf("%d rows of %d columns, want timestamp,value,anomaly_score rows", len(rows), len(rows[0]))
		}
		peak, quiet := scoresAround(t, rows, 0, burstStart, burstEnd)
		t.Logf("request rate: peak score %.3f during the burst, %.3f before it", peak, quiet)
		if peak < detect.AlarmScore {
			t.Errorf("the burst scores %.3f, want at least %.2f", peak, detect.AlarmScore)
		}
		if quiet >= detect.PageScore {
			t.Errorf("the baseline scores %.3f before the burst, want below %.2f", quiet, detect.PageScore)
		}
	})

	t.Run("analyze by code with a chart", func(t *testing.T) {
		chart := filepath.Join(reportDir, "TestAnomaly-by-code.png")
		rows := analyzeQuery(t, append([]string{"--query", byCode, "--plot", chart}, window...)...)
		if len(rows) == 0 || len(rows[0]) != 4 {
			t.Fatalf("want series,timestamp,value,anomaly_score rows, got %d columns", len(rows[0]))
		}
		var notFound [][]string
		names := map[string]bool{}
		for _, r := range rows {
			names[r[0]] = true
			if r[0] == `{code="404"}` {
				notFound = append(notFound, r[1:])
			}
		}
		if len(names) < 2 || len(notFound) == 0 {
			t.Fatalf("series %v: want several codes, 404 among them", names)
		}
		peak, _ := scoresAround(t, notFound, 0, burstStart, burstEnd)
		t.Logf("404 rate: peak score %.3f during the burst (series %v)", peak, names)
		if peak < detect.AlarmScore {
			t.Errorf("the 404 burst scores %.3f, want at least %.2f", peak, detect.AlarmScore)
		}
		f, err := os.Open(chart)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", chart, err)
		}
	})

	t.Run("anomaly.apiserver_requests", func(t *testing.T) {
		ctx := context.Background()
		ss, err := prom.QueryRange(ctx, prom.Options{URL: p.url, Timeout: 20 * time.Second}, byCode, from, to, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := rawQueryRange(p.url, byCode, from, to, time.Second); err == nil {
			// Kept as a fixture candidate for the unit tests of analyze.
			_ = os.WriteFile(filepath.Join(reportDir, "TestAnomaly-query_range.json"), raw, 0o644)
		}
		s := newSnap()
		s.CollectedAt = to.UTC()
		m := &snapshot.Metrics{}
		for _, k := range []snapshot.Kind{snapshot.KindMetricsPrometheus, snapshot.KindMetricsAPIServer} {
			m.Sources = append(m.Sources, snapshot.MetricSource{Kind: k, Collector: "prometheus", URL: p.url, At: s.CollectedAt})
		}
		for _, x := range ss {
			x.Name, x.Type, x.Window = "apiserver_request_total", snapshot.Rate, 10*time.Second
			m.Series = append(m.Series, x)
		}
		s.AddMetrics(m, nil)
		c := anomaly.APIServerRequests
		// The burst ended 6s before the snapshot; the window is 40 samples.
		params, err := checks.ResolveParams(c.Meta(), map[string]string{"window": "40s", "within": "20s", "page_score": "0.2"})
		if err != nil {
			t.Fatal(err)
		}
		res := (&checks.Runner{Checks: []checks.Check{c}, Params: map[string]checks.Params{c.Meta().ID: params}}).Run(ctx, s)
		f := expectFinding(t, res, "anomaly.apiserver_requests", "APIServerRequestsAnomaly")
		if f != nil && !strings.Contains(f.Message, "above its usual") {
			t.Errorf("message: %s", f.Message)
		}
	})
}

// burst404 GETs pods that do not exist from 6 goroutines for d and
// returns how many requests were sent and answered 404.
func burst404(t *testing.T, cfg *rest.Config, d time.Duration) (int64, int64) {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		t.Fatal(err)
	}
	var sent, notFound atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				resp, err := hc.Get(fmt.Sprintf("%s/api/v1/namespaces/default/pods/kubepatrol-e2e-missing-%d-%d", c.Host, g, i))
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sent.Add(1)
				if resp.StatusCode == http.StatusNotFound {
					notFound.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return sent.Load(), notFound.Load()
}

// analyzeQuery runs bin/patrol analyze with args and returns the CSV rows
// without the header.
func analyzeQuery(t *testing.T, args ...string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, patrolBin, append([]string{"analyze", "-v"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("patrol analyze %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("patrol analyze: %s", lastLine(stderr.String()))
	rows, err := csv.NewReader(&stdout).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("patrol analyze printed no CSV: %v\n%.500s", err, stdout.String())
	}
	head := strings.Join(rows[0], ",")
	if head != "timestamp,value,anomaly_score" && head != "series,timestamp,value,anomaly_score" {
		t.Fatalf("header %q", head)
	}
	return rows[1:]
}

// scoresAround returns the highest score of the rows (timestamp, value,
// score from column at) during [start-2s, end+12s], and before start-2s.
func scoresAround(t *testing.T, rows [][]string, at int, start, end time.Time) (during, before float64) {
	t.Helper()
	for _, r := range rows {
		ts, err := detect.ParseTime(r[at])
		if err != nil {
			t.Fatal(err)
		}
		sc, err := strconv.ParseFloat(r[at+2], 64)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ts.Before(start.Add(-2 * time.Second)):
			before = max(before, sc)
		case !ts.After(end.Add(12 * time.Second)):
			during = max(during, sc)
		}
	}
	return during, before
}

// rawQueryRange is the Prometheus API's answer to a range query, as sent.
func rawQueryRange(base, expr string, from, to time.Time, step time.Duration) ([]byte, error) {
	q := url.Values{"query": {expr}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix(), 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	resp, err := http.Get(base + "/api/v1/query_range?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
