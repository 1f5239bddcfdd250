package catalog_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/collectors/synth"
)

// The engine's size target: a 5,000-node, 150,000-pod fleet with 2% of its
// objects faulted, the whole catalogue in at most a second on two cores.
var (
	fleetOnce sync.Once
	fleet     *synth.Generated
)

func bigFleet(b *testing.B) *snapshot.Snapshot {
	b.Helper()
	fleetOnce.Do(func() {
		start := time.Now()
		fleet = synth.Generate(synth.Options{Nodes: 5000, Pods: 150000, Seed: 1, FaultRate: 0.02})
		b.Logf("generated %d nodes, %d pods in %s", len(fleet.Snapshot.Nodes), len(fleet.Snapshot.Pods), time.Since(start).Round(time.Millisecond))
	})
	return fleet.Snapshot
}

// BenchmarkCatalog runs every check over the fleet through the Runner,
// index included, as `patrol inspect` does.
func BenchmarkCatalog(b *testing.B) {
	s := bigFleet(b)
	r := checks.Runner{Checks: catalog.All(), Timeout: time.Minute}
	var res checks.Result
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res = r.Run(context.Background(), s)
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(s.Pods))/sec, "pods/s")
	b.ReportMetric(float64(len(res.Findings)), "findings")
	b.ReportMetric(sec, "s/sweep")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/sweep")
	runs := append([]checks.Run(nil), res.Runs...)
	sort.Slice(runs, func(i, j int) bool { return runs[i].Duration > runs[j].Duration })
	var slow string
	for _, run := range runs[:min(8, len(runs))] {
		slow += fmt.Sprintf(" %s=%s", run.Check, run.Duration.Round(time.Millisecond))
		if run.Result == checks.ResultError || run.Result == checks.ResultTimeout {
			b.Errorf("%s: %s: %s", run.Check, run.Result, run.Detail)
		}
	}
	b.Logf("slowest checks (last run):%s", slow)
}

// BenchmarkIndex builds the shared index the Runner gives every check.
func BenchmarkIndex(b *testing.B) {
	s := bigFleet(b)
	b.ResetTimer()
	var ix *checks.Index
	for i := 0; i < b.N; i++ {
		ix = checks.NewIndex(s)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(s.Pods))/(b.Elapsed().Seconds()/float64(b.N)), "pods/s")
	_ = ix
}

// BenchmarkChecks times each check alone over the fleet (index built once,
// outside the timer), to find the one that costs the most.
func BenchmarkChecks(b *testing.B) {
	s := bigFleet(b)
	ix := checks.NewIndex(s)
	for _, c := range catalog.All() {
		m := c.Meta()
		params, err := checks.ResolveParams(m, nil)
		if err != nil {
			b.Fatal(err)
		}
		env := &checks.Env{Snap: s, Index: ix, Now: s.CollectedAt, Meta: m, Params: params}
		b.Run(m.ID, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.Run(context.Background(), env)
			}
		})
	}
}

// BenchmarkInspect is `patrol inspect --snapshot fleet.json -o json` in a
// fresh process (this test binary, re-run as TestInspectChild): read the
// 150,000-pod snapshot file, run the catalogue, build and render the
// report. It reports each phase's wall time and the process's peak RSS;
// the targets are 5 s and 1 GiB on two cores. The memlimit variant runs the
// child with GOMEMLIMIT=768MiB, as a binary can set for itself.
func BenchmarkInspect(b *testing.B) {
	s := bigFleet(b)
	name := filepath.Join(b.TempDir(), "fleet.json")
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := snapshot.Write(f, s); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for _, env := range []string{"default", "memlimit=768MiB"} {
		b.Run(env, func(b *testing.B) {
			metrics := map[string]float64{}
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestInspectChild$", "-test.v")
				cmd.Env = append(os.Environ(), "INSPECT_CHILD="+name)
				if env != "default" {
					cmd.Env = append(cmd.Env, "GOMEMLIMIT=768MiB")
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
				sc := bufio.NewScanner(bytes.NewReader(out))
				for sc.Scan() {
					k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
					if x, err := strconv.ParseFloat(v, 64); ok && err == nil && strings.HasPrefix(k, "inspect_") {
						metrics[strings.TrimPrefix(k, "inspect_")] += x
					}
				}
			}
			for k, v := range metrics {
				b.ReportMetric(v/float64(b.N), k)
			}
		})
	}
}

// TestInspectChild is BenchmarkInspect's child process.
func TestInspectChild(t *testing.T) {
	name := os.Getenv("INSPECT_CHILD")
	if name == "" {
		t.Skip("run by BenchmarkInspect")
	}
	start := time.Now()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Read(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	read := time.Now()
	res := (&checks.Runner{Checks: catalog.All(), Timeout: time.Minute}).Run(context.Background(), s)
	checked := time.Now()
	r := report.Build(report.Input{Snapshot: s, Result: res, Now: s.CollectedAt})
	if err := report.Render(io.Discard, "json", r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	fmt.Printf("inspect_s/read=%.3f\ninspect_s/checks=%.3f\ninspect_s/report=%.3f\ninspect_s/total=%.3f\n",
		read.Sub(start).Seconds(), checked.Sub(read).Seconds(), done.Sub(checked).Seconds(), done.Sub(start).Seconds())
	// CPU time and peak RSS, where the system tells them (Linux): on a
	// shared machine the CPU seconds are the stable measure.
	if cpu := cpuSeconds(); cpu > 0 {
		fmt.Printf("inspect_cpu-s=%.2f\n", cpu)
	}
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				fmt.Printf("inspect_MB-peak-rss=%.0f\n", kb/1024)
			}
		}
	}
}

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
