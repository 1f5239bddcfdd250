package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/rules"
)

// mixinAlerts are the kubernetes-mixin alerts kubepatrol ships runbooks for.
var mixinAlerts = []string{
	"KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentGenerationMismatch", "KubeDeploymentReplicasMismatch",
	"KubeDeploymentRolloutStuck", "KubeStatefulSetReplicasMismatch", "KubeStatefulSetGenerationMismatch",
	"KubeStatefulSetUpdateNotRolledOut", "KubeDaemonSetRolloutStuck", "KubeContainerWaiting", "KubeDaemonSetNotScheduled",
	"KubeDaemonSetMisScheduled", "KubeJobNotCompleted", "KubeJobFailed", "KubeHpaReplicasMismatch", "KubeHpaMaxedOut",
	"KubePdbNotEnoughHealthyPods", "KubeCPUOvercommit", "KubeMemoryOvercommit", "KubeCPUQuotaOvercommit",
	"KubeMemoryQuotaOvercommit", "KubeQuotaAlmostFull", "KubeQuotaFullyUsed", "KubeQuotaExceeded", "CPUThrottlingHigh",
	"KubePersistentVolumeFillingUp", "KubePersistentVolumeInodesFillingUp", "KubePersistentVolumeErrors",
	"KubeVersionMismatch", "KubeClientErrors", "KubeAPIErrorBudgetBurn", "KubeAggregatedAPIErrors",
	"KubeAggregatedAPIDown", "KubeAPIDown", "KubeAPITerminatedRequests", "KubeClientCertificateExpiration",
	"KubeControllerManagerDown", "KubeNodeNotReady", "KubeNodePressure", "KubeNodeUnreachable", "KubeletTooManyPods",
	"KubeNodeReadinessFlapping", "KubeNodeEviction", "KubeletPlegDurationHigh", "KubeletPodStartUpLatencyHigh",
	"KubeletClientCertificateExpiration", "KubeletServerCertificateExpiration", "KubeletClientCertificateRenewalErrors",
	"KubeletServerCertificateRenewalErrors", "KubeletDown", "KubeSchedulerDown", "KubeProxyDown",
}

var objects = []string{"pod", "deployment", "statefulset", "daemonset", "job", "cronjob", "hpa", "pvc", "pv", "pdb",
	"node", "quota", "namespace", "apiservice", "cluster"}

// TestMixinRunbooks: every mixin alert has a runbook with the four sections,
// a severity the project uses, an object kind, a summary, and checks that
// exist in the catalogue; its commands use only placeholders the labels
// can fill.
func TestMixinRunbooks(t *testing.T) {
	known := catalog.ByID()
	for _, alert := range mixinAlerts {
		t.Run(alert, func(t *testing.T) {
			rb, err := rules.LookupRunbook(alert)
			if err != nil {
				t.Fatal(err)
			}
			if rb.Alert != alert || rb.File != "rules/runbooks/"+alert+".md" {
				t.Errorf("alert %q file %q", rb.Alert, rb.File)
			}
			for _, s := range rules.RunbookSections {
				if len(strings.TrimSpace(rb.Sections[s])) < 40 {
					t.Errorf("section %s is missing or too short", s)
				}
			}
			if !slices.Contains([]string{"info", "warning", "critical"}, rb.Severity) {
				t.Errorf("severity %q", rb.Severity)
			}
			if !slices.Contains(objects, rb.Object) {
				t.Errorf("object %q, want one of %v", rb.Object, objects)
			}
			if rb.Summary == "" {
				t.Error("no summary")
			}
			for _, c := range rb.Checks {
				if _, ok := known[c]; !ok {
					t.Errorf("names check %s, which does not exist", c)
				}
			}
			if len(rb.Commands("Diagnosis")) == 0 {
				t.Error("Diagnosis has no ```sh commands")
			}
			for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z_]+)\}?`).FindAllStringSubmatch(rb.Body, -1) {
				if !slices.Contains(rb.Placeholders(), m[1]) {
					t.Errorf("placeholder $%s is not one the alert labels can fill", m[1])
				}
			}
		})
	}
	all, err := rules.Runbooks()
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range all {
		if !strings.HasPrefix(rb.Alert, "Patrol") && !slices.Contains(mixinAlerts, rb.Alert) {
			t.Errorf("runbook %s is for no known alert", rb.Alert)
		}
	}
}

func TestFillRunbook(t *testing.T) {
	rb, err := rules.LookupRunbook("kubepodcrashlooping")
	if err != nil {
		t.Fatal(err)
	}
	vars := rules.RunbookVars(map[string]string{"namespace": "shop", "pod": "api-7d9c-1", "container": "app", "severity": "warning"})
	cmds := rb.Commands("Diagnosis")
	var filled []string
	for _, c := range cmds {
		filled = append(filled, rules.Fill(c, vars))
	}
	joined := strings.Join(filled, "\n")
	for _, want := range []string{"patrol diagnose pod/api-7d9c-1 -n shop", "kubectl -n shop logs api-7d9c-1 -c app --previous"} {
		if !strings.Contains(joined, want) {
			t.Errorf("filled commands lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "$POD") || strings.Contains(joined, "$NAMESPACE") {
		t.Errorf("placeholders left:\n%s", joined)
	}
	if got := rules.Fill("kubectl get node $NODE", vars); got != "kubectl get node $NODE" {
		t.Errorf("unknown placeholder changed: %q", got)
	}
}

func TestLookupRunbookUnknown(t *testing.T) {
	if _, err := rules.LookupRunbook("KubePod"); err == nil || !strings.Contains(err.Error(), "KubePodCrashLooping") {
		t.Errorf("want a suggestion, got %v", err)
	}
}

func TestParseRunbookErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"X.md", "---\nalert: X\nbogus: 1\n---\n# X\n", `unknown field "bogus"`},
		{"X.md", "---\nalert: Y\n---\n# Y\n", `names alert "Y"`},
		{"X.md", "# X\n\n## Meaning\n\ntext\n", "sections missing or empty: Impact, Diagnosis, Mitigation"},
		{"X.md", "---\nalert: X\n", "not closed"},
	} {
		_, err := rules.ParseRunbook("rules/runbooks/"+tc.name, []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestRunbooksDocInSync: docs/runbooks.md lists every mixin runbook with its
// object and checks as the front matter says.
func TestRunbooksDocInSync(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, alert := range mixinAlerts {
		rb, err := rules.LookupRunbook(alert)
		if err != nil {
			t.Fatal(err)
		}
		checks := strings.Join(rb.Checks, ", ")
		if checks == "" {
			checks = "—"
		}
		row := fmt.Sprintf("| %s | %s | %s |", rb.Alert, rb.Object, checks)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/runbooks.md lacks the row %q", row)
		}
	}
}
