//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

const (
	e2eWebhookToken = "e2e-webhook-token"
	e2eRoutingKey   = "0123456789abcdef0123456789abcdef" // PagerDuty keys are 32 characters
)

// The playbooks the remediation test runs: the shipped node-not-ready
// playbook enabled and with a short verification, plus two driven by
// synthetic alerts (a crash test and a PDB-blocked drain).
const e2ePlaybooks = `apiVersion: kubepatrol.io/v1
kind: Playbook
name: node-not-ready
version: "e2e"
enabled: true
trigger:
  alerts:
    - alertname: KubeNodeNotReady
    - alertname: KubeNodeUnreachable
  object: {kind: Node}
diagnosis:
  checks: [node.not_ready, node.unreachable]
  require: true
steps:
  - name: cordon_node
    action: cordon
verify:
  checks: [node.not_ready, node.unreachable]
  timeout: 20s
  interval: 5s
escalate:
  pagers: [oncall, chat]
  severity: critical
guards:
  cooldown: 1h
  max_unhealthy: 30%
---
apiVersion: kubepatrol.io/v1
kind: Playbook
name: e2e-crash
version: "e2e"
enabled: true
trigger:
  alerts: [{alertname: PatrolE2ECrash}]
  object: {kind: Node}
steps:
  - name: cordon_node
    action: cordon
guards:
  max_unhealthy: 100%
---
apiVersion: kubepatrol.io/v1
kind: Playbook
name: e2e-drain
version: "e2e"
enabled: true
trigger:
  alerts: [{alertname: PatrolE2EDrain}]
  object: {kind: Node}
steps:
  - name: drain_node
    action: drain
    risk: high
    params: {timeout: 10s}
escalate:
  pagers: [oncall]
guards:
  max_unhealthy: 100%
`

type remediationRig struct {
	dir, config, addr string
	pd, slack         *capture
	p                 *patrold
}

func newRemediationRig(t *testing.T) *remediationRig {
	t.Helper()
	r := &remediationRig{dir: t.TempDir(), addr: freeAddr(t), pd: newPagerDutyCapture(t), slack: newSlackCapture(t)}
	if err := os.MkdirAll(filepath.Join(r.dir, "playbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "playbooks", "e2e.yaml"), []byte(e2ePlaybooks), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`cluster: e2e
groups:
  - name: nodes
    schedule: "@every 10s"
    checks: [node]
remediation:
  enabled: true
  playbooks: [playbooks]
  findings: false
  report_url: http://%s
  ledger: {path: ledger.db}
  webhook: {bearer_token: %s}
  guards:
    cooldown: 1h
    rate_limit: {max: 50, per: 1h}
  pagers:
    oncall: {type: pagerduty, url: %s/v2/enqueue, routing_key: %s, max_attempts: 3}
    chat: {type: slack, url: %s/services/T000/B000/XXXX, max_attempts: 3}
`, r.addr, e2eWebhookToken, r.pd.URL, e2eRoutingKey, r.slack.URL)
	r.config = filepath.Join(r.dir, "patrold.yaml")
	if err := os.WriteFile(r.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs patrold on the rig's config, address and ledger, and waits
// until it is ready.
func (r *remediationRig) start(t *testing.T, name string, env ...string) *patrold {
	t.Helper()
	p := launchPatrold(t, name, r.config, r.addr, env...)
	waitUntil(t, 60*time.Second, name+" ready", func() bool { c, _ := p.get("/readyz"); return c == 200 })
	r.p = p
	return p
}

// post sends a webhook body to patrold as Alertmanager would.
func (r *remediationRig) post(t *testing.T, m remediation.WebhookMessage) remediation.WebhookResponse {
	t.Helper()
	body, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eWebhookToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out remediation.WebhookResponse
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 {
		t.Fatalf("webhook: %d %+v", res.StatusCode, out)
	}
	return out
}

func (r *remediationRig) records(t *testing.T, query string) []*ledger.Record {
	t.Helper()
	code, body := r.p.get("/api/v1/evidence?" + query)
	if code != 200 {
		t.Fatalf("evidence: %d %s", code, body)
	}
	var out struct {
		Records []*ledger.Record `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Records
}

func (r *remediationRig) record(t *testing.T, id string) *ledger.Record {
	t.Helper()
	code, body := r.p.get("/api/v1/evidence/" + id)
	if code != 200 {
		t.Fatalf("evidence %s: %d %s", id, code, body)
	}
	var rec ledger.Record
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	return &rec
}

func (r *remediationRig) waitRecord(t *testing.T, id string, timeout time.Duration, states ...ledger.State) *ledger.Record {
	t.Helper()
	var rec *ledger.Record
	waitUntil(t, timeout, fmt.Sprintf("record %s in %v", id, states), func() bool {
		rec = r.record(t, id)
		for _, s := range states {
			if rec.State == s {
				return true
			}
		}
		return false
	})
	return rec
}

func synthetic(name, node string) remediation.WebhookMessage {
	return remediation.WebhookMessage{
		Version: "4", Status: "firing", Receiver: "patrol", GroupKey: "{}:{alertname=\"" + name + "\"}",
		Alerts: []remediation.Alert{{
			Status: "firing", Labels: map[string]string{"alertname": name, "node": node, "severity": "warning"},
			StartsAt: time.Now().Add(-time.Minute), Fingerprint: fmt.Sprintf("%s-%s-%d", name, node, time.Now().UnixNano()),
		}},
	}
}

func cordoned(t *testing.T, node string) bool {
	n, err := kube.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

// uncordon undoes what remediation did to a node, so that later tests see
// the baseline.
func uncordon(t *testing.T, node string) {
	patch := `{"spec":{"unschedulable":null},"metadata":{"annotations":{"` + remediation.AnnotationRecord + `":null,"kubectl.kubernetes.io/restartedAt":null}}}`
	if _, err := kube.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Errorf("uncordon %s: %v", node, err)
	}
}

func patrolEvents(t *testing.T, node, reason string) int {
	evs, err := kube.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + node + ",reason=" + reason})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs.Items)
}

