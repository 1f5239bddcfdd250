package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepatrol/patrol/analysis"
)

func (h *harness) events(t *testing.T) []string {
	t.Helper()
	l, err := h.kube.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Type+" "+e.Reason+" "+e.InvolvedObject.Kind+"/"+e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name+": "+e.Message)
	}
	return out
}

func (h *harness) findingGauge(state string) float64 {
	return testutil.ToFloat64(h.d.metrics.Findings.WithLabelValues("test", "pod.crash_looping", "critical", state))
}

// TestFindingLifecycle follows five crash-looping pods through the
// daemon: pending for the check's `for`, firing (one Event each, from the
// only replica), not announced again, across a restart from the state
// file, and resolved when they heal.
func TestFindingLifecycle(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state", "patrold.json")
	config := podsConfig + `state_file: ` + state + `
lifecycle:
  checks:
    pod.crash_looping:
      for: 2m
events:
  enabled: true
`
	crash := fixture(t, "pod/crash_looping.yaml")
	h := newHarness(t, config, crash)

	h.sweepAll() // t0: pending
	if got := h.findingGauge("pending"); got != 5 {
		t.Fatalf("pending gauge %v", got)
	}
	code, body := h.get(t, "/api/v1/findings?state=pending")
	if code != 200 || len(findingsOf(t, body).Findings) != 5 {
		t.Fatalf("pending findings: %d %s", code, body)
	}
	h.clock.Step(time.Minute)
	h.sweepAll() // t0+1m: still pending
	if n := len(h.events(t)); n != 0 {
		t.Fatalf("%d events while pending", n)
	}
	h.clock.Step(time.Minute)
	h.sweepAll() // t0+2m: firing
	if h.findingGauge("firing") != 5 || h.findingGauge("pending") != 0 {
		t.Fatalf("gauges firing %v pending %v", h.findingGauge("firing"), h.findingGauge("pending"))
	}
	evs := h.events(t)
	if len(evs) != 5 {
		t.Fatalf("events: %v", evs)
	}
	for _, e := range evs {
		if !strings.HasPrefix(e, "Warning CrashLoopBackOff Pod/") || !strings.Contains(e, "(kubepatrol check pod.crash_looping)") {
			t.Errorf("event %q", e)
		}
	}
	if n := testutil.ToFloat64(h.d.metrics.EventsEmitted.WithLabelValues("test", "CrashLoopBackOff")); n != 5 {
		t.Errorf("patrol_events_emitted_total = %v", n)
	}
	h.clock.Step(time.Minute)
	h.sweepAll() // still firing: not announced again
	if n := len(h.events(t)); n != 5 {
		t.Fatalf("re-announced: %d events", n)
	}

	// Restart: a new daemon on the same state file and cluster picks up
	// the firing findings without announcing them again.
	h2 := newHarness(t, config, crash)
	h2.kube = h.kube
	h2.d.kube, h2.d.events.client = h.kube, h.kube
	h2.clock.SetTime(h.clock.Now().Add(time.Minute))
	if n := len(h2.d.life.InState(analysis.Firing)); n != 5 {
		t.Fatalf("restored %d firing findings from %s", n, state)
	}
	h2.sweepAll()
	if n := len(h2.events(t)); n != 5 {
		t.Fatalf("restart re-announced: %d events", n)
	}
	if h2.findingGauge("firing") != 5 {
		t.Errorf("after restart firing gauge %v", h2.findingGauge("firing"))
	}

	// Healed: resolved, kept for the retention, out of the report.
	h2.src.set(fixture(t, "pod/healthy.yaml"))
	h2.clock.Step(time.Minute)
	h2.sweepAll()
	for _, f := range h2.d.Latest().Findings {
		if f.Check == "pod.crash_looping" {
			t.Errorf("report still has %s on %s", f.Check, f.Object)
		}
	}
	code, body = h2.get(t, "/api/v1/findings?state=resolved")
	if r := findingsOf(t, body); code != 200 || len(r.Findings) != 5 {
		t.Errorf("resolved findings: %d %d", code, len(r.Findings))
	}
	if h2.findingGauge("firing") != 0 {
		t.Errorf("firing gauge after resolution %v", h2.findingGauge("firing"))
	}
	st, err := LoadState(state)
	if err != nil || len(st.Lifecycle.InState(analysis.Resolved)) != 5 || st.Cluster != "test" {
		t.Errorf("state file: %v, %d resolved", err, len(st.Lifecycle.InState(analysis.Resolved)))
	}
}

// TestEventsOnlyFromTheLeader: a replica that does not hold the Lease
// inspects and serves but emits nothing.
func TestEventsOnlyFromTheLeader(t *testing.T) {
	h := newHarness(t, podsConfig+"events:\n  enabled: true\n", fixture(t, "pod/crash_looping.yaml"))
	h.d.elector = &Elector{} // never leads
	h.sweepAll()
	if n := len(h.events(t)); n != 0 {
		t.Errorf("a follower emitted %d events", n)
	}
	if len(h.d.Latest().Findings) != 5 {
		t.Error("a follower must still inspect")
	}
}

func TestEventsRateLimitAndSeverity(t *testing.T) {
	h := newHarness(t, podsConfig+"events:\n  enabled: true\n  rate_per_minute: 1\n  burst: 2\n", fixture(t, "pod/crash_looping.yaml"))
	h.sweepAll()
	if n := len(h.events(t)); n != 2 {
		t.Errorf("burst 2: %d events", n)
	}
	h2 := newHarness(t, podsConfig+"events:\n  enabled: false\n", fixture(t, "pod/crash_looping.yaml"))
	h2.sweepAll()
	if n := len(h2.events(t)); n != 0 {
		t.Errorf("events disabled: %d events", n)
	}
	// The pod checks that fire here are critical; a warning threshold
	// still emits, none does above critical.
	h3 := newHarness(t, podsConfig+"events:\n  enabled: true\n  severity: warning\n", fixture(t, "pod/crash_looping.yaml"))
	h3.sweepAll()
	if n := len(h3.events(t)); n != 5 {
		t.Errorf("severity warning: %d events", n)
	}
}

// TestSuppressedFindingsDoNotEmit: suppressions silence the report, the
// gauges and the Events.
func TestSuppressedFindingsDoNotEmit(t *testing.T) {
	h := newHarness(t, podsConfig+`events:
  enabled: true
suppressions:
  - check: pod.crash_looping
    namespace: shop
    reason: the shop team is migrating databases
    expires: 2099-01-01
`, fixture(t, "pod/crash_looping.yaml"))
	h.sweepAll()
	if n := len(h.events(t)); n != 1 {
		t.Errorf("events %v", h.events(t))
	}
	r := h.d.Latest()
	if len(r.Findings) != 1 || len(r.Suppressed) != 4 || h.findingGauge("firing") != 1 {
		t.Errorf("findings %d suppressed %d gauge %v", len(r.Findings), len(r.Suppressed), h.findingGauge("firing"))
	}
}
