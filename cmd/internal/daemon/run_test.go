package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRun runs the whole daemon (actor group, HTTP server on a real
// socket, scheduler) over a fake source: not ready until the first full
// sweep, ready after, and it stops cleanly when its context ends.
func TestRun(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	block := make(chan struct{})
	h.src.block = block
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	h.d.opt.Listener, h.d.opt.Ready = ln, ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()

	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, "the first sweep collecting", func() bool { return h.src.calls.Load() == 1 })
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "first full sweep") {
		t.Errorf("/readyz during the first sweep: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	close(block)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after the first sweep")
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz after the first sweep: %d", code)
	}
	if code, body := get("/api/v1/findings?check=pod.crash_looping"); code != 200 || len(findingsOf(t, body).Findings) != 5 {
		t.Errorf("/api/v1/findings: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