// idleNode returns a node that runs no pods but DaemonSet ones (which a
// drain leaves alone).
func idleNode(t *testing.T, nodes []string) string {
	for _, n := range nodes {
		pods, err := kube.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + n})
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, p := range pods.Items {
			if c := metav1.GetControllerOf(&p); c == nil || c.Kind != "DaemonSet" {
				busy = true
			}
		}
		if !busy {
			return n
		}
	}
	t.Fatal("no kwok node without pods")
	return ""
}

// TestRemediation drives patrold's remediation against the real control
// plane, Prometheus and Alertmanager:
//   - crash safety: patrold is SIGKILLed between a cordon and the record of
//     its outcome; after a restart there is one action and one record;
//   - a drain of a node whose only pod a PodDisruptionBudget protects waits
//     for approval, then times out naming the pod, and pages;
//   - a node goes NotReady → Prometheus and Alertmanager fire → webhook →
//     playbook → the node is cordoned → ledger record with trace ID →
//     verification fails → PagerDuty- and Slack-shaped pages; the alert's
//     resolution resolves the page;
//   - half the nodes NotReady at once → no cordon, one page.
func TestRemediation(t *testing.T) {
	ctx := context.Background()
	r := newRemediationRig(t)
	nodes := readyKwokNodes(t)
	if len(nodes) < 12 {
		t.Fatalf("need 12 ready kwok nodes, have %d", len(nodes))
	}

	parent := t
	t.Run("crash between intent and outcome", func(t *testing.T) {
		node := nodes[len(nodes)-1]
		t.Cleanup(func() { uncordon(t, node) })
		p1 := r.start(parent, "crashing", "KUBEPATROL_FAILPOINT=after-action")
		out := r.post(t, synthetic("PatrolE2ECrash", node))
		if len(out.Outcomes) != 1 || out.Outcomes[0].Result != "decided" {
			t.Fatalf("outcome %+v", out.Outcomes)
		}
		id := out.Outcomes[0].RecordID
		select {
		case <-p1.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the failpoint did not kill patrold")
		}
		if !cordoned(t, node) {
			t.Fatalf("%s not cordoned before the crash", node)
		}
		l, err := ledger.Open(ctx, ledger.Config{Driver: "sqlite", Path: filepath.Join(r.dir, "ledger.db")})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := l.Get(ctx, id)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != ledger.Running || rec.Steps[0].Status != ledger.StepIntent {
			t.Fatalf("after the crash: %s / step %s, want running / intent", rec.State, rec.Steps[0].Status)
		}
		r.start(parent, "restarted") // serves the rest of the test
		rec = r.waitRecord(t, id, time.Minute, ledger.Succeeded)
		st := rec.Steps[0]
		if st.Status != ledger.StepReconciled || !strings.Contains(st.Message, "not repeated") {
			t.Errorf("step after restart: %s %q", st.Status, st.Message)
		}
		if n := len(r.records(t, "target=Node/"+node)); n != 1 {
			t.Errorf("%d records for %s, want 1", n, node)
		}
		if n := patrolEvents(t, node, "PatrolCordon"); n != 1 {
			t.Errorf("%d PatrolCordon events on %s, want 1 (one action)", n, node)
		}
		n, _ := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if n.Annotations[remediation.AnnotationRecord] != id {
			t.Errorf("node annotation %q, want the record ID %s", n.Annotations[remediation.AnnotationRecord], id)
		}
	})
	if r.p == nil || r.p.cmd.ProcessState != nil {
		t.Fatal("patrold is not running")
	}

	t.Run("drain blocked by a PodDisruptionBudget", func(t *testing.T) {
		node := idleNode(t, nodes[12:])
		ns := "e2e-drain"
		t.Cleanup(func() {
			_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			uncordon(t, node)
		})
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": "guarded"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						NodeName:    node,
						Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
						Containers:  []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
					},
				},
			},
		}
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: ns},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}},
		}
		if _, err := kube.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pod string
		waitUntil(t, 90*time.Second, "the guarded pod to run and its PDB to count it", func() bool {
			p, _ := kube.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
			pods, _ := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if p == nil || pods == nil || len(pods.Items) != 1 {
				return false
			}
			pod = pods.Items[0].Name
			return p.Status.CurrentHealthy == 1 && p.Status.ObservedGeneration == p.Generation
		})
		out := r.post(t, synthetic("PatrolE2EDrain", node))
		id := out.Outcomes[0].RecordID
		rec := r.waitRecord(t, id, 30*time.Second, ledger.AwaitingApproval)
		if cordoned(t, node) {
			t.Fatal("the high-risk drain acted before approval")
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/api/v1/evidence/"+id+"/approve", strings.NewReader(`{"by":"e2e"}`))
		req.Header.Set("Authorization", "Bearer "+e2eWebhookToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("approve: %v %v", err, res)
		}
		res.Body.Close()
		rec = r.waitRecord(t, id, 90*time.Second, ledger.Failed, ledger.Succeeded)
		st := rec.Steps[0]
		if rec.State != ledger.Failed || len(st.Blockers) == 0 || !strings.Contains(strings.Join(st.Blockers, ";"), ns+"/"+pod) ||
			!strings.Contains(strings.Join(st.Blockers, ";"), "PodDisruptionBudget "+ns+"/guarded") {
			t.Fatalf("drain: state %s, blockers %q, error %q", rec.State, st.Blockers, st.Error)
		}
		if st.ApprovedBy != "e2e" {
			t.Errorf("approval not recorded: %+v", st)
		}
		t.Logf("drain blocked as expected: %s", st.Blockers[0])
		r.pd.wait(t, 30*time.Second, func(c captured) bool { return strings.Contains(string(c.Body), id) })
		if _, err := kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{}); err != nil {
			t.Errorf("the protected pod is gone: %v", err)
		}
	})

	al := startAlerting(t, alertingOpts{WebhookURL: "http://" + r.addr + "/api/v1/alerts", BearerToken: e2eWebhookToken})
	_ = al

	t.Run("node NotReady is cordoned, verified, paged and resolved", func(t *testing.T) {
		node := nodes[0]
		t.Cleanup(func() { uncordon(t, node) })
		fault := stopHeartbeat(t, node)
		waitUntil(t, 4*time.Minute, node+" cordoned by patrold", func() bool { return cordoned(t, node) })
		t.Logf("fault → cordon: %s", time.Since(fault).Round(100*time.Millisecond))
		recs := r.records(t, "target=Node/"+node+"&playbook=node-not-ready")
		var acted *ledger.Record
		for _, rec := range recs {
			if rec.Trigger.Source == "alertmanager" && len(rec.Steps) > 0 && rec.Steps[0].Status != ledger.StepSkipped {
				acted = rec
			}
		}
		if acted == nil {
			t.Fatalf("no acting record for %s: %d records", node, len(recs))
		}
		if len(acted.TraceID) != 32 || acted.Trigger.Alertname == "" || acted.Trigger.Labels["node"] != node {
			t.Errorf("record: trace %q trigger %+v", acted.TraceID, acted.Trigger)
		}
		rec := r.waitRecord(t, acted.ID, 2*time.Minute, ledger.Escalated, ledger.Succeeded)
		if rec.State != ledger.Escalated {
			t.Fatalf("verification of a node still NotReady: %s %s", rec.State, rec.Message)
		}
		var patch *ledger.Call
		for i, c := range rec.Steps[0].Calls {
			if c.Verb == "patch" && c.Resource == "nodes" {
				patch = &rec.Steps[0].Calls[i]
			}
		}
		if patch == nil || patch.ResourceVersionBefore == "" || patch.ResourceVersionAfter == "" || patch.ResourceVersionBefore == patch.ResourceVersionAfter {
			t.Errorf("no node patch with resourceVersions before and after: %+v", rec.Steps[0].Calls)
		}
		if len(rec.Findings) == 0 {
			t.Error("no diagnosis findings on the record")
		}
		pd := r.pd.wait(t, 30*time.Second, func(c captured) bool { return strings.Contains(string(c.Body), rec.ID) })
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     struct {
				Summary       string         `json:"summary"`
				Severity      string         `json:"severity"`
				Source        string         `json:"source"`
				CustomDetails map[string]any `json:"custom_details"`
			} `json:"payload"`
			Links []struct{ Href string } `json:"links"`
		}
		pd.decode(t, &ev)
		if ev.EventAction != "trigger" || ev.RoutingKey != e2eRoutingKey || ev.Payload.Severity != "critical" ||
			!strings.Contains(ev.Payload.Source, node) || ev.Payload.CustomDetails["evidence"] == nil || len(ev.Links) == 0 {
			t.Errorf("PagerDuty event: %+v", ev)
		}
		sl := r.slack.wait(t, 30*time.Second, func(c captured) bool { return strings.Contains(string(c.Body), rec.ID) })
		var msg struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		}
		sl.decode(t, &msg)
		if msg.Text == "" || len(msg.Blocks) < 2 || !strings.Contains(string(sl.Body), node) {
			t.Errorf("Slack message: %s", sl.Body)
		}
		// The second alert about the same node (KubeNodeUnreachable)
		// is not a second fault: no second cordon.
		if n := patrolEvents(t, node, "PatrolCordon"); n != 1 {
			t.Errorf("%d cordon events on %s, want 1", n, node)
		}
		restoreHeartbeat(t, node)
		r.pd.wait(t, 2*time.Minute, func(c captured) bool {
			return strings.Contains(string(c.Body), `"event_action":"resolve"`) && strings.Contains(string(c.Body), ev.DedupKey)
		})
	})

	t.Run("half the nodes NotReady: no cordon, one page", func(t *testing.T) {
		half := nodes[1 : 1+len(nodes)/2]
		before := r.pd.count(nil)
		stopHeartbeat(t, half...)
		var refused []*ledger.Record
		waitUntil(t, 4*time.Minute, "refusals for every node", func() bool {
			refused = refused[:0]
			for _, n := range half {
				for _, rec := range r.records(t, "target=Node/"+n+"&state=refused") {
					if rec.Trigger.Source == "alertmanager" {
						refused = append(refused, rec)
						break
					}
				}
			}
			return len(refused) == len(half)
		})
		for _, rec := range refused {
			if g := refusedGuard(rec); g != "max_unhealthy" {
				t.Errorf("%s refused by %q: %s", rec.Target, g, rec.Message)
			}
		}
		time.Sleep(5 * time.Second)
		for _, n := range half {
			if cordoned(t, n) {
				t.Errorf("%s cordoned during a mass outage", n)
			}
		}
		triggers := r.pd.count(func(c captured) bool { return strings.Contains(string(c.Body), `"event_action":"trigger"`) })
		pages := 0
		for _, c := range r.pd.requests()[before:] {
			if strings.Contains(string(c.Body), `"event_action":"trigger"`) {
				pages++
			}
		}
		if pages != 1 {
			t.Errorf("%d PagerDuty triggers during the outage (of %d in all), want 1", pages, triggers)
		}
		restoreHeartbeat(t, half...)
	})
	if t.Failed() {
		al.logState(t)
	}
}

func refusedGuard(rec *ledger.Record) string {
	for _, v := range rec.Guards {
		if !v.Allowed {
			return v.Guard
		}
	}
	return ""
}
