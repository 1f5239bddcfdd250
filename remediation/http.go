package remediation

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// HTTPOptions configure the engine's HTTP endpoints.
type HTTPOptions struct {
	// WebhookPath is where Alertmanager posts (default /api/v1/alerts).
	WebhookPath string
	// WebhookToken, when set, is required as "Authorization: Bearer …".
	WebhookToken string
	// AdminToken guards approvals and the pause switch (default: the
	// webhook token; with neither, they are open, like the read API).
	AdminToken string
	// MaxBodyBytes bounds a webhook body (default 1 MiB).
	MaxBodyBytes int64
	// Markdown renders one record for a post-mortem (ledger.WriteMarkdown).
	Markdown func(w io.Writer, r *ledger.Record) error
}

// Register adds the engine's endpoints to mux:
//
//	POST {webhook}                          Alertmanager webhook (version 4)
//	GET  /api/v1/evidence                   ledger records, newest first (?state=&playbook=&limit=)
//	GET  /api/v1/evidence/{id}              one record (JSON; ?format=markdown for a post-mortem)
//	POST /api/v1/evidence/{id}/approve      approve the record's waiting step ({"by": "name"})
//	GET  /api/v1/remediation                status: paused, playbooks
//	POST /api/v1/remediation/pause|resume   the pause switch
func (e *Engine) Register(mux *http.ServeMux, o HTTPOptions) {
	if o.WebhookPath == "" {
		o.WebhookPath = "/api/v1/alerts"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.AdminToken == "" {
		o.AdminToken = o.WebhookToken
	}
	mux.HandleFunc(o.WebhookPath, e.webhook(o))
	mux.HandleFunc("GET /api/v1/evidence", e.listEvidence)
	mux.HandleFunc("GET /api/v1/evidence/{id}", func(w http.ResponseWriter, r *http.Request) { e.showEvidence(w, r, o) })
	mux.HandleFunc("POST /api/v1/evidence/{id}/approve", authorized(o.AdminToken, e.approve))
	mux.HandleFunc("GET /api/v1/remediation", e.status)
	mux.HandleFunc("POST /api/v1/remediation/pause", authorized(o.AdminToken, func(w http.ResponseWriter, r *http.Request) {
		e.SetPaused(true)
		e.status(w, r)
	}))
	mux.HandleFunc("POST /api/v1/remediation/resume", authorized(o.AdminToken, func(w http.ResponseWriter, r *http.Request) {
		e.SetPaused(false)
		e.status(w, r)
	}))
}

// WebhookResponse is the webhook's answer.
type WebhookResponse struct {
	Status   string    `json:"status"`
	Outcomes []Outcome `json:"outcomes,omitempty"`
	Error    string    `json:"error,omitempty"`
}

func (e *Engine) webhook(o HTTPOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		defer func() { e.metrics.Webhook.WithLabelValues(strconv.Itoa(code)).Inc() }()
		fail := func(c int, msg string) {
			code = c
			writeJSON(w, c, WebhookResponse{Status: "error", Error: msg})
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: Alertmanager posts webhooks")
			return
		}
		if o.WebhookToken != "" && !bearer(r, o.WebhookToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="patrold"`)
			fail(http.StatusUnauthorized, "missing or wrong bearer token (Alertmanager: http_config.authorization.credentials)")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBodyBytes))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (remediation.webhook.max_body_bytes)", mb.Limit))
				return
			}
			fail(http.StatusBadRequest, "cannot read body: "+err.Error())
			return
		}
		msg, err := ParseWebhook(body)
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		// The decision outlives a client that hangs up: the ledger write
		// must not be half done because Alertmanager's timeout fired.
		ctx := context.WithoutCancel(r.Context())
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		outs, err := e.Alerts(ctx, msg)
		if err != nil {
			e.log.Error("webhook: cannot record the decision; Alertmanager will retry", "group_key", msg.GroupKey, "err", err)
			fail(http.StatusServiceUnavailable, "cannot record the decision: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, WebhookResponse{Status: "ok", Outcomes: outs})
	}
}

func (e *Engine) listEvidence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ledger.Filter{Limit: 100, Playbook: q.Get("playbook"), IncidentKey: q.Get("incident")}
	for k := range q {
		switch k {
		case "state", "playbook", "limit", "incident", "target":
		default:
			http.Error(w, fmt.Sprintf("unknown query parameter %q (known: state, playbook, target, incident, limit)", k), http.StatusBadRequest)
			return
		}
	}
	for _, s := range q["state"] {
		for _, one := range strings.Split(s, ",") {
			f.States = append(f.States, ledger.State(one))
		}
	}
	if t := q.Get("target"); t != "" {
		ref, err := parseRef(t)
		if err != nil {
			http.Error(w, "target: "+err.Error(), http.StatusBadRequest)
			return
		}
		f.Target = &ref
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 10000 {
			http.Error(w, "limit: want 1..10000", http.StatusBadRequest)
			return
		}
		f.Limit = n
	}
	recs, err := e.opt.Ledger.List(r.Context(), f)
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if recs == nil {
		recs = []*ledger.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"schema": ledger.RecordSchema, "records": recs})
}

func (e *Engine) showEvidence(w http.ResponseWriter, r *http.Request, o HTTPOptions) {
	rec, ok := e.getRecord(w, r)
	if !ok {
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, http.StatusOK, rec)
	case "markdown", "md":
		if o.Markdown == nil {
			http.Error(w, "markdown rendering is not available", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_ = o.Markdown(w, rec)
	default:
		http.Error(w, fmt.Sprintf("format %q: want json or markdown", f), http.StatusBadRequest)
	}
}

func (e *Engine) getRecord(w http.ResponseWriter, r *http.Request) (*ledger.Record, bool) {
	rec, err := e.opt.Ledger.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		http.Error(w, "no record "+r.PathValue("id"), http.StatusNotFound)
		return nil, false
	case errors.Is(err, ledger.ErrAmbiguous):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	case err != nil:
		e.metrics.LedgerErrors.Inc()
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	return rec, true
}

// ApproveRequest is the body of an approval.
type ApproveRequest struct {
	By string `json:"by"`
}

func (e *Engine) approve(w http.ResponseWriter, r *http.Request) {
	var req ApproveRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "body: want {\"by\": \"name\"}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if strings.TrimSpace(req.By) == "" {
		http.Error(w, "body: \"by\" must name who approves (it is recorded)", http.StatusBadRequest)
		return
	}
	rec, ok := e.getRecord(w, r)
	if !ok {
		return
	}
	rec, err := e.Approve(r.Context(), rec.ID, req.By)
	switch {
	case errors.Is(err, ErrNotAwaiting):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		e.metrics.LedgerErrors.Inc()
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// Status is the body of /api/v1/remediation.
type Status struct {
	Cluster   string   `json:"cluster"`
	Paused    bool     `json:"paused"`
	DryRun    bool     `json:"dryRun"`
	Playbooks []PBInfo `json:"playbooks"`
}

// PBInfo summarises one loaded playbook.
type PBInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Enabled bool   `json:"enabled"`
	File    string `json:"file,omitempty"`
}

func (e *Engine) status(w http.ResponseWriter, _ *http.Request) {
	s := Status{Cluster: e.opt.Cluster, Paused: e.guards.Paused(), DryRun: e.opt.DryRun, Playbooks: []PBInfo{}}
	for _, p := range e.playbooks() {
		s.Playbooks = append(s.Playbooks, PBInfo{Name: p.Name, Version: p.Version, Enabled: p.Enabled && !e.opt.DryRun, File: p.File})
	}
	writeJSON(w, http.StatusOK, s)
}

func authorized(token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token != "" && !bearer(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="patrold"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// parseRef parses kind/name or kind/namespace/name.
func parseRef(s string) (checks.ObjectRef, error) {
	p := strings.Split(s, "/")
	switch {
	case len(p) == 2 && p[0] != "" && p[1] != "":
		return checks.ObjectRef{Kind: p[0], Name: p[1]}, nil
	case len(p) == 3 && p[0] != "" && p[1] != "" && p[2] != "":
		return checks.ObjectRef{Kind: p[0], Namespace: p[1], Name: p[2]}, nil
	}
	return checks.ObjectRef{}, fmt.Errorf("want Kind/name or Kind/namespace/name, got %q", s)
}
