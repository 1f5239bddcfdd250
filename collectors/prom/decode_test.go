package prom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestDecodeMatrix(t *testing.T) {
	body := `{"status":"success","data":{"resultType":"matrix","result":[
	  {"metric":{"__name__":"up","job":"kube-apiserver","instance":"127.0.0.1:6443"},"values":[[1700000000,"1"],[1700000015.5,"0"],[1700000030.125,"NaN"]]},
	  {"metric":{"job":"etcd","path":"a\"b\\c\u00e9"},"values":[[1700000000.001,"-1.5e-3"],[1700000015,"+Inf"],[1.7e9,"-Inf"]]},
	  {"metric":{},"values":[]}
	]},"warnings":["PromQL info: metric might not be a counter"]}`
	r, err := decodeResponse([]byte(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" || r.ResultType != "matrix" || len(r.Warnings) != 1 {
		t.Fatalf("header: %+v", r)
	}
	want := []snapshot.Series{
		{Name: "up", Labels: map[string]string{"job": "kube-apiserver", "instance": "127.0.0.1:6443"},
			Samples: snapshot.Samples{{T: 1700000000000, V: 1}, {T: 1700000015500, V: 0}, {T: 1700000030125, V: math.NaN()}}},
		{Labels: map[string]string{"job": "etcd", "path": "a\"b\\cé"},
			Samples: snapshot.Samples{{T: 1700000000001, V: -0.0015}, {T: 1700000015000, V: math.Inf(1)}, {T: 1700000000000, V: math.Inf(-1)}}},
	}
	if d := cmp.Diff(want, r.Series, cmpopts.EquateNaNs()); d != "" {
		t.Fatal(d)
	}
}

func TestDecodeVectorScalarAndErrors(t *testing.T) {
	r, err := decodeResponse([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"0.5"},"value":[1700000000.5,"12"]},{"metric":{"le":"+Inf"},"histogram":[1,{"count":"1"}]}]}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Series) != 1 || r.Series[0].Samples[0] != (snapshot.Sample{T: 1700000000500, V: 12}) {
		t.Fatalf("vector: %+v", r.Series)
	}
	r, err = decodeResponse([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3.5"]}}`), 0)
	if err != nil || len(r.Series) != 1 || r.Series[0].Samples[0].V != 3.5 {
		t.Fatalf("scalar: %+v %v", r, err)
	}
	r, err = decodeResponse([]byte(`{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}`), 0)
	if err != nil || r.ErrorType != "bad_data" || r.Error != `1:5: parse error: unexpected "}"` {
		t.Fatalf("error body: %+v %v", r, err)
	}
	for _, bad := range []string{``, `{`, `{"status":"success","data":{"result":[{"metric":{},"values":[[1,2]]}]}}x`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]}]}}`} {
		if _, err := decodeResponse([]byte(bad), 0); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestParseFloat compares the fast path with strconv on many shapes.
func TestParseFloat(t *testing.T) {
	cases := []string{"0", "1", "-1", "0.5", "-0", "0.0", "00.25", "123456789012345", "1234567890123456789",
		"0.000123", "3.14159265358979", "1e3", "1.5E-7", "-2.5e+10", "0.1", "0.3", "9007199254740993",
		"123.456789012345", "1.7976931348623157e308", "4.9e-324", "1.", ".5"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		v := rng.Float64() * math.Pow(10, float64(rng.IntN(24)-12))
		cases = append(cases, strconv.FormatFloat(v, 'f', -1, 64), strconv.FormatFloat(v, 'g', -1, 64),
			strconv.FormatFloat(v, 'f', rng.IntN(12), 64))
	}
	for _, c := range cases {
		want, werr := strconv.ParseFloat(c, 64)
		got, gerr := parseFloat([]byte(c))
		if (werr != nil) != (gerr != nil) || (werr == nil && got != want) {
			t.Errorf("parseFloat(%q) = %v, %v; strconv: %v, %v", c, got, gerr, want, werr)
		}
	}
}

// TestDecodeRecorded decodes the recorded payloads and compares them with
// client_golang's model decoding.
func TestDecodeRecorded(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "metrics", "prometheus", "*.json"))
	if len(files) == 0 {
		t.Fatal("no recorded payloads")
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeResponse(body, 0)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got.Status != "success" {
			continue
		}
		want := viaModel(t, body)
		if d := cmp.Diff(want, got.Series, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: differs from model decoding:\n%s", f, d)
		}
	}
}

// viaModel decodes with github.com/prometheus/common/model, the reference.
func viaModel(t *testing.T, body []byte) []snapshot.Series {
	var env struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	conv := func(m model.Metric) (string, map[string]string) {
		var ls map[string]string
		for k, v := range m {
			if k == model.MetricNameLabel {
				continue
			}
			if ls == nil {
				ls = map[string]string{}
			}
			ls[string(k)] = string(v)
		}
		return string(m[model.MetricNameLabel]), ls
	}
	var out []snapshot.Series
	switch env.Data.ResultType {
	case "matrix":
		var m model.Matrix
		if err := json.Unmarshal(env.Data.Result, &m); err != nil {
			t.Fatal(err)
		}
		for _, s := range m {
			name, ls := conv(s.Metric)
			x := snapshot.Series{Name: name, Labels: ls}
			for _, p := range s.Values {
				x.Samples = append(x.Samples, snapshot.Sample{T: int64(p.Timestamp), V: float64(p.Value)})
			}
			if len(x.Samples) > 0 {
				out = append(out, x)
			}
		}
	case "vector":
		var v model.Vector
		if err := json.Unmarshal(env.Data.Result, &v); err != nil {
			t.Fatal(err)
		}
		for _, s := range v {
			name, ls := conv(s.Metric)
			out = append(out, snapshot.Series{Name: name, Labels: ls,
				Samples: snapshot.Samples{{T: int64(s.Timestamp), V: float64(s.Value)}}})
		}
	}
	return out
}

// matrixPayload builds a realistic range result: series with typical
// label sets and values (rates with many decimals, integer gauges).
func matrixPayload(series, points int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < series; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"apiserver_request_total","code":"200","instance":"10.0.%d.%d:6443","job":"apiserver","resource":"pods","verb":"LIST"},"values":[`, i/250, i%250)
		t := 1700000000.0
		v := rng.Float64() * 100
		for j := 0; j < points; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('[')
			b.WriteString(strconv.FormatFloat(t, 'f', -1, 64))
			b.WriteString(`,"`)
			if i%2 == 0 {
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			} else {
				b.WriteString(strconv.Itoa(int(v * 1000)))
			}
			b.WriteString(`"]`)
			t += 15.5
			v += rng.Float64() - 0.5
		}
		b.WriteString("]}")
	}
	b.WriteString("]}}")
	return b.Bytes()
}

// BenchmarkDecodeMatrix reports points per second of wall time and per
// second of CPU time (user+system of the process, GC included), which
// stays meaningful on a loaded machine.
func BenchmarkDecodeMatrix(b *testing.B) {
	const series, points = 500, 1000
	body := matrixPayload(series, points)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := decodeResponse(body, 0)
		if err != nil || len(r.Series) != series {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(series*points) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(n/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeMatrixModel is the reference: encoding/json into
// model.Matrix, as client_golang's API does.
func BenchmarkDecodeMatrixModel(b *testing.B) {
	const series, points = 500, 1000
	body := matrixPayload(series, points)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var env struct {
			Data struct {
				Result model.Matrix `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || len(env.Data.Result) != series {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(series*points) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(n/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
}
