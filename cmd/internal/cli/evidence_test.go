package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/cmd/internal/app"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// The test ledger's records. Two IDs share the prefix rec-06b7k2m0, so
// that prefix is ambiguous and one more character is not.
const (
	idPlanned  = "rec-06b7k2m0a1c3d4e5f6g7h8j9k0"
	idAwaiting = "rec-06b7k2m0b2n3p4q5r6s7t8v9w0"
	idRefused  = "rec-06b7k2n4z9y8x7w6v5t4s3r2q1"
	adminToken = "s3cret"
)

// testLedger creates a SQLite ledger in a temporary folder holding three
// records: a dry run, a decision waiting for approval and a refusal. The
// ledger's clock is set in 2099, so that the AGE column (measured by
// ledger.WriteTable against the wall clock) is always 0s and the table
// output is stable.
func testLedger(t *testing.T) (*ledger.Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	var mu sync.Mutex
	tick := time.Date(2099, 3, 2, 10, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(time.Minute)
		return tick
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Path: path, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	at := time.Date(2099, 3, 2, 9, 40, 40, 0, time.UTC)
	node := func(n string) checks.ObjectRef { return checks.ObjectRef{Kind: "Node", Name: n} }
	allowed := []ledger.Verdict{
		{Guard: "pause", Allowed: true, Reason: "not paused"},
		{Guard: "max_unhealthy", Allowed: true, Reason: "1 of 8 Nodes (12%) look unhealthy, within 30%"},
	}
	recs := []*ledger.Record{
		{
			ID: idPlanned, Cluster: "prod-eu-1", State: ledger.Planned, IncidentKey: "f1a2b3c4d5e6f708",
			Trigger: ledger.Trigger{Source: "alertmanager", Fingerprint: "f1a2b3c4d5e6f708", Alertname: "KubeNodeNotReady", Status: "firing",
				Severity: "warning", Labels: map[string]string{"alertname": "KubeNodeNotReady", "node": "worker-5"}, StartsAt: at},
			Target: node("worker-5"), Playbook: "node-not-ready", PlaybookVersion: "1", DryRun: true,
			Evidence: []checks.Evidence{{Type: "alert", Path: "alertname", Value: "KubeNodeNotReady", Time: &at}},
			Guards:   append(allowed, ledger.Verdict{Guard: "dry_run", Allowed: true, Reason: "dry run: the playbook is not enabled"}),
			Steps: []ledger.Step{
				{Name: "cordon_node", Action: "cordon", Target: node("worker-5"), Status: ledger.StepDryRun, Risk: "low",
					Message: "would cordon Node/worker-5 (spec.unschedulable: true)",
					Calls:   []ledger.Call{{Verb: "patch", Resource: "nodes", Name: "worker-5", DryRun: true, At: at.Add(time.Minute), Detail: "spec.unschedulable: false → true"}}},
				{Name: "drain_node", Action: "drain", Target: node("worker-5"), Status: ledger.StepSkipped, Risk: "high",
					Message: "step is switched off in the playbook (enabled: false)"},
			},
			Message: "would page oncall if node.not_ready still fires after 10m0s",
		},
		{
			ID: idAwaiting, Cluster: "prod-eu-1", State: ledger.AwaitingApproval, IncidentKey: "0a1b2c3d4e5f6071",
			Trigger: ledger.Trigger{Source: "alertmanager", Fingerprint: "0a1b2c3d4e5f6071", Alertname: "KubeNodeNotReady", Status: "firing",
				Severity: "warning", Labels: map[string]string{"alertname": "KubeNodeNotReady", "node": "worker-3"}, StartsAt: at},
			Target: node("worker-3"), Playbook: "cordon-workers", PlaybookVersion: "3", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			Guards: allowed,
			Steps: []ledger.Step{
				{Name: "cordon", Action: "cordon", Target: node("worker-3"), Status: ledger.StepDone, Risk: "low",
					Calls: []ledger.Call{{Verb: "patch", Resource: "nodes", Name: "worker-3", ResourceVersionBefore: "4711", ResourceVersionAfter: "4712",
						At: at.Add(2 * time.Minute), Detail: "spec.unschedulable: false → true"}}},
				{Name: "drain", Action: "drain", Target: node("worker-3"), Status: ledger.StepAwaitingApproval, Risk: "high",
					Params: map[string]string{"timeout": "15m"}, Message: "waits for approval (risk high): patrol approve " + idAwaiting},
			},
			Message: "step drain waits for approval",
		},
		{
			ID: idRefused, Cluster: "prod-eu-1", State: ledger.Refused, IncidentKey: "pod.stuck_terminating|Pod/shop/db-0",
			Trigger: ledger.Trigger{Source: "finding", Fingerprint: "pod.stuck_terminating|Pod/shop/db-0", Check: "pod.stuck_terminating",
				Status: "firing", Severity: "warning", Message: "pod is still terminating 29m past its deletion deadline"},
			Target: checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "db-0"}, Playbook: "pod-stuck-terminating", PlaybookVersion: "1",
			Guards: []ledger.Verdict{{Guard: "cooldown", Allowed: false, Reason: "pod-stuck-terminating ran on Pod/shop/db-0 12m0s ago; cooldown 30m0s"}},
			Steps: []ledger.Step{{Name: "force_delete_pod", Action: "delete_pod", Target: checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "db-0"},
				Status: ledger.StepSkipped, Risk: "low", Message: "refused by guard cooldown"}},
			Message: "refused by guard cooldown: pod-stuck-terminating ran on Pod/shop/db-0 12m0s ago; cooldown 30m0s",
		},
	}
	for _, r := range recs {
		if err := l.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return l, path
}

