package remediation

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/rules"
)

// BenchmarkWebhookDecision measures webhook → recorded decision under a
// sustained, open-loop 1,000 alerts/s: one alert per request, each about a
// different node of a 10,000-node fleet, through the HTTP handler, alert
// dedup, playbook matching, every guard and the SQLite ledger write, while
// the workers diagnose, cordon (a fake action) and verify in the
// background. It reports the latency percentiles and the rate achieved.
//
// Two mixes: "guarded" has the shipped guards (a global limit of 20 acting
// runs an hour, so after the first 20 every decision is a recorded
// refusal, as in an alert storm); "acting" lifts every limit so that each
// alert also starts a worker that diagnoses, cordons and records intent
// and outcome — the worst case for the same two cores.
func BenchmarkWebhookDecision(b *testing.B) {
	b.Run("guarded", func(b *testing.B) { benchWebhook(b, false) })
	b.Run("acting", func(b *testing.B) { benchWebhook(b, true) })
}

func benchWebhook(b *testing.B, acting bool) {
	const rate = 1000 // alerts per second
	s := &snapshot.Snapshot{ID: "bench", Cluster: "bench", CollectedAt: t0}
	for i := range 10000 {
		s.Nodes = append(s.Nodes, node(fmt.Sprintf("node-%05d", i), i%2 == 0, nil))
	}
	cl := &cluster{snap: s}
	pb, err := rules.ParsePlaybook("bench.yaml", []byte(nodePlaybook))
	if err != nil {
		b.Fatal(err)
	}
	pb.Steps = pb.Steps[:1]
	pb.Verify = nil
	pb.Guards.MaxUnhealthy = "100%"
	tweak := func(o *Options) {}
	if acting {
		pb.Guards.RateLimit = &rules.RateLimit{Max: 1 << 30, Per: "1h"}
		tweak = func(o *Options) { o.Guards.RateLimit = &rules.RateLimit{Max: 1 << 30, Per: "1h"} }
	}
	r := newRigFor(b, b.TempDir()+"/ledger.db", cl, []*rules.Playbook{pb}, tweak)
	mux := http.NewServeMux()
	r.eng.Register(mux, HTTPOptions{WebhookToken: "t"})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	bodies := make([][]byte, b.N)
	for i := range b.N {
		n := fmt.Sprintf("node-%05d", (2*i+1)%10000)
		bodies[i] = fmt.Appendf(nil, `{"version":"4","status":"firing","receiver":"patrol","groupKey":"g","alerts":[{"status":"firing",
"labels":{"alertname":"KubeNodeNotReady","node":%q,"severity":"warning"},"annotations":{"summary":"%s unready"},
"startsAt":"2026-11-22T09:45:00Z","fingerprint":"fp-%d"}]}`, n, n, i)
	}
	lat := make([]time.Duration, b.N)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer t")
				start := time.Now()
				res, err := client.Do(req)
				lat[i] = time.Since(start)
				if err != nil || res.StatusCode != 200 {
					b.Errorf("alert %d: %v %v", i, err, res)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	b.ResetTimer()
	start := time.Now()
	// Open loop: alert i is due at start + i/rate whether or not the
	// earlier ones were answered; a late generator catches up at once.
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(b.N)/took.Seconds(), "alerts/s")
}
