//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepatrol/patrol/e2e/scenarios"
)

// patrol runs bin/patrol with args, saves its output under reportDir and
// returns stdout, stderr and the exit code.
func patrol(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, patrolBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("patrol %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	_ = os.WriteFile(filepath.Join(reportDir, name+".out"), stdout.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(reportDir, name+".stderr"), stderr.Bytes(), 0o644)
	return stdout.String(), stderr.String(), code
}

// applyScenario injects one scenario's fault, waits until it is visible and
// registers its cleanup (which waits until its namespace is gone, so later
// tests see a clean cluster).
func applyScenario(t *testing.T, s *scenarios.Scenario) {
	t.Helper()
	c := scenarios.Clients{Kube: kube}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout+3*time.Minute)
	defer cancel()
	if err := scenarios.Purge(ctx, s, c); err != nil {
		t.Fatalf("purge leftovers: %v", err)
	}
	cleanup, err := s.Apply(ctx, c)
	if err != nil {
		t.Fatalf("apply %s: %v", s.Name, err)
	}
	t.Cleanup(func() {
		if keep {
			return
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer ccancel()
		if err := cleanup(cctx); err != nil {
			t.Errorf("cleanup %s: %v", s.Name, err)
		}
	})
	if err := scenarios.WaitVisible(ctx, s, c); err != nil {
		t.Fatal(err)
	}
}

// diagnosis is the part of `patrol diagnose -o json` the test reads.
type diagnosis struct {
	Schema string `json:"schema"`
	Object struct {
		Kind, Namespace, Name string
	} `json:"object"`
	Status      string    `json:"status"`
	Node        string    `json:"node"`
	LikelyCause string    `json:"likelyCause"`
	Healthy     bool      `json:"healthy"`
	Findings    []Finding `json:"findings"`
	Events      []struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"events"`
	Logs []struct {
		Pod       string `json:"pod"`
		Container string `json:"container"`
		Previous  bool   `json:"previous"`
		Error     string `json:"error"`
		Summary   struct {
			Lines int `json:"lines"`
		} `json:"summary"`
	} `json:"logs"`
	LogsNote  string `json:"logsNote"`
	NextSteps []struct {
		Check, Action string
	} `json:"nextSteps"`
	Runbooks []struct {
		Alert    string   `json:"alert"`
		Commands []string `json:"commands"`
	} `json:"runbooks"`
}

// TestDiagnoseCrashLoopingPod: `patrol diagnose` on the live cluster, for the
// crash-looping scenario pod: its finding, its events, an attempt at its
// current and previous logs (kwok runs no container, so the API server may
// have none to give: the attempt must be reported, not fatal), the next
// step and the runbook commands filled in for the pod; then `patrol
// runbook` with the alert's labels reports the runbook's check firing.
func TestDiagnoseCrashLoopingPod(t *testing.T) {
	s := scenarios.PodCrashLooping()
	applyScenario(t, s)
	ns, pod := s.Namespace(), "payment-worker"

	out, stderr, code := patrol(t, "diagnose", "pod/"+pod, "-n", ns, "-o", "json", "--kubeconfig", inspectorKubeconfig,
		"--request-timeout", "10s", "-v")
	if code != 0 {
		t.Fatalf("patrol diagnose: exit %d\n%s", code, stderr)
	}
	var d diagnosis
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diagnose -o json: %v\n%.2048s", err, out)
	}
	if d.Schema != "kubepatrol.io/diagnosis/v1" || d.Object.Kind != "Pod" || d.Object.Name != pod || d.Healthy {
		t.Fatalf("diagnosis of %+v, healthy=%v", d.Object, d.Healthy)
	}
	found := false
	for _, f := range d.Findings {
		found = found || f.Check == "pod.crash_looping" && f.Object.Name == pod
	}
	if !found {
		t.Errorf("pod.crash_looping missing from the diagnosis: %v", d.Findings)
	}
	if !strings.Contains(d.LikelyCause, "CrashLoopBackOff") && !strings.Contains(d.LikelyCause, "crash") {
		t.Errorf("likely cause %q does not name the crash loop", d.LikelyCause)
	}
	backoff := false
	for _, e := range d.Events {
		backoff = backoff || e.Reason == "BackOff"
	}
	if !backoff {
		t.Errorf("the BackOff event is missing from the timeline: %+v", d.Events)
	}
	// Logs: the current and the previous run were asked for. With kwok the
	// API server usually cannot reach a kubelet for them; either answer is
	// fine as long as it is reported.
	prev := false
	for _, l := range d.Logs {
		if l.Pod != pod || l.Container != "app" {
			t.Errorf("logs read for %s/%s, want %s/app", l.Pod, l.Container, pod)
		}
		if l.Error == "" && l.Summary.Lines == 0 {
			t.Errorf("log entry with neither lines nor an error: %+v", l)
		}
		prev = prev || l.Previous
		t.Logf("logs %s/%s previous=%v: %d lines, error %q", l.Pod, l.Container, l.Previous, l.Summary.Lines, l.Error)
	}
	if !prev {
		t.Errorf("the previous run's logs were not requested for a crash-looping container: %+v (%s)", d.Logs, d.LogsNote)
	}
	if len(d.NextSteps) == 0 || !strings.Contains(d.NextSteps[0].Action, "kubectl logs "+pod+" -n "+ns+" -c app --previous") {
		t.Errorf("next step not filled in for the pod: %+v", d.NextSteps)
	}
	cmds := ""
	for _, rb := range d.Runbooks {
		cmds += strings.Join(rb.Commands, "\n")
	}
	if !strings.Contains(cmds, "kubectl -n "+ns+" logs "+pod+" -c app --previous") {
		t.Errorf("runbook commands not filled in for the pod:\n%s", cmds)
	}

	// The table form fits 80 columns (long commands aside).
	table, _, code := patrol(t, "diagnose", "pod/"+pod, "-n", ns, "--kubeconfig", inspectorKubeconfig, "--logs=false")
	if code != 0 || !strings.Contains(table, "FINDINGS") || !strings.Contains(table, "pod.crash_looping") {
		t.Errorf("table: exit %d\n%s", code, table)
	}
	for _, line := range strings.Split(table, "\n") {
		if n := len([]rune(line)); n > 80 && !strings.HasPrefix(line, "    $ ") {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}

	out, stderr, code = patrol(t, "runbook", "KubePodCrashLooping", "--labels", "namespace="+ns+",pod="+pod+",container=app",
		"--kubeconfig", inspectorKubeconfig, "-o", "json")
	if code != 0 {
		t.Fatalf("patrol runbook: exit %d\n%s", code, stderr)
	}
	var rb struct {
		Checks []struct {
			Check, Result string
		} `json:"checks"`
		Runbook  string `json:"runbook"`
		Playbook struct{ Playbook, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rb); err != nil {
		t.Fatal(err)
	}
	firing := false
	for _, c := range rb.Checks {
		firing = firing || c.Check == "pod.crash_looping" && c.Result == "firing"
	}
	if !firing || !strings.Contains(rb.Runbook, "kubectl -n "+ns+" logs "+pod+" -c app --previous") || rb.Playbook.Status != "proposed" ||
		rb.Playbook.Playbook != "pod-crashloop-after-change" {
		t.Errorf("runbook: checks %+v, playbook %+v\n%s", rb.Checks, rb.Playbook, rb.Runbook)
	}
}

// TestFleetWithUnreachableCluster: the local cluster and an unreachable
// context swept into one fleet report; the unreachable one is reported as
// such, the local one is inspected fully, and the command succeeds.
func TestFleetWithUnreachableCluster(t *testing.T) {
	cfg, err := clientcmd.LoadFromFile(inspectorKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	local := cfg.CurrentContext
	lc := cfg.Contexts[local]
	if lc == nil {
		t.Fatalf("kubeconfig %s has no current context", inspectorKubeconfig)
	}
	cfg.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	cfg.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: lc.AuthInfo}
	kc := filepath.Join(t.TempDir(), "fleet.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, stderr, code := patrol(t, "inspect", "--kubeconfig", kc, "--context", local, "--context", "nowhere", "-A", "-o", "json",
		"--request-timeout", "10s", "-v")
	if code != 0 {
		t.Fatalf("fleet inspect: exit %d\n%s", code, stderr)
	}
	var f struct {
		Schema   string `json:"schema"`
		Grade    string `json:"grade"`
		Worst    string `json:"worst"`
		Complete bool   `json:"complete"`
		Clusters []struct {
			Name   string  `json:"name"`
			Status string  `json:"status"`
			Error  string  `json:"error"`
			Report *Report `json:"report"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("%v\n%.2048s", err, out)
	}
	t.Logf("fleet sweep took %s: grade %s, worst %s", time.Since(start).Round(time.Millisecond), f.Grade, f.Worst)
	if f.Schema != "kubepatrol.io/fleet/v1" || len(f.Clusters) != 2 || f.Complete {
		t.Fatalf("fleet %+v", f)
	}
	for _, c := range f.Clusters {
		switch c.Name {
		case local:
			if c.Status != "ok" || c.Report == nil || len(c.Report.Checks) == 0 || c.Report.Score == nil {
				t.Errorf("local cluster: status %s, report %v", c.Status, c.Report != nil)
			}
			if f.Worst != local {
				t.Errorf("the fleet grade must come from the reachable cluster, worst=%q", f.Worst)
			}
		case "nowhere":
			if c.Status != "unreachable" || !strings.Contains(c.Error, "refused") {
				t.Errorf("unreachable cluster: status %s, error %q", c.Status, c.Error)
			}
		default:
			t.Errorf("unexpected cluster %s", c.Name)
		}
	}
}
