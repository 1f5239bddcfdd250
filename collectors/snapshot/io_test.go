package snapshot_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/collectors/synth"
)

func encode(t testing.TB, s *snapshot.Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := snapshot.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stdlib is what encoding/json makes of data: the reference behaviour.
func stdlib(data []byte) (*snapshot.Snapshot, error) {
	var s snapshot.Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, snapshot.PositionError(data, err)
	}
	if s.Schema != snapshot.SchemaVersion {
		return nil, fmt.Errorf("not a kubepatrol snapshot (schema %q, want %q)", s.Schema, snapshot.SchemaVersion)
	}
	return &s, nil
}

func TestRoundTrip(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 80, Pods: 2500, Seed: 11, FaultRate: 0.05})
	data := encode(t, g.Snapshot)
	want, err := json.Marshal(g.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, append(want, '\n')) {
		t.Fatal("Write's bytes differ from encoding/json's")
	}
	got, err := snapshot.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g.Snapshot) {
		t.Fatalf("Read(Write(s)) != s:\n%s", cmp.Diff(g.Snapshot, got))
	}
	ref, err := stdlib(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ref) {
		t.Fatalf("Read differs from encoding/json:\n%s", cmp.Diff(ref, got))
	}
}

func TestSingleCore(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	g := synth.Generate(synth.Options{Nodes: 30, Pods: 3000, Seed: 5, FaultRate: 0.05})
	data := encode(t, g.Snapshot)
	want, _ := json.Marshal(g.Snapshot)
	if !bytes.Equal(data, append(want, '\n')) {
		t.Fatal("Write's bytes differ from encoding/json's")
	}
	got, err := snapshot.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g.Snapshot) {
		t.Fatal(cmp.Diff(g.Snapshot, got))
	}
}

// odd is a snapshot with the strings and values that take encoding/json's
// rarer paths.
func odd() *snapshot.Snapshot {
	at := time.Date(2026, 5, 9, 12, 0, 0, 123456789, time.UTC)
	berlin := time.FixedZone("CEST", 2*3600)
	grace := int64(30)
	yes := true
	return &snapshot.Snapshot{
		Schema: snapshot.SchemaVersion, ID: "odd", Cluster: "a<b>&c", Source: snapshot.SourceFile, CollectedAt: at,
		Coverage: []snapshot.Coverage{{Kind: snapshot.KindEvent, Reason: snapshot.Forbidden, Message: "events is forbidden: User \"x\" cannot list"}},
		Pods: []snapshot.Pod{{
			Meta: snapshot.Meta{Namespace: "ns", Name: "p\u2028q\u2029", CreationTimestamp: at.In(berlin),
				Labels:      map[string]string{"z": "1", "a": "\x00\x01\x1f\x7f", "é": "ü\u00e9😀", "bad": "\xff\xfe"},
				Annotations: map[string]string{}, Finalizers: []string{}},
			GracePeriod: &grace, Message: "line1\nline2\ttab\\ \"quoted\" \b\f\r",
			Conditions: []snapshot.Condition{{Type: "Ready", Status: "True", LastTransitionTime: at.Add(-time.Hour).Truncate(time.Second)}},
			Containers: []snapshot.Container{{Name: "c", Started: &yes, Requests: snapshot.Resources{"cpu": 0, "memory": -1 << 62},
				State: snapshot.ContainerState{State: "running", StartedAt: &at}}},
		}},
		Nodes: []snapshot.Node{{Meta: snapshot.Meta{Name: "n"}, Capacity: snapshot.Resources{}}},
	}
}

func TestOddValues(t *testing.T) {
	s := odd()
	data := encode(t, s)
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, append(want, '\n')) {
		t.Fatalf("Write:\n%s\nencoding/json:\n%s", data, want)
	}
	got, err := snapshot.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := stdlib(data)
	if !reflect.DeepEqual(got, ref) {
		t.Fatal(cmp.Diff(ref, got))
	}
}

