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

	"github.com/google/go-cmp/cmp"
)

// remTD is the folder of the remediation commands' fixtures and goldens.
func remTD(p ...string) string { return td(append([]string{"cli", "remediation"}, p...)...) }

// golden compares got with testdata/cli/remediation/name (-update
// rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := remTD(name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, d)
	}
}

// TestRemediateGolden plans alerts and findings against a recorded
// cluster (testdata/cli/remediation/cluster.yaml: eight nodes, worker-5
// unreachable, cp-1 a control-plane node, shop/db-0 stuck terminating on a
// deleted node) with the shipped playbooks, a site playbook folder and a
// patrold config, and compares each plan with its golden file.
func TestRemediateGolden(t *testing.T) {
	snap := []string{"--snapshot", remTD("cluster.yaml"), "--at", "2026-03-02T10:00:00Z"}
	for _, tc := range []struct {
		name   string
		args   []string
		golden string
		// want are facts the golden must hold, so that a regenerated
		// golden cannot quietly lose them.
		want []string
	}{
		{"shipped node-not-ready cordons the one unreachable worker",
			[]string{"--alert", "KubeNodeNotReady", "--labels", "node=worker-5"}, "alert-node-not-ready.table.golden",
			[]string{"PLAYBOOK  node-not-ready@1", "TARGET    Node/worker-5", "DECISION  allowed", "max_unhealthy        allowed  1 of 8 Nodes",
				"would cordon Node/worker-5 (spec.unschedulable: true)", "skipped  step is switched off", "node.unreachable  firing"}},
		{"the same plan as JSON",
			[]string{"--alert", "KubeNodeNotReady", "--labels", "node=worker-5", "-o", "json"}, "alert-node-not-ready.json.golden",
			[]string{`"matched": true`, `"state": "planned"`, `"status": "dry_run"`}},
		{"the same plan as Markdown",
			[]string{"--alert", "KubeNodeNotReady", "--labels", "node=worker-5", "-o", "markdown"}, "alert-node-not-ready.markdown.golden",
			[]string{"| `max_unhealthy` | allowed |", "### 1. cordon_node: `cordon` on `Node/worker-5` (dry_run)"}},
		{"a control-plane node is protected",
			[]string{"--alert", "KubeNodeNotReady", "--labels", "node=cp-1"}, "alert-control-plane.table.golden",
			[]string{"DECISION  refused", "protected            REFUSED  node cp-1 carries node-role.kubernetes.io/control-plane", "skipped  refused by guard protected"}},
		{"a finding: force-delete the pod whose node is gone",
			[]string{"--check", "pod.stuck_terminating", "--object", "pod/shop/db-0"}, "finding-stuck-terminating.table.golden",
			[]string{"PLAYBOOK  pod-stuck-terminating@1", "TRIGGER   finding pod.stuck_terminating (warning)",
				"would delete Pod/shop/db-0 with grace period 0 (node worker-9 is gone)"}},
		{"the daemon config's guards and playbooks: a maintenance window refuses",
			[]string{"--config", remTD("patrold.yaml"), "--alert", "KubeNodeNotReady", "--labels", "node=worker-5,team=platform"}, "config-maintenance.table.golden",
			[]string{"PLAYBOOK  cordon-workers@3", "maintenance        REFUSED  maintenance window kernel-upgrade",
				"max_unhealthy      REFUSED  1 of 8 Nodes (12%) look unhealthy, more than 10%", "node.unreachable  firing  warning"}},
		{"--playbooks: an enabled playbook's high-risk step waits for approval",
			[]string{"--playbooks", remTD("playbooks"), "--check", "node.unreachable", "--object", "Node/worker-5"}, "playbooks-approval.table.golden",
			[]string{"PLAYBOOK  cordon-workers@3", "after approval (high risk)"}},
		{"no playbook matches",
			[]string{"--alert", "KubeFlying", "--labels", "node=worker-5"}, "no-match.table.golden",
			[]string{`no playbook matches alert KubeFlying {node="worker-5"}`}},
		{"no playbook matches, as JSON",
			[]string{"--alert", "KubeFlying", "--labels", "node=worker-5", "-o", "json"}, "no-match.json.golden",
			[]string{`"matched": false`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"remediate", "--dry-run"}, snap...), tc.args...)
			code, out, errs := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.HasSuffix(tc.golden, ".json.golden") {
				var v planOutput
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
				if v.Matched != (v.Plan != nil) || (v.Plan != nil && !v.Plan.DryRun) {
					t.Errorf("matched %v, plan %v", v.Matched, v.Plan)
				}
			}
			golden(t, tc.golden, out)
		})
	}
}

