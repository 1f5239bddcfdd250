package cli

import (
	"bytes"
	"encoding/csv"
	"flag"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// fakePrometheus answers /api/v1/query_range with recorded responses
// (testdata/detect/prometheus/<file>.json) by expression, and records the
// requests.
type fakePrometheus struct {
	*httptest.Server
	mu       sync.Mutex
	requests []url.Values
	auth     []string
}

func newFakePrometheus(t *testing.T, files map[string]string) *fakePrometheus {
	t.Helper()
	f := &fakePrometheus{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.requests = append(f.requests, r.Form)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		name, ok := files[r.Form.Get("query")]
		if r.URL.Path != "/api/v1/query_range" || !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected expression"}`))
			return
		}
		body := []byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		if name != "" {
			var err error
			if body, err = os.ReadFile(td("detect", "prometheus", name+".json")); err != nil {
				t.Error(err)
			}
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(f.Close)
	return f
}

// TestAnalyzeQuery: series from a Prometheus range query, answered with
// recordings: the request rates by code of the e2e test's API server
// (TestAnomaly: a burst of 23,000 GETs of missing pods at 23:58:26-38 after
// a quiet minute, 1-second steps) and a node's available memory. Several
// series come out as series,timestamp,value,anomaly_score rows, one as
// NAB's three columns; the request carries the expression as written, the
// range, the step and inspect's credentials.
func TestAnalyzeQuery(t *testing.T) {
	const byCode = `sum by (code) (rate(apiserver_request_total{verb!~"WATCH|WATCHLIST|CONNECT"}[10s]))`
	const mem = `node_memory_MemAvailable_bytes`
	p := newFakePrometheus(t, map[string]string{byCode: "apiserver_requests_by_code", mem: "node_memory_MemAvailable_bytes", "absent(up)": ""})
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, query, golden string
		args                []string
	}{
		{"several series", byCode, "apiserver_requests_by_code.analyze.csv",
			[]string{"--start", "93s", "--end", "2026-11-21T23:58:44Z", "--step", "1s", "--window", "40", "--period", "none"}},
		{"one series", mem, "node_memory_MemAvailable_bytes.analyze.csv",
			[]string{"--start", "2026-11-21T21:53:32Z", "--end", "1795301612", "--step", "60s", "--window", "8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.golden)
			args := append([]string{"--query", tc.query, "--prometheus-url", p.URL, "--prometheus-token-file", token, "--output", out, "--plot", out + ".png"}, tc.args...)
			if _, errs, err := analyze(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, errs)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden := td("detect", "prometheus", tc.golden)
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
			f, err := os.Open(out + ".png")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := png.Decode(f); err != nil {
				t.Errorf("chart: %v", err)
			}
		})
	}
	// The 404 burst is flagged, and nothing before it.
	rows, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(filepath.Join(dir, "apiserver_requests_by_code.analyze.csv"))))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "series,timestamp,value,anomaly_score" || len(rows) != 1+7*94 {
		t.Fatalf("header %v, %d rows", rows[0], len(rows))
	}
	var before, during float64
	for _, r := range rows[1:] {
		if r[0] != `{code="404"}` {
			continue
		}
		sc, _ := strconv.ParseFloat(r[3], 64)
		if r[1] < "2026-11-21 23:58:26" {
			before = max(before, sc)
		} else {
			during = max(during, sc)
		}
	}
	if during < 0.4 || before >= 0.2 {
		t.Errorf("404 rate: %.3f during the burst, %.3f before it", during, before)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) != 2 {
		t.Fatalf("%d requests", len(p.requests))
	}
	q := p.requests[0]
	if q.Get("query") != byCode || q.Get("start") != "1795305431" || q.Get("end") != "1795305524" || q.Get("step") != "1" || p.auth[0] != "Bearer s3cret" {
		t.Errorf("request %v, Authorization %q", q, p.auth[0])
	}
	if q := p.requests[1]; q.Get("start") != "1795298012" || q.Get("end") != "1795301612" || q.Get("step") != "60" {
		t.Errorf("request %v", q)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAnalyzeQueryErrors(t *testing.T) {
	p := newFakePrometheus(t, map[string]string{"absent(up)": ""})
	good := td("detect", "diskfree.csv")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two sources", []string{"--input", good, "--query", "up"}, "--input and --query are two sources"},
		{"query flags with a file", []string{"--input", good, "--step", "1m"}, "--step goes with --query, not --input"},
		{"prometheus flags with a file", []string{"--input", good, "--prometheus-url", p.URL}, "--prometheus-url goes with --query"},
		{"no URL", []string{"--query", "up"}, "--query needs --prometheus-url"},
		{"bad start", []string{"--query", "up", "--prometheus-url", p.URL, "--start", "yesterday"}, `--start: "yesterday" is not RFC 3339`},
		{"bad end", []string{"--query", "up", "--prometheus-url", p.URL, "--end", "7d"}, `--end: "7d" is not now, RFC 3339`},
		{"too many points", []string{"--query", "up", "--prometheus-url", p.URL, "--start", "30d", "--step", "1m"}, "use a larger step"},
		{"bad expression", []string{"--query", "up{", "--prometheus-url", p.URL}, "bad_data: 1:1: parse error"},
		{"no series", []string{"--query", "absent(up)", "--prometheus-url", p.URL}, "--query: no series between"},
		{"matchers are inspect's", []string{"--query", "up", "--prometheus-url", p.URL, "--prometheus-matchers", `cluster="a"`}, "unknown flag: --prometheus-matchers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := analyze(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
