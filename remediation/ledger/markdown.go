package ledger

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
)

// mdTime is how the Markdown document prints times (always UTC).
const mdTime = "2006-01-02 15:04:05.000Z"

// WriteMarkdown writes r as a Markdown document ready to paste into a
// post-mortem: header, trigger, evidence, diagnosis, guard verdicts, steps
// with their API calls, verification, pages and a timeline.
func WriteMarkdown(w io.Writer, r *Record) error {
	var b strings.Builder
	md := &mdWriter{b: &b}
	md.header(r)
	md.trigger(&r.Trigger)
	md.evidence(r.Evidence)
	md.findings(r.Findings)
	md.guards(r.Guards)
	md.steps(r.Steps)
	md.verification(r.Verification)
	md.pages(r.Pages)
	md.timeline(r)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("ledger: write markdown %s: %w", r.ID, err)
	}
	return nil
}

// mdWriter builds the document.
type mdWriter struct{ b *strings.Builder }

func (m *mdWriter) f(format string, args ...any) { fmt.Fprintf(m.b, format, args...) }

// row writes one table row; each cell is made safe (see cell).
func (m *mdWriter) row(cells ...string) {
	m.b.WriteString("|")
	for _, c := range cells {
		m.b.WriteString(" ")
		m.b.WriteString(cell(c))
		m.b.WriteString(" |")
	}
	m.b.WriteString("\n")
}

// head writes a table header and its separator.
func (m *mdWriter) head(cols ...string) {
	m.row(cols...)
	seps := make([]string, len(cols))
	for i, c := range cols {
		seps[i] = "---"
		if c == "#" || c == "attempts" {
			seps[i] = "--:"
		}
	}
	m.row(seps...)
}

func (m *mdWriter) header(r *Record) {
	m.f("# Remediation record %s\n\n", code(r.ID))
	if r.Message != "" {
		m.f("> %s\n\n", inline(r.Message))
	}
	playbook := "-"
	if r.Playbook != "" {
		playbook = code(r.Playbook)
		if r.PlaybookVersion != "" {
			playbook = code(r.Playbook + "@" + r.PlaybookVersion)
		}
	}
	dry := "no: live actions"
	if r.DryRun {
		dry = "yes: nothing was written to the cluster"
	}
	target := "-"
	if s := targetString(r); s != "" {
		target = code(s)
		if r.Target.UID != "" {
			target += " (uid " + code(r.Target.UID) + ")"
		}
	}
	m.head("field", "value")
	m.row("ID", code(r.ID))
	m.row("cluster", txt(orDash(r.Cluster)))
	m.row("state", "**"+txt(string(r.State))+"**")
	m.row("playbook", playbook)
	m.row("dry run", dry)
	m.row("target", target)
	m.row("incident", codeOrDash(r.IncidentKey))
	m.row("trace ID", codeOrDash(r.TraceID))
	m.row("created", mdTimeOf(r.CreatedAt))
	m.row("updated", mdTimeOf(r.UpdatedAt))
	m.row("revision", strconv.FormatInt(r.Revision, 10))
	m.row("schema", code(orDash(r.Schema)))
	m.f("\n")
}

