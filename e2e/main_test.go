//go:build e2e

// Package e2e runs kubepatrol against a real local control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler built from the Go
// module proxy, and kwok for nodes and pods; see e2e/cluster/).
//
//	go test -tags e2e -timeout 40m ./e2e/...
//
// Environment:
//
//	E2E_REUSE=1   reuse the running local cluster instead of starting a fresh one
//	E2E_KEEP=1    leave the cluster (and the scenarios' objects) running afterwards
//	E2E_NODES=N   kwok nodes to start with (default 20)
//	E2E_PATROL=F  use this patrol binary instead of building bin/patrol
//	CLUSTER_DIR   the cluster's state folder (default <repo>/.cache/local-cluster)
//
// Reports of every inspection are written to <repo>/.cache/e2e/reports/.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/e2e/fleet"
)

var (
	repoRoot   string
	clusterDir string
	reportDir  string
	patrolBin  string
	// kubeconfigs written by up.sh: admin (token), inspector (an admin
	// whose requests the API server audits; bin/patrol runs with it) and
	// restricted (no RBAC bindings until TestRestrictedUser creates them).
	adminKubeconfig, inspectorKubeconfig, restrictedKubeconfig string
	kube                                                       kubernetes.Interface
	baseline                                                   = fleet.Small()
	// baselineRun is the inspection of the healthy cluster made by setup,
	// and baselineAudit the API requests it made.
	baselineRun   inspection
	baselineAudit []auditEvent
	keep          = os.Getenv("E2E_KEEP") == "1"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// The scenarios run in parallel: most of their time is spent waiting
	// for a controller or a check's threshold, not on the CPU.
	if !flagGiven("test.parallel") {
		_ = flag.Set("test.parallel", "32")
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		teardown()
		return 1
	}
	code := m.Run()
	teardown()
	return code
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	repoRoot = filepath.Dir(wd) // the test runs in <repo>/e2e
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		return fmt.Errorf("repository root not found from %s: %w", wd, err)
	}
	clusterDir = os.Getenv("CLUSTER_DIR")
	if clusterDir == "" {
		clusterDir = filepath.Join(repoRoot, ".cache", "local-cluster")
	}
	reportDir = filepath.Join(repoRoot, ".cache", "e2e", "reports")
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	adminKubeconfig = filepath.Join(clusterDir, "kubeconfig")
	inspectorKubeconfig = filepath.Join(clusterDir, "inspector.kubeconfig")
	restrictedKubeconfig = filepath.Join(clusterDir, "restricted.kubeconfig")

	start := time.Now()
	if os.Getenv("E2E_REUSE") != "1" {
		logf("stopping any local cluster left running (E2E_REUSE=1 would reuse it)")
		if err := script("cluster/down.sh", nil); err != nil {
			return err
		}
	}
	nodes := os.Getenv("E2E_NODES")
	if nodes == "" {
		nodes = "20"
	}
	if err := script("cluster/up.sh", []string{"NODES=" + nodes}); err != nil {
		return err
	}
	logf("cluster up in %s", time.Since(start).Round(100*time.Millisecond))

	if patrolBin = os.Getenv("E2E_PATROL"); patrolBin == "" {
		start = time.Now()
		patrolBin = filepath.Join(repoRoot, "bin", "patrol")
		build := exec.Command("go", "build", "-o", patrolBin, "./cmd/patrol")
		build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/patrol: %w", err)
		}
		logf("built bin/patrol in %s", time.Since(start).Round(100*time.Millisecond))
	}

	// Tests that need kubectl find it through $KUBECTL or the PATH; on a
	// machine without one, use the one build.sh built.
	if _, err := exec.LookPath("kubectl"); err != nil && os.Getenv("KUBECTL") == "" {
		cache := os.Getenv("KUBEPATROL_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "kubepatrol")
		}
		if k := filepath.Join(cache, "bin", "kubectl"); fileExists(k) {
			os.Setenv("KUBECTL", k)
			logf("kubectl not on the PATH: using %s", k)
		}
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	if kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}

	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := fleet.Apply(ctx, kube, baseline); err != nil {
		return err
	}
	if err := fleet.WaitSettled(ctx, kube, baseline, 3*time.Minute); err != nil {
		return err
	}
	logf("baseline fleet (%d pods + DaemonSet) settled in %s", baseline.Pods(), time.Since(start).Round(100*time.Millisecond))

	// Inspect the healthy cluster now, before any test injects anything:
	// TestBaseline judges this report, whatever order the tests run in.
	auditBefore, err := readAudit()
	if err != nil {
		return err
	}
	baselineRun = runInspect("TestBaseline", inspectorKubeconfig)
	time.Sleep(time.Second) // let the audit log catch up
	auditAfter, err := readAudit()
	if err != nil {
		return err
	}
	baselineAudit = auditAfter[min(len(auditBefore), len(auditAfter)):]
	return nil
}

