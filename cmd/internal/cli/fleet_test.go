package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/cmd/internal/app"
)

// fakeAPIServer answers the lists a sweep makes with one Ready node and
// nothing else: a small, healthy cluster.
func fakeAPIServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/version":
			fmt.Fprint(w, `{"major":"1","minor":"32","gitVersion":"v1.32.2"}`)
		case "/readyz", "/livez":
			fmt.Fprint(w, "[+]ping ok\nreadyz check passed")
		case "/api/v1/nodes":
			fmt.Fprint(w, `{"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"node-1","uid":"u1","creationTimestamp":"2026-01-01T00:00:00Z"},`+
				`"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":"2099-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}],`+
				`"nodeInfo":{"kubeletVersion":"v1.32.2"}}}]}`)
		default:
			fmt.Fprint(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fleetKubeconfig writes a kubeconfig with a reachable context ("good") and
// one whose server refuses connections ("down").
func fleetKubeconfig(t *testing.T, good string) string {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: good
clusters:
- name: good
  cluster: {server: %q}
- name: down
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: good
  context: {cluster: good, user: u}
- name: down
  context: {cluster: down, user: u}
`, good)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type fleetJSON struct {
	Schema   string   `json:"schema"`
	Score    *float64 `json:"score"`
	Grade    string   `json:"grade"`
	Worst    string   `json:"worst"`
	Complete bool     `json:"complete"`
	Summary  struct{ Clusters, OK, Unreachable, Failed int }
	Clusters []struct {
		Name   string   `json:"name"`
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Score  *float64 `json:"score"`
		Grade  string   `json:"grade"`
		Report *struct {
			Cluster string `json:"cluster"`
		} `json:"report"`
	} `json:"clusters"`
}

// TestFleetSweep: two contexts, one reachable and one not, swept into one
// report; the unreachable one is reported as such and does not fail the
// other; the fleet's grade is the reachable cluster's.
func TestFleetSweep(t *testing.T) {
	kc := fleetKubeconfig(t, fakeAPIServer(t).URL)
	for _, args := range [][]string{
		{"--context", "good", "--context", "down"},
		{"--all-contexts"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			argv := append([]string{"inspect", "--kubeconfig", kc, "-o", "json", "--request-timeout", "5s"}, args...)
			code, out, errs := run(t, argv...)
			if code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", code, errs)
			}
			var f fleetJSON
			if err := json.Unmarshal([]byte(out), &f); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if f.Schema != "kubepatrol.io/fleet/v1" || f.Summary.Clusters != 2 || f.Summary.OK != 1 || f.Summary.Unreachable != 1 {
				t.Fatalf("fleet %+v", f)
			}
			if f.Complete {
				t.Error("a fleet with an unreachable cluster is not complete")
			}
			byName := map[string]int{}
			for i, c := range f.Clusters {
				byName[c.Name] = i
			}
			good, down := f.Clusters[byName["good"]], f.Clusters[byName["down"]]
			if good.Status != "ok" || good.Grade != "A" || good.Report == nil || good.Report.Cluster != "good" {
				t.Errorf("good cluster %+v", good)
			}
			if down.Status != "unreachable" || down.Score != nil || down.Grade != "?" || !strings.Contains(down.Error, "refused") {
				t.Errorf("down cluster %+v", down)
			}
			if f.Grade != "A" || f.Worst != "good" {
				t.Errorf("fleet grade %s (worst %s), want A from the reachable cluster", f.Grade, f.Worst)
			}
		})
	}
	code, out, _ := run(t, "inspect", "--kubeconfig", kc, "--context", "good", "--context", "down", "--request-timeout", "5s")
	if code != 0 || !strings.Contains(out, "fleet of 2 clusters") || !strings.Contains(out, "unreachable") || !strings.Contains(out, "─── good") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "inspect", "--kubeconfig", kc, "--context", "good", "--context", "down", "--request-timeout", "5s", "-o", "markdown")
	if code != 0 || !strings.Contains(out, "# kubepatrol fleet report") || !strings.Contains(out, "## kubepatrol report: good") {
		t.Errorf("markdown: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "inspect", "--kubeconfig", kc, "--context", "good", "--context", "down", "--request-timeout", "5s", "-o", "junit")
	if code != 0 || !strings.Contains(out, `name="down"`) || !strings.Contains(out, `type="unreachable"`) {
		t.Errorf("junit: exit %d\n%s", code, out)
	}
}

func TestFleetFlags(t *testing.T) {
	kc := fleetKubeconfig(t, "http://127.0.0.1:1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--context", "good", "--context", "nope"}, `--context "nope": no such context`},
		{[]string{"--context", "good", "--context", "down", "--snapshot", td("incidents", "healthy.yaml")}, "cannot be combined"},
		{[]string{"--all-contexts", "--server", "http://x"}, "--server applies to one cluster"},
		{[]string{"--all-contexts", "-o", "html"}, "-o html renders one cluster"},
	} {
		code, _, errs := run(t, append([]string{"inspect", "--kubeconfig", kc, "--request-timeout", "2s"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	// One --context is an ordinary single-cluster inspection.
	code, out, errs := run(t, "inspect", "--kubeconfig", fleetKubeconfig(t, fakeAPIServer(t).URL), "--context", "good", "-o", "json")
	if code != 0 || !strings.Contains(out, `"schema": "kubepatrol.io/report/v1"`) || !strings.Contains(out, `"cluster": "good"`) {
		t.Errorf("single context: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestFleetProgress: on a terminal each cluster has one line, redrawn in
// place as it moves through its stages; elsewhere nothing is written.
func TestFleetProgress(t *testing.T) {
	var b strings.Builder
	targets := []app.FleetTarget{{Name: "prod-eu"}, {Name: "dr"}}
	p := newFleetProgress(&b, targets)
	if p.tty {
		t.Fatal("a strings.Builder is not a terminal")
	}
	p.start()
	p.update("prod-eu", app.StageCollecting, nil)
	p.finish()
	if b.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", b.String())
	}

	p = newFleetProgress(&b, targets)
	p.tty, p.width = true, 80
	p.start()
	p.update("prod-eu", app.StageCollecting, nil)
	p.update("dr", app.StageFailed, fmt.Errorf("Unreachable: dial tcp 10.0.0.1:6443: connect: connection refused"))
	p.update("prod-eu", app.StageChecking, nil)
	p.update("prod-eu", app.StageDone, nil)
	p.finish()
	out := b.String()
	for _, want := range []string{"prod-eu", "✓ prod-eu", "done", "✗ dr", "failed: Unreachable", "\x1b[2A", "\x1b[2K"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%q", want, out)
		}
	}
	last := out[strings.LastIndex(out, "\x1b[2A"):]
	if strings.Count(last, "\n") != 2 {
		t.Errorf("the final frame should have one line per cluster: %q", last)
	}
}
