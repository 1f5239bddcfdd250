package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestMeta(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks() {
		m := c.Meta()
		if !checks.ValidID(m.ID) || !(strings.HasPrefix(m.ID, "controlplane.") || strings.HasPrefix(m.ID, "node.")) {
			t.Errorf("bad ID %q", m.ID)
		}
		if seen[m.ID] {
			t.Errorf("duplicate %s", m.ID)
		}
		seen[m.ID] = true
		if m.Title == "" || len(m.Description) < 100 || m.Remedy == "" || m.Severity.Rank() == 0 || m.Priority == 0 {
			t.Errorf("%s: incomplete metadata", m.ID)
		}
		if len(m.Requires) != 1 || !strings.HasPrefix(string(m.Requires[0]), "metrics/") {
			t.Errorf("%s: must require exactly its component's metric kind, got %v", m.ID, m.Requires)
		}
		if _, err := checks.ResolveParams(m, nil); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		for _, p := range m.Params {
			if p.Description == "" || !strings.Contains(m.Description+p.Description, "") {
				t.Errorf("%s: parameter %s undocumented", m.ID, p.Name)
			}
		}
		// Every check runs on an empty metrics section without panicking
		// and without findings.
		fs, r := run(t, c, snap("prometheus", nil, nil), nil)
		if r.Result != checks.ResultOK || len(fs) != 0 {
			t.Errorf("%s on no data: %s %v", m.ID, r.Result, fs)
		}
	}
	if len(seen) != 13 {
		t.Errorf("%d checks", len(seen))
	}
}

// TestCoverage: the runner reports unknown when the component's metrics
// could not be read, and skips the check when nobody collected them.
func TestCoverage(t *testing.T) {
	for _, c := range Checks() {
		k := c.Meta().Requires[0]
		s := snap("prometheus", nil, nil)
		s.Metrics.Sources = nil
		s.AddMetrics(nil, []snapshot.Coverage{{Kind: k, Reason: snapshot.Unreachable, Message: "dial tcp 10.0.0.1:9090: connect: connection refused"}})
		fs, r := run(t, c, s, nil)
		if r.Result != checks.ResultUnknown || len(fs) != 1 || fs[0].Status != checks.Unknown {
			t.Errorf("%s unreachable: %s %v", c.Meta().ID, r.Result, fs)
		}
		s = &snapshot.Snapshot{Cluster: "test", CollectedAt: now}
		s.CompleteMetricCoverage()
		if _, r := run(t, c, s, nil); r.Result != checks.ResultSkipped {
			t.Errorf("%s without metrics: %s", c.Meta().ID, r.Result)
		}
	}
}

// TestFailedSignal: a component was read but the query a check needs
// failed: the check says so instead of passing.
func TestFailedSignal(t *testing.T) {
	s := snap("prometheus", nil, nil)
	for i := range s.Metrics.Sources {
		if s.Metrics.Sources[i].Kind == snapshot.KindMetricsAPIServer {
			s.Metrics.Sources[i].Errors = map[string]string{"apiserver_request_total": "HTTP 422: execution: query processing would load too many samples"}
		}
	}
	fs, _ := run(t, APIServerErrors, s, nil)
	if len(fs) != 1 || fs[0].Status != checks.Unknown || fs[0].Reason != "DataUnavailable" || !strings.Contains(fs[0].Message, "apiserver_request_total") {
		t.Fatalf("findings: %+v", fs)
	}
}

// TestRecordedHealthy runs every metric check over snapshots recorded from
// the healthy local control plane (testdata/metrics/snapshots: one from
// two scrapes five seconds apart, one from a Prometheus that had scraped
// it for 15 minutes): no control-plane finding may fire. The host running
// node_exporter there is not a cluster node and has no NTP daemon, so the
// only finding is its unsynchronised clock, on a Host object.
func TestRecordedHealthy(t *testing.T) {
	for _, name := range []string{"local-scrape.json", "local-prometheus.json"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "..", "testdata", "metrics", "snapshots", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := snapshot.Read(f)
			if err != nil {
				t.Fatal(err)
			}
			res := (&checks.Runner{Checks: Checks()}).Run(context.Background(), s)
			for _, r := range res.Runs {
				switch {
				case r.Result == checks.ResultError || r.Result == checks.ResultUnknown:
					t.Errorf("%s: %s %s", r.Check, r.Result, r.Detail)
				case strings.HasPrefix(r.Check, "node.") && name == "local-scrape.json" && r.Result != checks.ResultSkipped:
					t.Errorf("%s: %s without node metrics", r.Check, r.Result)
				}
			}
			for _, f := range res.Findings {
				if f.Object.Kind == "Host" && f.Reason == "NodeClockNotSynchronising" {
					t.Logf("expected: %s %s: %s", f.Check, f.Object, f.Message)
					continue
				}
				t.Errorf("unexpected: %s %s %s: %s", f.Check, f.Object, f.Reason, f.Message)
			}
			if s.CollectedAt.IsZero() || time.Since(s.CollectedAt) < 0 {
				t.Errorf("collectedAt %s", s.CollectedAt)
			}
		})
	}
}