// testDaemon serves the real remediation engine's API over l, with the
// admin token; the engine is returned to look at its pause switch.
func testDaemon(t *testing.T, l *ledger.Ledger) (*httptest.Server, *remediation.Engine) {
	t.Helper()
	guards, err := app.DefaultGuards()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediation.New(remediation.Options{Cluster: "prod-eu-1", Ledger: l, Guards: guards,
		Snapshot: func(context.Context) *snapshot.Snapshot { return &snapshot.Snapshot{} }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	eng.Register(mux, remediation.HTTPOptions{AdminToken: adminToken, Markdown: ledger.WriteMarkdown})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, eng
}

// TestEvidenceListAndShow reads the ledger directly and through patrold's
// API: both give the same table (golden), filters select the right
// records, and show renders the post-mortem Markdown (golden) and JSON.
func TestEvidenceListAndShow(t *testing.T) {
	t.Setenv(envServer, "")
	t.Setenv(envLedger, "")
	l, path := testLedger(t)
	srv, _ := testDaemon(t, l)
	for _, src := range []struct {
		name string
		args []string
	}{
		{"ledger", []string{"--ledger", path}},
		{"sqlite: ledger", []string{"--ledger", "sqlite:" + path}},
		{"server", []string{"--server", srv.URL}},
	} {
		t.Run(src.name, func(t *testing.T) {
			list := func(args ...string) string {
				t.Helper()
				code, out, errs := run(t, append(append([]string{"evidence", "list"}, src.args...), args...)...)
				if code != 0 {
					t.Fatalf("list %v: exit %d\n%s", args, code, errs)
				}
				return out
			}
			golden(t, "evidence-list.table.golden", list())
			for _, tc := range []struct {
				args []string
				ids  []string
			}{
				{nil, []string{idRefused, idAwaiting, idPlanned}},
				{[]string{"--state", "awaiting_approval,refused"}, []string{idRefused, idAwaiting}},
				{[]string{"--playbook", "node-not-ready"}, []string{idPlanned}},
				{[]string{"--target", "node/worker-3"}, []string{idAwaiting}},
				{[]string{"--target", "Pod/shop/db-0"}, []string{idRefused}},
				{[]string{"--limit", "1"}, []string{idRefused}},
				{[]string{"--state", "succeeded"}, nil},
			} {
				var body struct {
					Schema  string
					Records []ledger.Record
				}
				if err := json.Unmarshal([]byte(list(append(tc.args, "-o", "json")...)), &body); err != nil || body.Schema != ledger.RecordSchema {
					t.Fatalf("%v: %v %q", tc.args, err, body.Schema)
				}
				var ids []string
				for _, r := range body.Records {
					ids = append(ids, r.ID)
				}
				if strings.Join(ids, " ") != strings.Join(tc.ids, " ") {
					t.Errorf("%v: records %v, want %v", tc.args, ids, tc.ids)
				}
			}
			code, out, errs := run(t, append([]string{"evidence", "list", "--state", "succeeded"}, src.args...)...)
			if code != 0 || out != "" || !strings.Contains(errs, "no records match") {
				t.Errorf("empty list: exit %d %q %q", code, out, errs)
			}

			show := func(id string, args ...string) (int, string, string) {
				return run(t, append(append([]string{"evidence", "show", id}, src.args...), args...)...)
			}
			code, out, errs = show("rec-06b7k2m0b")
			if code != 0 {
				t.Fatalf("show: exit %d\n%s", code, errs)
			}
			golden(t, "evidence-show.markdown.golden", out)
			code, out, _ = show(idRefused, "-o", "json")
			var r ledger.Record
			if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.ID != idRefused || r.State != ledger.Refused || r.Revision != 1 {
				t.Errorf("show -o json: exit %d %v %+v", code, err, r)
			}
			for _, tc := range []struct{ id, stderr string }{
				{"rec-zzzzzzzzzz", "no record rec-zzzzzzzzzz in "},
				{"rec-06b7k2m0", "ID prefix rec-06b7k2m0 is ambiguous"},
				{"rec-06", "(a shortened ID needs at least 8 characters)"},
			} {
				code, out, errs := show(tc.id)
				if code != ExitError_ || out != "" || !strings.Contains(errs, tc.stderr) {
					t.Errorf("show %s: exit %d, stderr %q, want %q", tc.id, code, errs, tc.stderr)
				}
			}
		})
	}
}

func TestEvidenceSourceErrors(t *testing.T) {
	t.Setenv(envServer, "")
	t.Setenv(envLedger, "")
	_, path := testLedger(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	noAPI := httptest.NewServer(http.NewServeMux())
	defer noAPI.Close()
	missing := filepath.Join(t.TempDir(), "nope.db")
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"both sources", []string{"evidence", "list", "--ledger", path, "--server", noAPI.URL}, "give --ledger or --server, not both"},
		{"a missing ledger is not created", []string{"evidence", "list", "--ledger", missing}, "nope.db: stat"},
		{"an unreachable daemon", []string{"evidence", "list", "--server", down.URL}, "cannot reach patrold at " + down.URL},
		{"a daemon without remediation", []string{"evidence", "show", idPlanned, "--server", noAPI.URL}, "has no remediation API"},
		{"a bad server URL", []string{"evidence", "list", "--server", "patrold:8080"}, "--server: want http(s)://host:port"},
		{"an unknown state", []string{"evidence", "list", "--ledger", path, "--state", "done"}, `unknown state "done"`},
		{"a bad target", []string{"evidence", "list", "--ledger", path, "--target", "worker-3"}, "--target: want Kind/name"},
		{"approve needs the daemon", []string{"approve", idAwaiting}, "approve needs the daemon: give --server"},
		{"pause needs the daemon", []string{"pause"}, "pause needs the daemon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != ExitError_ || out != "" || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errs, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("reading a missing ledger created it: %v", err)
	}

	// The environment names the defaults: PATROL_LEDGER, then PATROL_SERVER.
	t.Setenv(envLedger, path)
	if code, out, errs := run(t, "evidence", "list"); code != 0 || !strings.Contains(out, "rec-06b7k2n4") {
		t.Errorf("$%s: exit %d\n%s%s", envLedger, code, out, errs)
	}
	t.Setenv(envServer, down.URL)
	if code, _, errs := run(t, "evidence", "list"); code != ExitError_ || !strings.Contains(errs, "cannot reach patrold") {
		t.Errorf("$%s wins over $%s: exit %d %s", envServer, envLedger, code, errs)
	}
	if code, _, errs := run(t, "evidence", "list", "--ledger", path); code != 0 {
		t.Errorf("--ledger wins over $%s: exit %d %s", envServer, code, errs)
	}
}

// TestApproveAndPause drives the real engine's API: an approval is
// recorded with who gave it, a record with nothing waiting answers 409
// and names its state, a missing or wrong token is refused, and the pause
// switch flips the engine's guard.
func TestApproveAndPause(t *testing.T) {
	t.Setenv(envServer, "")
	t.Setenv(envToken, "")
	l, _ := testLedger(t)
	srv, eng := testDaemon(t, l)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no token", []string{"approve", idAwaiting, "--by", "alice"}, ExitError_, "", "401 Unauthorized): give its approval token with --token or $PATROL_TOKEN"},
		{"a wrong token", []string{"approve", idAwaiting, "--by", "alice", "--token", "guess"}, ExitError_, "", "401 Unauthorized"},
		{"nothing waits", []string{"approve", "rec-06b7k2m0a", "--by", "alice", "--token", adminToken}, ExitError_, "",
			"nothing waits for approval in " + idPlanned + " (state planned)"},
		{"an unknown record", []string{"approve", "rec-zzzzzzzzzz", "--by", "alice", "--token", adminToken}, ExitError_, "", "no record rec-zzzzzzzzzz in the ledger of patrold"},
		{"an ambiguous prefix", []string{"approve", "rec-06b7k2m0", "--by", "alice", "--token", adminToken}, ExitError_, "", "ID prefix rec-06b7k2m0 is ambiguous"},
		{"approved", []string{"approve", "rec-06b7k2m0b", "--by", "alice", "--token", adminToken}, 0,
			idAwaiting + ": step drain (drain) approved by alice; state awaiting_approval (patrold carries it out now)\n", ""},
		{"a second approval while the step still waits is recorded too", []string{"approve", idAwaiting, "--by", "bob", "--token", adminToken}, 0, "approved by bob", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append(tc.args, "--server", srv.URL)...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tc.code, out, tc.stdout, errs, tc.stderr)
			}
		})
	}
	rec, err := l.Get(context.Background(), idAwaiting)
	if err != nil {
		t.Fatal(err)
	}
	// The engine records the last approval given while the step waits.
	if s := rec.Steps[1]; s.ApprovedBy != "bob" || s.ApprovedAt == nil || rec.Revision < 2 {
		t.Errorf("approval not recorded: %+v (revision %d)", s, rec.Revision)
	}

	// --by defaults to $USER@hostname.
	t.Setenv("USER", "carol")
	host, _ := os.Hostname()
	t.Setenv(envToken, adminToken)
	if code, out, errs := run(t, "approve", idAwaiting, "--server", srv.URL); code != 0 || !strings.Contains(out, "approved by carol@"+host) {
		t.Errorf("default --by: exit %d %q %q", code, out, errs)
	}

	t.Setenv(envToken, "")
	if code, _, errs := run(t, "pause", "--server", srv.URL); code != ExitError_ || !strings.Contains(errs, "401") || eng.Guards().Paused() {
		t.Errorf("pause without a token: exit %d %q, paused %v", code, errs, eng.Guards().Paused())
	}
	code, out, errs := run(t, "pause", "--server", srv.URL, "--token", adminToken)
	if code != 0 || !strings.HasPrefix(out, "remediation paused: every action is refused") || !strings.Contains(out, "cluster: prod-eu-1") || !eng.Guards().Paused() {
		t.Errorf("pause: exit %d %q %q, paused %v", code, out, errs, eng.Guards().Paused())
	}
	t.Setenv(envServer, srv.URL)
	t.Setenv(envToken, adminToken)
	code, out, errs = run(t, "resume")
	if code != 0 || !strings.HasPrefix(out, "remediation running") || eng.Guards().Paused() {
		t.Errorf("resume: exit %d %q %q, paused %v", code, out, errs, eng.Guards().Paused())
	}
}
