package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestSweepTrace: one sweep is one trace — a root span, a span per
// collector step and per check with its ID, result and findings — and the
// report and every finding carry its trace ID.
func TestSweepTrace(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	// A panicking and a slow check join the group: both are isolated and
	// reported, the sweep goes on.
	cfg := h.d.cfg.Load()
	g := &cfg.Groups[0]
	g.CheckTimeout = 200 * time.Millisecond
	g.Checks = append(g.Checks,
		checks.New(checks.Meta{ID: "x.panics", Title: "panics", Severity: checks.Warning, Requires: []snapshot.Kind{snapshot.KindPod}},
			func(context.Context, *checks.Env) []checks.Finding { panic("boom") }),
		checks.New(checks.Meta{ID: "x.slow", Title: "slow", Severity: checks.Warning, Requires: []snapshot.Kind{snapshot.KindPod}},
			func(ctx context.Context, _ *checks.Env) []checks.Finding {
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond)
				return nil
			}),
	)
	h.d.trySweep(context.Background(), cfg, g)

	spans := h.spans.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	root, ok := byName["patrol.sweep"]
	if !ok {
		t.Fatalf("no root span; spans: %v", names(spans))
	}
	traceID := root.SpanContext().TraceID()
	if a := attrs(root); a[attrCluster].AsString() != "test" || a[attrGroup].AsString() != "pods" || a[attrResult].AsString() != SweepSuccess {
		t.Errorf("root attributes %v", a)
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %s in another trace", s.Name())
		}
	}
	for _, name := range []string{"patrol.collect.cache", "patrol.checks"} {
		s, ok := byName[name]
		if !ok || s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("span %s missing or not a child of the sweep", name)
		}
	}
	crash, ok := byName["patrol.check pod.crash_looping"]
	if !ok {
		t.Fatalf("no span for pod.crash_looping; spans: %v", names(spans))
	}
	a := attrs(crash)
	if a[attrCheckID].AsString() != "pod.crash_looping" || a[attrCheckResult].AsString() != "findings" || a[attrCheckFindings].AsInt64() != 5 {
		t.Errorf("check span attributes %v", a)
	}
	if crash.Parent().SpanID() != byName["patrol.checks"].SpanContext().SpanID() {
		t.Error("check span is not a child of patrol.checks")
	}
	if !crash.StartTime().Before(crash.EndTime()) && !crash.StartTime().Equal(crash.EndTime()) {
		t.Error("check span ends before it starts")
	}
	for id, result := range map[string]string{"x.panics": "error", "x.slow": "timeout"} {
		s := byName["patrol.check "+id]
		if s == nil || attrs(s)[attrCheckResult].AsString() != result || s.Status().Code != codes.Error {
			t.Errorf("span of %s: want result %s and status error", id, result)
		}
		if n := testutil.ToFloat64(h.d.metrics.CheckRuns.WithLabelValues(id, result)); n != 1 {
			t.Errorf("patrol_check_runs_total{check=%q,result=%q} = %v", id, result, n)
		}
	}

	// The same trace ID in the report and in every finding's evidence.
	rep := h.d.Latest()
	if rep.TraceID != traceID.String() {
		t.Errorf("report trace %q, span trace %s", rep.TraceID, traceID)
	}
	if len(rep.Findings) != 5 {
		t.Fatalf("findings %d", len(rep.Findings))
	}
	for _, f := range rep.Findings {
		found := false
		for _, e := range f.Evidence {
			if e.Type == EvTrace && e.Value == traceID.String() {
				found = true
			}
		}
		if !found {
			t.Errorf("finding %s %s lacks trace evidence %s", f.Check, f.Object, traceID)
		}
	}
	runs := map[string]checks.RunResult{}
	for _, r := range rep.Checks {
		runs[r.Check] = r.Result
	}
	if runs["x.panics"] != checks.ResultError || runs["x.slow"] != checks.ResultTimeout {
		t.Errorf("report check runs %v", runs)
	}
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return strings.Join(out, ", ")
}

func TestTracerProviderFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		env       map[string]string
		exporting bool
		err       string
	}{
		{"off by default", nil, false, ""},
		{"endpoint turns it on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"grpc", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "supports otlp and none"},
		{"unknown protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "want grpc or http/protobuf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, exporting, err := NewTracerProvider(ctx, "test", env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { sctx, c := context.WithTimeout(ctx, time.Second); defer c(); _ = tp.Shutdown(sctx) }()
			if exporting != tc.exporting {
				t.Errorf("exporting = %v, want %v", exporting, tc.exporting)
			}
			if exporting {
				return // no collector to export to
			}
			_, span := tp.Tracer("t").Start(ctx, "x")
			if !span.SpanContext().HasTraceID() {
				t.Error("spans need trace IDs even when nothing is exported")
			}
			span.End()
		})
	}
}
