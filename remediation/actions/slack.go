package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/remediation"
)

// Slack limits (Block Kit).
const (
	slackTextLimit   = 3000 // section text, context element text
	slackHeaderLimit = 150  // header plain_text
	slackFieldLimit  = 2000 // section field
	slackMaxContext  = 10   // context elements
)

// Slack posts to an incoming webhook: a one-line fallback text plus
// blocks (a header, the severity/source/record/trace fields, the evidence
// as a bullet list, the links). A resolve posts a "resolved" message, since
// an incoming webhook cannot edit the trigger's message.
type Slack struct {
	s *sender
}

// NewSlack returns a Slack pager; opt.URL (the webhook URL, a secret) is
// required.
func NewSlack(opt PagerOptions) (*Slack, error) {
	if opt.URL == "" {
		return nil, fmt.Errorf("slack pager: webhook URL is required")
	}
	s, err := newSender("slack", opt, true)
	if err != nil {
		return nil, err
	}
	return &Slack{s: s}, nil
}

// Type is "slack".
func (p *Slack) Type() string { return "slack" }

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func severityEmoji(sev string) string {
	switch sev {
	case "critical":
		return ":red_circle:"
	case "error":
		return ":large_orange_circle:"
	case "warning":
		return ":warning:"
	case "info":
		return ":information_source:"
	}
	return ""
}

func (p *Slack) body(n remediation.Notice) ([]byte, error) {
	var m slackMessage
	if n.Action == "resolve" {
		m.Text = truncate(oneLine("Resolved: "+n.Summary+" — "+n.Source), slackTextLimit)
		m.Blocks = append(m.Blocks, slackBlock{Type: "section",
			Text: ptrTo(mrkdwn(truncate(":white_check_mark: *Resolved*: "+slackEscape(oneLine(n.Summary)), slackTextLimit)))})
		m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(truncate(slackEscape(
			fmt.Sprintf("source %s · record %s · dedup key %s", orDash(n.Source), orDash(n.RecordID), n.DedupKey)), slackTextLimit))}})
		return marshal(m)
	}
	sev := strings.ToLower(n.Severity)
	m.Text = truncate(oneLine(fmt.Sprintf("[%s] %s — %s (record %s)", strings.ToUpper(orDash(sev)), n.Summary, orDash(n.Source), orDash(n.RecordID))), slackTextLimit)
	header := strings.TrimSpace(severityEmoji(sev) + " " + oneLine(n.Summary))
	m.Blocks = append(m.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(header, slackHeaderLimit), Emoji: true}})

	var fields []slackText
	for _, f := range [][2]string{{"Severity", sev}, {"Source", n.Source}, {"Record", n.RecordID}, {"Trace", n.TraceID}} {
		if f[1] != "" {
			fields = append(fields, mrkdwn(truncate("*"+f[0]+"*\n`"+slackEscape(f[1])+"`", slackFieldLimit)))
		}
	}
	if len(fields) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Fields: fields})
	}
	if len(n.Details) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: ptrTo(mrkdwn(slackDetails(n.Details)))})
	}
	var links []slackText
	for _, l := range n.Links {
		if len(links) == slackMaxContext {
			break
		}
		text := strings.NewReplacer("|", "¦").Replace(slackEscape(orDash(l.Text)))
		links = append(links, mrkdwn(truncate("<"+l.Href+"|"+text+">", slackTextLimit)))
	}
	if len(links) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: links})
	}
	return marshal(m)
}

// slackDetails renders the evidence as a bullet list, keys sorted, lists
// as indented sub-bullets, within Slack's 3000-character block limit.
func slackDetails(details map[string]any) string {
	keys := make([]string, 0, len(details))
	for k := range details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "• *%s*:", slackEscape(k))
		switch v := details[k].(type) {
		case string:
			b.WriteString(" " + slackEscape(v) + "\n")
		case []string:
			b.WriteString("\n")
			for _, item := range v {
				b.WriteString("    ◦ " + slackEscape(item) + "\n")
			}
		case []any:
			b.WriteString("\n")
			for _, item := range v {
				b.WriteString("    ◦ " + slackEscape(renderValue(item)) + "\n")
			}
		default:
			b.WriteString(" " + slackEscape(renderValue(v)) + "\n")
		}
	}
	out := strings.TrimRight(b.String(), "\n")
	if len([]rune(out)) > slackTextLimit {
		const marker = "\n… (truncated)"
		out = string([]rune(out)[:slackTextLimit-len([]rune(marker))]) + marker
	}
	return out
}

// renderValue is a detail value as text: strings as they are, anything
// else as compact JSON.
func renderValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Send posts n. Slack answers 200 "ok"; 429 (after Retry-After) and 5xx
// are retried, other answers are terminal.
func (p *Slack) Send(ctx context.Context, n remediation.Notice) (int, error) {
	if err := checkNotice(p.Type(), n); err != nil {
		return 0, err
	}
	body, err := p.body(n)
	if err != nil {
		return 0, fmt.Errorf("slack pager: %w", err)
	}
	return p.s.post(ctx, body, func(resp *http.Response, answer []byte) (bool, string) {
		return resp.StatusCode/100 == 2, string(answer)
	})
}
