// Command benchreport prints the engine's figures on a generated fleet:
// catalogue time, snapshot decode time, and the wall time and peak RSS of a
// whole `patrol inspect --snapshot` process. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/collectors/synth"
)

func main() {
	nodes := flag.Int("nodes", 5000, "nodes in the generated fleet")
	pods := flag.Int("pods", 150000, "pods in the generated fleet")
	rounds := flag.Int("rounds", 3, "repetitions of each measurement (the median is reported)")
	patrol := flag.String("patrol", "bin/patrol", "the patrol binary to time")
	write := flag.String("write", "", "only write the generated fleet's snapshot to this file")
	flag.Parse()
	if *write != "" {
		g := synth.Generate(synth.Options{Nodes: *nodes, Pods: *pods, Seed: 1, FaultRate: 0.01})
		f, err := os.Create(*write)
		if err == nil {
			err = snapshot.Write(f, g.Snapshot)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*nodes, *pods, *rounds, *patrol); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, rounds int, patrol string) error {
	fmt.Printf("kubepatrol engine benchmark: %d nodes, %d pods, GOMAXPROCS=%d, %s\n\n", nodes, pods, runtime.GOMAXPROCS(0), runtime.Version())
	t0 := time.Now()
	g := synth.Generate(synth.Options{Nodes: nodes, Pods: pods, Seed: 1, FaultRate: 0.01})
	s := g.Snapshot
	fmt.Printf("generated in %s: %d objects, %d injected faults\n", time.Since(t0).Round(time.Millisecond), objects(s), len(g.Expected))

	dir, err := os.MkdirTemp("", "kubepatrol-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fleet.json")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := snapshot.Write(f, s); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	fmt.Printf("snapshot file: %.1f MB (%.0f bytes/pod)\n\n", float64(st.Size())/1e6, float64(st.Size())/float64(pods))

	decode := median(rounds, func() time.Duration {
		t := time.Now()
		fh, err := os.Open(path)
		if err != nil {
			panic(err)
		}
		defer fh.Close()
		if _, err := snapshot.Read(fh); err != nil {
			panic(err)
		}
		return time.Since(t)
	})
	var findings int
	check := median(rounds, func() time.Duration {
		t := time.Now()
		r := checks.Runner{Checks: catalog.All()}
		res := r.Run(context.Background(), s)
		findings = len(res.Findings)
		return time.Since(t)
	})
	if _, err := os.Stat(patrol); err != nil {
		return fmt.Errorf("%s: build it first (make build): %w", patrol, err)
	}
	var rss int64
	wall := median(rounds, func() time.Duration {
		cmd := exec.Command(patrol, "inspect", "--snapshot", path, "-o", "json")
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		t := time.Now()
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("%s: %v", patrol, err))
		}
		d := time.Since(t)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > rss {
			rss = ru.Maxrss * 1024
		}
		return d
	})

	fmt.Printf("%-46s %12s %12s  %s\n", "measure (median of rounds)", "value", "target", "")
	row("full catalogue over the snapshot ("+fmt.Sprint(len(catalog.All()))+" checks)", check.Seconds(), 1, "s")
	row("snapshot decode (snapshot.Read)", decode.Seconds(), 0, "s")
	row("patrol inspect --snapshot -o json, wall time", wall.Seconds(), 5, "s")
	row("patrol inspect --snapshot, peak RSS", float64(rss)/(1<<20), 1024, "MiB")
	fmt.Printf("\nfindings on the generated fleet: %d\n", findings)
	return nil
}

func row(name string, v, target float64, unit string) {
	verdict, t := "", "-"
	if target > 0 {
		t = fmt.Sprintf("≤ %g %s", target, unit)
		verdict = "ok"
		if v > target {
			verdict = "OVER TARGET"
		}
	}
	fmt.Printf("%-46s %9.3f %-3s %12s  %s\n", name, v, unit, t, verdict)
}

func median(n int, f func() time.Duration) time.Duration {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		runtime.GC()
		ds = append(ds, f())
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func objects(s *snapshot.Snapshot) int {
	n := 0
	for _, k := range snapshot.ObjectKinds {
		n += s.Count(k)
	}
	return n
}
