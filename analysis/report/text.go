package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubepatrol/patrol/checks"
)

// JSON writes the stable machine form.
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// YAML writes the JSON form as YAML (same field names).
func YAML(w io.Writer, r *Report) error {
	j, err := json.Marshal(r)
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

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiGrey   = "\x1b[90m"
	ansiGreen  = "\x1b[32m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

func sevColor(s checks.Severity) string {
	switch s {
	case checks.Critical:
		return ansiRed
	case checks.Warning:
		return ansiYellow
	}
	return ansiBlue
}

func gradeColor(g string) string {
	switch g {
	case "A", "B":
		return ansiGreen
	case "C", "D":
		return ansiYellow
	}
	return ansiRed
}

// ScoreText renders "C (74.2)" or "? (no data)".
func ScoreText(r *Report) string {
	if r.Score == nil {
		return "? (no data)"
	}
	if r.Grade == "?" {
		return fmt.Sprintf("? (%.1f over what could be read)", *r.Score)
	}
	return fmt.Sprintf("%s (%.1f)", r.Grade, *r.Score)
}

// Table writes a human summary that reads well in an 80-column terminal.
func Table(w io.Writer, r *Report, opt Options) error {
	width := opt.Width
	if width <= 0 {
		width = 80
	}
	p := painter(opt.Color)
	var b strings.Builder
	fmt.Fprintf(&b, "%s  grade %s  %s\n", p.paint(ansiBold, "cluster "+r.Cluster),
		p.paint(ansiBold+gradeColor(r.Grade), ScoreText(r)),
		p.paint(ansiGrey, "at "+r.CollectedAt.Format("2006-01-02 15:04:05Z07:00")))
	fmt.Fprintf(&b, "%s\n", wrap(objectsLine(r), width, ""))
	sev := r.Summary.BySeverity
	fmt.Fprintf(&b, "findings: %s critical, %s warning, %s info",
		p.paint(ansiRed, fmt.Sprint(sev["critical"])), p.paint(ansiYellow, fmt.Sprint(sev["warning"])), p.paint(ansiBlue, fmt.Sprint(sev["info"])))
	if r.Summary.Unknown > 0 {
		fmt.Fprintf(&b, ", %s unknown", p.paint(ansiBold, fmt.Sprint(r.Summary.Unknown)))
	}
	if n := len(r.Suppressed); n > 0 {
		fmt.Fprintf(&b, ", %d suppressed", n)
	}
	b.WriteString("\n")
	if !r.Complete {
		var gaps []string
		for _, c := range r.Coverage {
			if c.Blind() && c.Reason != "NotCollected" {
				gaps = append(gaps, fmt.Sprintf("%s (%s)", c.Kind, c.Reason))
			}
		}
		b.WriteString(p.paint(ansiBold+ansiRed, hang("coverage INCOMPLETE, could not read: "+strings.Join(gaps, ", "), width, "  ")) + "\n")
	}
	for _, s := range r.ExpiredSuppressions {
		fmt.Fprintf(&b, "%s\n", hang(fmt.Sprintf("expired suppression of %s (%q, expired %s, %s) no longer applies", s.Check, s.Reason, s.Expires.Format("2006-01-02"), s.Where), width, "  "))
	}

	incidentsTable(&b, r, opt, p, width)
	inc := incidentNumbers(r.Incidents)
	groups := Groups(r.Findings)
	if len(groups) > 0 && len(r.Incidents) > 0 {
		b.WriteString("\n" + p.paint(ansiBold, "FINDINGS") + "\n")
	}
	if len(groups) == 0 && r.Summary.Unknown == 0 {
		if r.Score == nil {
			b.WriteString("\n" + p.paint(ansiBold+ansiRed, "nothing could be inspected: health unknown") + "\n")
		} else {
			b.WriteString("\n" + p.paint(ansiGreen, "no findings") + "\n")
		}
	}
	for gi, g := range groups {
		if gi > 0 || len(r.Incidents) == 0 {
			b.WriteString("\n")
		}
		for _, og := range g.Objects {
			for _, f := range og.Findings {
				label := strings.ToUpper(string(f.Severity))
				head := fmt.Sprintf("%-8s  %s  %s", label, f.Check, f.Object.String())
				if n := inc[f.Key()]; n > 0 {
					head += fmt.Sprintf("  #%d", n)
				}
				if f.ExplainedBy != "" {
					head += "  (see " + f.ExplainedBy + ")"
				}
				b.WriteString(p.paint(sevColor(f.Severity), truncate(head, width)) + "\n")
				b.WriteString(wrap(f.Message, width, "          ") + "\n")
				if opt.Verbose {
					for _, e := range f.Evidence {
						line := "· " + e.Path + " = " + e.Value
						if e.Message != "" {
							line += ": " + e.Message
						}
						b.WriteString(p.paint(ansiGrey, wrap(line, width, "            ")) + "\n")
					}
				}
			}
		}
	}
	if u := Unknowns(r.Findings); len(u) > 0 {
		b.WriteString("\n" + p.paint(ansiBold, "UNKNOWN (data missing, health not claimed)") + "\n")
		for _, f := range u {
			b.WriteString(wrap(f.Check+": "+f.Message, width, "          ") + "\n")
		}
	}
	if len(r.Namespaces) > 0 && r.Namespaces[0].Score < 100 {
		var parts []string
		for i, n := range r.Namespaces {
			if i == 5 || n.Score >= 100 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %s (%.0f)", n.Name, n.Grade, n.Score))
		}
		b.WriteString("\n" + hang("worst namespaces: "+strings.Join(parts, ", "), width, "  ") + "\n")
	}
	if len(r.Nodes) > 0 {
		var parts []string
		for i, n := range r.Nodes {
			if i == 5 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %s (%.0f)", n.Name, n.Grade, n.Score))
		}
		b.WriteString(hang("worst nodes: "+strings.Join(parts, ", "), width, "  ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func objectsLine(r *Report) string {
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	for k, n := range r.Summary.Objects {
		if k == "Event" || k == "Lease" || k == "EndpointSlice" {
			continue
		}
		kvs = append(kvs, kv{k, n})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	var parts []string
	for i, x := range kvs {
		if i == 6 {
			break
		}
		parts = append(parts, fmt.Sprintf("%d %s", x.n, plural(x.k, x.n)))
	}
	checksRun := r.Summary.Checks["ok"] + r.Summary.Checks["findings"]
	return fmt.Sprintf("%s; %d checks ran", strings.Join(parts, ", "), checksRun)
}

func plural(kind string, n int) string {
	k := strings.ToLower(kind)
	if n == 1 {
		return k
	}
	switch {
	case strings.HasSuffix(k, "s"):
		return k + "es"
	case strings.HasSuffix(k, "y"):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// hang wraps s like wrap but without indenting its first line.
func hang(s string, width int, indent string) string {
	return strings.TrimPrefix(wrap(indent+s, width, indent), indent)
}

// wrap breaks s into lines of at most width runes; continuation lines and
// the first line start with indent.
func wrap(s string, width int, indent string) string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return indent
	}
	var lines []string
	line := indent
	for _, w := range words {
		if len([]rune(line))+len([]rune(w))+1 > width && strings.TrimSpace(line) != "" {
			lines = append(lines, strings.TrimRight(line, " "))
			line = indent
		}
		if strings.TrimSpace(line) != "" {
			line += " "
		}
		line += w
	}
	lines = append(lines, line)
	return strings.Join(lines, "\n")
}
