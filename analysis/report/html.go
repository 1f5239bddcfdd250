package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; html/template escapes every value by the
// context it lands in, so messages read from the cluster (which may hold
// markup) are shown as text and never run.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"sevClass":   sevClass,
	"sevTitle":   sevTitle,
	"gradeClass": gradeClass,
	"fmtScore":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"barWidth":   barWidth,
	"join":       strings.Join,
	"lower":      strings.ToLower,
	"evTime":     evTime,
	"fmtConf":    func(v float64) string { return fmt.Sprintf("%.2f", v) },
}).Parse(htmlSource))

// HTML writes the report as one self-contained page: inline CSS, a few
// lines of optional inline script for filtering, no external asset. The
// page works offline, prints, and reads on a phone.
func HTML(w io.Writer, r *Report) error {
	return htmlTemplate.Execute(w, newHTMLView(r))
}

// htmlView is the report prepared for the template: everything the page
// shows, pre-counted and pre-formatted, so the template only lays it out.
type htmlView struct {
	R          *Report
	Grade      string
	GradeClass string
	Score      string // "74.2" or "no data"
	HasScore   bool
	Collected  string
	Source     string

	Critical, Warning, Info, Unknown int
	Suppressed                       int
	ChecksRan, ChecksNotRun          int
	Objects                          []kindCount

	// Gaps are blind coverage gaps that make the report incomplete, the
	// kinds sharing one reason and message merged; Absent are kinds a
	// recording lacks or the server does not serve.
	Gaps   []htmlGap
	Absent []snapshot.Coverage
	// NodesSeen is how many nodes the snapshot held.
	NodesSeen int

	Incidents []htmlIncident
	Groups    []htmlSeverity
	Unknowns  []htmlFinding

	Namespaces   []analysis.Score
	PerfectNS    int // namespaces scoring 100, not listed
	Nodes        []analysis.Score
	SuppressedFs []htmlSuppressed
	Expired      []htmlSuppression
	Runs         []htmlRun
}

// htmlIncident is an incident with its lines pre-rendered.
type htmlIncident struct {
	analysis.Incident
	N          int
	Root       string
	ImpactText string
	ConfText   string
	SinceText  string
}

type htmlGap struct {
	Kinds   []string
	Reason  snapshot.CoverageReason
	Message string
}

type kindCount struct {
	Kind string
	N    int
}

type htmlSeverity struct {
	Severity checks.Severity
	Count    int
	Objects  []htmlObject
}

type htmlObject struct {
	Object checks.ObjectRef
	Node   string
	// Search is the lowercased text the page's filter matches against.
	Search   string
	Findings []htmlFinding
}

type htmlFinding struct {
	checks.Finding
	Since string // "2024-05-01 10:00:00 UTC · 3h12m before collection"
}

type htmlSuppressed struct {
	Finding checks.Finding
	By      htmlSuppression
}

type htmlSuppression struct {
	analysis.Suppression
	Scope   string
	Expires string
}

type htmlRun struct {
	checks.Run
	Took string
}