func (m *mdWriter) trigger(t *Trigger) {
	m.f("## Trigger\n\n")
	m.f("- **Source**: %s\n", inline(orDash(t.Source)))
	status := t.Status
	if t.Severity != "" {
		status += ", severity " + t.Severity
	}
	switch {
	case t.Alertname != "":
		m.f("- **Alert**: %s (%s)\n", code(t.Alertname), inline(status))
	case t.Check != "":
		m.f("- **Check**: %s (%s)\n", code(t.Check), inline(status))
	default:
		m.f("- **Status**: %s\n", inline(status))
	}
	if t.Fingerprint != "" {
		m.f("- **Fingerprint**: %s\n", code(t.Fingerprint))
	}
	if t.GroupKey != "" {
		m.f("- **Group key**: %s\n", code(t.GroupKey))
	}
	if t.Receiver != "" {
		m.f("- **Receiver**: %s\n", inline(t.Receiver))
	}
	if !t.StartsAt.IsZero() {
		m.f("- **Starts**: %s\n", mdTimeOf(t.StartsAt))
	}
	if !t.EndsAt.IsZero() {
		m.f("- **Ends**: %s\n", mdTimeOf(t.EndsAt))
	}
	if t.Message != "" {
		m.f("- **Message**: %s\n", inline(t.Message))
	}
	var links []string
	if t.GeneratorURL != "" {
		links = append(links, link("source", t.GeneratorURL))
	}
	if t.ExternalURL != "" {
		links = append(links, link("Alertmanager", t.ExternalURL))
	}
	if len(links) > 0 {
		m.f("- **Links**: %s\n", strings.Join(links, " · "))
	}
	m.f("\n")
	m.kv("Labels", "label", t.Labels)
	m.kv("Annotations", "annotation", t.Annotations)
}

// kv writes a sorted two-column table under a level-3 heading.
func (m *mdWriter) kv(title, col string, kv map[string]string) {
	if len(kv) == 0 {
		return
	}
	m.f("### %s\n\n", title)
	m.head(col, "value")
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		m.row(code(k), txt(kv[k]))
	}
	m.f("\n")
}

func (m *mdWriter) evidence(ev []checks.Evidence) {
	m.f("## Evidence\n\n")
	if len(ev) == 0 {
		m.f("None recorded.\n\n")
		return
	}
	m.evidenceTable(ev)
}

// evidenceTable writes evidence items as a numbered table.
func (m *mdWriter) evidenceTable(ev []checks.Evidence) {
	m.head("#", "type", "path", "value", "source", "time", "message")
	for i, e := range ev {
		t := "-"
		if e.Time != nil {
			t = mdTimeOf(*e.Time)
		}
		m.row(strconv.Itoa(i+1), txt(e.Type), codeOrDash(e.Path), codeOrDash(e.Value),
			txt(orDash(e.Source)), t, txt(orDash(e.Message)))
	}
	m.f("\n")
}

func (m *mdWriter) findings(fs []checks.Finding) {
	m.f("## Diagnosis\n\n")
	if len(fs) == 0 {
		m.f("No diagnosis findings.\n\n")
		return
	}
	for _, f := range fs {
		m.f("### %s on %s (%s, %s)\n\n", code(f.Check), code(f.Object.String()), f.Severity, f.Status)
		m.f("**%s**: %s", inline(f.Reason), inline(f.Message))
		if f.Since != nil {
			m.f(" (since %s)", mdTimeOf(*f.Since))
		}
		if f.ExplainedBy != "" {
			m.f(" (explained by %s)", code(f.ExplainedBy))
		}
		m.f("\n\n")
		if len(f.Evidence) > 0 {
			m.evidenceTable(f.Evidence)
		}
	}
}

func (m *mdWriter) guards(vs []Verdict) {
	m.f("## Guards\n\n")
	if len(vs) == 0 {
		m.f("No guard verdicts.\n\n")
		return
	}
	m.head("guard", "verdict", "reason")
	for _, v := range vs {
		verdict := "allowed"
		if !v.Allowed {
			verdict = "**refused**"
		}
		m.row(code(v.Guard), verdict, txt(orDash(v.Reason)))
	}
	m.f("\n")
}

