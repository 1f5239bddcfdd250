//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/metrics"
	"github.com/kubepatrol/patrol/collectors/prom"
	"github.com/kubepatrol/patrol/collectors/scrape"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestMetrics collects control-plane metrics from the local cluster, by
// scraping each component's /metrics and through a Debian Prometheus
// started with e2e/prom/prometheus.yml.tmpl, and runs the metric checks:
// quiet on the healthy cluster, firing on a real API Priority and Fairness
// flood, unknown when a source cannot be reached.
func TestMetrics(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, cfg)
	targets := componentTargets(t)

	t.Run("scrape healthy", func(t *testing.T) {
		s := newSnap()
		if err := scrape.AddTo(context.Background(), s, scrape.Options{Config: cfg, Targets: targets, Interval: 5 * time.Second, InsecureSkipVerify: true}); err != nil {
			t.Fatal(err)
		}
		assertSources(t, s, "scrape", snapshot.KindMetricsAPIServer, snapshot.KindMetricsEtcd, snapshot.KindMetricsScheduler, snapshot.KindMetricsControllerManager)
		res := runMetricChecks(t, s)
		assertQuiet(t, res)
		for _, r := range res.Runs {
			if strings.HasPrefix(r.Check, "node.") && r.Result != checks.ResultSkipped {
				t.Errorf("%s: %s without node metrics, want skipped", r.Check, r.Result)
			}
		}
	})

	t.Run("prometheus healthy", func(t *testing.T) {
		s := newSnap()
		if err := prom.AddTo(context.Background(), s, prom.Options{URL: p.url, Timeout: 20 * time.Second}); err != nil {
			t.Fatal(err)
		}
		kinds := []snapshot.Kind{snapshot.KindMetricsPrometheus, snapshot.KindMetricsAPIServer, snapshot.KindMetricsEtcd, snapshot.KindMetricsScheduler, snapshot.KindMetricsControllerManager}
		if p.nodeExporter {
			kinds = append(kinds, snapshot.KindMetricsNode)
		}
		assertSources(t, s, "prometheus", kinds...)
		if !p.nodeExporter {
			if g, _ := s.Gap(snapshot.KindMetricsNode); g.Reason != snapshot.NotCollected {
				t.Errorf("no node_exporter: metrics/node gap %+v", g)
			}
		}
		res := runMetricChecks(t, s)
		assertQuiet(t, res)
	})

	t.Run("priority and fairness flood", func(t *testing.T) {
		cleanup := flowControlFault(t)
		defer cleanup()
		// Two scrapes 8s apart with the flood between them.
		var s *snapshot.Snapshot
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			s = newSnap()
			if err := scrape.AddTo(context.Background(), s, scrape.Options{Config: cfg, Targets: targets[:1], Interval: 8 * time.Second}); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(1500 * time.Millisecond)
		rejected := flood(t, cfg, 4*time.Second)
		wg.Wait()
		t.Logf("flood: %d requests rejected with 429", rejected)
		if rejected < 20 {
			t.Fatalf("the flood was not throttled (%d rejections): the fault did not happen", rejected)
		}
		f := expectFinding(t, runMetricChecks(t, s), "controlplane.apiserver_throttling", "APIPriorityAndFairnessRejected")
		if f != nil && (!strings.Contains(f.Message, "fault-apf-tiny") || !strings.Contains(f.Message, "fault-apf-flood")) {
			t.Errorf("the message does not name the priority level and flow schema: %s", f.Message)
		}

		// Prometheus scrapes every 2s: it has seen the rejections too.
		time.Sleep(5 * time.Second)
		ps := newSnap()
		if err := prom.AddTo(context.Background(), ps, prom.Options{URL: p.url, Timeout: 20 * time.Second}); err != nil {
			t.Fatal(err)
		}
		expectFinding(t, runMetricChecks(t, ps), "controlplane.apiserver_throttling", "APIPriorityAndFairnessRejected")
	})

	t.Run("unreachable sources", func(t *testing.T) {
		closed := freeLoopbackAddr(t)
		s := newSnap()
		if err := scrape.AddTo(context.Background(), s, scrape.Options{Config: cfg, Targets: []scrape.Target{targets[0], {Kind: snapshot.KindMetricsEtcd, URL: "http://" + closed + "/metrics"}}}); err != nil {
			t.Fatal(err)
		}
		if err := prom.AddTo(context.Background(), s, prom.Options{URL: "http://" + closed}); err != nil {
			t.Fatal(err)
		}
		want := map[snapshot.Kind]snapshot.CoverageReason{
			snapshot.KindMetricsPrometheus: snapshot.Unreachable, snapshot.KindMetricsEtcd: snapshot.Unreachable,
			snapshot.KindMetricsScheduler: snapshot.Unreachable, snapshot.KindMetricsControllerManager: snapshot.Unreachable,
			snapshot.KindMetricsNode: snapshot.Unreachable,
		}
		for k, r := range want {
			if g, _ := s.Gap(k); g.Reason != r {
				t.Errorf("%s: gap %+v, want %s", k, g, r)
			}
		}
		if _, ok := s.Gap(snapshot.KindMetricsAPIServer); ok {
			t.Errorf("metrics/apiserver has a gap although the scrape worked")
		}
		res := runMetricChecks(t, s)
		for _, r := range res.Runs {
			apiserver := r.Check == "controlplane.apiserver_latency" || r.Check == "controlplane.apiserver_errors" ||
				r.Check == "controlplane.apiserver_throttling" || r.Check == "controlplane.client_cert_expiring"
			switch {
			case apiserver && r.Result != checks.ResultOK && r.Result != checks.ResultFindings:
				t.Errorf("%s: %s %s, want it to run", r.Check, r.Result, r.Detail)
			case !apiserver && r.Result != checks.ResultUnknown:
				t.Errorf("%s: %s, want unknown (its source is unreachable)", r.Check, r.Result)
			}
		}
	})
}

