package daemon

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepatrol/patrol/analysis"
)

// TestElectorOneLeader runs two electors on one Lease (fake API): exactly
// one leads; when it stops (releasing the Lease), the other takes over.
// e2e/daemon_test.go proves the same against the real API server,
// including a leader that dies without releasing.
func TestElectorOneLeader(t *testing.T) {
	cs := fake.NewClientset()
	mk := func(id string) *Elector {
		return &Elector{Client: cs, Namespace: "kube-system", Name: "patrold", Identity: id,
			LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond, ReleaseOnCancel: true}
	}
	a, b := mk("a"), mk("b")
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctxA) }()
	go func() { defer wg.Done(); _ = b.Run(ctxB) }()
	defer wg.Wait()

	eventually(t, "a leader", func() bool { return a.IsLeader() || b.IsLeader() })
	for range 20 { // never both, while it settles
		if a.IsLeader() && b.IsLeader() {
			t.Fatal("two leaders")
		}
		time.Sleep(20 * time.Millisecond)
	}
	leader, other, cancel := a, b, cancelA
	if b.IsLeader() {
		leader, other, cancel = b, a, cancelB
	}
	cancel()
	start := time.Now()
	eventually(t, "takeover", func() bool { return other.IsLeader() })
	if leader.IsLeader() {
		t.Error("the stopped replica still claims the lease")
	}
	t.Logf("takeover after release in %s", time.Since(start).Round(time.Millisecond))
	cancelA()
	cancelB()
}

func TestStateFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	st, err := LoadState(path)
	if err != nil || len(st.Lifecycle.Findings) != 0 {
		t.Fatalf("missing file: %v %+v", err, st)
	}
	life := analysis.Lifecycle{Findings: map[string]analysis.Tracked{"k": {Key: "k", State: analysis.Firing, ActiveAt: t0}}}
	if err := SaveState(path, State{Cluster: "c", SavedAt: t0, Lifecycle: life}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil || got.Cluster != "c" || got.Lifecycle.Findings["k"].State != analysis.Firing {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); err == nil {
		t.Error("corrupt state accepted")
	}
}

func TestSaveReportRetention(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	h.sweepAll()
	dir := t.TempDir()
	r := *h.d.Latest()
	for i := range 5 {
		r.CollectedAt = t0.Add(time.Duration(i) * time.Minute)
		if err := saveReport(dir, &r, "pods", 3, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 || entries[2].Name() != "report-20260302T100400.000Z-pods.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("kept %v", names)
	}
}
