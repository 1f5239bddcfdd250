package report_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// update rewrites the golden files. Another test file of this package may
// define the same flag; it is then shared rather than defined twice.
var _ = func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return true
}()

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var at = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func ts(d time.Duration) *time.Time { t := at.Add(-d); return &t }

func meta(ns, name string) snapshot.Meta {
	return snapshot.Meta{Namespace: ns, Name: name, UID: "uid-" + name, CreationTimestamp: at.Add(-72 * time.Hour)}
}

// sampleSnapshot is a small cluster: three nodes, four namespaces, a dozen
// pods, one PersistentVolume list denied by RBAC and Leases absent from
// the recording.
func sampleSnapshot() *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		Schema: snapshot.SchemaVersion, ID: "20240501T100000Z-3f9a1c", Cluster: "prod-eu-1",
		Source: snapshot.SourceLive, Version: "v1.32.2", CollectedAt: at,
		Coverage: []snapshot.Coverage{
			{Kind: snapshot.KindPV, Reason: snapshot.Forbidden, Message: `persistentvolumes is forbidden: User "system:serviceaccount:patrol:patrol" cannot list resource "persistentvolumes" in API group "" at the cluster scope`},
			{Kind: snapshot.KindLease, Reason: snapshot.NotCollected},
		},
	}
	for _, ns := range []string{"default", "payments", "kube-system", "monitoring"} {
		s.Namespaces = append(s.Namespaces, snapshot.Namespace{Meta: meta("", ns)})
	}
	for _, n := range []string{"worker-1", "worker-2", "worker-3"} {
		s.Nodes = append(s.Nodes, snapshot.Node{Meta: meta("", n)})
	}
	pods := []struct{ ns, name, node string }{
		{"payments", "api-7f9c6d5b8-x2kqz", "worker-2"},
		{"payments", "api-7f9c6d5b8-m4h7t", "worker-1"},
		{"payments", "worker-5d8f7-abcde", "worker-1"},
		{"default", "db-0", ""},
		{"default", "web-6c9b-7xkq2", "worker-1"},
		{"kube-system", "coredns-76f75df574-2xw8p", "worker-1"},
		{"kube-system", "coredns-76f75df574-9kfzc", "worker-2"},
		{"kube-system", "kube-proxy-4hq2x", "worker-3"},
		{"monitoring", "prometheus-0", "worker-2"},
		{"monitoring", "node-exporter-8kq2d", "worker-3"},
	}
	for _, p := range pods {
		s.Pods = append(s.Pods, snapshot.Pod{Meta: meta(p.ns, p.name), NodeName: p.node, Phase: "Running"})
	}
	for _, d := range [][2]string{{"payments", "api"}, {"payments", "worker"}, {"default", "web"}, {"kube-system", "coredns"}} {
		s.Deployments = append(s.Deployments, snapshot.Deployment{Meta: meta(d[0], d[1])})
	}
	s.PVCs = append(s.PVCs, snapshot.PVC{Meta: meta("default", "data-db-0")})
	s.WebhookConfigs = append(s.WebhookConfigs, snapshot.WebhookConfiguration{Meta: meta("", "policy-guard"), Kind: snapshot.KindValidatingWebhook})
	return s
}

