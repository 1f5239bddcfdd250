package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kubepatrol/patrol/collectors/file"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// t0 is the time the check fixtures are judged at.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// fixture loads a snapshot from testdata/checks.
func fixture(t *testing.T, name string) *snapshot.Snapshot {
	t.Helper()
	s, err := file.Load(filepath.Join("..", "..", "..", "testdata", "checks", name), file.Options{At: t0, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeSource serves a fixed snapshot stamped with the clock's time; block,
// when set, holds Snapshot until it is closed (a slow collection).
type fakeSource struct {
	clock Clock
	calls atomic.Int32
	mu    sync.Mutex
	snap  *snapshot.Snapshot
	block chan struct{}
}

func (f *fakeSource) Snapshot(ctx context.Context) *snapshot.Snapshot {
	n := f.calls.Add(1)
	f.mu.Lock()
	b := f.block
	f.mu.Unlock()
	if b != nil {
		select {
		case <-b:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *f.snap
	c.ID = fmt.Sprintf("snap-%d", n)
	c.CollectedAt = f.clock.Now().UTC()
	return &c
}

func (f *fakeSource) set(s *snapshot.Snapshot) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
}

// harness is a daemon over fakes: a fake clock at t0, a fixture source, a
// fake clientset for Events and Leases, an in-memory span recorder and its
// own registry.
type harness struct {
	d     *Daemon
	clock *testingclock.FakeClock
	src   *fakeSource
	kube  *fake.Clientset
	spans *tracetest.SpanRecorder
	reg   *prometheus.Registry
	cfg   string
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newHarness(t *testing.T, config string, snap *snapshot.Snapshot) *harness {
	t.Helper()
	h := &harness{clock: testingclock.NewFakeClock(t0), kube: fake.NewClientset(), spans: tracetest.NewSpanRecorder(), reg: prometheus.NewRegistry()}
	h.src = &fakeSource{clock: h.clock, snap: snap}
	h.cfg = filepath.Join(t.TempDir(), "patrold.yaml")
	writeFile(t, h.cfg, config)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	d, err := New(context.Background(), Options{
		ConfigFile: h.cfg, Source: h.src, Kube: h.kube, Clock: h.clock, TracerProvider: tp,
		Registry: h.reg, ReloadPoll: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

// sweepAll runs every group once, synchronously.
func (h *harness) sweepAll() {
	cfg := h.d.cfg.Load()
	for i := range cfg.Groups {
		h.d.trySweep(context.Background(), cfg, &cfg.Groups[i])
	}
}

// get fetches path from the daemon's handler.
func (h *harness) get(t *testing.T, path string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const podsConfig = `cluster: test
jitter: 0s
groups:
  - name: pods
    schedule: "@every 1m"
    checks: [pod]
`
