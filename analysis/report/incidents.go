package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
)

// This file renders incidents for the text formats: every format shows them
// first, before the flat findings.

// incidentNumbers maps each finding key to the 1-based number of the
// incident that holds it.
func incidentNumbers(incs []analysis.Incident) map[string]int {
	ids := analysis.IncidentOf(incs)
	num := map[string]int{}
	for i, in := range incs {
		num[in.ID] = i + 1
	}
	out := map[string]int{}
	for k, id := range ids {
		out[k] = num[id]
	}
	return out
}

// memberSummary counts an incident's members by check: "3×
// deployment.replicas_unavailable, service.no_endpoints".
func memberSummary(in *analysis.Incident) string {
	counts := map[string]int{}
	var order []string
	for _, m := range in.Members {
		if counts[m.Check] == 0 {
			order = append(order, m.Check)
		}
		counts[m.Check]++
	}
	var parts []string
	for _, c := range order {
		if counts[c] > 1 {
			parts = append(parts, fmt.Sprintf("%d× %s", counts[c], c))
		} else {
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, ", ")
}

// rootLine renders the root cause: "node.unreachable on Node/worker-4:
// node worker-4 is unreachable for 19m: …".
func rootLine(in *analysis.Incident) string {
	rc := in.RootCause
	obj := rc.Object
	if rc.FindingObject != nil {
		obj = *rc.FindingObject
	}
	s := rc.Summary
	if rc.Check != "" {
		s = fmt.Sprintf("%s (%s on %s): %s", rc.Summary, rc.Check, obj.String(), oneLine(rc.Message, 240))
		if strings.EqualFold(strings.TrimSuffix(rc.Summary, "."), strings.TrimSuffix(oneLine(rc.Message, 240), ".")) {
			s = fmt.Sprintf("%s on %s: %s", rc.Check, obj.String(), oneLine(rc.Message, 240))
		}
	}
	return s
}

// impactLine renders what an incident costs.
func impactLine(in *analysis.Incident) string {
	im := in.Impact
	var parts []string
	if n := len(im.Critical); n > 0 {
		var names []string
		for i, w := range im.Critical {
			if i == 3 {
				names = append(names, fmt.Sprintf("+%d", n-3))
				break
			}
			names = append(names, w.Kind+" "+w.Namespace+"/"+w.Name)
		}
		parts = append(parts, "critical: "+strings.Join(names, ", "))
	}
	if n := len(im.Workloads) - len(im.Critical); n > 0 {
		var names []string
		k := 0
		for _, w := range im.Workloads {
			if contains(im.Critical, w) {
				continue
			}
			if k == 4 {
				names = append(names, fmt.Sprintf("+%d", n-4))
				break
			}
			names = append(names, w.Kind+" "+w.Namespace+"/"+w.Name)
			k++
		}
		parts = append(parts, strings.Join(names, ", "))
	}
	parts = append(parts, fmt.Sprintf("%d %s, %d %s lost, %d %s", im.Pods, pl(im.Pods, "pod", "pods"),
		im.ReplicasLost, pl(im.ReplicasLost, "replica", "replicas"), im.Findings, pl(im.Findings, "finding", "findings")))
	return strings.Join(parts, "; ")
}

func contains(rs []checks.ObjectRef, r checks.ObjectRef) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func pl(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// confidenceLine renders "0.93 (3 node 0.95, 1 service 0.85)".
func confidenceLine(in *analysis.Incident) string {
	type rc struct {
		rule string
		n    int
		sum  float64
	}
	idx := map[string]*rc{}
	var rs []*rc
	for _, m := range in.Members {
		r := idx[m.Link.Rule]
		if r == nil {
			r = &rc{rule: m.Link.Rule}
			idx[m.Link.Rule] = r
			rs = append(rs, r)
		}
		r.n++
		r.sum += m.Link.Confidence
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].n > rs[j].n })
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d %s %.2f", r.n, r.rule, r.sum/float64(r.n)))
	}
	s := fmt.Sprintf("%.2f", in.Confidence)
	if len(parts) > 0 {
		s += " (links: " + strings.Join(parts, ", ") + ")"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// incidentsTable renders the incidents section of the table format.
func incidentsTable(b *strings.Builder, r *Report, opt Options, p painter, width int) {
	if len(r.Incidents) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s\n", p.paint(ansiBold, fmt.Sprintf("INCIDENTS (%d): findings grouped by the fault that explains them", len(r.Incidents))))
	const ind = "              "
	field := func(label, text string) {
		w := wrap(text, width, ind)
		b.WriteString(fmt.Sprintf("   %-10s ", label) + strings.TrimPrefix(w, ind) + "\n")
	}
	for i, in := range r.Incidents {
		lead := fmt.Sprintf("%-3s%-8s  ", fmt.Sprintf("%d.", i+1), strings.ToUpper(string(in.Severity)))
		head := lead + strings.TrimPrefix(wrap(in.Title, width, ind), ind)
		b.WriteString(p.paint(ansiBold+sevColor(in.Severity), head) + "\n")
		field("cause", rootLine(&in))
		for _, c := range in.Chain {
			field("via", fmt.Sprintf("%s → %s (%s, %.2f)", c.From.String(), c.To.String(), c.Rule, c.Confidence))
		}
		field("explains", fmt.Sprintf("%d: %s", len(in.Members), memberSummary(&in)))
		field("impact", impactLine(&in))
		field("confidence", confidenceLine(&in))
		if in.NextStep.Action != "" {
			field("next step", in.NextStep.Action)
		}
		if in.Mitigation != nil {
			field("mitigate", in.Mitigation.Action)
		}
		if opt.Verbose {
			for _, m := range in.Members {
				line := fmt.Sprintf("· %s %s ← %s %s (%s %.2f)", m.Check, m.Object.String(), m.Link.Cause.Kind, m.Link.Cause.Name, m.Link.Rule, m.Link.Confidence)
				b.WriteString(p.paint(ansiGrey, wrap(line, width, ind)) + "\n")
				for _, e := range m.Link.Evidence {
					el := "  " + e.Path + " = " + e.Value
					if e.Message != "" {
						el += ": " + e.Message
					}
					b.WriteString(p.paint(ansiGrey, wrap(el, width, ind+"  ")) + "\n")
				}
			}
		}
		field("id", in.ID)
	}
}

// incidentsMarkdown renders the incidents section of the Markdown format.
func incidentsMarkdown(b *strings.Builder, r *Report) {
	if len(r.Incidents) == 0 {
		return
	}
	b.WriteString("## Incidents\n\nFindings grouped by the fault that explains them, most impact first. Every finding stays in the lists below.\n\n")
	for i, in := range r.Incidents {
		fmt.Fprintf(b, "### %d. %s\n\n", i+1, md(in.Title))
		fmt.Fprintf(b, "- **Severity** %s · **rule** `%s` · **confidence** %s · `%s`\n", in.Severity, in.Rule, md(confidenceLine(&in)), in.ID)
		fmt.Fprintf(b, "- **Root cause**: %s\n", md(rootLine(&in)))
		for _, c := range in.Chain {
			fmt.Fprintf(b, "- **Via** `%s` → `%s` (%s, %.2f)\n", c.From.String(), c.To.String(), c.Rule, c.Confidence)
		}
		fmt.Fprintf(b, "- **Impact**: %s\n", md(impactLine(&in)))
		if in.NextStep.Action != "" {
			fmt.Fprintf(b, "- **Next step** (`%s`): %s\n", in.NextStep.Check, md(in.NextStep.Action))
		}
		if in.Mitigation != nil {
			fmt.Fprintf(b, "- **Mitigation** (`%s`): %s\n", in.Mitigation.Check, md(in.Mitigation.Action))
		}
		b.WriteString("\n| finding | object | linked by | to | confidence |\n|---|---|---|---|---:|\n")
		for _, m := range in.Members {
			fmt.Fprintf(b, "| %s | `%s` | %s | `%s` | %.2f |\n", m.Check, m.Object.String(), m.Link.Rule, m.Link.Cause.String(), m.Link.Confidence)
		}
		b.WriteString("\n")
	}
}