func (m *mdWriter) steps(steps []Step) {
	m.f("## Steps\n\n")
	if len(steps) == 0 {
		m.f("No steps.\n\n")
		return
	}
	for i := range steps {
		s := &steps[i]
		m.f("### %d. %s: %s on %s (%s)\n\n", i+1, inline(s.Name), code(s.Action), code(s.Target.String()), s.Status)
		var facts []string
		if s.Risk != "" {
			facts = append(facts, "**Risk**: "+s.Risk)
		}
		if s.Attempts > 0 {
			facts = append(facts, "**Attempts**: "+strconv.Itoa(s.Attempts))
		}
		if s.StartedAt != nil {
			facts = append(facts, "**Started**: "+mdTimeOf(*s.StartedAt))
		}
		if s.EndedAt != nil {
			e := "**Ended**: " + mdTimeOf(*s.EndedAt)
			if s.StartedAt != nil {
				e += " (" + s.EndedAt.Sub(*s.StartedAt).Round(time.Millisecond).String() + ")"
			}
			facts = append(facts, e)
		}
		if len(facts) > 0 {
			m.f("- %s\n", strings.Join(facts, " · "))
		}
		if s.ApprovedBy != "" {
			at := ""
			if s.ApprovedAt != nil {
				at = " at " + mdTimeOf(*s.ApprovedAt)
			}
			m.f("- **Approved by**: %s%s\n", inline(s.ApprovedBy), at)
		}
		if len(s.Params) > 0 {
			var ps []string
			for _, k := range slices.Sorted(maps.Keys(s.Params)) {
				ps = append(ps, code(k+"="+s.Params[k]))
			}
			m.f("- **Params**: %s\n", strings.Join(ps, ", "))
		}
		if s.Message != "" {
			m.f("- **Message**: %s\n", inline(s.Message))
		}
		if s.Error != "" {
			m.f("- **Error**: %s\n", inline(s.Error))
		}
		if len(s.Blockers) > 0 {
			m.f("- **Blockers**:\n")
			for _, bl := range s.Blockers {
				m.f("  - %s\n", inline(bl))
			}
		}
		m.f("\n")
		if len(s.Calls) > 0 {
			m.head("#", "call", "resourceVersion", "dry run", "at", "detail", "error")
			for j, c := range s.Calls {
				dry := "no"
				if c.DryRun {
					dry = "yes"
				}
				m.row(strconv.Itoa(j+1), code(callString(&c)), rvString(&c), dry, mdTimeOf(c.At),
					txt(orDash(c.Detail)), txt(orDash(c.Error)))
			}
			m.f("\n")
		}
	}
}

// callString renders "verb resource[/subresource] [namespace/]name".
func callString(c *Call) string {
	res := c.Resource
	if c.Subresource != "" {
		res += "/" + c.Subresource
	}
	obj := c.Name
	if c.Namespace != "" {
		obj = c.Namespace + "/" + c.Name
	}
	return strings.TrimSpace(c.Verb + " " + res + " " + obj)
}

// rvString renders "before → after".
func rvString(c *Call) string {
	if c.ResourceVersionBefore == "" && c.ResourceVersionAfter == "" {
		return "-"
	}
	return codeOrDash(c.ResourceVersionBefore) + " → " + codeOrDash(c.ResourceVersionAfter)
}

func (m *mdWriter) verification(v *Verification) {
	m.f("## Verification\n\n")
	if v == nil {
		m.f("Not run.\n\n")
		return
	}
	m.f("- **Status**: **%s** · **Attempts**: %d · **At**: %s\n", inline(v.Status), v.Attempts, mdTimeOf(v.At))
	if len(v.Checks) > 0 {
		cs := make([]string, len(v.Checks))
		for i, c := range v.Checks {
			cs[i] = code(c)
		}
		m.f("- **Checks**: %s\n", strings.Join(cs, ", "))
	}
	if v.Message != "" {
		m.f("- **Message**: %s\n", inline(v.Message))
	}
	if len(v.Findings) > 0 {
		m.f("- **Still firing**:\n")
		for _, f := range v.Findings {
			m.f("  - %s on %s (%s): %s\n", code(f.Check), code(f.Object.String()), inline(f.Reason), inline(f.Message))
		}
	}
	m.f("\n")
}