// sampleResult has findings of every severity, a primary/secondary pair,
// a cluster-wide finding, an unknown finding and a message carrying markup.
func sampleResult() checks.Result {
	pod := checks.ObjectRef{Kind: "Pod", Namespace: "payments", Name: "api-7f9c6d5b8-x2kqz", UID: "uid-api-7f9c6d5b8-x2kqz"}
	fs := []checks.Finding{
		{
			Check: "pod.crash_looping", Severity: checks.Critical, Status: checks.Firing, Object: pod,
			Reason: "CrashLoopBackOff", Node: "worker-2", Since: ts(3*time.Hour + 12*time.Minute),
			Message:   `container "api" is in CrashLoopBackOff: restarted 37 times, last exit code 1 (Error)`,
			PrimaryOf: []string{"pod.not_ready"},
			Evidence: []checks.Evidence{
				{Type: checks.EvField, Path: "status.containerStatuses[api].restartCount", Value: "37"},
				{Type: checks.EvField, Path: "status.containerStatuses[api].lastState.terminated", Value: "Error (exit code 1)",
					Message: `panic: template: <script>alert(1)</script> unexpected "}" in operand`, Time: ts(2 * time.Minute)},
				{Type: checks.EvEvent, Path: "events[BackOff]", Value: "BackOff ×412", Source: "kubelet, worker-2",
					Message: "Back-off restarting failed container api in pod api-7f9c6d5b8-x2kqz_payments", Time: ts(40 * time.Second)},
			},
		},
		{
			Check: "pod.not_ready", Severity: checks.Warning, Status: checks.Firing, Object: pod,
			Reason: "ContainersNotReady", Node: "worker-2", ExplainedBy: "pod.crash_looping",
			Message: "pod has been not ready for 3h12m: containers with unready status: [api]",
			Evidence: []checks.Evidence{
				{Type: checks.EvCondition, Path: "status.conditions[Ready]", Value: "False", Message: "containers with unready status: [api]", Time: ts(3*time.Hour + 12*time.Minute)},
				{Type: checks.EvRelation, Path: "finding", Value: "pod.crash_looping", Message: "explained by the primary finding on the same object"},
			},
		},
		{
			Check: "node.not_ready", Severity: checks.Critical, Status: checks.Firing,
			Object: checks.ObjectRef{Kind: "Node", Name: "worker-3", UID: "uid-worker-3"}, Node: "worker-3",
			Reason: "NodeStatusUnknown", Since: ts(47 * time.Minute),
			Message: "node worker-3 is NotReady (Unknown) for 47m: Kubelet stopped posting node status.",
			Evidence: []checks.Evidence{
				{Type: checks.EvCondition, Path: "status.conditions[Ready]", Value: "Unknown", Message: "Kubelet stopped posting node status.", Time: ts(47 * time.Minute)},
				{Type: checks.EvThreshold, Path: "params.notReadyFor", Value: "5m"},
			},
		},
		{
			Check: "webhook.failing_closed", Severity: checks.Critical, Status: checks.Firing,
			Object:  checks.ObjectRef{Kind: "ValidatingWebhookConfiguration", Name: "policy-guard"},
			Reason:  "NoEndpoints",
			Message: "webhook validate.policy-guard.io has failurePolicy Fail and its service policy/policy-guard has no ready endpoints: every matching write fails (https://policy-guard.policy.svc:443/validate)",
			Evidence: []checks.Evidence{
				{Type: checks.EvField, Path: "webhooks[validate.policy-guard.io].failurePolicy", Value: "Fail"},
				{Type: checks.EvRelation, Path: "Service/policy/policy-guard", Value: "0 ready endpoints"},
			},
		},
		{
			Check: "deployment.replicas_unavailable", Severity: checks.Warning, Status: checks.Firing,
			Object: checks.ObjectRef{Kind: "Deployment", Namespace: "payments", Name: "api"},
			Reason: "MinimumReplicasUnavailable", Since: ts(3 * time.Hour),
			Message: "1 of 2 replicas unavailable for 3h",
			Evidence: []checks.Evidence{
				{Type: checks.EvCondition, Path: "status.conditions[Available]", Value: "False", Message: "Deployment does not have minimum availability.", Time: ts(3 * time.Hour)},
			},
		},
		{
			Check: "storage.pvc_pending", Severity: checks.Warning, Status: checks.Firing,
			Object: checks.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data-db-0"},
			Reason: "ProvisioningFailed", Since: ts(26 * time.Hour),
			Message: `PVC has been Pending for 26h: storageclass.storage.k8s.io "fast-ssd" not found`,
			Evidence: []checks.Evidence{
				{Type: checks.EvField, Path: "status.phase", Value: "Pending"},
				{Type: checks.EvEvent, Path: "events[ProvisioningFailed]", Value: "ProvisioningFailed", Source: "persistentvolume-controller",
					Message: `storageclass.storage.k8s.io "fast-ssd" not found`, Time: ts(5 * time.Minute)},
			},
		},
		{
			Check: "node.cordoned", Severity: checks.Info, Status: checks.Firing,
			Object: checks.ObjectRef{Kind: "Node", Name: "worker-1"}, Node: "worker-1",
			Reason: "Unschedulable", Since: ts(50 * time.Hour),
			Message:  "node worker-1 has been cordoned for 2d2h",
			Evidence: []checks.Evidence{{Type: checks.EvField, Path: "spec.unschedulable", Value: "true"}},
		},
		{
			Check: "storage.pv_failed", Severity: checks.Critical, Status: checks.Unknown,
			Object: checks.ObjectRef{Kind: "Cluster", Name: "prod-eu-1"}, Reason: "DataUnavailable",
			Message: `cannot evaluate "PersistentVolume failed": could not read PersistentVolume (Forbidden)`,
			Evidence: []checks.Evidence{{Type: checks.EvCoverage, Path: "coverage/PersistentVolume", Value: "Forbidden",
				Message: `persistentvolumes is forbidden: User "system:serviceaccount:patrol:patrol" cannot list resource "persistentvolumes"`}},
		},
		{
			Check: "pod.image_pull_failing", Severity: checks.Critical, Status: checks.Firing,
			Object: checks.ObjectRef{Kind: "Pod", Namespace: "monitoring", Name: "prometheus-0"}, Node: "worker-2",
			Reason: "ImagePullBackOff", Message: `image "quay.io/prometheus/prometheus:v9.9.9" cannot be pulled: manifest unknown`,
		},
	}
	runs := []checks.Run{
		{Check: "deployment.replicas_unavailable", Result: checks.ResultFindings, Findings: 1, Duration: 300 * time.Microsecond},
		{Check: "network.service_no_endpoints", Result: checks.ResultOK, Duration: 120 * time.Microsecond},
		{Check: "node.cordoned", Result: checks.ResultFindings, Findings: 1, Duration: 80 * time.Microsecond},
		{Check: "node.not_ready", Result: checks.ResultFindings, Findings: 1, Duration: 95 * time.Microsecond},
		{Check: "pod.crash_looping", Result: checks.ResultFindings, Findings: 1, Duration: 410 * time.Microsecond},
		{Check: "pod.image_pull_failing", Result: checks.ResultFindings, Findings: 2, Duration: 210 * time.Microsecond},
		{Check: "pod.not_ready", Result: checks.ResultFindings, Findings: 1, Duration: 150 * time.Microsecond},
		{Check: "storage.pv_failed", Result: checks.ResultUnknown, Findings: 1, Detail: `could not read PersistentVolume (Forbidden)`},
		{Check: "storage.pvc_pending", Result: checks.ResultFindings, Findings: 1, Duration: 60 * time.Microsecond},
		{Check: "webhook.failing_closed", Result: checks.ResultFindings, Findings: 1, Duration: 70 * time.Microsecond},
		{Check: "controlplane.etcd_fsync_slow", Result: checks.ResultSkipped, Detail: "needs a live cluster"},
		{Check: "workload.hpa_<broken>", Result: checks.ResultError, Detail: `panic: runtime error: index out of range [3] with length 3 <img src=x onerror=alert(2)>`, Duration: 2 * time.Millisecond},
		{Check: "network.dns_coredns_unavailable", Result: checks.ResultTimeout, Detail: "did not finish within 10s", Duration: 10 * time.Second},
	}
	return checks.Result{Findings: fs, Runs: runs}
}