// Documents that are valid but not as Write makes them: Decode must give
// what encoding/json gives.
var variants = []string{
	`{"schema":"kubepatrol.io/snapshot/v1"}`,
	" \n\t{ \"schema\" : \"kubepatrol.io/snapshot/v1\" , \"pods\" : [ ] , \"nodes\" : null } \n",
	`{"SCHEMA":"kubepatrol.io/snapshot/v1","Pods":[{"NAME":"a","labels":{"k":"v"},"labels":{"k2":"v2"}}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","unknown":{"deep":[1,2.5e3,true,null,{"x":"\u00e9"}]},"pods":[{"name":"a","extra":[[]]}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","collectedAt":"2026-05-09T14:00:00.5+02:00","pods":[{"name":"\ud83d\ude00\ud800x\u0041\/","creationTimestamp":"2026-02-29T00:00:00Z"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a"}],"pods":[{"name":"b"},{"name":"c"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a","gracePeriod":null,"terminationGracePeriodSeconds":-0,"containers":[{"name":"c","restartCount":2147483647,"started":null,"requests":{"cpu":9223372036854775807,"memory":-9223372036854775808}}]}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","nodes":[{"name":"n","capacity":{"pods":110,"pods":120},"taints":[{"key":"k","effect":"NoSchedule","timeAdded":null}]}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"creationTimestamp":"2026-05-09T12:00:00.123456789Z","startTime":"2026-05-09T12:00:00.1234567891Z"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","events":[{"name":"e","lastTime":"2026-05-09T12:00:00z"}]}`,
	`{"sChemA":"kubepatrol.io/snapshot/v1","pods":[{"nAme":"0"}],"pods":[{}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a","containers":[{"name":"x"}],"containers":[{"image":"i"}]}]}`,
}

// Documents encoding/json refuses: Decode must refuse them with the same
// error, naming line and column.
var broken = []string{
	``,
	`{`,
	`{"schema":"kubepatrol.io/snapshot/v1",}`,
	"{\"schema\":\"kubepatrol.io/snapshot/v1\",\n\"pods\":[{\"name\":1}]}",
	"{\"schema\":\"kubepatrol.io/snapshot/v1\",\n\"pods\":[{\"name\":\"a\"},]}",
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a"}]} x`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"terminationGracePeriodSeconds":1.5}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"containers":[{"restartCount":2147483648}]}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a\x01"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"\q"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"creationTimestamp":"yesterday"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"creationTimestamp":"2026-02-30T00:00:00Z"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","nodes":[{"name":"n","unschedulable":"yes"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[{"name":"a"} {"name":"b"}]}`,
	`{"schema":"kubepatrol.io/snapshot/v1","pods":[01]}`,
	`{"schema":"other"}`,
	"\ufeff{\"schema\":\"kubepatrol.io/snapshot/v1\"}",
	`{}00`,
}

func TestDecodeLikeEncodingJSON(t *testing.T) {
	for _, doc := range append(append([]string{}, variants...), broken...) {
		got, err := snapshot.Decode([]byte(doc))
		want, werr := stdlib([]byte(doc))
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Errorf("%q:\n got error %v\nwant error %v", doc, err, werr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %s", doc, cmp.Diff(want, got))
		}
	}
}

func TestErrorsNameLineAndColumn(t *testing.T) {
	for doc, want := range map[string]string{
		"{\"schema\":\"kubepatrol.io/snapshot/v1\",\n\"pods\":[{\"name\":\"a\"},]}":    "2:23: invalid character ']' looking for beginning of value",
		"{\"schema\":\"kubepatrol.io/snapshot/v1\",\n  \"pods\":[{\"name\":1}]}":       "2:20: json: cannot unmarshal number into Go struct field Pod.pods.Meta.name of type string",
		"{\"schema\":\"kubepatrol.io/snapshot/v1\",\n\"nodes\":[\n{\"name\":\"n\",}]}": "3:14: invalid character '}' looking for beginning of object key string",
	} {
		_, err := snapshot.Decode([]byte(doc))
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", doc, err, want)
		}
	}
	if _, err := snapshot.Decode([]byte(`{"schema":"x"}`)); err == nil || !strings.Contains(err.Error(), "not a kubepatrol snapshot") {
		t.Errorf("schema mismatch: %v", err)
	}
}

