package report

import (
	"fmt"
	"io"
	"strings"
)

// Markdown writes the report as GitHub-flavoured Markdown, for tickets,
// pull requests and post-mortems.
func Markdown(w io.Writer, r *Report, opt Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubepatrol report: %s\n\n", md(r.Cluster))
	fmt.Fprintf(&b, "**Grade %s** · collected %s · snapshot `%s` · source %s", ScoreText(r),
		r.CollectedAt.Format("2006-01-02 15:04:05Z07:00"), r.SnapshotID, r.Source)
	if r.Version != "" {
		fmt.Fprintf(&b, " · Kubernetes %s", r.Version)
	}
	if r.TraceID != "" {
		fmt.Fprintf(&b, " · trace `%s`", r.TraceID)
	}
	b.WriteString("\n\n")
	sev := r.Summary.BySeverity
	fmt.Fprintf(&b, "| critical | warning | info | unknown | suppressed |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		sev["critical"], sev["warning"], sev["info"], r.Summary.Unknown, len(r.Suppressed))
	if !r.Complete {
		b.WriteString("> **Coverage incomplete**: some data could not be read, so the checks that need it report `unknown`.\n\n")
	}
	var absent []string
	var gaps []string
	for _, c := range r.Coverage {
		if c.Reason == "NotCollected" {
			absent = append(absent, string(c.Kind))
			continue
		}
		gaps = append(gaps, fmt.Sprintf("| %s | %s | %s |\n", c.Kind, c.Reason, md(c.Message)))
	}
	if len(gaps) > 0 {
		b.WriteString("## Coverage gaps\n\n| kind | reason | detail |\n|---|---|---|\n" + strings.Join(gaps, "") + "\n")
	}
	if len(absent) > 0 {
		fmt.Fprintf(&b, "Not in the recording (checks that need them were skipped): %s.\n\n", strings.Join(absent, ", "))
	}
	incidentsMarkdown(&b, r)
	inc := incidentNumbers(r.Incidents)
	groups := Groups(r.Findings)
	if len(groups) == 0 {
		b.WriteString("No findings.\n")
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "## %s\n\n", strings.ToUpper(string(g.Severity[:1]))+string(g.Severity[1:]))
		for _, og := range g.Objects {
			fmt.Fprintf(&b, "### `%s`\n\n", og.Object.String())
			for _, f := range og.Findings {
				fmt.Fprintf(&b, "- **%s** (%s): %s", f.Check, f.Reason, md(f.Message))
				if f.ExplainedBy != "" {
					fmt.Fprintf(&b, " _(secondary to %s)_", f.ExplainedBy)
				}
				if n := inc[f.Key()]; n > 0 {
					fmt.Fprintf(&b, " _(incident %d)_", n)
				}
				b.WriteString("\n")
				for _, e := range f.Evidence {
					line := fmt.Sprintf("  - %s `%s` = `%s`", e.Type, e.Path, e.Value)
					if e.Message != "" {
						line += ": " + md(e.Message)
					}
					if e.Time != nil {
						line += " (" + e.Time.Format("2006-01-02 15:04:05Z07:00") + ")"
					}
					b.WriteString(line + "\n")
				}
			}
			b.WriteString("\n")
		}
	}
	if u := Unknowns(r.Findings); len(u) > 0 {
		b.WriteString("## Unknown (health not claimed)\n\n")
		for _, f := range u {
			fmt.Fprintf(&b, "- **%s**: %s\n", f.Check, md(f.Message))
		}
		b.WriteString("\n")
	}
	if len(r.Namespaces) > 0 {
		b.WriteString("## Namespaces\n\n| namespace | grade | score |\n|---|---|---:|\n")
		for _, n := range r.Namespaces {
			fmt.Fprintf(&b, "| %s | %s | %.1f |\n", md(n.Name), n.Grade, n.Score)
		}
		b.WriteString("\n")
	}
	if len(r.Nodes) > 0 {
		b.WriteString("## Nodes below 100\n\n| node | grade | score |\n|---|---|---:|\n")
		for _, n := range r.Nodes {
			fmt.Fprintf(&b, "| %s | %s | %.1f |\n", md(n.Name), n.Grade, n.Score)
		}
		b.WriteString("\n")
	}
	if len(r.Suppressed) > 0 || len(r.ExpiredSuppressions) > 0 {
		b.WriteString("## Suppressions\n\n")
		for _, s := range r.Suppressed {
			fmt.Fprintf(&b, "- suppressed %s on `%s`: %s (owner %s, until %s)\n", s.Finding.Check, s.Finding.Object.String(),
				md(s.By.Reason), md(s.By.Owner), s.By.Expires.Format("2006-01-02"))
		}
		for _, s := range r.ExpiredSuppressions {
			fmt.Fprintf(&b, "- **expired** %s (%s), since %s: no longer applied\n", s.Check, md(s.Reason), s.Expires.Format("2006-01-02"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// md escapes text for Markdown tables and inline use.
func md(s string) string {
	r := strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'")
	return r.Replace(s)
}
