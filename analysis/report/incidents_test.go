package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/file"
)

// incidentReport builds the report of a testdata/incidents fixture.
func incidentReport(t *testing.T, name string) *Report {
	t.Helper()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	s, err := file.Load(filepath.Join("..", "..", "testdata", "incidents", name+".yaml"), file.Options{At: at, Cluster: name})
	if err != nil {
		t.Fatal(err)
	}
	s.ID = "20260302T100000Z-" + name
	res := (&checks.Runner{Checks: catalog.All()}).Run(context.Background(), s)
	for i := range res.Runs {
		res.Runs[i].Duration = 0
	}
	return Build(Input{Snapshot: s, Result: res, Now: at})
}

// TestIncidentsFirstInEveryFormat: every format shows the incidents before
// the flat findings, and the flat findings are all still there.
func TestIncidentsFirstInEveryFormat(t *testing.T) {
	r := incidentReport(t, "webhook-outage")
	if len(r.Incidents) != 1 {
		t.Fatalf("want 1 incident, got %d", len(r.Incidents))
	}
	in := r.Incidents[0]
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, format, r, Options{Width: 80}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			var incAt, findAt int
			switch format {
			case "json":
				incAt, findAt = strings.Index(out, `"incidents"`), strings.Index(out, `"findings"`)
			case "yaml":
				// YAML sorts keys: only check the incidents are there.
				incAt, findAt = strings.Index(out, "\nincidents:"), len(out)
			case "junit":
				incAt, findAt = strings.Index(out, `name="incidents"`), strings.Index(out, `name="deployment"`)
			case "html":
				incAt, findAt = strings.Index(out, `id="incidents"`), strings.Index(out, `id="findings"`)
			default:
				incAt, findAt = strings.Index(out, in.ID), strings.Index(out, "webhook.service_unavailable  ValidatingWebhookConfiguration")
				if format == "markdown" {
					findAt = strings.Index(out, "## Critical")
				}
			}
			if incAt < 0 || findAt < 0 || incAt > findAt {
				t.Errorf("%s: incidents at %d, findings at %d: incidents must come first", format, incAt, findAt)
			}
			if !strings.Contains(out, in.ID) {
				t.Errorf("%s: incident ID %s missing", format, in.ID)
			}
			for _, f := range r.Findings {
				if format == "table" && !strings.Contains(out, f.Object.String()[:min(len(f.Object.String()), 40)]) {
					t.Errorf("table: finding %s lost", f.Key())
				}
			}
		})
	}
	var b bytes.Buffer
	if err := JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Incidents []struct {
			ID        string `json:"id"`
			RootCause struct {
				Object struct{ Kind, Name string } `json:"object"`
			} `json:"rootCause"`
			Members []struct {
				Check string `json:"check"`
			} `json:"members"`
			NextStep struct{ Action string } `json:"nextStep"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Incidents) != 1 || back.Incidents[0].ID != in.ID || len(back.Incidents[0].Members) == 0 || back.Incidents[0].NextStep.Action == "" {
		t.Errorf("JSON incidents do not round-trip: %+v", back.Incidents)
	}
}

// TestIncidentsTextGolden pins the table and Markdown layout of a
// multi-fault report.
func TestIncidentsTextGolden(t *testing.T) {
	for _, name := range []string{"node-down", "webhook-outage"} {
		r := incidentReport(t, name)
		for _, tc := range []struct {
			format string
			opt    Options
			suffix string
		}{
			{"table", Options{Width: 80}, "table"},
			{"table", Options{Width: 80, Verbose: true}, "table-verbose"},
			{"markdown", Options{}, "markdown"},
		} {
			t.Run(name+"/"+tc.suffix, func(t *testing.T) {
				var b bytes.Buffer
				if err := Render(&b, tc.format, r, tc.opt); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("..", "..", "testdata", "report", "incidents-"+name+"."+tc.suffix+".golden")
				if *updateText {
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update-text)", err)
				}
				if d := cmp.Diff(string(want), b.String()); d != "" {
					t.Errorf("%s differs (-want +got):\n%s", path, d)
				}
			})
		}
	}
}

// TestIncidentsHTMLEscapes: text read from the cluster in an incident is
// escaped like any finding's.
func TestIncidentsHTMLEscapes(t *testing.T) {
	r := incidentReport(t, "webhook-outage")
	r.Incidents[0].Title = `<script>alert(1)</script>`
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert(1)") {
		t.Error("incident title not escaped")
	}
}

// TestIncidentAndFleetFieldsDocumented: every JSON field of an incident and
// of a fleet report is named in docs/report.md.
func TestIncidentAndFleetFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	r := incidentReport(t, "webhook-outage")
	f := BuildFleet([]FleetCluster{{Name: "a", Status: ClusterOK, Report: r}, {Name: "b", Status: ClusterUnreachable, Error: "x"}},
		time.Now(), time.Second)
	for name, v := range map[string]any{"incident": r.Incidents[0], "fleet": f, "fleet cluster": f.Clusters[0],
		"root cause": r.Incidents[0].RootCause, "member": r.Incidents[0].Members[0], "impact": r.Incidents[0].Impact} {
		b, _ := json.Marshal(v)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if !strings.Contains(string(doc), "`"+k+"`") && !strings.Contains(string(doc), "`"+k+".") && !strings.Contains(string(doc), ", `"+k+"`") {
				t.Errorf("%s field %q is not documented in docs/report.md", name, k)
			}
		}
	}
}
