package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func td(p ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", "testdata"}, p...)...)
}

func TestInspectExitCodes(t *testing.T) {
	notReady := td("checks", "node", "not_ready.yaml")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"findings without --fail-on", []string{"inspect", "--snapshot", notReady}, 0, "CRITICAL  node.not_ready  Node/worker-1", ""},
		{"--fail-on critical", []string{"inspect", "--snapshot", notReady, "--fail-on", "critical", "-o", "json"}, ExitFindings, `"check": "node.not_ready"`, ""},
		{"--fail-on warning, filtered to warning checks that do not fire", []string{"inspect", "--snapshot", notReady, "--fail-on", "warning", "--check", "node.memory_pressure"}, 0, "no findings", ""},
		{"--skip the family", []string{"inspect", "--snapshot", notReady, "--skip", "node", "--fail-on", "info"}, 0, "", ""},
		{"unknown check selector", []string{"inspect", "--snapshot", notReady, "--check", "node.flying"}, ExitError_, "", `no check matches "node.flying"`},
		{"bad severity", []string{"inspect", "--snapshot", notReady, "--severity", "loud"}, ExitError_, "", `unknown severity "loud"`},
		{"bad format", []string{"inspect", "--snapshot", notReady, "-o", "pdf"}, ExitError_, "", `unknown format "pdf"`},
		{"bad config names file:line:col", []string{"inspect", "--snapshot", notReady, "--config", td("config", "bad-unknown-field.yaml")}, ExitError_, "", `bad-unknown-field.yaml:3:5: unknown field "parms"`},
		{"malformed recording names file:line:col", []string{"inspect", "--snapshot", td("file", "bad", "syntax.json")}, ExitError_, "", "syntax.json:4:3: invalid character"},
		{"missing recording", []string{"inspect", "--snapshot", td("nope.json")}, ExitError_, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, out)
			}
			if !strings.Contains(errs, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errs)
			}
		})
	}
}

func TestInspectJSONSchema(t *testing.T) {
	code, out, errs := run(t, "inspect", "--snapshot", td("checks", "node", "not_ready.yaml"), "-o", "json", "--at", "2026-03-02T10:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cluster", "collectedAt", "snapshotID", "score", "grade", "coverage", "findings", "summary"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON report lacks top-level %q", k)
		}
	}
	if r["collectedAt"] != "2026-03-02T10:00:00Z" {
		t.Errorf("--at not applied: %v", r["collectedAt"])
	}
}

func TestChecksListAndCheckConfig(t *testing.T) {
	code, out, _ := run(t, "checks", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"id": "node.not_ready"`) {
		t.Errorf("checks list -o json: %d %s", code, out)
	}
	code, out, _ = run(t, "check-config", td("config", "good.yaml"))
	if code != 0 || !strings.Contains(out, "good.yaml: ok") {
		t.Errorf("check-config good: %d %s", code, out)
	}
	code, _, errs := run(t, "check-config", td("config", "bad-catalog.yaml"))
	if code != ExitError_ || !strings.Contains(errs, `bad-catalog.yaml:2:3: unknown check "node.flying"`) {
		t.Errorf("check-config bad: %d %s", code, errs)
	}
}
