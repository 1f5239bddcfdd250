package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var updateText = flag.Bool("update-text", false, "rewrite the text-format golden files")

func sample() *Report {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	since := at.Add(-18 * time.Minute)
	s := &snapshot.Snapshot{ID: "0123abcd", Cluster: "prod-eu", Source: snapshot.SourceLive, Version: "v1.32.2", CollectedAt: at,
		Coverage: []snapshot.Coverage{{Kind: snapshot.KindResourceQuota, Reason: snapshot.Forbidden,
			Message: `resourcequotas is forbidden: User "oncall" cannot list resource "resourcequotas"`}}}
	for _, n := range []string{"worker-1", "worker-2", "worker-3"} {
		s.Nodes = append(s.Nodes, snapshot.Node{Meta: snapshot.Meta{Name: n}})
	}
	for _, p := range []string{"api-7d9c-1", "api-7d9c-2", "web-1", "web-2"} {
		s.Pods = append(s.Pods, snapshot.Pod{Meta: snapshot.Meta{Namespace: "shop", Name: p}, NodeName: "worker-1"})
	}
	fs := []checks.Finding{
		{Check: "node.not_ready", Severity: checks.Critical, Status: checks.Firing, Reason: "NodeNotReady",
			Object:  checks.ObjectRef{Kind: "Node", Name: "worker-1"},
			Message: "node worker-1 is NotReady for 18m: KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
			Since:   &since, Node: "worker-1", PrimaryOf: []string{"node.memory_pressure"},
			Evidence: []checks.Evidence{{Type: checks.EvCondition, Path: "status.conditions[Ready]", Value: "False", Message: "KubeletNotReady", Time: &since}}},
		{Check: "node.memory_pressure", Severity: checks.Warning, Status: checks.Firing, Reason: "MemoryPressure",
			Object: checks.ObjectRef{Kind: "Node", Name: "worker-1"}, Message: "node worker-1 has MemoryPressure for 20m", Node: "worker-1",
			ExplainedBy: "node.not_ready"},
		{Check: "pod.crash_looping", Severity: checks.Critical, Status: checks.Firing, Reason: "CrashLoopBackOff",
			Object:  checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "api-7d9c-1"},
			Message: `container api restarted 7 times, last exit code 1 (Error): "panic: dial tcp 10.0.0.5:5432: connect: connection refused"`,
			Evidence: []checks.Evidence{{Type: checks.EvField, Path: "status.containerStatuses[api].lastState.terminated.exitCode", Value: "1"},
				{Type: checks.EvEvent, Path: "events/BackOff", Value: "12", Message: "Back-off restarting failed container api in pod api-7d9c-1_shop(abc)", Source: "kubelet"}}},
		{Check: "pod.restarting", Severity: checks.Info, Status: checks.Firing, Reason: "Restarted",
			Object: checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "web-2"}, Message: "container web restarted 2 times in the last hour"},
		{Check: "quota.near_limit", Severity: checks.Warning, Status: checks.Unknown, Reason: "DataUnavailable",
			Object: checks.ObjectRef{Kind: "Cluster", Name: "prod-eu"}, Message: `cannot evaluate "Quota near its limit": could not read ResourceQuota (Forbidden)`},
	}
	return Build(Input{Snapshot: s, Result: checks.Result{Findings: fs, Runs: []checks.Run{
		{Check: "node.not_ready", Result: checks.ResultFindings, Findings: 1, Duration: time.Millisecond},
		{Check: "node.memory_pressure", Result: checks.ResultFindings, Findings: 1},
		{Check: "pod.crash_looping", Result: checks.ResultFindings, Findings: 1},
		{Check: "pod.restarting", Result: checks.ResultFindings, Findings: 1},
		{Check: "pod.oom_killed", Result: checks.ResultOK},
		{Check: "quota.near_limit", Result: checks.ResultUnknown, Findings: 1, Detail: "could not read ResourceQuota (Forbidden)"},
		{Check: "controlplane.apiserver_unhealthy", Result: checks.ResultSkipped, Detail: "needs a live cluster"},
	}}, Suppressions: []analysis.Suppression{{Check: "pod.restarting", Name: "web-2", Reason: "known", Expires: at.Add(time.Hour)},
		{Check: "node", Reason: "old", Expires: at.Add(-time.Hour), Where: "patrol.yaml:9:5"}}, Now: at})
}

func TestTextFormatsGolden(t *testing.T) {
	r := sample()
	for _, tc := range []struct {
		format string
		opt    Options
	}{
		{"table", Options{Width: 80}},
		{"table", Options{Width: 80, Verbose: true, Color: true}},
		{"markdown", Options{}},
		{"junit", Options{}},
		{"json", Options{}},
		{"yaml", Options{}},
	} {
		name := tc.format
		if tc.opt.Verbose {
			name += "-verbose-color"
		}
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, tc.format, r, tc.opt); err != nil {
				t.Fatal(err)
			}
			if tc.format == "table" && !tc.opt.Color {
				for _, line := range strings.Split(b.String(), "\n") {
					if n := len([]rune(line)); n > 80 {
						t.Errorf("line of %d columns: %q", n, line)
					}
				}
				if strings.Contains(b.String(), "\x1b[") {
					t.Error("colour codes without Color")
				}
			}
			path := filepath.Join("..", "..", "testdata", "report", "sample."+name+".golden")
			if *updateText {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./analysis/report -update-text)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestBuildSummaryAndSuppressions(t *testing.T) {
	r := sample()
	if r.Summary.Firing != 3 || r.Summary.Unknown != 1 || len(r.Suppressed) != 1 || len(r.ExpiredSuppressions) != 1 {
		t.Errorf("summary %+v, suppressed %d, expired %d", r.Summary, len(r.Suppressed), len(r.ExpiredSuppressions))
	}
	if r.Complete {
		t.Error("a Forbidden kind must make the report incomplete")
	}
	// ResourceQuotas are scored and could not be read: the score covers
	// what was seen, the grade is withheld.
	if r.Score == nil || r.Grade != "?" {
		t.Errorf("score %v grade %q: want a score and no grade", r.Score, r.Grade)
	}
}

func TestNoDataHasNoScore(t *testing.T) {
	s := &snapshot.Snapshot{Cluster: "down", Coverage: []snapshot.Coverage{{Kind: snapshot.KindNode, Reason: snapshot.Unreachable}}}
	r := Build(Input{Snapshot: s})
	if r.Score != nil || r.Grade != "?" || r.Complete {
		t.Errorf("score %v grade %s complete %v: an unreachable cluster must not look healthy", r.Score, r.Grade, r.Complete)
	}
	var b bytes.Buffer
	if err := Table(&b, r, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "? (no data)") || !strings.Contains(b.String(), "coverage INCOMPLETE") || strings.Contains(b.String(), "no findings") {
		t.Errorf("table for an unreachable cluster:\n%s", b.String())
	}
}