// TestMutations corrupts a small real snapshot in many ways and checks that
// Decode always agrees with encoding/json: same value or same error.
func TestMutations(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 3, Pods: 30, Seed: 9, FaultRate: 0.3})
	s := g.Snapshot
	s.Pods = s.Pods[:4]
	s.Events, s.ReplicaSets, s.Leases = s.Events[:min(2, len(s.Events))], s.ReplicaSets[:2], s.Leases[:2]
	s.EndpointSlices, s.APIServices, s.Services = s.EndpointSlices[:2], s.APIServices[:2], s.Services[:2]
	base := encode(t, s)
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]",:0123456789.eE+-tfnul\ ` + "\n\x00\xff")
	for i := 0; i < 500; i++ {
		doc := append([]byte(nil), base...)
		for k := 0; k <= r.IntN(3); k++ {
			at := r.IntN(len(doc))
			switch r.IntN(3) {
			case 0:
				doc = append(doc[:at], doc[at+1:]...)
			case 1:
				doc = append(doc[:at], append([]byte{alphabet[r.IntN(len(alphabet))]}, doc[at:]...)...)
			default:
				doc[at] = alphabet[r.IntN(len(alphabet))]
			}
		}
		want, werr := stdlib(doc)
		for _, how := range []string{"Decode", "Read"} {
			var got *snapshot.Snapshot
			var err error
			if how == "Decode" {
				got, err = snapshot.Decode(doc)
			} else {
				got, err = snapshot.Read(&trickle{r: bytes.NewReader(doc), n: 7 + i*31%2000})
			}
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Fatalf("mutation %d, %s: got error %v, want %v", i, how, err, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("mutation %d, %s: %s", i, how, cmp.Diff(want, got))
			}
		}
	}
}

// trickle is a seekable reader that returns at most n bytes a call, so
// that values straddle the edges of Read's window.
type trickle struct {
	r *bytes.Reader
	n int
}

func (t *trickle) Read(p []byte) (int, error) { return t.r.Read(p[:min(len(p), t.n)]) }

func (t *trickle) Seek(off int64, whence int) (int64, error) { return t.r.Seek(off, whence) }

func TestStreamWindow(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 50, Pods: 4000, Seed: 4, FaultRate: 0.05})
	data := encode(t, g.Snapshot)
	for _, n := range []int{1 << 10, 4093, 1 << 16} {
		got, err := snapshot.Read(&trickle{r: bytes.NewReader(data), n: n})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, g.Snapshot) {
			t.Fatalf("reads of %d bytes: %s", n, cmp.Diff(g.Snapshot, got))
		}
	}
	// Whitespace between elements, as an indenting writer leaves it.
	var ind bytes.Buffer
	if err := json.Indent(&ind, data, "", "  "); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func() (*snapshot.Snapshot, error){
		func() (*snapshot.Snapshot, error) { return snapshot.Decode(ind.Bytes()) },
		func() (*snapshot.Snapshot, error) {
			return snapshot.Read(&trickle{r: bytes.NewReader(ind.Bytes()), n: 777})
		},
	} {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, g.Snapshot) {
			t.Fatal(cmp.Diff(g.Snapshot, got))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, d := range append(append([]string{}, variants...), broken...) {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		want, werr := stdlib(doc)
		for _, how := range []string{"Decode", "Read"} {
			var got *snapshot.Snapshot
			var err error
			if how == "Decode" {
				got, err = snapshot.Decode(doc)
			} else {
				got, err = snapshot.Read(&trickle{r: bytes.NewReader(doc), n: 1 + len(doc)%13})
			}
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Fatalf("%s: got error %v, want %v", how, err, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %s", how, cmp.Diff(want, got))
			}
		}
	})
}

