package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/remediation"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	testRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF"
	testToken      = "s3cr3t-bearer-token"
	testSlackPath  = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
)

func testNotice(action string) remediation.Notice {
	n := remediation.Notice{
		Action:   action,
		DedupKey: "kubepatrol/prod-eu/node.not_ready|Node/kwok-node-3",
		Summary:  "KubeNodeNotReady on Node/kwok-node-3 (prod-eu): kubelet stopped posting node status",
		Source:   "prod-eu/Node/kwok-node-3",
		Severity: "critical",
		RecordID: "01JQ3W8K7Z5V6N2M4P8R0T1X3Y",
		TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
		Time:     testNow,
	}
	if action == "trigger" {
		n.Details = map[string]any{
			"cluster":  "prod-eu",
			"target":   "Node/kwok-node-3",
			"record":   "01JQ3W8K7Z5V6N2M4P8R0T1X3Y",
			"playbook": "node-not-ready@3",
			"state":    "escalated",
			"check":    "node.not_ready",
			"evidence": []string{
				"condition Ready=False (kubelet stopped posting node status)",
				"field spec.unschedulable=true (cordoned by record 01JQ3W8K7Z5V6N2M4P8R0T1X3Y)",
			},
			"steps": []string{"cordon (cordon): done", "drain (drain): failed: pod default/web-0 <PDB>"},
		}
		n.Links = []remediation.Link{
			{Href: "https://patrol.example.com/api/v1/evidence/01JQ3W8K7Z5V6N2M4P8R0T1X3Y", Text: "Evidence record"},
			{Href: "https://prometheus.example.com/graph?g0.expr=up&g0.tab=1", Text: "Alert source"},
		}
	}
	return n
}

// answer is one scripted response.
type answer struct {
	status int
	header map[string]string
	body   string
}

// pagerServer answers requests from a script (the last answer repeats)
// and keeps what it received.
type pagerServer struct {
	*httptest.Server
	mu      sync.Mutex
	script  []answer
	bodies  [][]byte
	headers []http.Header
}

