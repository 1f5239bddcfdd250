//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/e2e/scenarios"
	"github.com/kubepatrol/patrol/remediation"
)

// The real alerting chain the remediation tests start from:
// kube-state-metrics (built by e2e/cluster/build.sh) → Debian's Prometheus,
// evaluating e2e/prom/alerting-rules.yml → Debian's Alertmanager, configured
// from e2e/prom/alertmanager.yml.tmpl → a webhook receiver.

// alertingOpts configures startAlerting.
type alertingOpts struct {
	// KSM is kube-state-metrics' host:port; empty starts one (startKSM)
	// with the admin kubeconfig.
	KSM string
	// WebhookURL is where Alertmanager's only receiver posts (Alertmanager
	// webhook payload, version 4), with send_resolved.
	WebhookURL string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// RulesFile replaces e2e/prom/alerting-rules.yml.
	RulesFile string
}

// alerting is a running kube-state-metrics, Prometheus and Alertmanager.
type alerting struct {
	// KSM is kube-state-metrics' host:port.
	KSM string
	// PrometheusURL and AlertmanagerURL are the base URLs
	// (http://127.0.0.1:port).
	PrometheusURL, AlertmanagerURL string
	// Dir holds the configurations, the data and the logs
	// (ksm.log, prometheus.log, alertmanager.log).
	Dir string
}

// amAlert is one alert of Alertmanager's GET /api/v2/alerts.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// amWebhook is Alertmanager's webhook payload (version 4), decoded with
// the very types patrold's intake uses; amWebhookAlert is one of its alerts.
type (
	amWebhook      remediation.WebhookMessage
	amWebhookAlert = remediation.Alert
)

// find returns the alert named alertname about node, if the payload has it.
func (w amWebhook) find(alertname, node string) (amWebhookAlert, bool) {
	for _, a := range w.Alerts {
		if a.Labels["alertname"] == alertname && a.Labels["node"] == node {
			return a, true
		}
	}
	return amWebhookAlert{}, false
}

// parseWebhook decodes a captured Alertmanager webhook; ok is false when
// the body is not one.
func parseWebhook(r captured) (amWebhook, bool) {
	var w amWebhook
	if err := json.Unmarshal(r.Body, &w); err != nil || w.Version == "" {
		return amWebhook{}, false
	}
	return w, true
}

// webhookAbout matches an Alertmanager webhook carrying alertname for node
// with the given alert status (firing or resolved).
func webhookAbout(status, alertname, node string) func(captured) bool {
	return func(r captured) bool {
		w, ok := parseWebhook(r)
		if !ok {
			return false
		}
		a, ok := w.find(alertname, node)
		return ok && a.Status == status
	}
}

