package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/remediation"
)

// PagerDutyURL is the Events API v2 endpoint.
const PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty sends Events API v2 events: a trigger carries the summary,
// severity and evidence; a resolve carries only the dedup key.
type PagerDuty struct {
	s *sender
}

// NewPagerDuty returns a PagerDuty pager. opt.RoutingKey is required;
// opt.URL defaults to PagerDutyURL.
func NewPagerDuty(opt PagerOptions) (*PagerDuty, error) {
	if opt.URL == "" {
		opt.URL = PagerDutyURL
	}
	if strings.TrimSpace(opt.RoutingKey) == "" {
		return nil, fmt.Errorf("pagerduty pager: routing key is required")
	}
	s, err := newSender("pagerduty", opt, false)
	if err != nil {
		return nil, err
	}
	return &PagerDuty{s: s}, nil
}

// Type is "pagerduty".
func (p *PagerDuty) Type() string { return "pagerduty" }

// pdEvent is an Events API v2 event.
type pdEvent struct {
	RoutingKey  string             `json:"routing_key"`
	EventAction string             `json:"event_action"`
	DedupKey    string             `json:"dedup_key"`
	Payload     *pdPayload         `json:"payload,omitempty"`
	Links       []remediation.Link `json:"links,omitempty"`
	Client      string             `json:"client,omitempty"`
	ClientURL   string             `json:"client_url,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// pagerDutySeverity maps kubepatrol's severities onto PagerDuty's
// (critical, error, warning, info); anything else is error.
func pagerDutySeverity(s string) string {
	switch s {
	case "critical", "error", "warning", "info":
		return s
	}
	return "error"
}

// pagerDutyBody builds the event JSON for n.
func (p *PagerDuty) body(n remediation.Notice) ([]byte, error) {
	ev := pdEvent{RoutingKey: p.s.opt.RoutingKey, EventAction: n.Action, DedupKey: truncate(n.DedupKey, 255)}
	if n.Action == "trigger" {
		source := n.Source
		if source == "" {
			source = "kubepatrol"
		}
		group, component := splitSource(n.Source)
		group = cmpOrString(detailString(n.Details, "group", "cluster"), group)
		component = cmpOrString(detailString(n.Details, "component", "target"), component)
		details := make(map[string]any, len(n.Details)+2)
		for k, v := range n.Details {
			details[k] = v
		}
		if detailString(details, "record", "record_id") == "" && n.RecordID != "" {
			details["record_id"] = n.RecordID
		}
		if detailString(details, "trace_id") == "" && n.TraceID != "" {
			details["trace_id"] = n.TraceID
		}
		ev.Payload = &pdPayload{
			Summary:       truncate(oneLine(n.Summary), 1024),
			Source:        source,
			Severity:      pagerDutySeverity(n.Severity),
			Timestamp:     noticeTime(n, p.s.opt.Now).Format(time.RFC3339),
			Component:     component,
			Group:         group,
			Class:         detailString(n.Details, "class", "check", "alertname"),
			CustomDetails: details,
		}
		ev.Links = n.Links
		ev.Client = "kubepatrol"
		ev.ClientURL = p.s.opt.ClientURL
	}
	return marshal(ev)
}

// Send posts n. 202 is success; 400 is terminal with PagerDuty's
// explanation; 429, 5xx and network errors are retried.
func (p *PagerDuty) Send(ctx context.Context, n remediation.Notice) (int, error) {
	if err := checkNotice(p.Type(), n); err != nil {
		return 0, err
	}
	body, err := p.body(n)
	if err != nil {
		return 0, fmt.Errorf("pagerduty pager: %w", err)
	}
	return p.s.post(ctx, body, func(resp *http.Response, answer []byte) (bool, string) {
		if resp.StatusCode/100 == 2 {
			return true, ""
		}
		var r struct {
			Status  string   `json:"status"`
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		}
		if json.Unmarshal(answer, &r) == nil && (r.Message != "" || len(r.Errors) > 0) {
			msg := r.Message
			if len(r.Errors) > 0 {
				msg += " (" + strings.Join(r.Errors, "; ") + ")"
			}
			return false, msg
		}
		return false, string(answer)
	})
}

// splitSource splits a notice source "cluster/Kind/[namespace/]name" into
// the cluster (PagerDuty group) and the object (component).
func splitSource(source string) (group, component string) {
	parts := strings.SplitN(source, "/", 2)
	if len(parts) < 2 || !strings.Contains(parts[1], "/") {
		return "", source
	}
	return parts[0], parts[1]
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// detailString is the first of keys in details that holds a non-empty
// string.
func detailString(details map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := details[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// oneLine folds whitespace runs (newlines included) into single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
