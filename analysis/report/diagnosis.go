package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DiagnosisFormats lists the output formats of `patrol diagnose`.
var DiagnosisFormats = []string{"table", "json", "yaml", "markdown"}

// RenderDiagnosis writes a diagnosis in format.
func RenderDiagnosis(w io.Writer, format string, d *analysis.Diagnosis, opt Options) error {
	switch format {
	case "table", "":
		return DiagnosisTable(w, d, opt)
	case "json":
		return jsonOut(w, d)
	case "yaml":
		return yamlOut(w, d)
	case "markdown", "md":
		return DiagnosisMarkdown(w, d)
	}
	return fmt.Errorf("unknown output format %q (want one of %v)", format, DiagnosisFormats)
}

func ago(t, at time.Time) string {
	if t.IsZero() {
		return "?"
	}
	d := at.Sub(t)
	if d < 0 {
		return "just now"
	}
	return age(d) + " ago"
}

func eventWhen(e analysis.TimelineItem, at time.Time) string {
	s := ago(e.Last, at)
	if e.Count > 1 {
		s = fmt.Sprintf("%s ×%d", s, e.Count)
		if !e.First.IsZero() && e.First.Before(e.Last) {
			s += " since " + ago(e.First, at)
		}
	}
	return s
}

func relName(o checks.ObjectRef, ns string) string {
	if o.Namespace != "" && o.Namespace == ns {
		return o.Kind + "/" + o.Name
	}
	return o.String()
}