// ksmBinary returns the kube-state-metrics build.sh built (KSM_BIN in
// e2e/cluster/lib.sh), running build.sh (cached: a no-op when it exists)
// if it is missing.
func ksmBinary(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `source "$1" && printf %s "$KSM_BIN"`, "bash",
		filepath.Join(repoRoot, "e2e", "cluster", "lib.sh")).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("KSM_BIN from e2e/cluster/lib.sh: %v", err)
	}
	bin := string(out)
	if !fileExists(bin) {
		if err := script("cluster/build.sh", nil); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// startKSM runs kube-state-metrics (nodes, pods and deployments) with the
// kubeconfig on free loopback ports until the test ends, waits until its
// /metrics serves kube_node_status_condition, and returns its host:port.
func startKSM(t *testing.T, kubeconfig string) (addr string) {
	t.Helper()
	bin := ksmBinary(t)
	dir := t.TempDir()
	addr, telemetry := freeLoopbackAddr(t), freeLoopbackAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	thost, tport, _ := strings.Cut(telemetry, ":")
	logFile := filepath.Join(dir, "ksm.log")
	startProcess(t, exec.Command(bin, "--kubeconfig="+kubeconfig, "--resources=nodes,pods,deployments",
		"--host="+host, "--port="+port, "--telemetry-host="+thost, "--telemetry-port="+tport), logFile)

	start := time.Now()
	for {
		body, err := httpGet("http://" + addr + "/metrics")
		if err == nil && strings.Contains(body, "kube_node_status_condition{") {
			break
		}
		if time.Since(start) > time.Minute {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("kube-state-metrics at %s serves no kube_node_status_condition after 1m (%v)\n%s", addr, err, tailOf(string(log), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("kube-state-metrics at %s, serving node metrics after %s", addr, time.Since(start).Round(100*time.Millisecond))
	return addr
}

// alertingPrometheusConfig scrapes kube-state-metrics and evaluates the
// rules every 2s, and sends alerts to one Alertmanager. Job name and
// honor_labels are kube-prometheus' (the rules select job="kube-state-metrics").
const alertingPrometheusConfig = `global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
rule_files: ["@RULES@"]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{targets: ["@ALERTMANAGER@"]}]
scrape_configs:
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs: [{targets: ["@KSM@"]}]
`

// startAlerting validates the rules (promtool check rules) and the
// Alertmanager configuration (amtool check-config), starts Alertmanager
// (clustering off), kube-state-metrics unless opts.KSM names one, and
// Prometheus on free loopback ports, and waits until Prometheus scrapes
// kube-state-metrics, has loaded the rules and found Alertmanager. The
// processes stop when the test ends.
func startAlerting(t *testing.T, opts alertingOpts) *alerting {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"prometheus", "promtool", "prometheus-alertmanager", "amtool"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is not installed (make deps, or apt-get install prometheus prometheus-alertmanager): %v", name, err)
		}
		bins[name] = p
	}
	if opts.WebhookURL == "" {
		t.Fatal("startAlerting: no WebhookURL")
	}
	a := &alerting{Dir: t.TempDir()}
	rules := opts.RulesFile
	if rules == "" {
		rules = filepath.Join(repoRoot, "e2e", "prom", "alerting-rules.yml")
	}
	if out, err := exec.Command(bins["promtool"], "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rules, err, out)
	}

	// Alertmanager.
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "e2e", "prom", "alertmanager.yml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(tmpl)
	if opts.BearerToken == "" {
		conf = conf[:strings.Index(conf, "        http_config:")]
	}
	conf = strings.NewReplacer("@WEBHOOK_URL@", opts.WebhookURL, "@TOKEN@", opts.BearerToken).Replace(conf)
	amConf := filepath.Join(a.Dir, "alertmanager.yml")
	if err := os.WriteFile(amConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bins["amtool"], "check-config", amConf).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	amAddr := freeLoopbackAddr(t)
	a.AlertmanagerURL = "http://" + amAddr
	startProcess(t, exec.Command(bins["prometheus-alertmanager"], "--config.file="+amConf,
		"--storage.path="+filepath.Join(a.Dir, "alertmanager"), "--web.listen-address="+amAddr,
		"--cluster.listen-address=", "--web.external-url="+a.AlertmanagerURL), filepath.Join(a.Dir, "alertmanager.log"))

	a.KSM = opts.KSM
	if a.KSM == "" {
		a.KSM = startKSM(t, adminKubeconfig)
	}

	// Prometheus.
	promConf := filepath.Join(a.Dir, "prometheus.yml")
	conf = strings.NewReplacer("@RULES@", rules, "@ALERTMANAGER@", amAddr, "@KSM@", a.KSM).Replace(alertingPrometheusConfig)
	if err := os.WriteFile(promConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bins["promtool"], "check", "config", promConf).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	promAddr := freeLoopbackAddr(t)
	a.PrometheusURL = "http://" + promAddr
	startProcess(t, exec.Command(bins["prometheus"], "--config.file="+promConf,
		"--storage.tsdb.path="+filepath.Join(a.Dir, "prometheus"), "--web.listen-address="+promAddr,
		"--web.external-url="+a.PrometheusURL), filepath.Join(a.Dir, "prometheus.log"))

	start := time.Now()
	var state string
	for {
		state = a.readiness()
		if state == "" {
			break
		}
		if time.Since(start) > 90*time.Second {
			for _, f := range []string{"alertmanager.log", "prometheus.log"} {
				log, _ := os.ReadFile(filepath.Join(a.Dir, f))
				t.Logf("%s:\n%s", f, tailOf(string(log), 2000))
			}
			t.Fatalf("alerting not ready after 90s: %s", state)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("alerting ready in %s: prometheus %s, alertmanager %s, kube-state-metrics %s (files in %s)",
		time.Since(start).Round(100*time.Millisecond), a.PrometheusURL, a.AlertmanagerURL, a.KSM, a.Dir)
	return a
}

// readiness returns what is not ready yet, or "" when Alertmanager is
// ready, Prometheus scrapes kube-state-metrics, has evaluated every rule
// without error and knows the Alertmanager.
func (a *alerting) readiness() string {
	if _, err := httpGet(a.AlertmanagerURL + "/-/ready"); err != nil {
		return "alertmanager: " + err.Error()
	}
	health, err := targetHealth(a.PrometheusURL)
	if err != nil || health != "kube-state-metrics=up" {
		return fmt.Sprintf("prometheus targets: %q %v", health, err)
	}
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(a.PrometheusURL+"/api/v1/rules", &rules); err != nil {
		return "prometheus rules: " + err.Error()
	}
	n := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Health != "ok" || r.LastEvaluation.IsZero() {
				return fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
			n++
		}
	}
	if n == 0 {
		return "prometheus has loaded no rule"
	}
	var ams struct {
		Data struct {
			Active []struct {
				URL string `json:"url"`
			} `json:"activeAlertmanagers"`
		} `json:"data"`
	}
	if err := getJSON(a.PrometheusURL+"/api/v1/alertmanagers", &ams); err != nil || len(ams.Data.Active) == 0 {
		return fmt.Sprintf("prometheus has no active alertmanager (%v)", err)
	}
	return ""
}

// alerts returns Alertmanager's current alerts (GET /api/v2/alerts).
func (a *alerting) alerts(t *testing.T) []amAlert {
	t.Helper()
	var out []amAlert
	if err := getJSON(a.AlertmanagerURL+"/api/v2/alerts", &out); err != nil {
		t.Fatalf("alertmanager alerts: %v", err)
	}
	return out
}

// promAlert is one alert of Prometheus' GET /api/v1/alerts.
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"` // pending, firing
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

// promAlerts returns Prometheus' pending and firing alerts (GET
// /api/v1/alerts), for diagnostics: an alert pending there has not reached
// Alertmanager yet.
func (a *alerting) promAlerts(t *testing.T) []promAlert {
	t.Helper()
	var out struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(a.PrometheusURL+"/api/v1/alerts", &out); err != nil {
		t.Fatalf("prometheus alerts: %v", err)
	}
	return out.Data.Alerts
}

// logState logs Prometheus' and Alertmanager's alerts, for a failing
// test; it never fails the test itself.
func (a *alerting) logState(t *testing.T) {
	t.Helper()
	var p struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(a.PrometheusURL+"/api/v1/alerts", &p); err != nil {
		t.Logf("prometheus alerts: %v", err)
	}
	for _, x := range p.Data.Alerts {
		t.Logf("prometheus: %s %s node=%s since %s", x.Labels["alertname"], x.State, x.Labels["node"], x.ActiveAt.Format(time.TimeOnly))
	}
	var am []amAlert
	if err := getJSON(a.AlertmanagerURL+"/api/v2/alerts", &am); err != nil {
		t.Logf("alertmanager alerts: %v", err)
	}
	for _, x := range am {
		t.Logf("alertmanager: %s %s node=%s fingerprint %s", x.Labels["alertname"], x.Status.State, x.Labels["node"], x.Fingerprint)
	}
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

func getJSON(url string, v any) error {
	body, err := httpGet(url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

const (
	// heartbeatLabel marks the nodes (and their Leases) whose heartbeat
	// stopHeartbeat stopped.
	heartbeatLabel = "kubepatrol.io/e2e-heartbeat"
	// heartbeatPolicy names the ValidatingAdmissionPolicy (and its binding)
	// that refuses kwok's heartbeats for those nodes.
	heartbeatPolicy = "kubepatrol-e2e-stop-heartbeat"
	// kwokUser is the user kwok authenticates as (its client certificate's
	// CN, in e2e/cluster/up.sh).
	kwokUser = "kwok"
)

// stopHeartbeat stops kwok's heartbeat for kwok-managed nodes, as a
// network partition between their kubelets and the API server would: a
// ValidatingAdmissionPolicy refuses kwok's writes to the nodes' status and
// to their Leases in kube-node-lease, for the objects labelled
// kubepatrol.io/e2e-heartbeat=stopped, and stopHeartbeat labels the nodes'
// Leases and the nodes. (Taking the Lease over is not enough: kwok v0.7.0
// then stops renewing it but goes on posting node status every 20-45s.)
// The node lifecycle controller sets Ready=Unknown after its grace period
// (--node-monitor-grace-period, 50s in up.sh) and taints the node
// node.kubernetes.io/unreachable. It returns once the API server refuses
// kwok's writes; the test's cleanup restores the nodes (restoreHeartbeat)
// and deletes the policy when no node is labelled any more.
func stopHeartbeat(t *testing.T, nodes ...string) time.Time {
	t.Helper()
	if len(nodes) == 0 {
		t.Fatal("stopHeartbeat: no node")
	}
	ctx := context.Background()
	ensureHeartbeatPolicy(t)
	t.Cleanup(func() {
		var stopped []string
		for _, node := range nodes {
			if n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil && n.Labels[heartbeatLabel] != "" {
				stopped = append(stopped, node)
			}
		}
		if len(stopped) > 0 {
			restoreHeartbeat(t, stopped...)
		}
		dropHeartbeatPolicy(t)
	})
	for _, node := range nodes {
		// The Lease first: a kubelet whose Lease is renewed is alive.
		if err := setHeartbeatLabel(ctx, node, true); err != nil {
			t.Fatal(err)
		}
	}
	// The policy takes effect once the API server has loaded it: probe
	// with a dry-run Lease update as kwok.
	asKwok := kwokClient(t)
	waitUntil(t, 30*time.Second, "the API server refusing kwok's Lease updates", func() bool {
		return kwokLeaseRefused(ctx, asKwok, nodes[0])
	})
	return time.Now()
}

// restoreHeartbeat removes the label from the nodes' Leases and the nodes,
// so that kwok's heartbeats go through again, and waits until every node is
// Ready and no longer tainted not-ready or unreachable. It returns the time
// the labels were removed.
func restoreHeartbeat(t *testing.T, nodes ...string) time.Time {
	t.Helper()
	ctx := context.Background()
	for _, node := range nodes {
		if err := setHeartbeatLabel(ctx, node, false); err != nil {
			t.Error(err)
		}
	}
	at := time.Now()
	took := waitUntil(t, 2*time.Minute, fmt.Sprintf("nodes %v Ready and untainted", nodes), func() bool {
		for _, node := range nodes {
			n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil || readyStatus(n) != corev1.ConditionTrue {
				return false
			}
			for _, taint := range n.Spec.Taints {
				if taint.Key == corev1.TaintNodeUnreachable || taint.Key == corev1.TaintNodeNotReady {
					return false
				}
			}
		}
		return true
	})
	t.Logf("heartbeat of %v restored: Ready and untainted after %s", nodes, took.Round(100*time.Millisecond))
	return at
}

// setHeartbeatLabel adds (stopped) or removes the heartbeat label on the
// node's Lease and the node; the Lease first when adding, last when
// removing.
func setHeartbeatLabel(ctx context.Context, node string, stopped bool) error {
	value := "null"
	if stopped {
		value = `"stopped"`
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, heartbeatLabel, value))
	lease := func() error {
		_, err := kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("label the lease of node %s: %w", node, err)
		}
		return nil
	}
	nodeLabel := func() error {
		_, err := kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("label node %s: %w", node, err)
		}
		return nil
	}
	if stopped {
		return errors.Join(lease(), nodeLabel())
	}
	return errors.Join(nodeLabel(), lease())
}

// ensureHeartbeatPolicy creates the ValidatingAdmissionPolicy and binding
// that refuse kwok's writes to labelled nodes' status and Leases.
func ensureHeartbeatPolicy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rules := []admissionregistrationv1.NamedRuleWithOperations{
		{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"*"}, Resources: []string{"nodes/status"}},
		}},
		{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"coordination.k8s.io"}, APIVersions: []string{"*"}, Resources: []string{"leases"}},
		}},
	}
	fail := admissionregistrationv1.Fail
	forbidden := metav1.StatusReasonForbidden
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: heartbeatPolicy, Labels: map[string]string{scenarios.Label: "alerting"}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{heartbeatLabel: "stopped"}},
				ResourceRules:  rules,
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("request.userInfo.username != %q", kwokUser),
				Message:    "kubepatrol e2e: this node's heartbeat is stopped (label " + heartbeatLabel + ")",
				Reason:     &forbidden,
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: heartbeatPolicy, Labels: policy.Labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        heartbeatPolicy,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	ar := kube.AdmissionregistrationV1()
	if _, err := ar.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create ValidatingAdmissionPolicy %s: %v", heartbeatPolicy, err)
	}
	if _, err := ar.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create ValidatingAdmissionPolicyBinding %s: %v", heartbeatPolicy, err)
	}
}

