//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// captured is one request a capture received.
type captured struct {
	Method string
	Path   string // URL path, without the query
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
	// Status is what the capture answered.
	Status int
}

// decode unmarshals the request's JSON body into v, failing the test if it
// is not valid JSON of that shape.
func (r captured) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %s: body is not the JSON expected (%T): %v\n%s", r.Method, r.Path, v, err, r.Body)
	}
}

// String summarises the request for test logs.
func (r captured) String() string {
	return fmt.Sprintf("%s %s -> %d at %s: %.300s", r.Method, r.Path, r.Status, r.At.Format("15:04:05.000"), r.Body)
}

// responder answers one request: status, content type and body.
type responder func(r captured) (status int, contentType string, body []byte)

// capture is an HTTP server on loopback that records every request it
// receives and answers it like the receiver it stands for.
type capture struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string

	respond responder
	mu      sync.Mutex
	reqs    []captured
	// changed is closed and replaced whenever a request is recorded.
	changed chan struct{}
	// fail answers the next fail.n requests with fail.status.
	fail struct {
		n      int
		status int
	}
}

// newCapture starts a plain webhook sink: it answers every request 200
// with an empty body. It stops when the test ends.
func newCapture(t *testing.T) *capture {
	t.Helper()
	return startCapture(t, func(captured) (int, string, []byte) { return http.StatusOK, "", nil })
}

// newPagerDutyCapture starts a receiver shaped like PagerDuty's Events API
// v2 (POST /v2/enqueue): a valid event is answered 202
// {"status":"success","message":"Event processed","dedup_key":...} with the
// event's dedup_key (one is made up for a trigger without one, as PagerDuty
// does); an invalid one 400 {"status":"invalid event",...,"errors":[...]};
// any other path 404.
func newPagerDutyCapture(t *testing.T) *capture {
	t.Helper()
	return startCapture(t, pagerDutyRespond)
}

// newSlackCapture starts a receiver shaped like a Slack incoming webhook:
// a JSON message with text (or blocks or attachments) is answered 200 "ok",
// malformed JSON 400 "invalid_payload", a message without content 400
// "no_text".
func newSlackCapture(t *testing.T) *capture {
	t.Helper()
	return startCapture(t, slackRespond)
}

func startCapture(t *testing.T, respond responder) *capture {
	t.Helper()
	c := &capture{respond: respond, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(c.serve)) // listens on 127.0.0.1
	c.URL = srv.URL
	t.Cleanup(srv.Close)
	return c
}

func (c *capture) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r := captured{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body, At: time.Now()}

	c.mu.Lock()
	failing := c.fail.n > 0
	if failing {
		c.fail.n--
		r.Status = c.fail.status
	}
	c.mu.Unlock()
	var ctype string
	var out []byte
	if !failing {
		r.Status, ctype, out = c.respond(r)
	} else {
		ctype, out = "text/plain", []byte(http.StatusText(r.Status))
	}

	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()

	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(out)
}

// failNext makes the capture answer its next n requests with status (and
// record them), e.g. 500 or 429 to exercise a sender's retries.
func (c *capture) failNext(n, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail.n, c.fail.status = n, status
}

// requests returns every request received so far, oldest first.
func (c *capture) requests() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.reqs...)
}

// count returns how many requests received so far satisfy pred (all of
// them if pred is nil).
func (c *capture) count(pred func(captured) bool) int {
	n := 0
	for _, r := range c.requests() {
		if pred == nil || pred(r) {
			n++
		}
	}
	return n
}

// wait returns the first request (received before or during the wait)
// that satisfies pred, or fails the test after timeout, listing what did
// arrive.
func (c *capture) wait(t *testing.T, timeout time.Duration, pred func(captured) bool) captured {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		c.mu.Lock()
		reqs, changed := c.reqs, c.changed
		c.mu.Unlock()
		for ; seen < len(reqs); seen++ {
			if pred(reqs[seen]) {
				return reqs[seen]
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			for _, r := range c.requests() {
				t.Logf("received: %s", r)
			}
			t.Fatalf("%s: no matching request within %s (%d received)", c.URL, timeout, len(c.requests()))
			return captured{}
		}
	}
}

// pagerDutyEvent is the part of a PagerDuty Events API v2 event the
// PagerDuty-shaped capture validates.
type pagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary  string `json:"summary"`
		Source   string `json:"source"`
		Severity string `json:"severity"`
	} `json:"payload"`
}

func pagerDutyRespond(r captured) (int, string, []byte) {
	const ctype = "application/json"
	if r.Path != "/v2/enqueue" {
		return http.StatusNotFound, ctype, []byte(`{"status":"not found","message":"Not Found"}`)
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, ctype, []byte(`{"status":"method not allowed"}`)
	}
	var ev pagerDutyEvent
	var errs []string
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		errs = append(errs, "Event object is not valid JSON")
	} else {
		errs = validatePagerDuty(ev)
	}
	if len(errs) > 0 {
		out, _ := json.Marshal(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return http.StatusBadRequest, ctype, out
	}
	key := ev.DedupKey
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key = hex.EncodeToString(b)
	}
	out, _ := json.Marshal(map[string]string{"status": "success", "message": "Event processed", "dedup_key": key})
	return http.StatusAccepted, ctype, out
}