func newHTMLView(r *Report) *htmlView {
	v := &htmlView{R: r, Grade: r.Grade, Collected: fmtTime(r.CollectedAt), Source: r.Source}
	if v.Grade == "" {
		v.Grade = "?"
	}
	v.GradeClass = gradeClass(v.Grade)
	if r.Score != nil {
		v.HasScore = true
		v.Score = fmt.Sprintf("%.1f", *r.Score)
	} else {
		v.Grade, v.GradeClass, v.Score = "?", "grade-none", "no data"
	}

	for _, f := range r.Findings {
		if f.Status == checks.Unknown {
			v.Unknown++
			v.Unknowns = append(v.Unknowns, htmlFinding{Finding: f, Since: since(f.Since, r.CollectedAt)})
			continue
		}
		switch f.Severity {
		case checks.Critical:
			v.Critical++
		case checks.Warning:
			v.Warning++
		case checks.Info:
			v.Info++
		}
	}
	v.Suppressed = len(r.Suppressed)

	for k, n := range r.Summary.Objects {
		v.Objects = append(v.Objects, kindCount{k, n})
	}
	sort.Slice(v.Objects, func(i, j int) bool {
		a, b := v.Objects[i], v.Objects[j]
		return a.N > b.N || a.N == b.N && a.Kind < b.Kind
	})

	v.NodesSeen = r.Summary.Objects[string(snapshot.KindNode)]
	gapIdx := map[[2]string]int{}
	for _, c := range r.Coverage {
		if c.Blind() && c.Reason != snapshot.NotCollected {
			k := [2]string{string(c.Reason), c.Message}
			i, ok := gapIdx[k]
			if !ok {
				i = len(v.Gaps)
				gapIdx[k] = i
				v.Gaps = append(v.Gaps, htmlGap{Reason: c.Reason, Message: c.Message})
			}
			v.Gaps[i].Kinds = append(v.Gaps[i].Kinds, string(c.Kind))
		} else {
			v.Absent = append(v.Absent, c)
		}
	}

	for i, in := range r.Incidents {
		v.Incidents = append(v.Incidents, htmlIncident{Incident: in, N: i + 1, Root: rootLine(&in), ImpactText: impactLine(&in),
			ConfText: confidenceLine(&in), SinceText: since(in.Since, r.CollectedAt)})
	}

	for _, g := range Groups(r.Findings) {
		hs := htmlSeverity{Severity: g.Severity}
		for _, og := range g.Objects {
			ho := htmlObject{Object: og.Object}
			words := []string{og.Object.String()}
			for _, f := range og.Findings {
				hs.Count++
				if ho.Node == "" && f.Node != "" && og.Object.Kind != string(snapshot.KindNode) {
					ho.Node = f.Node
				}
				ho.Findings = append(ho.Findings, htmlFinding{Finding: f, Since: since(f.Since, r.CollectedAt)})
				words = append(words, f.Check, f.Reason, f.Message, f.Node)
			}
			ho.Search = strings.ToLower(strings.Join(words, " "))
			hs.Objects = append(hs.Objects, ho)
		}
		v.Groups = append(v.Groups, hs)
	}

	const maxNS = 15
	for _, n := range r.Namespaces {
		if n.Score >= 100 {
			v.PerfectNS++
			continue
		}
		if len(v.Namespaces) < maxNS {
			v.Namespaces = append(v.Namespaces, n)
		}
	}
	v.Nodes = r.Nodes

	for _, s := range r.Suppressed {
		v.SuppressedFs = append(v.SuppressedFs, htmlSuppressed{Finding: s.Finding, By: newHTMLSuppression(s.By)})
	}
	for _, s := range r.ExpiredSuppressions {
		v.Expired = append(v.Expired, newHTMLSuppression(s))
	}

	for _, run := range r.Checks {
		switch run.Result {
		case checks.ResultOK, checks.ResultFindings:
			v.ChecksRan++
		default:
			v.ChecksNotRun++
			h := htmlRun{Run: run}
			if run.Duration > 0 {
				h.Took = run.Duration.Round(time.Millisecond).String()
				if run.Duration < time.Millisecond {
					h.Took = run.Duration.Round(time.Microsecond).String()
				}
			}
			v.Runs = append(v.Runs, h)
		}
	}
	sort.SliceStable(v.Runs, func(i, j int) bool {
		a, b := runRank(v.Runs[i].Result), runRank(v.Runs[j].Result)
		if a != b {
			return a < b
		}
		return v.Runs[i].Check < v.Runs[j].Check
	})
	return v
}

func newHTMLSuppression(s analysis.Suppression) htmlSuppression {
	scope := []string{}
	for _, p := range [][2]string{{"kind", s.Kind}, {"namespace", s.Namespace}, {"name", s.Name}} {
		if p[1] != "" {
			scope = append(scope, p[0]+"="+p[1])
		}
	}
	if len(scope) == 0 {
		scope = append(scope, "all objects")
	}
	h := htmlSuppression{Suppression: s, Scope: strings.Join(scope, " "), Expires: "never"}
	if !s.Expires.IsZero() {
		h.Expires = s.Expires.UTC().Format("2006-01-02")
	}
	return h
}

// runRank orders non-ok check runs: failures of the check itself first,
// then the ones blinded by missing data, then the ones not applicable.
func runRank(r checks.RunResult) int {
	switch r {
	case checks.ResultError:
		return 0
	case checks.ResultTimeout:
		return 1
	case checks.ResultUnknown:
		return 2
	case checks.ResultSkipped:
		return 3
	}
	return 4
}

func sevClass(s checks.Severity) string {
	switch s {
	case checks.Critical, checks.Warning, checks.Info:
		return "sev-" + string(s)
	}
	return "sev-unknown"
}

func sevTitle(s checks.Severity) string {
	switch s {
	case checks.Critical:
		return "Critical"
	case checks.Warning:
		return "Warning"
	case checks.Info:
		return "Info"
	}
	return "Unknown"
}

func gradeClass(g string) string {
	switch g {
	case "A", "B", "C", "D", "F":
		return "grade-" + strings.ToLower(g)
	}
	return "grade-none"
}

// barWidth clamps a score to a CSS percentage.
func barWidth(v float64) string {
	switch {
	case v < 0:
		v = 0
	case v > 100:
		v = 100
	}
	return fmt.Sprintf("%.0f%%", v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func evTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// since renders a finding's start with its age at collection time.
func since(t *time.Time, at time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	s := fmtTime(*t)
	if at.IsZero() {
		return s
	}
	if d := at.Sub(*t); d > 0 {
		s += " · " + age(d) + " before collection"
	}
	return s
}

// age renders a duration the way kubectl's AGE column does: the two
// largest units.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		m := int(d.Minutes())
		if s := int(d.Seconds()) % 60; s != 0 && m < 10 {
			return fmt.Sprintf("%dm%ds", m, s)
		}
		return fmt.Sprintf("%dm", m)
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 && h < 10 {
			return fmt.Sprintf("%dh%dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	}
	days := int(d.Hours()) / 24
	if h := int(d.Hours()) % 24; h != 0 && days < 10 {
		return fmt.Sprintf("%dd%dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}