func newPagerServer(t *testing.T, script ...answer) *pagerServer {
	t.Helper()
	s := &pagerServer{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.headers = append(s.headers, r.Header.Clone())
		a := s.script[min(len(s.bodies), len(s.script))-1]
		s.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pagerServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// sleeps records the waits a pager asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newTestPager(t *testing.T, typ, baseURL string, opt PagerOptions) remediation.Pager {
	t.Helper()
	opt.Now = func() time.Time { return testNow }
	if opt.Jitter == nil {
		opt.Jitter = func() float64 { return 0.5 }
	}
	if opt.BackoffBase == 0 {
		opt.BackoffBase = 100 * time.Millisecond
	}
	var p remediation.Pager
	var err error
	switch typ {
	case "pagerduty":
		opt.URL, opt.RoutingKey = baseURL+"/v2/enqueue", testRoutingKey
		p, err = NewPagerDuty(opt)
	case "slack":
		opt.URL = baseURL + testSlackPath
		p, err = NewSlack(opt)
	case "webhook":
		opt.URL, opt.Token = baseURL+"/hooks/kubepatrol?key=q5ecret", testToken
		opt.Headers = map[string]string{"X-Team": "sre"}
		p, err = NewWebhook(opt)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func successAnswer(typ string) answer {
	switch typ {
	case "pagerduty":
		return answer{status: 202, body: `{"status":"success","message":"Event processed","dedup_key":"x"}`}
	case "slack":
		return answer{status: 200, body: "ok"}
	}
	return answer{status: 204}
}

var pagerTypes = []string{"pagerduty", "slack", "webhook"}

func TestPagerGolden(t *testing.T) {
	for _, typ := range pagerTypes {
		for _, action := range []string{"trigger", "resolve"} {
			t.Run(typ+"_"+action, func(t *testing.T) {
				srv := newPagerServer(t, successAnswer(typ))
				p := newTestPager(t, typ, srv.URL, PagerOptions{})
				attempts, err := p.Send(t.Context(), testNotice(action))
				if err != nil || attempts != 1 {
					t.Fatalf("Send = %d, %v", attempts, err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, srv.bodies[0], "", "  "); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, srv.bodies[0])
				}
				pretty.WriteString("\n")
				golden(t, filepath.Join("testdata", typ+"_"+action+".golden.json"), pretty.Bytes())

				h := srv.headers[0]
				if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "kubepatrol" {
					t.Errorf("headers %v", h)
				}
				if typ == "webhook" && (h.Get("Authorization") != "Bearer "+testToken || h.Get("X-Team") != "sre") {
					t.Errorf("webhook headers %v", h)
				}
				if typ != "webhook" && h.Get("Authorization") != "" {
					t.Errorf("%s sent an Authorization header", typ)
				}
			})
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestPagerRetries(t *testing.T) {
	for _, typ := range pagerTypes {
		badRequest := answer{status: 400, body: "invalid_payload"}
		if typ == "pagerduty" {
			badRequest.body = `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`
		}
		tests := []struct {
			name         string
			script       []answer
			wantAttempts int
			wantErr      string
			retryable    bool
			wantSleeps   []time.Duration
		}{
			{name: "500 then success", script: []answer{{status: 500, body: "boom"}, successAnswer(typ)},
				wantAttempts: 2, wantSleeps: []time.Duration{75 * time.Millisecond}},
			{name: "400 is terminal", script: []answer{badRequest, successAnswer(typ)}, wantAttempts: 1, wantErr: "400 Bad Request"},
			{name: "403 is terminal", script: []answer{{status: 403, body: "action_prohibited"}}, wantAttempts: 1, wantErr: "action_prohibited"},
			{name: "429 honours Retry-After", script: []answer{{status: 429, header: map[string]string{"Retry-After": "7"}}, successAnswer(typ)},
				wantAttempts: 2, wantSleeps: []time.Duration{7 * time.Second}},
			{name: "503 until gave up", script: []answer{{status: 503, body: "unavailable"}},
				wantAttempts: 3, wantErr: "gave up after 3 attempt(s)", retryable: true,
				wantSleeps: []time.Duration{75 * time.Millisecond, 150 * time.Millisecond}},
		}
		for _, tc := range tests {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				srv := newPagerServer(t, tc.script...)
				var sl sleeps
				p := newTestPager(t, typ, srv.URL, PagerOptions{Sleep: sl.sleep, MaxAttempts: 3})
				attempts, err := p.Send(t.Context(), testNotice("trigger"))
				if attempts != tc.wantAttempts || srv.requests() != tc.wantAttempts {
					t.Errorf("attempts = %d, server saw %d, want %d", attempts, srv.requests(), tc.wantAttempts)
				}
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("err = %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				case err != nil && remediation.IsRetryable(err) != tc.retryable:
					t.Errorf("retryable = %t, want %t", remediation.IsRetryable(err), tc.retryable)
				}
				if diff := cmp.Diff(tc.wantSleeps, sl.d); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestPagerDutyErrorMessage(t *testing.T) {
	srv := newPagerServer(t, answer{status: 400, body: `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`})
	p := newTestPager(t, "pagerduty", srv.URL, PagerOptions{})
	_, err := p.Send(t.Context(), testNotice("trigger"))
	want := "pagerduty pager: POST " + srv.URL + "/v2/enqueue: 400 Bad Request: Event object is invalid ('payload.summary' is missing)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// TestPagerRedaction: routing keys, tokens and secret URLs stay out of
// errors and logs, whether the failure is an answer that echoes them or a
// transport error (whose text names the URL).
func TestPagerRedaction(t *testing.T) {
	// Each pager's own secrets, which a careless service might echo.
	secrets := map[string][]string{
		"pagerduty": {testRoutingKey},
		"slack":     {testSlackPath, "T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"},
		"webhook":   {testToken, "key=q5ecret", "/hooks/kubepatrol"},
	}
	echo := func(typ string) answer {
		return answer{status: 400, body: "you sent " + strings.Join(secrets[typ], " and ")}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, typ := range pagerTypes {
		for _, transport := range []bool{false, true} {
			name := typ + "/answer"
			if transport {
				name = typ + "/transport"
			}
			t.Run(name, func(t *testing.T) {
				base := closedURL
				if !transport {
					base = newPagerServer(t, echo(typ)).URL
				}
				var logs bytes.Buffer
				p := newTestPager(t, typ, base, PagerOptions{
					MaxAttempts: 2, Sleep: (&sleeps{}).sleep,
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				})
				_, err := p.Send(t.Context(), testNotice("trigger"))
				if err == nil {
					t.Fatal("no error")
				}
				if transport && !remediation.IsRetryable(err) {
					t.Errorf("transport error not retryable: %v", err)
				}
				for _, secret := range append(secrets[typ], "q5ecret", "T0000") {
					if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
						t.Errorf("secret %q leaked:\nerr: %v\nlogs: %s", secret, err, logs.String())
					}
				}
				if !strings.Contains(err.Error(), "127.0.0.1") {
					t.Errorf("error %q does not name the host", err)
				}
			})
		}
	}
}

func TestPagerContextCancel(t *testing.T) {
	srv := newPagerServer(t, answer{status: 500})
	ctx, cancel := context.WithCancel(t.Context())
	p := newTestPager(t, "webhook", srv.URL, PagerOptions{BackoffBase: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleepCtx(ctx, d)
	}})
	start := time.Now()
	attempts, err := p.Send(ctx, testNotice("trigger"))
	if !errors.Is(err, context.Canceled) || attempts != 1 || srv.requests() != 1 {
		t.Errorf("Send = %d, %v; server saw %d", attempts, err, srv.requests())
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancel did not stop the wait")
	}
	// With a context already cancelled, Send fails at once.
	attempts, err = p.Send(ctx, testNotice("trigger"))
	if err == nil || attempts != 1 {
		t.Errorf("cancelled Send = %d, %v", attempts, err)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		jitter float64
		n      int
		want   time.Duration
	}{
		{0, 1, 250 * time.Millisecond},
		{0.999999, 1, 500 * time.Millisecond},
		{0, 3, time.Second},
		{0, 10, 2 * time.Second}, // capped at BackoffMax 4s, half fixed
	}
	for _, tc := range tests {
		s, err := newSender("webhook", PagerOptions{URL: "https://x.example/", BackoffBase: 500 * time.Millisecond,
			BackoffMax: 4 * time.Second, Jitter: func() float64 { return tc.jitter }}, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.backoff(tc.n); got.Round(time.Millisecond) != tc.want {
			t.Errorf("backoff(%d) jitter %v = %s, want %s", tc.n, tc.jitter, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":                              0,
		"12":                            12 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Sat, 14 Mar 2026 09:27:23 GMT": 30 * time.Second,
	} {
		if got := parseRetryAfter(in, testNow); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestNewPager(t *testing.T) {
	tests := []struct {
		spec    PagerSpec
		typ     string
		wantErr string
	}{
		{spec: PagerSpec{Type: "pagerduty", RoutingKey: testRoutingKey}, typ: "pagerduty"},
		{spec: PagerSpec{Type: "pagerduty"}, wantErr: "routing key is required"},
		{spec: PagerSpec{Type: "slack", URL: "https://hooks.slack.com" + testSlackPath}, typ: "slack"},
		{spec: PagerSpec{Type: "slack"}, wantErr: "webhook URL is required"},
		{spec: PagerSpec{Type: "slack", URL: "hooks.slack.com" + testSlackPath}, wantErr: "not an absolute http(s) URL"},
		{spec: PagerSpec{Type: "webhook", URL: "https://alerts.example.com/in", Token: testToken, Timeout: time.Second, MaxAttempts: 2}, typ: "webhook"},
		{spec: PagerSpec{Type: "opsgenie"}, wantErr: `pager type "opsgenie"`},
	}
	for _, tc := range tests {
		p, err := NewPager(tc.spec, nil)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || p != nil {
				t.Errorf("%+v: %v, %v; want %q", tc.spec, p, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "T0000") {
				t.Errorf("error leaks the URL: %v", err)
			}
			continue
		}
		if err != nil || p.Type() != tc.typ {
			t.Errorf("%+v: %v, %v", tc.spec, p, err)
		}
	}
}

func TestPagerNoticeValidation(t *testing.T) {
	srv := newPagerServer(t, answer{status: 200})
	for _, typ := range pagerTypes {
		p := newTestPager(t, typ, srv.URL, PagerOptions{})
		n := testNotice("acknowledge")
		if _, err := p.Send(t.Context(), n); err == nil {
			t.Errorf("%s accepted action %q", typ, n.Action)
		}
		n = testNotice("trigger")
		n.DedupKey = ""
		if _, err := p.Send(t.Context(), n); err == nil {
			t.Errorf("%s accepted an empty dedup key", typ)
		}
	}
	if srv.requests() != 0 {
		t.Errorf("invalid notices were sent")
	}
}

func TestPagerLimits(t *testing.T) {
	srv := newPagerServer(t, answer{status: 202}, answer{status: 200})
	long := strings.Repeat("ä", 1500)
	n := testNotice("trigger")
	n.Summary = long
	n.Details = map[string]any{"evidence": strings.Split(strings.Repeat("line of evidence ", 400), " ")}

	pd := newTestPager(t, "pagerduty", srv.URL, PagerOptions{})
	if _, err := pd.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Payload struct {
			Summary string `json:"summary"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(srv.bodies[0], &ev)
	if got := len([]rune(ev.Payload.Summary)); got != 1024 || !strings.HasSuffix(ev.Payload.Summary, "…") {
		t.Errorf("PagerDuty summary is %d runes", got)
	}

	sl := newTestPager(t, "slack", srv.URL, PagerOptions{})
	if _, err := sl.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	var msg slackMessage
	_ = json.Unmarshal(srv.bodies[1], &msg)
	if got := len([]rune(msg.Blocks[0].Text.Text)); got > slackHeaderLimit {
		t.Errorf("header is %d runes", got)
	}
	for _, b := range msg.Blocks {
		if b.Text != nil && len([]rune(b.Text.Text)) > slackTextLimit {
			t.Errorf("%s block text is %d runes", b.Type, len([]rune(b.Text.Text)))
		}
	}
	if ev := msg.Blocks[2].Text.Text; !strings.HasSuffix(ev, "… (truncated)") {
		t.Errorf("evidence block not marked truncated: …%s", ev[len(ev)-40:])
	}
	if strings.Contains(msg.Text, "\n") {
		t.Errorf("fallback text is not one line")
	}
}
