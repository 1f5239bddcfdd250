package actions

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kubepatrol/patrol/remediation"
)

// WebhookEnvelopeVersion is the version of WebhookEnvelope.
const WebhookEnvelopeVersion = "1"

// WebhookEnvelope is the JSON body the generic webhook pager posts, for a
// trigger and a resolve alike.
type WebhookEnvelope struct {
	// Version is WebhookEnvelopeVersion.
	Version string `json:"version"`
	// Action is trigger or resolve.
	Action string `json:"action"`
	// DedupKey identifies the incident across trigger and resolve.
	DedupKey string `json:"dedupKey"`
	Summary  string `json:"summary"`
	// Source is the affected object ("cluster/Node/kwok-node-3").
	Source string `json:"source,omitempty"`
	// Severity is critical, error, warning or info.
	Severity string `json:"severity,omitempty"`
	// Details carry the evidence.
	Details  map[string]any     `json:"details,omitempty"`
	Links    []remediation.Link `json:"links,omitempty"`
	RecordID string             `json:"recordID,omitempty"`
	TraceID  string             `json:"traceID,omitempty"`
	// Time is when the notice was made (RFC 3339, UTC).
	Time time.Time `json:"time"`
}

// Webhook posts a WebhookEnvelope to any URL, with an optional bearer
// token and extra headers.
type Webhook struct {
	s *sender
}

// NewWebhook returns a webhook pager; opt.URL is required and treated as
// a secret (its path and query never appear in errors or logs).
func NewWebhook(opt PagerOptions) (*Webhook, error) {
	if opt.URL == "" {
		return nil, fmt.Errorf("webhook pager: URL is required")
	}
	s, err := newSender("webhook", opt, true)
	if err != nil {
		return nil, err
	}
	return &Webhook{s: s}, nil
}

// Type is "webhook".
func (p *Webhook) Type() string { return "webhook" }

// Envelope builds the body posted for n.
func (p *Webhook) Envelope(n remediation.Notice) WebhookEnvelope {
	return WebhookEnvelope{
		Version: WebhookEnvelopeVersion, Action: n.Action, DedupKey: n.DedupKey, Summary: n.Summary,
		Source: n.Source, Severity: n.Severity, Details: n.Details, Links: n.Links,
		RecordID: n.RecordID, TraceID: n.TraceID, Time: noticeTime(n, p.s.opt.Now),
	}
}

// Send posts n. Any 2xx is success; 429 and 5xx are retried; other
// answers are terminal.
func (p *Webhook) Send(ctx context.Context, n remediation.Notice) (int, error) {
	if err := checkNotice(p.Type(), n); err != nil {
		return 0, err
	}
	body, err := marshal(p.Envelope(n))
	if err != nil {
		return 0, fmt.Errorf("webhook pager: %w", err)
	}
	return p.s.post(ctx, body, func(resp *http.Response, answer []byte) (bool, string) {
		return resp.StatusCode/100 == 2, string(answer)
	})
}
