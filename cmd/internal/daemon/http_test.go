package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/analysis/report"
)

func findingsOf(t *testing.T, body string) FindingsResponse {
	t.Helper()
	var r FindingsResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return r
}

func TestHTTPEndpoints(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))

	// Before the first sweep: alive, not ready, no report.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/report": 503, "/api/v1/report": 503, "/api/v1/findings": 503} {
		if code, body := h.get(t, path); code != want {
			t.Errorf("before the first sweep GET %s = %d (%s), want %d", path, code, strings.TrimSpace(body), want)
		}
	}

	h.sweepAll()
	h.d.markReady()
	if code, _ := h.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz after the first sweep = %d", code)
	}

	// /api/v1/report: the patrol inspect -o json schema.
	code, body := h.get(t, "/api/v1/report")
	var rep report.Report
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil {
		t.Fatalf("/api/v1/report %d %v", code, err)
	}
	if rep.Schema != report.Schema || rep.Cluster != "test" || len(rep.Findings) != 5 || rep.TraceID == "" {
		t.Errorf("report: schema %q cluster %q findings %d trace %q", rep.Schema, rep.Cluster, len(rep.Findings), rep.TraceID)
	}

	// /report: the self-contained HTML page.
	code, body = h.get(t, "/report")
	if code != 200 || !strings.Contains(body, "<html") || !strings.Contains(body, "pod.crash_looping") {
		t.Errorf("/report %d, %d bytes", code, len(body))
	}

	// /api/v1/findings and its filters.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 5},
		{"?check=pod.crash_looping", 5},
		{"?check=pod", 5},
		{"?check=node", 0},
		{"?namespace=shop", 4},
		{"?namespace=search", 1},
		{"?namespace=nowhere", 0},
		{"?severity=critical", 5},
		{"?severity=warning", 5},
		{"?severity=critical&namespace=search&check=pod.crash_looping", 1},
		{"?state=firing", 5},
		{"?state=pending", 0},
		{"?state=resolved", 0},
	} {
		code, body := h.get(t, "/api/v1/findings"+tc.query)
		if code != 200 {
			t.Errorf("%s: %d %s", tc.query, code, body)
			continue
		}
		if got := findingsOf(t, body); len(got.Findings) != tc.want {
			t.Errorf("findings%s: %d, want %d", tc.query, len(got.Findings), tc.want)
		}
	}

	// Bad parameters are 400 with a message saying what is wrong.
	for query, msg := range map[string]string{
		"?severity=urgent":      `unknown severity "urgent"`,
		"?check=pod.flying":     `no check matches "pod.flying"`,
		"?state=sleeping":       `unknown state "sleeping"`,
		"?colour=red":           `unknown query parameter "colour"`,
		"?check=pod&check=node": `given 2 times`,
	} {
		code, body := h.get(t, "/api/v1/findings"+query)
		if code != 400 || !strings.Contains(body, msg) {
			t.Errorf("findings%s = %d %q, want 400 containing %q", query, code, strings.TrimSpace(body), msg)
		}
	}
	if code, _ := h.get(t, "/api/v1/report?x=1"); code != 400 {
		t.Errorf("/api/v1/report?x=1 = %d, want 400", code)
	}

	// /metrics: the daemon's own registry.
	code, body = h.get(t, "/metrics")
	for _, name := range []string{
		"patrol_sweep_duration_seconds_bucket", "patrol_sweeps_total", "patrol_last_successful_sweep_timestamp_seconds",
		"patrol_check_duration_seconds_bucket", "patrol_check_runs_total", "patrol_findings", "patrol_health_score",
		"patrol_config_last_reload_successful", "patrol_config_last_reload_success_timestamp_seconds", "patrol_leader",
		"patrol_build_info",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !strings.Contains(body, `patrol_findings{check="pod.crash_looping",cluster="test",severity="critical",state="firing"} 5`) {
		t.Errorf("patrol_findings:\n%s", grep(body, "patrol_findings"))
	}
	if strings.Contains(body, "indexer-0") {
		t.Error("an object name became a label value")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
