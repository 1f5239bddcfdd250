package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/remediation/ledger"
)

const remediationPlaybook = `apiVersion: kubepatrol.io/v1
kind: Playbook
name: node-down
version: "3"
enabled: true
trigger:
  alerts: [{alertname: KubeNodeNotReady}]
  checks: [node.not_ready, node.unreachable]
  object: {kind: Node}
steps:
  - name: cordon_node
    action: cordon
escalate:
  pagers: [oncall]
guards:
  max_unhealthy: 100%
`

func remediationConfig(dir string) string {
	return `cluster: test
jitter: 0s
groups:
  - name: nodes
    schedule: "@every 1m"
    checks: [node]
remediation:
  enabled: true
  playbooks: [playbooks]
  ledger: {path: ` + filepath.Join(dir, "ledger.db") + `}
  webhook: {bearer_token: tok}
  pagers:
    oncall: {type: webhook, url: http://127.0.0.1:9/hook}
`
}

// With remediation on, a sweep's firing finding and an Alertmanager
// webhook both become ledger records, served by the evidence API; the
// finding lifecycle is kept in the ledger and survives a restart.
func TestRemediationWired(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pb.yaml"), remediationPlaybook)
	cfg := remediationConfig(dir)
	cfg = strings.Replace(cfg, "playbooks: [playbooks]", "playbooks: ["+filepath.Join(dir, "pb.yaml")+"]", 1)
	h := newHarness(t, cfg, fixture(t, "node/not_ready.yaml"))
	defer h.d.ledger.Close()
	h.sweepAll()

	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	var list struct {
		Records []*ledger.Record `json:"records"`
	}
	res, err := http.Get(srv.URL + "/api/v1/evidence")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Records) == 0 {
		t.Fatal("no record for the sweep's findings")
	}
	for _, r := range list.Records {
		if r.Trigger.Source != "finding" || r.Playbook != "node-down" || r.Target.Kind != "Node" {
			t.Errorf("record %+v", r)
		}
	}

	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubeNodeNotReady","node":"somewhere"},"startsAt":"2026-03-02T09:00:00Z","fingerprint":"f1"}]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", strings.NewReader(body))
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 401 {
		t.Errorf("webhook without token: %d", res.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 200 {
		t.Errorf("webhook: %d", res.StatusCode)
	}
	if got := h.d.remediationMetrics.Alerts.WithLabelValues("firing"); got == nil {
		t.Error("no alert metric")
	}

	// The lifecycle went to the ledger; a new daemon on the same config
	// restores it.
	h.d.mu.Lock()
	n := len(h.d.life.Findings)
	h.d.mu.Unlock()
	if n == 0 {
		t.Fatal("no finding tracked")
	}
	data, ok, err := h.d.ledger.GetState(context.Background(), stateKey("test"))
	if err != nil || !ok || len(data) == 0 {
		t.Fatalf("lifecycle not in the ledger: %v %v", ok, err)
	}
	h.d.ledger.Close()
	h2 := newHarness(t, cfg, fixture(t, "node/not_ready.yaml"))
	defer h2.d.ledger.Close()
	if got := len(h2.d.life.Findings); got != n {
		t.Errorf("restored %d findings, want %d", got, n)
	}
}

// A playbook that pages an undefined pager is a config error with its
// position.
func TestRemediationConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pb.yaml"), strings.Replace(remediationPlaybook, "pagers: [oncall]", "pagers: [nobody]", 1))
	cfg := strings.Replace(remediationConfig(dir), "playbooks: [playbooks]", "playbooks: [pb.yaml]", 1)
	path := filepath.Join(dir, "patrold.yaml")
	writeFile(t, path, cfg)
	err := CheckFile(path)
	if err == nil || !strings.Contains(err.Error(), "pb.yaml:14:") || !strings.Contains(err.Error(), `pager "nobody" is not defined`) {
		t.Errorf("got %v", err)
	}
}
