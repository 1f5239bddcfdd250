package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// A fleet report merges the reports of several clusters swept together
// (`patrol inspect --context a --context b`, `--all-contexts`).
//
// The fleet's score is its worst reachable cluster's: an on-call engineer is
// paged per cluster, and a mean would let one broken cluster hide behind
// healthy ones (the same reason a cluster-wide fault costs a cluster a fixed
// penalty rather than a share). The mean is reported beside it for trends.
// Clusters that could not be read do not score (their health is unknown,
// never assumed good or bad); they make the fleet incomplete.

// FleetSchema names the JSON form of a fleet report.
const FleetSchema = "kubepatrol.io/fleet/v1"

// Cluster statuses in a fleet.
const (
	ClusterOK          = "ok"
	ClusterUnreachable = "unreachable"
	ClusterFailed      = "failed"
)

// Fleet is one sweep of several clusters.
type Fleet struct {
	Schema string `json:"schema"`
	// StartedAt is when the sweep started; Duration how long it took.
	StartedAt time.Time     `json:"startedAt"`
	Duration  time.Duration `json:"durationNanos"`
	// Score and Grade are the worst reachable cluster's; null and "?"
	// when no cluster could be read. MeanScore is the mean over reachable
	// clusters.
	Score      *float64 `json:"score"`
	Grade      string   `json:"grade"`
	MeanScore  *float64 `json:"meanScore"`
	GradeBasis string   `json:"gradeBasis"`
	// Worst names the cluster that sets the grade.
	Worst string `json:"worst,omitempty"`
	// Complete is false when a cluster could not be read or its own
	// report is incomplete.
	Complete bool           `json:"complete"`
	Summary  FleetSummary   `json:"summary"`
	Clusters []FleetCluster `json:"clusters"`
}

// FleetSummary counts over the fleet.
type FleetSummary struct {
	Clusters    int            `json:"clusters"`
	OK          int            `json:"ok"`
	Unreachable int            `json:"unreachable"`
	Failed      int            `json:"failed"`
	Incidents   int            `json:"incidents"`
	BySeverity  map[string]int `json:"bySeverity"`
}

// FleetCluster is one cluster of a fleet.
type FleetCluster struct {
	// Name is the cluster's name (its kubeconfig context).
	Name   string `json:"name"`
	Status string `json:"status"`
	// Error says why an unreachable or failed cluster could not be read.
	Error    string        `json:"error,omitempty"`
	Score    *float64      `json:"score"`
	Grade    string        `json:"grade"`
	Duration time.Duration `json:"durationNanos"`
	// Report is the cluster's full report (absent when collection failed
	// before any snapshot existed).
	Report *Report `json:"report,omitempty"`
}

// BuildFleet merges cluster results, ordered worst first (unreadable
// clusters last, then by name).
func BuildFleet(cs []FleetCluster, started time.Time, took time.Duration) *Fleet {
	f := &Fleet{Schema: FleetSchema, StartedAt: started, Duration: took, Grade: "?", Complete: true,
		GradeBasis: "worst reachable cluster (mean shown as meanScore); unreachable clusters are not scored and make the fleet incomplete",
		Summary:    FleetSummary{Clusters: len(cs), BySeverity: map[string]int{}}}
	var sum float64
	n := 0
	for i := range cs {
		c := &cs[i]
		if c.Report != nil {
			c.Score, c.Grade = c.Report.Score, c.Report.Grade
			if !c.Report.Complete {
				f.Complete = false
			}
			for k, v := range c.Report.Summary.BySeverity {
				f.Summary.BySeverity[k] += v
			}
			f.Summary.Incidents += len(c.Report.Incidents)
		}
		if c.Grade == "" {
			c.Grade = "?"
		}
		switch c.Status {
		case ClusterOK:
			f.Summary.OK++
		case ClusterUnreachable:
			f.Summary.Unreachable++
			f.Complete = false
		default:
			f.Summary.Failed++
			f.Complete = false
		}
		if c.Status == ClusterOK && c.Score != nil {
			sum += *c.Score
			n++
			if f.Score == nil || *c.Score < *f.Score {
				v := *c.Score
				f.Score, f.Grade, f.Worst = &v, c.Grade, c.Name
			}
		}
	}
	if n > 0 {
		m := math.Round(sum/float64(n)*10) / 10
		f.MeanScore = &m
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if (a.Score == nil) != (b.Score == nil) {
			return a.Score != nil
		}
		if a.Score != nil && *a.Score != *b.Score {
			return *a.Score < *b.Score
		}
		return a.Name < b.Name
	})
	f.Clusters = cs
	return f
}