func TestRemediateErrors(t *testing.T) {
	snap := []string{"--snapshot", remTD("cluster.yaml"), "--at", "2026-03-02T10:00:00Z"}
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"without --dry-run it refuses to do anything", []string{"--alert", "KubeNodeNotReady", "--labels", "node=worker-5"},
			"remediate only plans, and needs --dry-run to say so: this command never acts"},
		{"nothing to plan", []string{"--dry-run"}, "say what to plan"},
		{"alert and finding at once", []string{"--dry-run", "--alert", "A", "--check", "node.unreachable", "--object", "Node/worker-5"}, "not both"},
		{"a check without its object", []string{"--dry-run", "--check", "node.unreachable"}, "needs both --check ID and --object"},
		{"labels without an alert name", []string{"--dry-run", "--labels", "node=worker-5"}, "--alert NAME is required"},
		{"a malformed object", []string{"--dry-run", "--check", "node.unreachable", "--object", "worker-5"}, "--object: want Kind/name or Kind/namespace/name"},
		{"a check that does not fire on the object", []string{"--dry-run", "--check", "node.unreachable", "--object", "Node/worker-1"},
			"check node.unreachable does not fire on Node/worker-1 in this snapshot (it fires on Node/worker-5)"},
		{"an unknown check", []string{"--dry-run", "--check", "node.flying", "--object", "Node/worker-1"}, `unknown check "node.flying"`},
		{"a bad format", []string{"--dry-run", "--alert", "A", "-o", "yaml"}, `unknown format "yaml"`},
		{"playbooks given as --config", []string{"--dry-run", "--alert", "A", "--config", remTD("playbooks", "cordon-workers.yaml")}, "holds playbooks: give them with --playbooks"},
		{"a bad playbook names file:line:col", []string{"--dry-run", "--alert", "A", "--playbooks", td("playbooks", "bad", "bad-values.yaml")},
			`bad-values.yaml:6:13: trigger.severity: unknown severity "page"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append(append([]string{"remediate"}, snap...), tc.args...)...)
			if code != ExitError_ {
				t.Errorf("exit %d, want %d\n%s", code, ExitError_, out)
			}
			if !strings.Contains(errs, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errs)
			}
			if out != "" {
				t.Errorf("a failed plan printed to stdout:\n%s", out)
			}
		})
	}
}

// TestRunbookProposal: with --labels, the runbook carries the remediation
// engine's dry-run plan for the alert, in Markdown and JSON.
func TestRunbookProposal(t *testing.T) {
	args := []string{"runbook", "KubeNodeUnreachable", "--labels", "node=worker-5", "--snapshot", remTD("cluster.yaml"), "--at", "2026-03-02T10:00:00Z"}
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	i := strings.Index(out, "## Remediation playbook")
	j := strings.Index(out, "\n---\n")
	if i < 0 || j < i {
		t.Fatalf("no playbook section:\n%s", out)
	}
	golden(t, "runbook-proposal.markdown.golden", out[i:j+1])

	code, out, errs = run(t, append(args, "-o", "json")...)
	var r struct {
		Playbook struct {
			Playbook, Status, Detail string
			DryRun                   bool
			Steps                    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s", code, err, errs)
	}
	p := r.Playbook
	if p.Playbook != "node-not-ready" || p.Status != "proposed" || !p.DryRun || len(p.Steps) != 2 ||
		p.Steps[0] != "would cordon Node/worker-5 (spec.unschedulable: true)" || !strings.Contains(p.Steps[1], "switched off") ||
		!strings.HasPrefix(p.Detail, "would page oncall") {
		t.Errorf("proposal %+v", p)
	}

	// The control-plane node: the guard's refusal is the detail.
	code, out, _ = run(t, "runbook", "KubeNodeNotReady", "--labels", "node=cp-1", "--snapshot", remTD("cluster.yaml"), "-o", "json")
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.Playbook.Status != "proposed" ||
		!strings.HasPrefix(r.Playbook.Detail, "refused by guard protected") || !strings.Contains(r.Playbook.Steps[0], "skipped cordon_node") {
		t.Errorf("refused proposal: exit %d %v %+v", code, err, r.Playbook)
	}

	// --playbooks replaces the shipped ones: none of them matches here.
	code, out, _ = run(t, append(args, "--playbooks", remTD("playbooks"))...)
	if code != 0 || !strings.Contains(out, "No proposal (none): no playbook matches alert KubeNodeUnreachable.") {
		t.Errorf("--playbooks: exit %d\n%s", code, out)
	}
}

// TestCheckConfigKinds: check-config tells inspection configs, patrold
// configs and playbooks (files and folders) apart, validates each with its
// own loader, and prints every error of the bad fixtures exactly as their
// .err files list them (file:line:col).
func TestCheckConfigKinds(t *testing.T) {
	good := []struct{ path, kind string }{
		{td("config", "good.yaml"), configInspection},
		{td("daemon", "good.yaml"), configDaemon},
		{td("daemon", "minimal.yaml"), configDaemon},
		{remTD("patrold.yaml"), configDaemon},
		{td("playbooks", "good", "full.yaml"), configPlaybook},
		{td("playbooks", "good", "multi.yml"), configPlaybook},
		{remTD("playbooks"), configPlaybook},
		{filepath.Join("..", "..", "..", "rules", "playbooks"), configPlaybook},
	}
	var args []string
	for _, g := range good {
		args = append(args, g.path)
	}
	code, out, errs := run(t, append([]string{"check-config"}, args...)...)
	if code != 0 {
		t.Fatalf("good files: exit %d\n%s", code, errs)
	}
	for _, g := range good {
		if w := g.path + ": ok (" + g.kind + ")"; !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}

	var bad []string
	for _, dir := range []string{"playbooks/bad", "daemon", "config"} {
		entries, err := os.ReadDir(td(filepath.FromSlash(dir)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			// An empty file is a valid inspection config (every default):
			// nothing in it says it was meant to be a playbook.
			if name == "empty.yaml" || (!e.IsDir() && !strings.HasSuffix(name, ".yaml")) || (!e.IsDir() && !strings.HasPrefix(name, "bad") && dir != "playbooks/bad") {
				continue
			}
			bad = append(bad, dir+"/"+name)
		}
	}
	if len(bad) < 25 {
		t.Fatalf("only %d bad fixtures found: %v", len(bad), bad)
	}
	for _, b := range bad {
		t.Run(b, func(t *testing.T) {
			dir, name := filepath.Split(filepath.FromSlash(b))
			errFile := strings.TrimSuffix(name, ".yaml") + ".err"
			want, err := os.ReadFile(td(dir, errFile))
			if err != nil {
				t.Fatal(err)
			}
			// Run where the fixture is, so that paths read as in the .err.
			t.Chdir(td(dir))
			code, out, errs := run(t, "check-config", name)
			if code != ExitError_ || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			got := strings.TrimSuffix(errs, "patrol: 1 of 1 config files are invalid\n")
			if d := cmp.Diff(strings.TrimSpace(string(want)), strings.TrimSpace(got)); d != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", errFile, d)
			}
		})
	}
}

func TestDetectConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"playbook.yaml", "apiVersion: kubepatrol.io/v1\nkind: Playbook\nname: x\n", configPlaybook},
		{"playbook-bad-kind.yaml", "apiVersion: kubepatrol.io/v2\nkind: Playbooks\n", configPlaybook},
		{"playbook-unparsable.yaml", "kind: Playbook\ntrigger: {checks: [a\n", configPlaybook},
		{"daemon.yaml", "# patrold\nremediation:\n  enabled: true\n", configDaemon},
		{"daemon-groups.yaml", "groups:\n  - name: all\n", configDaemon},
		{"daemon-unparsable.yaml", "listen: \":8080\"\ngroups: [\n", configDaemon},
		{"inspection.yaml", "checks:\n  node.not_ready: {enabled: false}\nsuppressions: []\n", configInspection},
		{"empty.yaml", "", configInspection},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := detectConfig(p); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if got, err := detectConfig(dir); err != nil || got != configPlaybook {
		t.Errorf("a folder: %q, %v", got, err)
	}
	if _, err := detectConfig(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Error("a missing file: no error")
	}
}

// TestRunbookFingerprint: --fingerprint takes the alert's name and labels
// from Alertmanager's API, and says clearly what is wrong otherwise.
func TestRunbookFingerprint(t *testing.T) {
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `[{"fingerprint":"0c05a85571e39ae8","labels":{"alertname":"KubeNodeUnreachable","node":"worker-5","severity":"warning"}}]`)
	}))
	defer am.Close()
	base := []string{"runbook", "--snapshot", remTD("cluster.yaml"), "--at", "2026-03-02T10:00:00Z", "--alertmanager-url", am.URL, "-o", "json"}
	code, out, errs := run(t, append(base, "--fingerprint", "0c05a85571e39ae8")...)
	var r struct {
		Alert    string
		Labels   map[string]string
		Playbook struct{ Playbook string }
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("exit %d %v\n%s", code, err, errs)
	}
	if r.Alert != "KubeNodeUnreachable" || r.Labels["node"] != "worker-5" || r.Playbook.Playbook != "node-not-ready" {
		t.Errorf("runbook %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fingerprint", "ffff"}, "no alert with fingerprint ffff"},
		{[]string{"KubePodCrashLooping", "--fingerprint", "0c05a85571e39ae8"}, "is KubeNodeUnreachable, not KubePodCrashLooping"},
		{[]string{"--fingerprint", "0c05a85571e39ae8", "--labels", "node=x"}, "give one"},
		{[]string{"--fingerprint", "x", "--alertmanager-url", am.URL + "/nothing"}, "404"},
	} {
		code, _, errs := run(t, append(base, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errs, tc.want)
		}
	}
}
