// Package report assembles an inspection's outcome — findings, scores,
// coverage, suppressions — into one Report and renders it as table, JSON,
// YAML, Markdown, HTML or JUnit XML. JSON is the stable machine form
// (documented in docs/report.md); the others are views of the same value.
package report

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Schema names the JSON form of a report; it changes only on an
// incompatible change (fields are added, never renamed or removed, within
// one schema).
const Schema = "kubepatrol.io/report/v1"

// Report is one inspection of one cluster.
type Report struct {
	Schema      string    `json:"schema"`
	Cluster     string    `json:"cluster"`
	CollectedAt time.Time `json:"collectedAt"`
	SnapshotID  string    `json:"snapshotID"`
	Source      string    `json:"source"`
	Version     string    `json:"version,omitempty"`
	// Score and Grade are the cluster's; Score is null (and Grade "?")
	// when nothing could be read.
	Score *float64 `json:"score"`
	Grade string   `json:"grade"`
	// Complete is false when coverage has gaps that blind some checks.
	Complete bool                `json:"complete"`
	Coverage []snapshot.Coverage `json:"coverage"`
	// Incidents group the findings that one fault explains, ranked by
	// impact (see analysis.Incident); Findings stays the flat list.
	Incidents []analysis.Incident `json:"incidents"`
	Findings  []checks.Finding    `json:"findings"`
	Summary   Summary             `json:"summary"`
	// Namespaces and Nodes hold per-scope scores (nodes below 100 only).
	Namespaces []analysis.Score `json:"namespaces,omitempty"`
	Nodes      []analysis.Score `json:"nodes,omitempty"`
	// Suppressed findings and expired suppressions.
	Suppressed          []analysis.Suppressed  `json:"suppressed,omitempty"`
	ExpiredSuppressions []analysis.Suppression `json:"expiredSuppressions,omitempty"`
	// Checks records each check's run.
	Checks []checks.Run `json:"checks"`
	// TraceID is the OpenTelemetry trace of the sweep, when traced.
	TraceID string `json:"traceID,omitempty"`
}

// Summary counts findings.
type Summary struct {
	Total      int            `json:"total"`
	Firing     int            `json:"firing"`
	Unknown    int            `json:"unknown"`
	BySeverity map[string]int `json:"bySeverity"`
	ByCheck    map[string]int `json:"byCheck"`
	// Checks counts check runs by result (ok, findings, unknown, skipped,
	// error, timeout).
	Checks map[string]int `json:"checks"`
	// Objects counts the snapshot's objects by kind.
	Objects map[string]int `json:"objects"`
}

// Input is what Build needs.
type Input struct {
	Snapshot     *snapshot.Snapshot
	Result       checks.Result
	Suppressions []analysis.Suppression
	// Now decides suppression expiry (the wall clock for live use).
	Now time.Time
	// MinSeverity drops findings below it (empty keeps all).
	MinSeverity checks.Severity
	TraceID     string
	// Checks is the catalogue that ran: its remedies become the incidents'
	// next steps. Nil means the built-in catalogue.
	Checks []checks.Check
}

// Build assembles a report.
func Build(in Input) *Report {
	s := in.Snapshot
	fs, silenced, expired := analysis.Suppress(in.Result.Findings, in.Suppressions, in.Now)
	// Score before the display filter: --severity changes what is shown,
	// not how healthy the cluster is.
	sc := analysis.Compute(s, fs)
	// Incidents too: a fault is grouped by everything it explains, even
	// the findings --severity hides.
	incs := analysis.Incidents(s, fs, analysis.IncidentOptions{Checks: metas(in.Checks)})
	if incs == nil {
		incs = []analysis.Incident{}
	}
	if in.MinSeverity != "" {
		kept := fs[:0:0]
		for _, f := range fs {
			if f.Severity.Rank() >= in.MinSeverity.Rank() {
				kept = append(kept, f)
			}
		}
		fs = kept
	}
	if fs == nil {
		fs = []checks.Finding{}
	}
	r := &Report{
		Schema:  Schema,
		Cluster: s.Cluster, CollectedAt: s.CollectedAt, SnapshotID: s.ID, Source: string(s.Source),
		Version: s.Version, Grade: "?", Complete: true, Coverage: s.Coverage, Incidents: incs, Findings: fs,
		Suppressed: silenced, ExpiredSuppressions: expired, Checks: in.Result.Runs, TraceID: in.TraceID,
	}
	if r.Coverage == nil {
		r.Coverage = []snapshot.Coverage{}
	}
	for _, c := range s.Coverage {
		if c.Blind() && c.Reason != snapshot.NotCollected {
			r.Complete = false
		}
	}
	if r.Checks == nil {
		r.Checks = []checks.Run{}
	}
	if sc.Cluster != nil {
		v := sc.Cluster.Score
		r.Score, r.Grade = &v, sc.Cluster.Grade
		// A kind that is scored but could not be read (RBAC, timeout,
		// outage) makes the score cover only part of the cluster: keep the
		// number, but do not grade health that was not seen.
		for _, c := range s.Coverage {
			if c.Blind() && c.Reason != snapshot.NotCollected && analysis.Scored(c.Kind) {
				r.Grade = "?"
				break
			}
		}
	}
	r.Namespaces, r.Nodes = sc.Namespaces, sc.Nodes
	r.Summary = summarize(s, fs, in.Result.Runs)
	return r
}

