package scrape

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// component serves testdata/metrics/scrape/<name>-1.txt on the first
// request and <name>-2.txt afterwards.
func component(t *testing.T, name string, tlsServer bool, check func(r *http.Request) int) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if check != nil {
			if code := check(r); code != 0 {
				w.WriteHeader(code)
				_, _ = w.Write([]byte(`forbidden: User "system:anonymous" cannot get path "/metrics"`))
				return
			}
		}
		i := "1"
		if n.Add(1) > 1 {
			i = "2"
		}
		body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "metrics", "scrape", name+"-"+i+".txt"))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	})
	var s *httptest.Server
	if tlsServer {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// apiserverConfig is a kubeconfig for a TLS test server, with a token.
func apiserverConfig(s *httptest.Server) *rest.Config {
	return &rest.Config{Host: s.URL, BearerToken: "admin-token", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

func requireToken(r *http.Request) int {
	if r.Header.Get("Authorization") != "Bearer admin-token" {
		return http.StatusUnauthorized
	}
	return 0
}

func targets(t *testing.T, specs ...string) []Target {
	var out []Target
	for _, s := range specs {
		x, err := ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func TestTwoScrapes(t *testing.T) {
	api := component(t, "apiserver", true, requireToken)
	etcd := component(t, "etcd", false, nil)
	sched := component(t, "scheduler", true, requireToken)
	kcm := component(t, "controller-manager", true, requireToken)
	s := &snapshot.Snapshot{}
	err := AddTo(context.Background(), s, Options{
		Config:             apiserverConfig(api),
		Targets:            targets(t, "apiserver", "etcd="+etcd.URL, "scheduler="+sched.URL, "controller-manager="+kcm.URL+"/metrics"),
		Interval:           50 * time.Millisecond,
		InsecureSkipVerify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range s.Coverage {
		if g.Kind != snapshot.KindMetricsNode && g.Reason != snapshot.NotCollected {
			t.Errorf("gap: %+v", g)
		}
	}
	if g, _ := s.Gap(snapshot.KindMetricsNode); g.Reason != snapshot.NotCollected {
		t.Errorf("node metrics gap: %+v", g)
	}
	for _, k := range []snapshot.Kind{snapshot.KindMetricsAPIServer, snapshot.KindMetricsEtcd, snapshot.KindMetricsScheduler, snapshot.KindMetricsControllerManager} {
		src, ok := s.Metrics.Source(k)
		if !ok || src.Collector != "scrape" || src.Window < 50*time.Millisecond {
			t.Errorf("%s source: %+v", k, src)
		}
	}
	if src, _ := s.Metrics.Source(snapshot.KindMetricsEtcd); src.Version != "3.5.16" {
		t.Errorf("etcd version %q", src.Version)
	}
	if src, _ := s.Metrics.Source(snapshot.KindMetricsAPIServer); src.Version != "v1.32.2" {
		t.Errorf("apiserver version %q", src.Version)
	}

	inc := func(s *snapshot.Series) float64 { return s.Samples[len(s.Samples)-1].V * s.Window.Seconds() }
	// apiserver_request_total by code: the sum of the resource requests'
	// increases between the recorded scrapes (LIST events +6, PATCH
	// events +1, LIST pods +1, GET pods +6, PUT leases +20, ... and the
	// new 503 series +3).
	byCode := map[string]float64{}
	for _, x := range s.Metrics.Find("apiserver_request_total", nil) {
		if x.Type != snapshot.Rate || len(x.Samples) != 1 {
			t.Fatalf("apiserver_request_total: %+v", x)
		}
		byCode[x.Labels["code"]] += inc(x)
	}
	if math.Abs(byCode["503"]-3) > 1e-9 || byCode["200"] <= 0 {
		t.Errorf("increase by code: %v", byCode)
	}
	five := s.Metrics.Find(snapshot.SeriesAPIServer5xx, nil)
	if len(five) != 1 || five[0].Labels["verb"] != "LIST" || five[0].Labels["resource"] != "pods" || math.Abs(inc(five[0])-3) > 1e-9 {
		t.Errorf("5xx breakdown: %+v", five)
	}
	// /readyz (non-resource) requests are not counted.
	for _, x := range s.Metrics.Find("apiserver_request_total", nil) {
		if _, ok := x.Labels["subresource"]; ok {
			t.Errorf("labels not aggregated: %v", x.Labels)
		}
	}
	// Histograms are the bucket increases between the scrapes.
	hs := s.Metrics.FindHistograms("apiserver_request_sli_duration_seconds", map[string]string{"verb": "PUT", "resource": "leases"})
	if len(hs) != 1 || hs[0].Window <= 0 || math.Abs(hs[0].Total()-20) > 1e-9 || !math.IsInf(hs[0].Buckets[len(hs[0].Buckets)-1].UpperBound, 1) {
		t.Fatalf("PUT leases: %+v", hs)
	}
	for _, h := range s.Metrics.Histograms {
		if h.Total() <= 0 {
			t.Errorf("empty histogram kept: %s", snapshot.MetricSelector(h.Name, h.Labels))
		}
		if h.Labels["verb"] == "WATCH" || h.Labels["resource"] == "" && h.Name == "apiserver_request_sli_duration_seconds" {
			t.Errorf("excluded request kept: %v", h.Labels)
		}
	}
	if len(s.Metrics.FindHistograms("apiserver_request_duration_seconds", nil)) != 0 {
		t.Error("the fallback histogram was used although the SLI one exists")
	}
	// Gauges: one sample per scrape, labelled with the instance.
	leader := s.Metrics.Find("etcd_server_has_leader", nil)
	host := strings.TrimPrefix(etcd.URL, "http://")
	if len(leader) != 1 || len(leader[0].Samples) != 2 || leader[0].Labels["instance"] != host || leader[0].Samples[1].V != 1 {
		t.Errorf("etcd_server_has_leader: %+v", leader)
	}
	if q := s.Metrics.Find("etcd_server_quota_backend_bytes", nil); len(q) != 1 || q[0].Samples[0].V != 4294967296 {
		t.Errorf("quota: %+v", q)
	}
	if d := s.Metrics.Find("workqueue_depth", map[string]string{"name": "deployment"}); len(d) != 1 {
		t.Errorf("workqueue_depth{name=deployment}: %+v", d)
	}
	if p := s.Metrics.Find("scheduler_pending_pods", nil); len(p) != 4 {
		t.Errorf("scheduler_pending_pods: %d series", len(p))
	}
	if err := snapshot.Write(discard{}, s); err != nil {
		t.Errorf("snapshot does not encode: %v", err)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestOneScrapeIsLifetime(t *testing.T) {
	etcd := component(t, "etcd", false, nil)
	m, gaps, err := Collect(context.Background(), Options{Targets: targets(t, "etcd="+etcd.URL+"/metrics")})
	if err != nil || len(gaps) != 0 {
		t.Fatal(err, gaps)
	}
	lc := m.Find("etcd_server_leader_changes_seen_total", nil)
	if len(lc) != 1 || lc[0].Type != snapshot.Counter || lc[0].Start != 1795300987850 || lc[0].Samples[0].V != 1 {
		t.Fatalf("leader changes: %+v", lc)
	}
	inc, cov, ok := lc[0].Increase(0)
	if !ok || inc != 1 || cov <= 0 {
		t.Errorf("Increase = %v %v %v", inc, cov, ok)
	}
	h := m.FindHistograms("etcd_disk_wal_fsync_duration_seconds", nil)
	if len(h) != 1 || h[0].Window != 0 || h[0].Start != 1795300987850 || h[0].Total() <= 0 {
		t.Errorf("fsync: %+v", h)
	}
}

func TestScrapeFailures(t *testing.T) {
	api := component(t, "apiserver", true, func(*http.Request) int { return http.StatusForbidden })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	s := &snapshot.Snapshot{}
	err = AddTo(context.Background(), s, Options{
		Config:  apiserverConfig(api),
		Targets: targets(t, "apiserver", "etcd="+closed, "scheduler="+notFound.URL+"/metrics"),
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[snapshot.Kind]snapshot.CoverageReason{
		snapshot.KindMetricsAPIServer:         snapshot.Forbidden,
		snapshot.KindMetricsEtcd:              snapshot.Unreachable,
		snapshot.KindMetricsScheduler:         snapshot.NotServed,
		snapshot.KindMetricsControllerManager: snapshot.NotCollected,
		snapshot.KindMetricsNode:              snapshot.NotCollected,
	}
	for k, r := range want {
		if g, _ := s.Gap(k); g.Reason != r {
			t.Errorf("%s: %+v, want %s", k, g, r)
		}
	}
}

func TestParseTarget(t *testing.T) {
	cases := map[string]string{
		"apiserver":                                  "|metrics/apiserver",
		"etcd=http://127.0.0.1:2381":                 "http://127.0.0.1:2381/metrics|metrics/etcd",
		"scheduler=https://10.0.0.1:10259/metrics":   "https://10.0.0.1:10259/metrics|metrics/scheduler",
		"controller-manager=https://127.0.0.1:10257": "https://127.0.0.1:10257/metrics|metrics/controller-manager",
	}
	for in, want := range cases {
		got, err := ParseTarget(in)
		if err != nil || got.URL+"|"+string(got.Kind) != want {
			t.Errorf("%s: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"etcd", "kubelet=http://x:10250", "etcd=127.0.0.1:2381", "scheduler="} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseKeepsOnlyWanted(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "metrics", "scrape", "apiserver-1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams, err := Parse(f, wanted(snapshot.KindMetricsAPIServer))
	if err != nil {
		t.Fatal(err)
	}
	if fams["apiserver_request_sli_duration_seconds"] == nil || fams["go_goroutines"] != nil || fams["process_start_time_seconds"] == nil {
		t.Errorf("families: %d", len(fams))
	}
}