// dropHeartbeatPolicy deletes the policy and its binding unless a node is
// still labelled.
func dropHeartbeatPolicy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: heartbeatLabel})
	if err != nil || len(list.Items) > 0 {
		return
	}
	ar := kube.AdmissionregistrationV1()
	if err := ar.ValidatingAdmissionPolicyBindings().Delete(ctx, heartbeatPolicy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete ValidatingAdmissionPolicyBinding %s: %v", heartbeatPolicy, err)
	}
	if err := ar.ValidatingAdmissionPolicies().Delete(ctx, heartbeatPolicy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete ValidatingAdmissionPolicy %s: %v", heartbeatPolicy, err)
	}
}

// kwokClient returns a client that acts as kwok (an admin impersonating
// kwok's user and group).
func kwokClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: kwokUser, Groups: []string{"system:masters"}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kwokLeaseRefused reports whether the API server refuses, by the policy,
// a dry-run update of the node's Lease made as kwok.
func kwokLeaseRefused(ctx context.Context, asKwok kubernetes.Interface, node string) bool {
	leases := asKwok.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	l, err := leases.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false
	}
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), heartbeatPolicy)
}

// readyStatus returns the node's Ready condition status ("" if none).
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// readyKwokNodes returns the names of the Ready, schedulable nodes kwok
// manages (label type=kwok), sorted.
func readyKwokNodes(t *testing.T) []string {
	t.Helper()
	list, err := kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range list.Items {
		n := &list.Items[i]
		if n.Annotations[scenarios.KwokNodeAnnotation] == "fake" && !n.Spec.Unschedulable && readyStatus(n) == corev1.ConditionTrue {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestAlertingChain proves the real alerting chain the remediation engine
// listens to: a kwok node whose heartbeat stops goes NotReady (the node
// lifecycle controller's doing), kube-state-metrics exports it, Prometheus
// fires the kubernetes-mixin's KubeNodeNotReady (for shortened to 10s) and
// Alertmanager posts a version 4 webhook, with the bearer token, to a
// loopback sink; when the heartbeat returns, a resolved notification
// follows. It logs the time from fault to webhook.
func TestAlertingChain(t *testing.T) {
	ctx := context.Background()
	const token = "e2e-alerting-chain-token"
	sink := newCapture(t)
	a := startAlerting(t, alertingOpts{WebhookURL: sink.URL + "/alerts", BearerToken: token})

	node, err := scenarios.KwokNode(ctx, kube, "alerting-chain")
	if err != nil {
		t.Fatal(err)
	}
	// The chain is quiet about a healthy node: nothing fires for it before
	// the fault (Prometheus has evaluated the rules already).
	for _, p := range a.promAlerts(t) {
		if p.Labels["node"] == node {
			t.Fatalf("alert %s %s about node %s before the fault", p.Labels["alertname"], p.State, node)
		}
	}

	healthy := readyKwokNodes(t) // the fault must not page about these
	fault := stopHeartbeat(t, node)
	t.Logf("fault: stopped the heartbeat of %s at %s", node, fault.Format(time.TimeOnly))
	waitFire := func(alertname string) captured {
		t.Helper()
		defer func() {
			if t.Failed() {
				a.logState(t)
			}
		}()
		return sink.wait(t, 3*time.Minute, webhookAbout("firing", alertname, node))
	}
	fire := waitFire("KubeNodeNotReady")

	n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var notReadyAt time.Time
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			notReadyAt = c.LastTransitionTime.Time
			if c.Status != corev1.ConditionUnknown {
				t.Errorf("node %s: Ready=%s (%s) when the alert fired, want Unknown (the node lifecycle controller's)", node, c.Status, c.Reason)
			}
		}
	}
	t.Logf("fault → webhook %s (fault → NotReady %s by the node lifecycle controller, NotReady → webhook %s through kube-state-metrics, Prometheus for: 10s and Alertmanager)",
		fire.At.Sub(fault).Round(100*time.Millisecond), notReadyAt.Sub(fault).Round(time.Second), fire.At.Sub(notReadyAt).Round(time.Second))

	if got := fire.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization %q, want the bearer token", got)
	}
	if ct := fire.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := fire.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Alertmanager/") {
		t.Errorf("User-Agent %q, want Alertmanager's", ua)
	}
	if fire.Method != http.MethodPost || fire.Path != "/alerts" {
		t.Errorf("%s %s, want POST /alerts", fire.Method, fire.Path)
	}
	var msg amWebhook
	fire.decode(t, &msg)
	al, _ := msg.find("KubeNodeNotReady", node)
	for _, c := range []struct{ what, got, want string }{
		{"version", msg.Version, "4"},
		{"status", msg.Status, "firing"},
		{"receiver", msg.Receiver, "webhook"},
		{"groupLabels.alertname", msg.GroupLabels["alertname"], "KubeNodeNotReady"},
		{"externalURL", msg.ExternalURL, a.AlertmanagerURL},
		{"labels.severity", al.Labels["severity"], "warning"},
		{"labels.job", al.Labels["job"], "kube-state-metrics"},
		{"labels.condition", al.Labels["condition"], "Ready"},
		{"labels.status", al.Labels["status"], "true"},
		{"annotations.summary", al.Annotations["summary"], "Node is not ready."},
	} {
		if c.got != c.want {
			t.Errorf("webhook %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !fingerprintRE.MatchString(al.Fingerprint) {
		t.Errorf("fingerprint %q, want 16 hex digits", al.Fingerprint)
	}
	if al.StartsAt.Before(fault) || !al.EndsAt.IsZero() {
		t.Errorf("startsAt %s (fault at %s), endsAt %s: want a start after the fault and no end", al.StartsAt, fault, al.EndsAt)
	}
	if !strings.HasPrefix(al.GeneratorURL, a.PrometheusURL+"/graph?") {
		t.Errorf("generatorURL %q, want Prometheus' graph link", al.GeneratorURL)
	}
	if !strings.Contains(al.Annotations["description"], node) {
		t.Errorf("description %q does not name the node", al.Annotations["description"])
	}

	// Alertmanager's API agrees: the alert is active, same fingerprint.
	var active bool
	for _, x := range a.alerts(t) {
		if x.Labels["alertname"] == "KubeNodeNotReady" && x.Labels["node"] == node {
			active = x.Status.State == "active" && x.Fingerprint == al.Fingerprint
			if !active {
				t.Errorf("alertmanager has %s %s fingerprint %s, want active %s", x.Labels["alertname"], x.Status.State, x.Fingerprint, al.Fingerprint)
			}
		}
	}
	if !active {
		t.Errorf("alertmanager's /api/v2/alerts lacks the alert it sent")
	}

	// The taint-based rule fires too, in its own group (group_by alertname).
	unreach := waitFire("KubeNodeUnreachable")
	t.Logf("KubeNodeUnreachable webhook %s after the fault", unreach.At.Sub(fault).Round(100*time.Millisecond))

	restored := restoreHeartbeat(t, node)
	res := sink.wait(t, 2*time.Minute, webhookAbout("resolved", "KubeNodeNotReady", node))
	var rmsg amWebhook
	res.decode(t, &rmsg)
	ral, _ := rmsg.find("KubeNodeNotReady", node)
	t.Logf("heartbeat restored → resolved webhook %s", res.At.Sub(restored).Round(100*time.Millisecond))
	if ral.Fingerprint != al.Fingerprint {
		t.Errorf("resolved fingerprint %s, firing one %s: want the same alert", ral.Fingerprint, al.Fingerprint)
	}
	if !ral.StartsAt.Equal(al.StartsAt) || ral.EndsAt.Before(ral.StartsAt) || ral.EndsAt.After(res.At) {
		t.Errorf("resolved startsAt %s endsAt %s (firing startsAt %s)", ral.StartsAt, ral.EndsAt, al.StartsAt)
	}
	allResolved := !slices.ContainsFunc(rmsg.Alerts, func(x amWebhookAlert) bool { return x.Status == "firing" })
	if (rmsg.Status == "resolved") != allResolved {
		t.Errorf("notification status %q with alerts %+v", rmsg.Status, rmsg.Alerts)
	}
	if got := res.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("resolved: Authorization %q, want the bearer token", got)
	}

	// Only the faulty node was paged about.
	for _, r := range sink.requests() {
		w, ok := parseWebhook(r)
		if !ok {
			t.Errorf("the sink received something else than an Alertmanager webhook: %s", r)
			continue
		}
		for _, x := range w.Alerts {
			if x.Labels["node"] != node && slices.Contains(healthy, x.Labels["node"]) {
				t.Errorf("alert %s %s about healthy node %s", x.Labels["alertname"], x.Status, x.Labels["node"])
			}
		}
	}
}