// metas describes a catalogue by check ID; nil means the built-in one.
func metas(cs []checks.Check) map[string]checks.Meta {
	if cs == nil {
		cs = catalog.All()
	}
	m := make(map[string]checks.Meta, len(cs))
	for _, c := range cs {
		m[c.Meta().ID] = c.Meta()
	}
	return m
}

func summarize(s *snapshot.Snapshot, fs []checks.Finding, runs []checks.Run) Summary {
	sum := Summary{BySeverity: map[string]int{}, ByCheck: map[string]int{}, Checks: map[string]int{}, Objects: map[string]int{}}
	for _, f := range fs {
		sum.Total++
		if f.Status == checks.Unknown {
			sum.Unknown++
			continue
		}
		sum.Firing++
		sum.BySeverity[string(f.Severity)]++
		sum.ByCheck[f.Check]++
	}
	for _, r := range runs {
		sum.Checks[string(r.Result)]++
	}
	for _, k := range snapshot.ObjectKinds {
		if n := s.Count(k); n > 0 {
			sum.Objects[string(k)] = n
		}
	}
	return sum
}

// Formats lists the output formats.
var Formats = []string{"table", "json", "yaml", "markdown", "html", "junit"}

// Options tune rendering.
type Options struct {
	// Color enables ANSI colour in table output.
	Color bool
	// Width is the terminal width for table output (default 80).
	Width int
	// Verbose adds evidence to table and Markdown output.
	Verbose bool
}

// Render writes r in format.
func Render(w io.Writer, format string, r *Report, opt Options) error {
	switch format {
	case "table", "":
		return Table(w, r, opt)
	case "json":
		return JSON(w, r)
	case "yaml":
		return YAML(w, r)
	case "markdown", "md":
		return Markdown(w, r, opt)
	case "html":
		return HTML(w, r)
	case "junit":
		return JUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q (want one of %v)", format, Formats)
}

// Groups returns findings grouped by severity (critical first) and, inside,
// by object, in report order.
func Groups(fs []checks.Finding) []SeverityGroup {
	var out []SeverityGroup
	for _, sev := range []checks.Severity{checks.Critical, checks.Warning, checks.Info} {
		g := SeverityGroup{Severity: sev}
		idx := map[string]int{}
		for _, f := range fs {
			if f.Severity != sev || f.Status != checks.Firing {
				continue
			}
			k := f.Object.String()
			i, ok := idx[k]
			if !ok {
				i = len(g.Objects)
				idx[k] = i
				g.Objects = append(g.Objects, ObjectGroup{Object: f.Object})
			}
			g.Objects[i].Findings = append(g.Objects[i].Findings, f)
		}
		if len(g.Objects) > 0 {
			sort.SliceStable(g.Objects, func(a, b int) bool {
				return g.Objects[a].Object.String() < g.Objects[b].Object.String()
			})
			out = append(out, g)
		}
	}
	return out
}

// SeverityGroup is the firing findings of one severity.
type SeverityGroup struct {
	Severity checks.Severity
	Objects  []ObjectGroup
}

// ObjectGroup is the findings on one object.
type ObjectGroup struct {
	Object   checks.ObjectRef
	Findings []checks.Finding
}

// Unknowns returns the findings whose status is unknown.
func Unknowns(fs []checks.Finding) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Status == checks.Unknown {
			out = append(out, f)
		}
	}
	return out
}