func (m *mdWriter) pages(ps []Page) {
	m.f("## Pages\n\n")
	if len(ps) == 0 {
		m.f("No pages.\n\n")
		return
	}
	m.head("pager", "type", "action", "dedup key", "severity", "status", "attempts", "at", "summary", "error")
	for _, p := range ps {
		m.row(txt(p.Pager), txt(p.Type), txt(p.Action), codeOrDash(p.DedupKey), txt(orDash(p.Severity)),
			txt(p.Status), strconv.Itoa(p.Attempts), mdTimeOf(p.At), txt(orDash(p.Summary)), txt(orDash(p.Error)))
	}
	m.f("\n")
}

// event is one timeline entry.
type event struct {
	at   time.Time
	what string
}

func (m *mdWriter) timeline(r *Record) {
	var ev []event
	add := func(t time.Time, what string) {
		if !t.IsZero() {
			ev = append(ev, event{t, what})
		}
	}
	addp := func(t *time.Time, what string) {
		if t != nil {
			add(*t, what)
		}
	}
	name := triggerName(&r.Trigger)
	add(r.Trigger.StartsAt, "trigger "+code(orDash(name))+" started firing")
	if r.Trigger.Status == AlertResolved {
		add(r.Trigger.EndsAt, "trigger "+code(orDash(name))+" resolved")
	}
	add(r.CreatedAt, "record created")
	for i := range r.Steps {
		s := &r.Steps[i]
		label := fmt.Sprintf("step %d %s", i+1, code(s.Action))
		addp(s.StartedAt, label+" started")
		addp(s.ApprovedAt, label+" approved by "+inline(s.ApprovedBy))
		for j := range s.Calls {
			c := &s.Calls[j]
			what := label + " call " + code(callString(c))
			if c.DryRun {
				what += " (dry run)"
			}
			if c.Error != "" {
				what += ": " + inline(c.Error)
			}
			add(c.At, what)
		}
		addp(s.EndedAt, label+" ended: "+string(s.Status))
	}
	if v := r.Verification; v != nil {
		add(v.At, "verification: "+inline(v.Status))
	}
	for _, p := range r.Pages {
		add(p.At, fmt.Sprintf("page %s via %s: %s", inline(p.Action), inline(p.Pager), inline(p.Status)))
	}
	add(r.UpdatedAt, fmt.Sprintf("last update: revision %d, state %s", r.Revision, r.State))
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].at.Before(ev[j].at) })

	m.f("## Timeline\n\n")
	m.head("time", "since created", "event")
	for _, e := range ev {
		off := "-"
		if !r.CreatedAt.IsZero() {
			d := e.at.Sub(r.CreatedAt).Round(time.Millisecond)
			off = d.String()
			if d >= 0 {
				off = "+" + off
			}
		}
		m.row(mdTimeOf(e.at), off, e.what)
	}
}

// mdTimeOf renders t in UTC, or "-" for the zero time.
func mdTimeOf(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(mdTime)
}

// cell makes a rendered cell safe in a table row: pipes escaped (GFM
// honours \| inside code spans too), any stray line break as <br>.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// txt renders free text for a table cell: < escaped, so that "<none>"
// is not taken for an HTML tag, and line breaks kept as <br>.
func txt(s string) string {
	s = strings.ReplaceAll(s, "<", "&lt;")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// inline renders free text on one Markdown line: < escaped, line breaks
// as spaces.
func inline(s string) string {
	s = strings.ReplaceAll(s, "<", "&lt;")
	return oneLine(s)
}

// oneLine turns line breaks into spaces.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", " "), "\n", " ")
}

// code renders s as inline code, with a longer fence when s has a backtick.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + oneLine(s) + pad + fence
}

// codeOrDash is code(s), or "-" when s is empty.
func codeOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return code(s)
}

// link renders a Markdown link.
func link(text, url string) string {
	return "[" + text + "](" + strings.ReplaceAll(url, ")", "%29") + ")"
}
