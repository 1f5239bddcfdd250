package rules

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The Prometheus rules in prometheus/ are tested artefacts: promtool checks
// and unit-tests them, and these tests hold every alert to the project's
// conventions (severity, annotations, a runbook that exists, a firing and a
// quiet test case). PromQL of rules and dashboards is also checked against
// the metrics the project exports, in dashboards/promql_test.go.

const runbookBase = "https://github.com/kubepatrol/patrol/blob/main/rules/runbooks/"

// promtool returns the path of promtool. Without it the test is skipped,
// unless KUBEPATROL_REQUIRE_PROMTOOL is set (CI sets it), which makes the
// absence a failure.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("KUBEPATROL_REQUIRE_PROMTOOL") != "" {
		t.Fatalf("promtool not found and KUBEPATROL_REQUIRE_PROMTOOL is set: install Debian's prometheus package (make deps): %v", err)
	}
	t.Skip("promtool not found: install Debian's prometheus package (make deps) to check the Prometheus rules; " +
		"set KUBEPATROL_REQUIRE_PROMTOOL=1 to make this a failure")
	return ""
}

// ruleFiles lists prometheus/*.yaml without the promtool test files.
func ruleFiles(t *testing.T) (rules, tests []string) {
	t.Helper()
	all, err := filepath.Glob(filepath.Join("prometheus", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if strings.HasSuffix(f, "_test.yaml") {
			tests = append(tests, f)
		} else {
			rules = append(rules, f)
		}
	}
	if len(rules) == 0 || len(tests) == 0 {
		t.Fatalf("want rule files and promtool test files in prometheus/, got rules %v tests %v", rules, tests)
	}
	return rules, tests
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	bin := promtool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	t.Logf("promtool %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))
}

func TestPromtoolCheckRules(t *testing.T) {
	rules, _ := ruleFiles(t)
	runPromtool(t, append([]string{"check", "rules"}, rules...)...)
}

func TestPromtoolTestRules(t *testing.T) {
	_, tests := ruleFiles(t)
	// promtool resolves rule_files relative to the test file.
	runPromtool(t, append([]string{"test", "rules"}, tests...)...)
}

// promRuleFile is the part of a Prometheus rule file these tests read.
type promRuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promTestFile is the part of a promtool test file these tests read.
type promTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr       string `yaml:"expr"`
			ExpSamples []any  `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func decodeYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// alertsAndRecords reads every alert and recording rule of prometheus/.
func alertsAndRecords(t *testing.T) (alerts map[string]map[string]map[string]string, records []string) {
	t.Helper()
	files, _ := ruleFiles(t)
	alerts = map[string]map[string]map[string]string{}
	for _, f := range files {
		var rf promRuleFile
		decodeYAML(t, f, &rf)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				switch {
				case r.Alert != "":
					if _, dup := alerts[r.Alert]; dup {
						t.Errorf("%s: alert %s defined twice", f, r.Alert)
					}
					alerts[r.Alert] = map[string]map[string]string{"labels": r.Labels, "annotations": r.Annotations}
				case r.Record != "":
					records = append(records, r.Record)
				}
			}
		}
	}
	return alerts, records
}

// TestAlertConventions: every alert is named Patrol*, has a severity the
// project uses, a summary, a description and a runbook_url that points at
// rules/runbooks/<AlertName>.md, which exists and has the four sections.
// Every Patrol*.md runbook belongs to an alert.
func TestAlertConventions(t *testing.T) {
	alerts, _ := alertsAndRecords(t)
	for _, want := range []string{
		"PatrolDaemonDown", "PatrolSweepsFailing", "PatrolSweepsStale", "PatrolHealthScoreDropping",
		"PatrolCriticalFindingsFiring", "PatrolCheckErrors", "PatrolConfigReloadFailed", "PatrolNoLeader",
	} {
		if _, ok := alerts[want]; !ok {
			t.Errorf("alert %s is missing", want)
		}
	}
	for name, a := range alerts {
		if !strings.HasPrefix(name, "Patrol") {
			t.Errorf("alert %s: kubepatrol's alerts are named Patrol*", name)
		}
		if s := a["labels"]["severity"]; !slices.Contains([]string{"info", "warning", "critical"}, s) {
			t.Errorf("alert %s: severity label %q, want info, warning or critical", name, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a["annotations"][k]) == "" {
				t.Errorf("alert %s: annotation %s is missing", name, k)
			}
		}
		if got, want := a["annotations"]["runbook_url"], runbookBase+name+".md"; got != want {
			t.Errorf("alert %s: runbook_url %q, want %q", name, got, want)
		}
		body, err := os.ReadFile(filepath.Join("runbooks", name+".md"))
		if err != nil {
			t.Errorf("alert %s: runbook: %v", name, err)
			continue
		}
		if !bytes.HasPrefix(body, []byte("# "+name+"\n")) {
			t.Errorf("runbooks/%s.md: want the title %q on the first line", name, "# "+name)
		}
		for _, h := range []string{"## Meaning", "## Impact", "## Diagnosis", "## Mitigation"} {
			if !bytes.Contains(body, []byte("\n"+h+"\n")) {
				t.Errorf("runbooks/%s.md: section %q is missing", name, h)
			}
		}
	}
	books, err := filepath.Glob(filepath.Join("runbooks", "Patrol*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books {
		name := strings.TrimSuffix(filepath.Base(b), ".md")
		if _, ok := alerts[name]; !ok {
			t.Errorf("%s: no alert %s in prometheus/: remove the runbook or add the alert", b, name)
		}
	}
}

// TestRulesAreUnitTested: every alert has a promtool case where it fires
// and one where it must not; every recording rule's value is checked.
func TestRulesAreUnitTested(t *testing.T) {
	alerts, records := alertsAndRecords(t)
	_, tests := ruleFiles(t)
	firing, quiet := map[string]bool{}, map[string]bool{}
	var exprs []string
	for _, f := range tests {
		var tf promTestFile
		decodeYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
			for _, e := range tc.PromQLExprTest {
				if len(e.ExpSamples) > 0 {
					exprs = append(exprs, e.Expr)
				}
			}
		}
	}
	for name := range alerts {
		if !firing[name] {
			t.Errorf("alert %s: no promtool test case where it fires", name)
		}
		if !quiet[name] {
			t.Errorf("alert %s: no promtool test case where it must stay quiet (exp_alerts: [])", name)
		}
	}
	for _, r := range records {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, r) }) {
			t.Errorf("recording rule %s: no promql_expr_test checks its value", r)
		}
	}
}