// validatePagerDuty applies the Events API v2's rules: a 32-character
// routing key, a known action, a dedup_key for acknowledge and resolve,
// and for trigger a payload with summary, source and a known severity.
func validatePagerDuty(ev pagerDutyEvent) []string {
	var errs []string
	if len(ev.RoutingKey) != 32 {
		errs = append(errs, "'routing_key' must be 32 characters")
	}
	switch ev.EventAction {
	case "trigger":
		if ev.Payload == nil {
			errs = append(errs, "'payload' is missing or blank")
			break
		}
		if strings.TrimSpace(ev.Payload.Summary) == "" {
			errs = append(errs, "'payload.summary' is missing or blank")
		} else if len(ev.Payload.Summary) > 1024 {
			errs = append(errs, "'payload.summary' exceeds 1024 characters")
		}
		if strings.TrimSpace(ev.Payload.Source) == "" {
			errs = append(errs, "'payload.source' is missing or blank")
		}
		switch ev.Payload.Severity {
		case "critical", "error", "warning", "info":
		default:
			errs = append(errs, "'payload.severity' is invalid (must be one of: critical, error, warning, info)")
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' exceeds 255 characters")
	}
	return errs
}

func slackRespond(r captured) (int, string, []byte) {
	const ctype = "text/plain; charset=utf-8"
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, ctype, []byte("invalid_request")
	}
	var msg struct {
		Text        string            `json:"text"`
		Blocks      []json.RawMessage `json:"blocks"`
		Attachments []json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		return http.StatusBadRequest, ctype, []byte("invalid_payload")
	}
	if strings.TrimSpace(msg.Text) == "" && len(msg.Blocks) == 0 && len(msg.Attachments) == 0 {
		return http.StatusBadRequest, ctype, []byte("no_text")
	}
	return http.StatusOK, ctype, []byte("ok")
}

// TestReceiverShapes checks that the loopback receivers answer like the
// services they stand for, so that a sender the remediation tests judge
// against them would be judged the same way by the real ones.
func TestReceiverShapes(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef" // 32 characters, like a PagerDuty integration key
	pd, slack, sink := newPagerDutyCapture(t), newSlackCapture(t), newCapture(t)
	tests := []struct {
		name       string
		c          *capture
		path, body string
		wantStatus int
		wantBody   string // substring
	}{
		{"pagerduty trigger", pd, "/v2/enqueue",
			`{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"node/kwok-node-001","payload":{"summary":"s","source":"kwok-node-001","severity":"warning"}}`,
			http.StatusAccepted, `{"dedup_key":"node/kwok-node-001","message":"Event processed","status":"success"}`},
		{"pagerduty trigger without dedup_key", pd, "/v2/enqueue",
			`{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`,
			http.StatusAccepted, `"dedup_key":"`},
		{"pagerduty resolve", pd, "/v2/enqueue", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"node/kwok-node-001"}`,
			http.StatusAccepted, `"status":"success"`},
		{"pagerduty resolve without dedup_key", pd, "/v2/enqueue", `{"routing_key":"` + key + `","event_action":"resolve"}`,
			http.StatusBadRequest, `'dedup_key' is missing or blank`},
		{"pagerduty trigger without summary", pd, "/v2/enqueue",
			`{"routing_key":"` + key + `","event_action":"trigger","payload":{"source":"x","severity":"warning"}}`,
			http.StatusBadRequest, `'payload.summary' is missing or blank`},
		{"pagerduty bad severity", pd, "/v2/enqueue",
			`{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"page"}}`,
			http.StatusBadRequest, `'payload.severity' is invalid`},
		{"pagerduty short routing key", pd, "/v2/enqueue",
			`{"routing_key":"abc","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}`,
			http.StatusBadRequest, `"status":"invalid event"`},
		{"pagerduty not json", pd, "/v2/enqueue", `{`, http.StatusBadRequest, `"status":"invalid event"`},
		{"pagerduty wrong path", pd, "/v1/enqueue", `{}`, http.StatusNotFound, ``},
		{"slack text", slack, "/services/T0/B0/x", `{"text":"node kwok-node-001 cordoned"}`, http.StatusOK, "ok"},
		{"slack blocks", slack, "/services/T0/B0/x", `{"blocks":[{"type":"section"}]}`, http.StatusOK, "ok"},
		{"slack no text", slack, "/services/T0/B0/x", `{"username":"patrol"}`, http.StatusBadRequest, "no_text"},
		{"slack not json", slack, "/services/T0/B0/x", `text=hi`, http.StatusBadRequest, "invalid_payload"},
		{"sink", sink, "/anything", `whatever`, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(tt.c.URL+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			got := tt.c.wait(t, time.Second, func(r captured) bool { return r.Path == tt.path && string(r.Body) == tt.body })
			if got.Status != resp.StatusCode || got.Header.Get("Content-Type") != "application/json" || got.Method != http.MethodPost {
				t.Errorf("recorded %s %s status %d content type %q", got.Method, got.Path, got.Status, got.Header.Get("Content-Type"))
			}
		})
	}

	t.Run("failNext", func(t *testing.T) {
		sink.failNext(2, http.StatusServiceUnavailable)
		var codes []int
		for range 3 {
			resp, err := http.Post(sink.URL+"/retry", "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		if !slices.Equal(codes, []int{503, 503, 200}) {
			t.Errorf("statuses %v, want [503 503 200]", codes)
		}
		if n := sink.count(func(r captured) bool { return r.Path == "/retry" }); n != 3 {
			t.Errorf("recorded %d requests, want 3", n)
		}
	})
}