// DiagnosisTable writes the one-screen terminal form (80 columns unless
// opt.Width says otherwise).
func DiagnosisTable(w io.Writer, d *analysis.Diagnosis, opt Options) error {
	width := opt.Width
	if width <= 0 {
		width = 80
	}
	p := painter(opt.Color)
	var b strings.Builder
	const ind = "             "
	field := func(label, text string) {
		wr := dwrap(text, width, ind)
		b.WriteString(fmt.Sprintf("%-12s ", label) + strings.TrimPrefix(wr, ind) + "\n")
	}
	section := func(title string) { b.WriteString("\n" + p.paint(ansiBold, title) + "\n") }
	ns := d.Object.Namespace

	b.WriteString(p.paint(ansiBold, truncate(d.Object.String(), width)) + "\n")
	b.WriteString(p.paint(ansiGrey, truncate(fmt.Sprintf("cluster %s · %s snapshot · %s", d.Cluster, d.Source,
		d.CollectedAt.UTC().Format("2006-01-02 15:04:05Z")), width)) + "\n")
	field("status", d.Status)
	if d.Node != "" {
		field("node", d.Node)
	}
	cause := d.LikelyCause
	if d.Healthy {
		cause = p.paint(ansiGreen, cause)
	} else {
		cause = p.paint(ansiBold, cause)
	}
	field("likely cause", cause)

	if in := d.Incident; in != nil {
		section(fmt.Sprintf("INCIDENT %s (%s, confidence %.2f)", in.ID, in.Rule, in.Confidence))
		b.WriteString(dwrap(in.Title, width, "  ") + "\n")
		field("  root cause", rootLine(in))
		field("  impact", impactLine(in))
	}

	if len(d.Findings) > 0 {
		section(fmt.Sprintf("FINDINGS (%d)", len(d.Findings)))
		for _, f := range d.Findings {
			head := fmt.Sprintf("%-8s  %s  %s", strings.ToUpper(string(f.Severity)), f.Check, relName(f.Object, ns))
			if f.ExplainedBy != "" {
				head += "  (see " + f.ExplainedBy + ")"
			}
			b.WriteString(p.paint(sevColor(f.Severity), truncate(head, width)) + "\n")
			b.WriteString(dwrap(oneLine(f.Message, 400), width, "          ") + "\n")
			if opt.Verbose {
				for _, e := range f.Evidence {
					line := "· " + e.Path + " = " + e.Value
					if e.Message != "" {
						line += ": " + e.Message
					}
					b.WriteString(p.paint(ansiGrey, dwrap(line, width, "            ")) + "\n")
				}
			}
		}
	}

	if len(d.Conditions) > 0 {
		section("CONDITIONS")
		for _, c := range d.Conditions {
			line := fmt.Sprintf("%s=%s", c.Type, c.Status)
			if c.Reason != "" {
				line += " " + c.Reason
			}
			if !c.LastTransitionTime.IsZero() {
				line += " (" + ago(c.LastTransitionTime, d.CollectedAt) + ")"
			}
			if c.Message != "" {
				line += ": " + oneLine(c.Message, 200)
			}
			b.WriteString(dwrap(line, width, "    ")[2:] + "\n")
		}
	}

	rels := append(append(append([]analysis.Related{}, d.Owners...), d.Children...), d.Related...)
	if len(rels) > 0 {
		section("AROUND IT")
		const maxRel = 20
		for i, r := range rels {
			if i == maxRel {
				b.WriteString(fmt.Sprintf("  … and %d more\n", len(rels)-maxRel))
				break
			}
			text := relName(r.Object, ns)
			if r.Status != "" {
				text += "  " + r.Status
			}
			if r.Problem != "" {
				text += "  " + p.paint(ansiRed, "! "+r.Problem)
			}
			wr := dwrap(text, width, "                      ")
			b.WriteString(fmt.Sprintf("  %-19s ", truncate(r.Relation, 19)) + strings.TrimPrefix(wr, "                      ") + "\n")
		}
	}

	if len(d.Events) > 0 {
		section(fmt.Sprintf("EVENTS (%d, newest last)", len(d.Events)))
		for _, e := range d.Events {
			typ := e.Type
			if typ == "Warning" {
				typ = p.paint(ansiYellow, typ)
			}
			head := fmt.Sprintf("%s  %s %s  %s", eventWhen(e, d.CollectedAt), e.Type, e.Reason, relName(e.Object, ns))
			head = dwrap(head, width, "    ")[2:]
			if e.Type == "Warning" {
				head = strings.Replace(head, "Warning", typ, 1)
			}
			b.WriteString(head + "\n")
			b.WriteString(dwrap(oneLine(e.Message, 300), width, "      ") + "\n")
		}
	}

	if len(d.Logs) > 0 || d.LogsNote != "" {
		section("LOGS")
		if d.LogsNote != "" {
			b.WriteString(dwrap(d.LogsNote, width, "  ") + "\n")
		}
		for _, l := range d.Logs {
			which := "pod/" + l.Pod + " " + l.Container
			if l.Previous {
				which += " (previous run)"
			}
			if l.Error != "" {
				b.WriteString(dwrap(which+": "+l.Error, width, "  ") + "\n")
				continue
			}
			s := l.Summary
			head := fmt.Sprintf("%s: %d lines, %d templates, %d errors", which, s.Lines, s.Templates, s.Errors)
			if l.Truncated {
				head += " (truncated)"
			}
			b.WriteString(dwrap(head, width, "  ") + "\n")
			for _, t := range s.Top {
				lv := ""
				if t.Level == "error" {
					lv = p.paint(ansiRed, "E ")
				} else if t.Level == "warning" {
					lv = p.paint(ansiYellow, "W ")
				} else {
					lv = "  "
				}
				tl := fmt.Sprintf("%5d× ", t.Count)
				b.WriteString("  " + lv + tl + strings.TrimPrefix(dwrap(t.Pattern, width, strings.Repeat(" ", 11)), strings.Repeat(" ", 11)) + "\n")
				if t.Example != "" && t.Example != t.Pattern && opt.Verbose {
					b.WriteString(p.paint(ansiGrey, dwrap("e.g. "+oneLine(t.Example, 300), width, strings.Repeat(" ", 11))) + "\n")
				}
			}
			if s.LastError != "" {
				b.WriteString(dwrap("last error: "+oneLine(s.LastError, 300), width, "    ") + "\n")
			}
		}
	}

	if len(d.Anomalies) > 0 {
		section("METRIC ANOMALIES")
		for _, a := range d.Anomalies {
			b.WriteString(dwrap(fmt.Sprintf("%s%s last %s, score %.2f at %s", a.Metric, labelText(a.Labels), snapshot.FormatValue(a.Last),
				a.Score, ago(a.At, d.CollectedAt)), width, "  ") + "\n")
		}
	}

	if len(d.NextSteps) > 0 {
		section("NEXT STEPS")
		for i, n := range d.NextSteps {
			lead := fmt.Sprintf("%d. ", i+1)
			wr := dwrap(n.Action+" ("+n.Check+")", width, "     ")
			b.WriteString("  " + lead + strings.TrimPrefix(wr, "     ") + "\n")
		}
	}
	if len(d.Runbooks) > 0 {
		section("RUNBOOKS")
		for _, rb := range d.Runbooks {
			b.WriteString(dwrap(fmt.Sprintf("%s (%s; matches %s)", rb.Alert, rb.File, strings.Join(rb.Matched, ", ")), width, "  ") + "\n")
			for _, c := range rb.Commands {
				b.WriteString(p.paint(ansiGrey, "    $ ") + c + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func labelText(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// DiagnosisMarkdown writes a diagnosis for a ticket or a post-mortem.
func DiagnosisMarkdown(w io.Writer, d *analysis.Diagnosis) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Diagnosis: `%s`\n\n", d.Object.String())
	fmt.Fprintf(&b, "Cluster %s · %s snapshot · collected %s\n\n", md(d.Cluster), d.Source, d.CollectedAt.UTC().Format("2006-01-02 15:04:05Z07:00"))
	fmt.Fprintf(&b, "- **Status**: %s\n", md(d.Status))
	if d.Node != "" {
		fmt.Fprintf(&b, "- **Node**: `%s`\n", d.Node)
	}
	fmt.Fprintf(&b, "- **Likely cause**: %s\n\n", md(d.LikelyCause))
	if in := d.Incident; in != nil {
		fmt.Fprintf(&b, "## Incident `%s`: %s\n\n", in.ID, md(in.Title))
		fmt.Fprintf(&b, "- **Root cause**: %s\n- **Impact**: %s\n- **Confidence**: %s\n\n", md(rootLine(in)), md(impactLine(in)), md(confidenceLine(in)))
	}
	if len(d.Findings) > 0 {
		b.WriteString("## Findings\n\n| severity | check | object | message |\n|---|---|---|---|\n")
		for _, f := range d.Findings {
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", f.Severity, f.Check, f.Object.String(), md(oneLine(f.Message, 300)))
		}
		b.WriteString("\n")
	}
	if len(d.Conditions) > 0 {
		b.WriteString("## Conditions\n\n| type | status | reason | since | message |\n|---|---|---|---|---|\n")
		for _, c := range d.Conditions {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Type, c.Status, md(c.Reason), ago(c.LastTransitionTime, d.CollectedAt), md(oneLine(c.Message, 200)))
		}
		b.WriteString("\n")
	}
	rels := append(append(append([]analysis.Related{}, d.Owners...), d.Children...), d.Related...)
	if len(rels) > 0 {
		b.WriteString("## Around it\n\n| relation | object | status | problem |\n|---|---|---|---|\n")
		for _, r := range rels {
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", r.Relation, r.Object.String(), md(r.Status), md(r.Problem))
		}
		b.WriteString("\n")
	}
	if len(d.Events) > 0 {
		b.WriteString("## Events (newest last)\n\n| when | type | reason | object | message |\n|---|---|---|---|---|\n")
		for _, e := range d.Events {
			fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s |\n", eventWhen(e, d.CollectedAt), e.Type, e.Reason, e.Object.String(), md(oneLine(e.Message, 300)))
		}
		b.WriteString("\n")
	}
	if len(d.Logs) > 0 || d.LogsNote != "" {
		b.WriteString("## Logs\n\n")
		if d.LogsNote != "" {
			b.WriteString(md(d.LogsNote) + "\n\n")
		}
		for _, l := range d.Logs {
			which := fmt.Sprintf("`%s` container `%s`", l.Pod, l.Container)
			if l.Previous {
				which += " (previous run)"
			}
			if l.Error != "" {
				fmt.Fprintf(&b, "- %s: %s\n", which, md(l.Error))
				continue
			}
			fmt.Fprintf(&b, "- %s: %d lines, %d templates, %d errors\n", which, l.Summary.Lines, l.Summary.Templates, l.Summary.Errors)
			for _, t := range l.Summary.Top {
				fmt.Fprintf(&b, "  - %d× `%s` (%s), e.g. `%s`\n", t.Count, md(t.Pattern), firstNonEmpty(t.Level, "-"), md(oneLine(t.Example, 200)))
			}
		}
		b.WriteString("\n")
	}
	if len(d.Anomalies) > 0 {
		b.WriteString("## Metric anomalies\n\n")
		for _, a := range d.Anomalies {
			fmt.Fprintf(&b, "- `%s%s` last %s, score %.2f at %s\n", a.Metric, labelText(a.Labels), snapshot.FormatValue(a.Last), a.Score, ago(a.At, d.CollectedAt))
		}
		b.WriteString("\n")
	}
	if len(d.NextSteps) > 0 {
		b.WriteString("## Next steps\n\n")
		for i, n := range d.NextSteps {
			fmt.Fprintf(&b, "%d. %s (`%s`)\n", i+1, md(n.Action), n.Check)
		}
		b.WriteString("\n")
	}
	if len(d.Runbooks) > 0 {
		b.WriteString("## Runbooks\n\n")
		for _, rb := range d.Runbooks {
			fmt.Fprintf(&b, "### %s\n\n[%s](%s), for %s.\n\n```sh\n%s\n```\n\n", rb.Alert, rb.File, rb.File, strings.Join(rb.Matched, ", "), strings.Join(rb.Commands, "\n"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func jsonOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func yamlOut(w io.Writer, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// dwrap wraps like wrap, but first splits words too long to fit a line
// (pod UIDs, URLs) so that no line is wider than width.
func dwrap(s string, width int, indent string) string {
	room := width - len([]rune(indent))
	if room < 20 {
		return wrap(s, width, indent)
	}
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(w)
		if len(r) <= room {
			continue
		}
		var parts []string
		for len(r) > room {
			parts = append(parts, string(r[:room]))
			r = r[room:]
		}
		parts = append(parts, string(r))
		words[i] = strings.Join(parts, " ")
	}
	return wrap(strings.Join(words, " "), width, indent)
}
