package cli

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// analyze runs `patrol analyze` with args, built on its own so that the
// test does not depend on where the root command lists it.
func analyze(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := analyzeCmd(&globals{stdout: &out, stderr: &errb})
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

// TestAnalyzeGolden scores a recording (testdata/detect/README.md says how
// it was made) and compares the output with the golden file: same rows in
// the same order, the timestamp and value text as read, a score in [0,1].
func TestAnalyzeGolden(t *testing.T) {
	for _, tc := range []struct {
		name, input, golden string
		args                []string
	}{
		{"memavailable combined", "memavailable.csv", "memavailable.combined.csv", []string{"--window", "60", "--period", "none"}},
		{"diskfree combined", "diskfree.csv", "diskfree.combined.csv", []string{"--window", "60", "--period", "none"}},
		{"diskfree robustz", "diskfree.csv", "diskfree.robustz.csv", []string{"--window", "60", "--detector", "robustz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.csv")
			args := append([]string{"--input", td("detect", tc.input), "--output", out}, tc.args...)
			if _, errs, err := analyze(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, errs)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden := td("detect", tc.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", golden, d)
			}
			in, _ := os.ReadFile(td("detect", tc.input))
			inRows := strings.Split(strings.TrimSpace(string(in)), "\n")
			outRows := strings.Split(strings.TrimSpace(string(got)), "\n")
			if len(inRows) != len(outRows) || outRows[0] != "timestamp,value,anomaly_score" {
				t.Fatalf("%d rows in, %d out; header %q", len(inRows), len(outRows), outRows[0])
			}
			for i := 1; i < len(inRows); i++ {
				if !strings.HasPrefix(outRows[i], inRows[i]+",") {
					t.Fatalf("row %d: %q does not start with the input row %q", i, outRows[i], inRows[i])
				}
			}
		})
	}
}

func TestAnalyzeStdout(t *testing.T) {
	out, _, err := analyze(t, "--input", td("detect", "diskfree.csv"), "--window", "60")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "timestamp,value,anomaly_score\n") || strings.Count(out, "\n") < 100 {
		t.Errorf("stdout: %.200q", out)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badValue := write("bad-value.csv", "timestamp,value\n2026-03-02 10:00:00,1\n2026-03-02 10:05:00,twelve\n")
	badTime := write("bad-time.csv", "timestamp,value\n2026-03-02 10:00:00,1\n2026-03-02 25:05:00,2\n")
	short := write("short.csv", "timestamp,value\n2026-03-02 10:00:00,1\n2026-03-02 10:05:00\n")
	backwards := write("backwards.csv", "timestamp,value\n2026-03-02 10:05:00,1\n2026-03-02 10:00:00,2\n")
	empty := write("empty.csv", "timestamp,value\n")
	quote := write("quote.csv", "timestamp,value\n2026-03-02 10:00:00,\"1\n")
	good := td("detect", "diskfree.csv")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", nil, "--input is required"},
		{"missing file", []string{"--input", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"value not a number", []string{"--input", badValue}, "bad-value.csv:3: value \"twelve\" is not a number"},
		{"bad timestamp", []string{"--input", badTime}, "bad-time.csv:3: timestamp \"2026-03-02 25:05:00\""},
		{"one field", []string{"--input", short}, "short.csv:3: want timestamp,value, got 1 field(s)"},
		{"time going backwards", []string{"--input", backwards}, "backwards.csv:3: timestamp 2026-03-02 10:00:00 goes back in time"},
		{"no rows", []string{"--input", empty}, "empty.csv: no timestamp,value rows"},
		{"broken quoting", []string{"--input", quote}, "quote.csv:2:"},
		{"unknown detector", []string{"--input", good, "--detector", "prophet"}, `unknown detector "prophet"`},
		{"plot format", []string{"--input", good, "--plot", filepath.Join(dir, "x.pdf")}, "must end in .png or .svg"},
		{"period", []string{"--input", good, "--period", "daily"}, `--period: "daily" is not auto, none or a positive duration`},
		{"threshold", []string{"--input", good, "--threshold", "2"}, "--threshold: 2 is not in (0, 1]"},
		{"window", []string{"--input", good, "--window", "-5"}, "--window: -5 is negative"},
		{"arguments", []string{good}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := analyze(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestAnalyzePlot: the chart is a PNG that decodes, or an SVG document.
func TestAnalyzePlot(t *testing.T) {
	dir := t.TempDir()
	pngPath, svgPath := filepath.Join(dir, "chart.png"), filepath.Join(dir, "chart.svg")
	if _, errs, err := analyze(t, "--input", td("detect", "diskfree.csv"), "--window", "60", "--output", filepath.Join(dir, "o.csv"), "--plot", pngPath); err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart.png does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
		t.Errorf("chart is %v", b)
	}
	if _, errs, err := analyze(t, "--input", td("detect", "memavailable.csv"), "--output", filepath.Join(dir, "o.csv"), "--plot", svgPath, "--threshold", "0.1"); err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("anomaly score")) {
		t.Errorf("chart.svg: %.200q", svg)
	}
}
