package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/kubepatrol/patrol/checks"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit writes one test suite per check family and one test case per
// check: a check with firing findings fails (one failure listing every
// object), an unknown or errored check is an error, a skipped one skipped.
// CI systems then show a cluster's health like a test run.
func JUnit(w io.Writer, r *Report) error {
	root, err := junitDoc(r)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// junitDoc builds the JUnit document of a report.
func junitDoc(r *Report) (junitSuites, error) {
	byCheck := map[string][]checks.Finding{}
	for _, f := range r.Findings {
		byCheck[f.Check] = append(byCheck[f.Check], f)
	}
	suites := map[string]*junitSuite{}
	var order []string
	root := junitSuites{Name: "kubepatrol " + r.Cluster}
	// Incidents first: one failing case per fault, naming what it explains.
	if len(r.Incidents) > 0 {
		s := junitSuite{Name: "incidents", Time: "0.000000"}
		for _, in := range r.Incidents {
			var body strings.Builder
			fmt.Fprintf(&body, "root cause: %s\nimpact: %s\nconfidence: %s\n", rootLine(&in), impactLine(&in), confidenceLine(&in))
			if in.NextStep.Action != "" {
				fmt.Fprintf(&body, "next step: %s\n", in.NextStep.Action)
			}
			for _, m := range in.Members {
				fmt.Fprintf(&body, "[%s] %s %s (%s %.2f)\n", m.Severity, m.Check, m.Object.String(), m.Link.Rule, m.Link.Confidence)
			}
			s.Cases = append(s.Cases, junitCase{Name: in.ID + " " + in.Title, Classname: "kubepatrol.incidents", Time: "0.000000",
				Failure: &junitFailure{Type: string(in.Severity), Message: in.Title, Body: body.String()}})
			s.Tests++
			s.Failures++
		}
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Suites = append(root.Suites, s)
	}
	for _, run := range r.Checks {
		fam := strings.SplitN(run.Check, ".", 2)[0]
		s := suites[fam]
		if s == nil {
			s = &junitSuite{Name: fam}
			suites[fam] = s
			order = append(order, fam)
		}
		c := junitCase{Name: run.Check, Classname: "kubepatrol." + fam, Time: fmt.Sprintf("%.6f", run.Duration.Seconds())}
		fs := byCheck[run.Check]
		switch run.Result {
		case checks.ResultFindings:
			var firing []checks.Finding
			for _, f := range fs {
				if f.Status == checks.Firing {
					firing = append(firing, f)
				}
			}
			if len(firing) == 0 { // all suppressed or filtered
				break
			}
			var body strings.Builder
			for _, f := range firing {
				fmt.Fprintf(&body, "[%s] %s: %s\n", f.Severity, f.Object.String(), f.Message)
			}
			c.Failure = &junitFailure{Type: string(firing[0].Severity),
				Message: fmt.Sprintf("%d finding(s): %s", len(firing), firing[0].Message), Body: body.String()}
			s.Failures++
		case checks.ResultUnknown, checks.ResultError, checks.ResultTimeout:
			c.Error = &junitFailure{Type: string(run.Result), Message: run.Detail}
			s.Errors++
		case checks.ResultSkipped:
			c.Skipped = &junitSkipped{Message: run.Detail}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, fam := range order {
		s := suites[fam]
		var total float64
		for _, run := range r.Checks {
			if strings.SplitN(run.Check, ".", 2)[0] == fam {
				total += run.Duration.Seconds()
			}
		}
		s.Time = fmt.Sprintf("%.6f", total)
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Skipped += s.Skipped
		root.Suites = append(root.Suites, *s)
	}
	return root, nil
}