// sampleReport is the full report: every severity, an unknown finding, a
// coverage gap, a live and an expired suppression.
func sampleReport() *report.Report {
	res := sampleResult()
	res.Findings = append(res.Findings, checks.Finding{
		Check: "pod.image_pull_failing", Severity: checks.Critical, Status: checks.Firing,
		Object: checks.ObjectRef{Kind: "Pod", Namespace: "default", Name: "web-6c9b-7xkq2"}, Node: "worker-1",
		Reason: "ErrImagePull", Message: `image "registry.internal/web:canary" cannot be pulled: 401 Unauthorized`,
	})
	return report.Build(report.Input{
		Snapshot: sampleSnapshot(),
		Result:   res,
		Suppressions: []analysis.Suppression{
			{Check: "pod.image_pull_failing", Namespace: "default", Name: "web-*", Reason: "canary registry creds rotate on Fridays", Owner: "team-web", Expires: at.Add(96 * time.Hour), Where: "patrol.yaml:41:5"},
			{Check: "node.", Name: "worker-9", Reason: "decommissioning", Owner: "platform", Expires: at.Add(-48 * time.Hour), Where: "patrol.yaml:52:5"},
		},
		Now:     at,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	})
}

// emptyReport is a healthy cluster: no findings at all.
func emptyReport() *report.Report {
	s := sampleSnapshot()
	s.Coverage = nil
	runs := sampleResult().Runs
	for i := range runs {
		runs[i].Result, runs[i].Findings, runs[i].Detail = checks.ResultOK, 0, ""
	}
	return report.Build(report.Input{Snapshot: s, Result: checks.Result{Runs: runs}, Now: at})
}

