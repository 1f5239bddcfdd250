package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/file"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var updateDiagnose = flag.Bool("update", false, "rewrite the diagnosis golden files")

var at = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func incidentFixture(t *testing.T, name string) *snapshot.Snapshot {
	t.Helper()
	s, err := file.Load(filepath.Join("..", "..", "..", "testdata", "incidents", name+".yaml"), file.Options{At: at, Cluster: name})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func defaultSettings() Settings { return Settings{Checks: catalog.All()} }

// TestDiagnoseGolden diagnoses objects of the multi-fault fixtures and pins
// the table and JSON forms.
func TestDiagnoseGolden(t *testing.T) {
	for _, tc := range []struct{ fixture, target, ns string }{
		{"configmap-missing", "deployment/cart", "shop"},
		{"node-down", "node/worker-4", ""},
		{"node-down", "pod/debug-tools", "default"},
		{"webhook-outage", "deploy/web", "shop"},
		{"webhook-outage", "svc/policy-guard", "policy-system"},
		{"storageclass-missing", "pvc/data-kafka-0", "streaming"},
		{"quota-exhausted", "hpa/worker", "team-a"},
		{"healthy", "deployment/web", "shop"},
	} {
		name := tc.fixture + "_" + strings.ReplaceAll(tc.target, "/", "_")
		t.Run(name, func(t *testing.T) {
			target, err := analysis.ParseTarget(tc.target, tc.ns)
			if err != nil {
				t.Fatal(err)
			}
			res, err := DiagnoseSnapshot(context.Background(), incidentFixture(t, tc.fixture), target, DiagnoseOptions{Settings: defaultSettings(), Now: at})
			if err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{"table", "json"} {
				var b bytes.Buffer
				if err := report.RenderDiagnosis(&b, format, res.Diagnosis, report.Options{Width: 80}); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"table": "txt", "json": "json"}[format]
				golden(t, filepath.Join("..", "..", "..", "testdata", "incidents", "diagnose", name+"."+ext), b.Bytes())
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateDiagnose {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/internal/app -run TestDiagnoseGolden -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

// fakeLogs serves logs from a map keyed "pod/container/previous".
type fakeLogs struct {
	logs  map[string][]string
	calls []string
}

func (f *fakeLogs) Logs(_ context.Context, ns, pod, container string, previous bool, tail, limit int64) ([]string, bool, error) {
	key := fmt.Sprintf("%s/%s/%v", pod, container, previous)
	f.calls = append(f.calls, fmt.Sprintf("%s/%s tail=%d limit=%d", key, ns, tail, limit))
	lines, ok := f.logs[key]
	if !ok {
		return nil, false, errors.New(`the server could not find the requested resource (get pods ` + pod + `)`)
	}
	return lines, false, nil
}

// TestDiagnoseLogs: on a live source the diagnosis reads the current and
// previous runs of a crash-looping pod's containers, within the bounds,
// mines them into templates and masks secrets; an unreadable log is
// reported, not fatal.
func TestDiagnoseLogs(t *testing.T) {
	s := incidentFixture(t, "node-down")
	s.Source = snapshot.SourceLive
	var prev []string
	for i := 0; i < 30; i++ {
		prev = append(prev, fmt.Sprintf("2026-03-02T09:55:%02dZ INFO loading template %d of 30", i, i))
	}
	prev = append(prev, "2026-03-02T09:55:31Z ERROR connect db: password=hunter2 dial tcp 10.0.0.5:5432: connection refused",
		"2026-03-02T09:55:32Z ERROR connect db: password=hunter2 dial tcp 10.0.0.6:5432: connection refused",
		"panic: open /etc/reports/templates: no such file or directory")
	fl := &fakeLogs{logs: map[string][]string{}}
	for _, p := range s.Pods {
		if strings.HasPrefix(p.Name, "report-gen-") {
			fl.logs[p.Name+"/report-gen/true"] = prev
			fl.logs[p.Name+"/report-gen/false"] = []string{"starting report-gen 2.0.1"}
		}
	}
	target, _ := analysis.ParseTarget("deployment/report-gen", "reports")
	res, err := DiagnoseSnapshot(context.Background(), s, target, DiagnoseOptions{Settings: defaultSettings(), Now: at, Logs: true,
		LogSource: fl, TailLines: 50, LimitBytes: 4096, MaxPods: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Diagnosis
	if len(fl.calls) != 2 {
		t.Errorf("want the current and previous run of one pod (--max-pods 1), got %v", fl.calls)
	}
	for _, c := range fl.calls {
		if !strings.Contains(c, "tail=50 limit=4096") {
			t.Errorf("log read %s ignores the bounds", c)
		}
	}
	var prevSum *analysis.LogSummary
	for i := range d.Logs {
		if d.Logs[i].Previous {
			prevSum = &d.Logs[i]
		}
	}
	if prevSum == nil {
		t.Fatalf("no previous-run logs in %+v", d.Logs)
	}
	s0 := prevSum.Summary
	if s0.Errors != 3 || s0.Top[0].Count != 2 || !strings.Contains(s0.Top[0].Pattern, "dial tcp <*>: connection refused") {
		t.Errorf("previous run summary %+v", s0)
	}
	var b bytes.Buffer
	if err := report.RenderDiagnosis(&b, "json", d, report.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := report.RenderDiagnosis(&b, "table", d, report.Options{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hunter2") {
		t.Error("a secret from the logs reached the output")
	}
	if !strings.Contains(b.String(), "last error: panic: open /etc/reports/templates") {
		t.Errorf("the crash's last error is missing:\n%s", b.String())
	}

	// A pod whose logs the server cannot give (kwok has no kubelet): the
	// error is shown, the diagnosis stands.
	target, _ = analysis.ParseTarget("deployment/api", "shop")
	res, err = DiagnoseSnapshot(context.Background(), s, target, DiagnoseOptions{Settings: defaultSettings(), Now: at, Logs: true, LogSource: &fakeLogs{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Diagnosis.Logs) == 0 || res.Diagnosis.Logs[0].Error == "" {
		t.Errorf("want log errors reported, got %+v", res.Diagnosis.Logs)
	}
}

func TestDiagnoseNotFound(t *testing.T) {
	target, _ := analysis.ParseTarget("deployment/nope", "shop")
	_, err := DiagnoseSnapshot(context.Background(), incidentFixture(t, "healthy"), target, DiagnoseOptions{Settings: defaultSettings(), Now: at})
	if err == nil || !strings.Contains(err.Error(), "Deployment/shop/nope not found") {
		t.Errorf("err %v", err)
	}
	if _, err := analysis.ParseTarget("widget/x", ""); err == nil || !strings.Contains(err.Error(), `cannot diagnose kind "widget"`) {
		t.Errorf("err %v", err)
	}
	if _, err := analysis.ParseTarget("pod", ""); err == nil {
		t.Error("KIND without NAME accepted")
	}
}

func TestRunbookWithLabels(t *testing.T) {
	path := filepath.Join("..", "..", "..", "testdata", "incidents", "configmap-missing.yaml")
	r, err := Runbook(context.Background(), RunbookOptions{Alert: "KubeDeploymentReplicasMismatch",
		Labels:   map[string]string{"namespace": "shop", "deployment": "checkout"},
		Diagnose: DiagnoseOptions{Source: Source{Path: path, At: at}, Settings: defaultSettings(), Now: at}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Object == nil || r.Object.String() != "Deployment/shop/checkout" {
		t.Fatalf("object %v", r.Object)
	}
	results := map[string]string{}
	for _, c := range r.Checks {
		results[c.Check] = c.Result
	}
	if results["deployment.replicas_unavailable"] != "firing" {
		t.Errorf("deployment.replicas_unavailable %q, want firing (%v)", results["deployment.replicas_unavailable"], results)
	}
	if results["pod.unschedulable"] != "ok" {
		t.Errorf("pod.unschedulable %q, want ok", results["pod.unschedulable"])
	}
	if r.Diagnosis == nil || r.Diagnosis.Incident == nil || r.Diagnosis.Incident.RootCause.Object.String() != "ConfigMap/shop/shop-config" {
		t.Errorf("diagnosis did not find the missing ConfigMap: %+v", r.Diagnosis)
	}
	if !strings.Contains(r.Runbook, "kubectl -n shop get deployment checkout -o wide") || strings.Contains(r.Runbook, "$DEPLOYMENT") {
		t.Errorf("runbook not filled:\n%s", r.Runbook)
	}
	if r.Vars["POD"] == "" {
		t.Error("POD not filled from the diagnosis")
	}
	if r.Playbook == nil || r.Playbook.Status != "unavailable" {
		t.Errorf("playbook %+v", r.Playbook)
	}
}
