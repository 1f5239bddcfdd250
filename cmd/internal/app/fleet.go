package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Stage is where one cluster of a fleet sweep is.
type Stage string

// The stages of a cluster in a fleet sweep.
const (
	StageQueued     Stage = "queued"
	StageCollecting Stage = "collecting"
	StageChecking   Stage = "checking"
	StageDone       Stage = "done"
	StageFailed     Stage = "failed"
)

// FleetTarget is one cluster to sweep.
type FleetTarget struct {
	// Name is the cluster's name in the report (its kubeconfig context).
	Name   string
	Source Source
}

// FleetOptions tune a fleet sweep.
type FleetOptions struct {
	Targets  []FleetTarget
	Settings Settings
	// MinSeverity filters what each report shows.
	MinSeverity checks.Severity
	// Concurrency bounds the clusters swept at once (default 4): each
	// sweep lists every kind concurrently already.
	Concurrency int
	// Timeout bounds one cluster's whole sweep (default 5m), so one slow
	// cluster cannot hold the fleet.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// Progress, when set, is called as each cluster moves between stages
	// (from several goroutines; it must be safe for that).
	Progress func(cluster string, stage Stage, err error)
}

// Fleet sweeps every target concurrently (bounded) and merges their
// reports. A cluster that cannot be reached is reported as unreachable and
// never fails the others.
func Fleet(ctx context.Context, o FleetOptions) *report.Fleet {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	conc := o.Concurrency
	if conc <= 0 {
		conc = 4
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	progress := func(name string, st Stage, err error) {
		if o.Progress != nil {
			o.Progress(name, st, err)
		}
	}
	start := now()
	out := make([]report.FleetCluster, len(o.Targets))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, t := range o.Targets {
		progress(t.Name, StageQueued, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = report.FleetCluster{Name: t.Name, Status: report.ClusterFailed, Error: ctx.Err().Error(), Grade: "?"}
				progress(t.Name, StageFailed, ctx.Err())
				return
			}
			defer func() { <-sem }()
			out[i] = sweepOne(ctx, t, o, timeout, now, log.With("cluster", t.Name), progress)
		}()
	}
	wg.Wait()
	return report.BuildFleet(out, start, now().Sub(start))
}

func sweepOne(ctx context.Context, t FleetTarget, o FleetOptions, timeout time.Duration, now func() time.Time,
	log *slog.Logger, progress func(string, Stage, error)) (c report.FleetCluster) {
	c = report.FleetCluster{Name: t.Name, Grade: "?"}
	begin := now()
	defer func() {
		c.Duration = now().Sub(begin)
		if r := recover(); r != nil {
			c.Status, c.Error, c.Report = report.ClusterFailed, fmt.Sprintf("panic: %v", r), nil
			progress(t.Name, StageFailed, fmt.Errorf("%s", c.Error))
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	progress(t.Name, StageCollecting, nil)
	src := t.Source
	if src.Cluster == "" {
		src.Cluster = t.Name
	}
	src.Logger = log
	s, err := Snapshot(cctx, src)
	if err != nil {
		c.Status, c.Error = report.ClusterFailed, err.Error()
		if isUnreachable(err) {
			c.Status = report.ClusterUnreachable
		}
		log.Warn("cluster sweep failed", "err", err)
		progress(t.Name, StageFailed, err)
		return c
	}
	if reason, msg, ok := unreachable(s); ok {
		// Every kind failed the same way: the server is down or refuses
		// us. Report it as such rather than as a cluster with no objects.
		c.Status, c.Error = report.ClusterUnreachable, fmt.Sprintf("%s: %s", reason, msg)
		c.Report = Inspect(cctx, s, o.Settings, o.MinSeverity, now(), log)
		c.Report.Cluster = t.Name
		progress(t.Name, StageFailed, fmt.Errorf("%s", c.Error))
		return c
	}
	progress(t.Name, StageChecking, nil)
	c.Report = Inspect(cctx, s, o.Settings, o.MinSeverity, now(), log)
	c.Report.Cluster = t.Name
	c.Status = report.ClusterOK
	progress(t.Name, StageDone, nil)
	return c
}

// unreachable reports whether a live snapshot saw nothing at all because
// the server could not be reached or rejected the credentials.
func unreachable(s *snapshot.Snapshot) (snapshot.CoverageReason, string, bool) {
	if s.Source != snapshot.SourceLive {
		return "", "", false
	}
	for _, c := range s.Coverage {
		if c.Kind == snapshot.KindNode && (c.Reason == snapshot.Unreachable || c.Reason == snapshot.Timeout || c.Reason == snapshot.Unauthorized) {
			for _, k := range []snapshot.Kind{snapshot.KindPod, snapshot.KindNamespace} {
				if g, ok := s.Gap(k); !ok || g.Reason != c.Reason {
					return "", "", false
				}
			}
			return c.Reason, c.Message, true
		}
	}
	return "", "", false
}

func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	for _, w := range []string{"connection refused", "no such host", "i/o timeout", "deadline exceeded", "network is unreachable", "no route to host"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