// noDataReport is a sweep of an unreachable API server.
func noDataReport() *report.Report {
	s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, ID: "20240501T100000Z-000000", Cluster: "staging", Source: snapshot.SourceLive, CollectedAt: at}
	for _, k := range snapshot.ObjectKinds {
		s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: k, Reason: snapshot.Unreachable, Message: "dial tcp 10.0.0.1:6443: connect: connection refused"})
	}
	return report.Build(report.Input{Snapshot: s, Now: at})
}

func render(t *testing.T, r *report.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHTMLGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *report.Report
	}{
		{"full", sampleReport()},
		{"empty", emptyReport()},
		{"nodata", noDataReport()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.r)
			path := filepath.Join("..", "..", "testdata", "report", tc.name+".html")
			if updating() {
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
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs from the golden file (-want +got; -update rewrites it):\n%s", path, d)
			}
		})
	}
}

// remote matches a reference that would make the browser fetch something:
// src/href/action attributes, CSS url() and @import pointing off the page.
var remote = regexp.MustCompile(`(?i)((src|href|action|poster|srcset)\s*=\s*["']?\s*(https?:)?//)|url\(\s*["']?\s*(https?:)?//|@import`)

func TestHTMLSelfContained(t *testing.T) {
	for name, r := range map[string]*report.Report{"full": sampleReport(), "empty": emptyReport(), "nodata": noDataReport()} {
		page := string(render(t, r))
		if m := remote.FindAllString(page, -1); len(m) > 0 {
			t.Errorf("%s: the page references external resources: %q", name, m)
		}
		for _, tag := range []string{"<link", "<iframe", "<img", "<object", "<embed"} {
			if strings.Contains(page, tag) {
				t.Errorf("%s: the page holds a %s element; it must be self-contained", name, tag)
			}
		}
		if strings.Count(page, "<script") != 1 || strings.Contains(page, "<script src") {
			t.Errorf("%s: want exactly one inline script", name)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	page := string(render(t, sampleReport()))
	for _, bad := range []string{"<script>alert(1)</script>", "<img src=x", "hpa_<broken>"} {
		if strings.Contains(page, bad) {
			t.Errorf("cluster text %q reached the page unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("escaped text %q missing from the page", want)
		}
	}
}

func TestHTMLContent(t *testing.T) {
	r := sampleReport()
	page := string(render(t, r))
	for _, want := range []string{
		"prod-eu-1", "20240501T100000Z-3f9a1c", "v1.32.2", "4bf92f3577b34da6a3ce929d0e0e4736",
		"Coverage incomplete", "PersistentVolume", "Forbidden", "Lease (NotCollected)",
		"pod.crash_looping", "api-7f9c6d5b8-x2kqz", "CrashLoopBackOff", "Primary of", "Explained by",
		"node.not_ready", "worker-3", "webhook.failing_closed", "storage.pvc_pending", "node.cordoned",
		"Unknown: health not claimed", "storage.pv_failed",
		"Worst namespaces", "Worst nodes", "Suppressed findings", "canary registry creds rotate on Fridays",
		"suppression expired", "decommissioning",
		"did not run cleanly", "controlplane.etcd_fsync_slow", "timeout",
		"3h12m before collection",
	} {
		if !strings.Contains(page, strings.ReplaceAll(want, `"`, "&#34;")) {
			t.Errorf("page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, `id="findings"`), strings.Index(page, `id="namespaces"`); i < 0 || j < i {
		t.Error("findings or namespaces section missing")
	} else if strings.Contains(page[i:j], "registry.internal/web:canary") {
		t.Error("a suppressed finding is listed among the firing findings")
	}
	if r.Complete {
		t.Fatal("sample report should be incomplete")
	}

	empty := string(render(t, emptyReport()))
	for _, want := range []string{"No findings", "Every check that ran found this cluster healthy"} {
		if !strings.Contains(empty, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
	if strings.Contains(empty, "Coverage incomplete") {
		t.Error("empty page shows a coverage banner")
	}
	nodata := string(render(t, noDataReport()))
	for _, want := range []string{"no data", "nothing could be read", "Coverage incomplete", "Unreachable"} {
		if !strings.Contains(nodata, want) {
			t.Errorf("no-data page lacks %q", want)
		}
	}
}