// RenderFleet writes a fleet report in format: table, json, yaml,
// markdown or junit (HTML stays per cluster).
func RenderFleet(w io.Writer, format string, f *Fleet, opt Options) error {
	switch format {
	case "table", "":
		return FleetTable(w, f, opt)
	case "json":
		return jsonOut(w, f)
	case "yaml":
		return yamlOut(w, f)
	case "markdown", "md":
		return FleetMarkdown(w, f, opt)
	case "junit":
		return FleetJUnit(w, f)
	case "html":
		return fmt.Errorf("-o html renders one cluster; for a fleet use -o json, markdown or junit, or inspect each context with -o html")
	}
	return fmt.Errorf("unknown output format %q (want one of %v)", format, Formats)
}

func scoreOf(v *float64, grade string) string {
	if v == nil {
		return "?"
	}
	return fmt.Sprintf("%s (%.1f)", grade, *v)
}

// FleetTable writes the fleet summary and then each cluster's report.
func FleetTable(w io.Writer, f *Fleet, opt Options) error {
	width := opt.Width
	if width <= 0 {
		width = 80
	}
	p := painter(opt.Color)
	var b strings.Builder
	head := fmt.Sprintf("fleet of %d clusters  grade %s", len(f.Clusters), p.paint(ansiBold+gradeColor(f.Grade), scoreOf(f.Score, f.Grade)))
	if f.Worst != "" {
		head += "  worst " + f.Worst
	}
	if f.MeanScore != nil {
		head += fmt.Sprintf(", mean %.1f", *f.MeanScore)
	}
	b.WriteString(p.paint(ansiBold, "") + head + "\n")
	sev := f.Summary.BySeverity
	fmt.Fprintf(&b, "%d ok, %d unreachable, %d failed; %d incidents; findings: %d critical, %d warning, %d info\n",
		f.Summary.OK, f.Summary.Unreachable, f.Summary.Failed, f.Summary.Incidents, sev["critical"], sev["warning"], sev["info"])
	if !f.Complete {
		b.WriteString(p.paint(ansiBold+ansiRed, "fleet INCOMPLETE: some clusters could not be (fully) read") + "\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-20s %-12s %-11s %5s %5s %5s %4s\n", "CLUSTER", "STATUS", "GRADE", "CRIT", "WARN", "INFO", "INC")
	for _, c := range f.Clusters {
		crit, warn, info, inc := "-", "-", "-", "-"
		if c.Report != nil && c.Status == ClusterOK {
			s := c.Report.Summary.BySeverity
			crit, warn, info, inc = fmt.Sprint(s["critical"]), fmt.Sprint(s["warning"]), fmt.Sprint(s["info"]), fmt.Sprint(len(c.Report.Incidents))
		}
		status := c.Status
		switch c.Status {
		case ClusterUnreachable, ClusterFailed:
			status = p.paint(ansiRed, fmt.Sprintf("%-12s", c.Status))
		default:
			status = fmt.Sprintf("%-12s", c.Status)
		}
		fmt.Fprintf(&b, "%-20s %s %-11s %5s %5s %5s %4s\n", truncate(c.Name, 20), status, scoreOf(c.Score, c.Grade), crit, warn, info, inc)
		if c.Error != "" {
			b.WriteString(p.paint(ansiGrey, wrap(oneLine(c.Error, 300), width, "    ")) + "\n")
		}
	}
	for _, c := range f.Clusters {
		if c.Report == nil || c.Status != ClusterOK {
			continue
		}
		b.WriteString("\n" + p.paint(ansiBold, strings.Repeat("─", 3)+" "+c.Name+" "+strings.Repeat("─", max(3, width-6-len([]rune(c.Name))))) + "\n")
		if err := Table(&b, c.Report, opt); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FleetMarkdown writes the fleet summary table and each cluster's report.
func FleetMarkdown(w io.Writer, f *Fleet, opt Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubepatrol fleet report\n\n**Grade %s** (worst cluster", scoreOf(f.Score, f.Grade))
	if f.Worst != "" {
		fmt.Fprintf(&b, ": %s", md(f.Worst))
	}
	b.WriteString(")")
	if f.MeanScore != nil {
		fmt.Fprintf(&b, " · mean %.1f", *f.MeanScore)
	}
	fmt.Fprintf(&b, " · %d clusters · started %s\n\n", len(f.Clusters), f.StartedAt.UTC().Format("2006-01-02 15:04:05Z07:00"))
	if !f.Complete {
		b.WriteString("> **Fleet incomplete**: some clusters could not be (fully) read.\n\n")
	}
	b.WriteString("| cluster | status | grade | critical | warning | info | incidents | note |\n|---|---|---|---:|---:|---:|---:|---|\n")
	for _, c := range f.Clusters {
		crit, warn, info, inc := "-", "-", "-", "-"
		if c.Report != nil && c.Status == ClusterOK {
			s := c.Report.Summary.BySeverity
			crit, warn, info, inc = fmt.Sprint(s["critical"]), fmt.Sprint(s["warning"]), fmt.Sprint(s["info"]), fmt.Sprint(len(c.Report.Incidents))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", md(c.Name), c.Status, scoreOf(c.Score, c.Grade), crit, warn, info, inc, md(oneLine(c.Error, 200)))
	}
	b.WriteString("\n")
	for _, c := range f.Clusters {
		if c.Report == nil || c.Status != ClusterOK {
			continue
		}
		var cb strings.Builder
		if err := Markdown(&cb, c.Report, opt); err != nil {
			return err
		}
		// Nest each cluster's report one heading level down.
		for _, line := range strings.Split(strings.TrimRight(cb.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "#") {
				line = "#" + line
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FleetJUnit writes one JUnit document with every cluster's suites, their
// names prefixed with the cluster; an unreadable cluster is one errored
// case.
func FleetJUnit(w io.Writer, f *Fleet) error {
	root := junitSuites{Name: "kubepatrol fleet"}
	for _, c := range f.Clusters {
		if c.Report == nil || c.Status != ClusterOK {
			s := junitSuite{Name: c.Name, Tests: 1, Errors: 1, Time: fmt.Sprintf("%.6f", c.Duration.Seconds()),
				Cases: []junitCase{{Name: "collect", Classname: "kubepatrol." + c.Name, Time: "0.000000",
					Error: &junitFailure{Type: c.Status, Message: c.Error}}}}
			root.Tests++
			root.Errors++
			root.Suites = append(root.Suites, s)
			continue
		}
		doc, err := junitDoc(c.Report)
		if err != nil {
			return err
		}
		for _, s := range doc.Suites {
			s.Name = c.Name + "/" + s.Name
			for i := range s.Cases {
				s.Cases[i].Classname = strings.Replace(s.Cases[i].Classname, "kubepatrol.", "kubepatrol."+c.Name+".", 1)
			}
			root.Suites = append(root.Suites, s)
		}
		root.Tests += doc.Tests
		root.Failures += doc.Failures
		root.Errors += doc.Errors
		root.Skipped += doc.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