type promProc struct {
	url          string
	nodeExporter bool
}

// startPrometheus starts node_exporter (when installed) and Prometheus on
// free loopback ports, scraping the local control plane every 2s, and
// waits until every target is up and rates exist.
func startPrometheus(t *testing.T, cfg *rest.Config) *promProc {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (make deps, or apt-get install prometheus): %v", err)
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(cfg.BearerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &promProc{}
	nodeAddr := freeLoopbackAddr(t)
	if ne, err := exec.LookPath("prometheus-node-exporter"); err == nil {
		startProcess(t, exec.Command(ne, "--web.listen-address="+nodeAddr), filepath.Join(dir, "node-exporter.log"))
		p.nodeExporter = true
	} else {
		t.Logf("prometheus-node-exporter is not installed: the node checks are not exercised")
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "e2e", "prom", "prometheus.yml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"@CA@", filepath.Join(clusterDir, "pki", "ca.crt"), "@TOKEN_FILE@", token,
		"@APISERVER@", strings.TrimPrefix(cfg.Host, "https://"),
		"@ETCD@", "127.0.0.1:"+envOrDefault("ETCD_METRICS_PORT", "2381"),
		"@KCM@", "127.0.0.1:"+envOrDefault("KCM_PORT", "10257"),
		"@SCHEDULER@", "127.0.0.1:"+envOrDefault("SCHEDULER_PORT", "10259"),
		"@NODE@", nodeAddr,
	).Replace(string(tmpl))
	if !p.nodeExporter {
		conf = conf[:strings.Index(conf, "  - job_name: node-exporter")]
	}
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	startProcess(t, exec.Command(bin, "--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr), filepath.Join(dir, "prometheus.log"))
	p.url = "http://" + addr

	deadline := time.Now().Add(90 * time.Second)
	for {
		health, err := targetHealth(p.url)
		if err == nil && len(health) > 0 && !strings.Contains(health, "down") && !strings.Contains(health, "unknown") {
			t.Logf("prometheus %s: targets %s", p.url, health)
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus targets not up after 90s: %s %v\n%s", health, err, tailOf(string(log), 2000))
		}
		time.Sleep(time.Second)
	}
	// rate() and increase() need two samples of every series in range.
	time.Sleep(10 * time.Second)
	return p
}

// startProcess runs a command until the test ends, its output in a log file.
func startProcess(t *testing.T, cmd *exec.Cmd, logFile string) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
}

// targetHealth summarises /api/v1/targets as "job=up,job=down".
func targetHealth(url string) (string, error) {
	resp, err := http.Get(url + "/api/v1/targets")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Labels map[string]string `json:"labels"`
				Health string            `json:"health"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	var parts []string
	for _, a := range body.Data.ActiveTargets {
		parts = append(parts, a.Labels["job"]+"="+a.Health)
	}
	return strings.Join(parts, ","), nil
}

func componentTargets(t *testing.T) []scrape.Target {
	var out []scrape.Target
	for _, s := range []string{"apiserver",
		"etcd=http://127.0.0.1:" + envOrDefault("ETCD_METRICS_PORT", "2381"),
		"scheduler=https://127.0.0.1:" + envOrDefault("SCHEDULER_PORT", "10259"),
		"controller-manager=https://127.0.0.1:" + envOrDefault("KCM_PORT", "10257")} {
		x, err := scrape.ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func newSnap() *snapshot.Snapshot {
	return &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "local", Source: snapshot.SourceLive, CollectedAt: time.Now().UTC()}
}

func runMetricChecks(t *testing.T, s *snapshot.Snapshot) checks.Result {
	t.Helper()
	res := (&checks.Runner{Checks: metrics.Checks()}).Run(context.Background(), s)
	for _, r := range res.Runs {
		if r.Result == checks.ResultError || r.Result == checks.ResultTimeout {
			t.Errorf("%s: %s %s", r.Check, r.Result, r.Detail)
		}
	}
	return res
}

func assertSources(t *testing.T, s *snapshot.Snapshot, collector string, kinds ...snapshot.Kind) {
	t.Helper()
	for _, k := range kinds {
		src, ok := s.Metrics.Source(k)
		if !ok || src.Collector != collector || len(src.Errors) > 0 {
			g, _ := s.Gap(k)
			t.Errorf("%s: source %+v (%v), gap %+v", k, src, ok, g)
		}
	}
	t.Logf("%d series, %d histograms; coverage %v", len(s.Metrics.Series), len(s.Metrics.Histograms), s.Coverage)
}

// assertQuiet: no control-plane finding on the healthy cluster, and every
// check ran. The node checks judge the machine running node_exporter,
// which is not a cluster node: its findings (a disk filling with build
// caches, no NTP daemon in a container) are logged, not failures.
func assertQuiet(t *testing.T, res checks.Result) {
	t.Helper()
	for _, r := range res.Runs {
		if r.Result == checks.ResultUnknown {
			t.Errorf("%s: unknown on a healthy cluster: %s", r.Check, r.Detail)
		}
	}
	for _, f := range res.Findings {
		if f.Object.Kind == "Host" {
			t.Logf("about the test machine: %s %s: %s", f.Check, f.Reason, f.Message)
			continue
		}
		t.Errorf("false positive on a healthy cluster: %s %s %s: %s", f.Check, f.Object, f.Reason, f.Message)
		for _, e := range f.Evidence {
			t.Logf("    evidence %s %s = %s %s", e.Type, e.Path, e.Value, e.Message)
		}
	}
}

func expectFinding(t *testing.T, res checks.Result, check, reason string) *checks.Finding {
	t.Helper()
	for i, f := range res.Findings {
		if f.Check == check && f.Reason == reason && f.Status == checks.Firing {
			t.Logf("found: %s %s %s: %s", f.Check, f.Severity, f.Reason, f.Message)
			for _, e := range f.Evidence {
				t.Logf("    evidence %s %s = %s %s", e.Type, e.Path, e.Value, e.Message)
			}
			if len(f.Evidence) == 0 {
				t.Errorf("%s: no evidence", check)
			}
			return &res.Findings[i]
		}
	}
	for _, f := range res.Findings {
		t.Logf("other finding: %s %s: %s", f.Check, f.Reason, f.Message)
	}
	t.Errorf("missing finding %s (%s)", check, reason)
	return nil
}

const floodUser = "kubepatrol-e2e-flood"

// flowControlFault creates a "jail" priority level (no seats of its own,
// none to borrow: it runs one request at a time only when idle) that
// rejects what it cannot run, a flow schema sending one impersonated user's
// requests to it, and lets that user list pods so the admitted requests
// hold their seat for a real LIST: nobody else is affected.
func flowControlFault(t *testing.T) func() {
	t.Helper()
	ctx := context.Background()
	zero := int32(0)
	pl := &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "fault-apf-tiny", Labels: map[string]string{"kubepatrol.io/e2e-scenario": "apf-flood"}},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: &zero, LendablePercent: &zero, BorrowingLimitPercent: &zero,
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject},
			},
		},
	}
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "fault-apf-flood", Labels: map[string]string{"kubepatrol.io/e2e-scenario": "apf-flood"}},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: pl.Name},
			MatchingPrecedence:         200,
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: floodUser}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
					Namespaces: []string{"*"}, ClusterScope: true}},
			}},
		},
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "fault-apf-flood", Labels: pl.Labels},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "fault-apf-flood", Labels: pl.Labels},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: floodUser}}}
	fc, rb := kube.FlowcontrolV1(), kube.RbacV1()
	cleanup := func() {
		_ = fc.FlowSchemas().Delete(ctx, fs.Name, metav1.DeleteOptions{})
		_ = fc.PriorityLevelConfigurations().Delete(ctx, pl.Name, metav1.DeleteOptions{})
		_ = rb.ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
		_ = rb.ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	}
	cleanup()
	if _, err := rb.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := rb.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := fc.PriorityLevelConfigurations().Create(ctx, pl, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := fc.FlowSchemas().Create(ctx, fs, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The API server's config controller picks the objects up within a
	// second or two.
	time.Sleep(3 * time.Second)
	return cleanup
}

// flood sends concurrent cluster-wide LISTs as the flood user for d and
// returns how many were rejected with 429.
func flood(t *testing.T, cfg *rest.Config, d time.Duration) int64 {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: floodUser}
	c.QPS, c.Burst = -1, 0
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		t.Fatal(err)
	}
	var rejected, total atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				resp, err := hc.Get(c.Host + "/api/v1/pods?limit=500")
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				total.Add(1)
				if resp.StatusCode == http.StatusTooManyRequests {
					rejected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("flood: %d requests", total.Load())
	return rejected.Load()
}

// freeLoopbackAddr returns a free loopback host:port.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func envOrDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