func teardown() {
	if keep {
		logf("E2E_KEEP=1: leaving the cluster running; KUBECONFIG=%s; stop it with e2e/cluster/down.sh", adminKubeconfig)
		return
	}
	if repoRoot == "" {
		return
	}
	if err := script("cluster/down.sh", nil); err != nil {
		logf("teardown: %v", err)
	}
}

// script runs an e2e/ script with extra environment, its output on stderr.
func script(name string, env []string) error {
	cmd := exec.Command("bash", filepath.Join(repoRoot, "e2e", name))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}

// Report is the part of `patrol inspect -o json` the tests read.
type Report struct {
	Cluster     string     `json:"cluster"`
	CollectedAt time.Time  `json:"collectedAt"`
	SnapshotID  string     `json:"snapshotID"`
	Score       *float64   `json:"score"`
	Grade       string     `json:"grade"`
	Complete    *bool      `json:"complete"`
	Coverage    []Coverage `json:"coverage"`
	Findings    []Finding  `json:"findings"`
	Checks      []CheckRun `json:"checks"`
}

// Coverage is a kind (or source) the snapshot could not read.
type Coverage struct {
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Finding is one finding of the report.
type Finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Object   struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		UID       string `json:"uid"`
	} `json:"object"`
	Reason   string     `json:"reason"`
	Message  string     `json:"message"`
	Evidence []Evidence `json:"evidence"`
}

// Evidence is one item of a finding's evidence.
type Evidence struct {
	Type    string `json:"type"`
	Path    string `json:"path"`
	Value   string `json:"value"`
	Message string `json:"message"`
}

// CheckRun is how one check ran.
type CheckRun struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	Detail string `json:"detail"`
}

func (f Finding) String() string {
	obj := f.Object.Kind + "/" + f.Object.Name
	if f.Object.Namespace != "" {
		obj = f.Object.Kind + "/" + f.Object.Namespace + "/" + f.Object.Name
	}
	return fmt.Sprintf("%s %s %s %s (%s): %s", f.Check, f.Status, f.Severity, obj, f.Reason, f.Message)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// inspection is one run of bin/patrol inspect.
type inspection struct {
	argv           []string
	stdout, stderr []byte
	took           time.Duration
	err            error
}

// runInspect runs bin/patrol inspect -A -o json with the kubeconfig and
// extra arguments, and saves its output under reportDir as name.json and
// name.stderr.
func runInspect(name, kubeconfig string, args ...string) inspection {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	argv := append([]string{"inspect", "--kubeconfig", kubeconfig, "-A", "-o", "json", "--request-timeout", "10s", "-v"}, args...)
	cmd := exec.CommandContext(ctx, patrolBin, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	in := inspection{argv: argv, stdout: stdout.Bytes(), stderr: stderr.Bytes(), took: time.Since(start), err: err}
	name = unsafeName.ReplaceAllString(name, "_")
	_ = os.WriteFile(filepath.Join(reportDir, name+".json"), in.stdout, 0o644)
	_ = os.WriteFile(filepath.Join(reportDir, name+".stderr"), in.stderr, 0o644)
	return in
}

// report checks that patrol exited 0 and printed a JSON report, and
// returns the report.
func (in inspection) report(t *testing.T) *Report {
	t.Helper()
	if in.err != nil {
		var ee *exec.ExitError
		if errors.As(in.err, &ee) {
			t.Fatalf("patrol %s: exit %d after %s\nstderr:\n%s", strings.Join(in.argv, " "), ee.ExitCode(), in.took, in.stderr)
		}
		t.Fatalf("patrol %s: %v", strings.Join(in.argv, " "), in.err)
	}
	var r Report
	if err := json.Unmarshal(in.stdout, &r); err != nil {
		t.Fatalf("patrol inspect -o json printed no valid JSON: %v\nstdout (first 2 KiB): %.2048s\nstderr:\n%s", err, in.stdout, in.stderr)
	}
	t.Logf("patrol inspect took %s: %d findings, grade %s, %d coverage gaps; %s", in.took.Round(time.Millisecond), len(r.Findings), r.Grade,
		len(r.Coverage), lastLine(string(in.stderr)))
	return &r
}

// inspect runs bin/patrol inspect (see runInspect) for test t and returns
// its report and stderr; patrol must exit 0.
func inspect(t *testing.T, kubeconfig string, args ...string) (*Report, []byte) {
	t.Helper()
	in := runInspect(t.Name(), kubeconfig, args...)
	return in.report(t), in.stderr
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// writeConfig writes a patrol config file overriding check parameters and
// returns its path.
func writeConfig(t *testing.T, params map[string]map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("checks:\n")
	for check, ps := range params {
		fmt.Fprintf(&b, "  %s:\n    params:\n", check)
		for k, v := range ps {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
	}
	p := filepath.Join(t.TempDir(), "patrol.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