func TestGzipAndFiles(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 10, Pods: 300, Seed: 2, FaultRate: 0.1})
	data := encode(t, g.Snapshot)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	dir := t.TempDir()
	plain, packed := filepath.Join(dir, "s.json"), filepath.Join(dir, "s.json.gz")
	os.WriteFile(plain, data, 0o644)
	os.WriteFile(packed, z.Bytes(), 0o644)
	read := func(name string, open func() (*snapshot.Snapshot, error)) {
		s, err := open()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(s, g.Snapshot) {
			t.Fatalf("%s: %s", name, cmp.Diff(g.Snapshot, s))
		}
	}
	read("gzip reader", func() (*snapshot.Snapshot, error) { return snapshot.Read(bytes.NewReader(z.Bytes())) })
	read("plain reader", func() (*snapshot.Snapshot, error) { return snapshot.Read(bytes.NewReader(data)) })
	for _, name := range []string{plain, packed} {
		read(name, func() (*snapshot.Snapshot, error) {
			f, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return snapshot.Read(f)
		})
	}
	// A damaged gzip stream and a damaged document are errors.
	if _, err := snapshot.Read(bytes.NewReader(z.Bytes()[:z.Len()/2])); err == nil {
		t.Error("truncated gzip: no error")
	}
	if _, err := snapshot.Read(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0})); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("bad gzip header: %v", err)
	}
	bad := append(append([]byte(nil), data[:len(data)/2]...), '}')
	if _, err := snapshot.Read(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), ":") {
		t.Errorf("truncated document: %v", err)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, os.ErrClosed
	}
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 20, Pods: 3000, Seed: 2})
	if err := snapshot.Write(&failingWriter{n: 1 << 20}, g.Snapshot); err == nil {
		t.Error("a failing writer gave no error")
	}
	s := odd()
	s.CollectedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := snapshot.Write(&b, s); err == nil || !strings.Contains(err.Error(), "year outside of range") {
		t.Errorf("a time encoding/json refuses: %v", err)
	}
}

// The benchmarks read and write the engine's target fleet: 5,000 nodes and
// 150,000 pods.
var (
	bigOnce sync.Once
	bigSnap *snapshot.Snapshot
	bigData []byte
)

func big(b *testing.B) ([]byte, *snapshot.Snapshot) {
	b.Helper()
	bigOnce.Do(func() {
		bigSnap = synth.Generate(synth.Options{Nodes: 5000, Pods: 150000, Seed: 1, FaultRate: 0.02}).Snapshot
		var buf bytes.Buffer
		if err := snapshot.Write(&buf, bigSnap); err != nil {
			b.Fatal(err)
		}
		bigData = buf.Bytes()
	})
	return bigData, bigSnap
}

func BenchmarkRead(b *testing.B) {
	data, _ := big(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := snapshot.Read(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/read")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/read")
}

func BenchmarkReadFile(b *testing.B) {
	data, _ := big(b)
	name := filepath.Join(b.TempDir(), "fleet.json")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := snapshot.Read(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/read")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/read")
}

func BenchmarkWrite(b *testing.B) {
	data, s := big(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := snapshot.Write(discard{}, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/write")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/write")
}

// BenchmarkReadEncodingJSON is the baseline: plain json.Unmarshal of the
// same document.
func BenchmarkReadEncodingJSON(b *testing.B) {
	data, _ := big(b)
	b.SetBytes(int64(len(data)))
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s snapshot.Snapshot
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/read")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/read")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// cpuSeconds is the process's CPU time (user and system) where Linux tells
// it, else 0: on a shared machine the stable measure of work done.
func cpuSeconds() float64 {
	st, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return 0
	}
	fs := strings.Fields(string(st[i+1:]))
	if len(fs) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fs[11], 64)
	stime, _ := strconv.ParseFloat(fs[12], 64)
	return (ut + stime) / 100 // USER_HZ
}
