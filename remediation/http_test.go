package remediation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// failingLedger fails every write, as a full disk or a lost database does.
type failingLedger struct{ Ledger }

var errDisk = errors.New("disk I/O error")

func (failingLedger) ObserveAlert(context.Context, ledger.AlertObservation) (*ledger.AlertObservation, error) {
	return nil, errDisk
}

const goodBody = `{"version":"4","groupKey":"{}:{alertname=\"KubeNodeNotReady\"}","truncatedAlerts":0,"status":"firing","receiver":"patrol",
"groupLabels":{"alertname":"KubeNodeNotReady"},"commonLabels":{"alertname":"KubeNodeNotReady"},"commonAnnotations":{},
"externalURL":"http://alertmanager:9093","alerts":[{"status":"firing","labels":{"alertname":"KubeNodeNotReady","node":"worker-c","severity":"warning"},
"annotations":{"summary":"worker-c unready"},"startsAt":"2026-11-22T09:45:00Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://prometheus:9090/graph","fingerprint":"a1b2c3"}]}`

func TestWebhookHTTP(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Enabled = false })})
	mux := http.NewServeMux()
	r.eng.Register(mux, HTTPOptions{WebhookToken: "s3cret", MaxBodyBytes: 4096, Markdown: ledger.WriteMarkdown})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		var wr WebhookResponse
		if json.Unmarshal(b.Bytes(), &wr) == nil && wr.Error != "" {
			return res.StatusCode, wr.Error
		}
		return res.StatusCode, b.String()
	}
	tests := []struct {
		name, token, body string
		code              int
		want              string
	}{
		{"no token", "", goodBody, 401, "bearer token"},
		{"wrong token", "nope", goodBody, 401, "bearer token"},
		{"malformed JSON", "s3cret", `{"version":"4",`, 400, "malformed JSON"},
		{"wrong type", "s3cret", `{"version":4}`, 400, `field "version": want string`},
		{"old version", "s3cret", `{"version":"3","status":"firing","alerts":[]}`, 400, `only version "4"`},
		{"no alerts", "s3cret", `{"version":"4","status":"firing","alerts":[]}`, 400, `"alerts" is empty`},
		{"no fingerprint", "s3cret", strings.Replace(goodBody, `"fingerprint":"a1b2c3"`, `"fingerprint":""`, 1), 400, "alerts[0].fingerprint is missing"},
		{"bad status", "s3cret", strings.Replace(goodBody, `"status":"firing","labels"`, `"status":"burning","labels"`, 1), 400, `alerts[0].status" is "burning"`},
		{"too large", "s3cret", `{"version":"4","pad":"` + strings.Repeat("x", 5000) + `"}`, 413, "larger than 4096"},
		{"trailing data", "s3cret", goodBody + `{}`, 400, "trailing data"},
		{"good", "s3cret", goodBody, 200, `"result": "decided"`},
		{"repeat", "s3cret", goodBody, 200, `"result": "duplicate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.token, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s; want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	// GET is refused; the daemon keeps serving.
	res, err := http.Get(srv.URL + "/api/v1/alerts")
	if err != nil || res.StatusCode != 405 {
		t.Errorf("GET webhook: %v %v", res.StatusCode, err)
	}
	if got := testutil.ToFloat64(r.eng.metrics.Webhook.WithLabelValues("400")); got != 7 {
		t.Errorf("webhook 400s counted %v, want 7", got)
	}

	// The evidence API lists and shows the record.
	res, err = http.Get(srv.URL + "/api/v1/evidence?state=running,planned")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Records []*ledger.Record `json:"records"`
	}
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Records) != 1 || list.Records[0].Trigger.Fingerprint != "a1b2c3" {
		t.Fatalf("evidence list: %+v", list.Records)
	}
	id := list.Records[0].ID
	r.waitState(t, id, ledger.Planned)
	res, _ = http.Get(srv.URL + "/api/v1/evidence/" + id[:12] + "?format=markdown")
	var md bytes.Buffer
	_, _ = md.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(md.String(), id) || !strings.Contains(md.String(), "KubeNodeNotReady") {
		t.Errorf("markdown: %d %s", res.StatusCode, md.String())
	}
	for path, code := range map[string]int{"/api/v1/evidence/rec-nothere": 404, "/api/v1/evidence?bogus=1": 400, "/api/v1/evidence?target=Node": 400} {
		res, _ := http.Get(srv.URL + path)
		if res.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, code)
		}
		res.Body.Close()
	}
	// Approvals and the pause switch need the token.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/remediation/pause", nil)
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 401 {
		t.Errorf("pause without token: %d", res.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 200 || !r.eng.Guards().Paused() {
		t.Errorf("pause: %d, paused %v", res.StatusCode, r.eng.Guards().Paused())
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/v1/evidence/"+id+"/approve", strings.NewReader(`{"by":"alice"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 409 {
		t.Errorf("approving a planned record: %d, want 409", res.StatusCode)
	}
}

// When the ledger cannot record, the webhook answers 503 so Alertmanager
// retries, and nothing is acted on.
func TestWebhookLedgerDown(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook)}, func(o *Options) { o.Ledger = failingLedger{o.Ledger} })
	mux := http.NewServeMux()
	r.eng.Register(mux, HTTPOptions{})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", strings.NewReader(goodBody)))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "disk I/O error") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if r.cordon.calls() != 0 {
		t.Error("acted without a record")
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(goodBody))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"X"},"fingerprint":"f","startsAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"labels":null}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"\u0000"},"fingerprint":"x","startsAt":"bad"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseWebhook(body)
		if err != nil {
			var br *BadRequestError
			if !errors.As(err, &br) || br.Msg == "" {
				t.Fatalf("error %T %v is not a BadRequestError", err, err)
			}
			return
		}
		if m.Version != "4" || len(m.Alerts) == 0 {
			t.Fatalf("accepted %+v", m)
		}
		for _, a := range m.Alerts {
			if a.Fingerprint == "" || a.Labels["alertname"] == "" || (a.Status != "firing" && a.Status != "resolved") {
				t.Fatalf("accepted an invalid alert %+v", a)
			}
		}
	})
}
