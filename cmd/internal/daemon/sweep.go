package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Evidence types the daemon adds to findings.
const (
	// EvTrace carries the OpenTelemetry trace ID of the sweep that saw the
	// finding, so an on-call engineer can jump from a finding to its trace.
	EvTrace = "trace"
	// EvLifecycle carries the finding's lifecycle state (pending, firing)
	// and since when.
	EvLifecycle = "lifecycle"
)

// sweep runs one group once: snapshot from the caches, checks, lifecycle,
// report, metrics, state, events. It is one trace.
func (d *Daemon) sweep(ctx context.Context, cfg *Config, g *Group) {
	wall := time.Now()
	result := SweepSuccess
	ctx, span := d.tracer.Start(ctx, "patrol.sweep", trace.WithAttributes(attrCluster.String(d.cluster), attrGroup.String(g.Name)))
	traceID := ""
	if sc := span.SpanContext(); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("sweep panicked", "group", g.Name, "panic", p, "stack", string(debug.Stack()))
			result = SweepFailure
			span.SetStatus(codes.Error, fmt.Sprint(p))
		}
		took := time.Since(wall)
		span.SetAttributes(attrResult.String(result))
		span.End()
		d.metrics.SweepDuration.WithLabelValues(d.cluster, g.Name).Observe(took.Seconds())
		d.metrics.Sweeps.WithLabelValues(d.cluster, g.Name, result).Inc()
		if result == SweepSuccess {
			d.metrics.LastSuccess.WithLabelValues(d.cluster, g.Name).Set(float64(d.clock.Now().UnixNano()) / 1e9)
		}
	}()

	// Collect: the informer caches, then (if the group needs it) the
	// control plane's own health.
	cctx, cspan := d.tracer.Start(ctx, "patrol.collect.cache")
	snap := d.source.Snapshot(cctx)
	objects := 0
	for _, k := range snapshot.ObjectKinds {
		objects += snap.Count(k)
	}
	cspan.SetAttributes(attrSnapshot.String(snap.ID), attrObjects.Int(objects), attrGaps.Int(len(snap.Coverage)))
	for _, c := range snap.Coverage {
		cspan.AddEvent("coverage gap", trace.WithAttributes(attrCheckDetail.String(string(c.Kind)+": "+string(c.Reason))))
	}
	cspan.End()
	if p, ok := d.source.(controlPlaneProber); ok && needs(g, snapshot.KindControlPlane) {
		pctx, pspan := d.tracer.Start(ctx, "patrol.collect.controlplane")
		p.ProbeControlPlane(pctx, snap)
		pspan.End()
	}
	span.SetAttributes(attrSnapshot.String(snap.ID))

	// Check.
	rctx, rspan := d.tracer.Start(ctx, "patrol.checks")
	runner := checks.Runner{
		Checks: g.Checks, Params: cfg.Settings.Params, Timeout: g.CheckTimeout, Logger: d.log,
		Observe: func(r checks.Run) {
			d.metrics.observeRun(r)
			checkSpan(rctx, d.tracer, r, time.Now())
		},
	}
	res := runner.Run(rctx, snap)
	rspan.SetAttributes(attrFindings.Int(len(res.Findings)))
	rspan.End()

	evaluated := map[string]bool{}
	for _, r := range res.Runs {
		if r.Result == checks.ResultOK || r.Result == checks.ResultFindings {
			evaluated[r.Check] = true
		}
	}
	if traceID != "" {
		for i := range res.Findings {
			res.Findings[i].Evidence = append(res.Findings[i].Evidence, checks.Evidence{
				Type: EvTrace, Path: "traceID", Value: traceID,
				Message: "OpenTelemetry trace of the " + g.Name + " sweep that saw this finding",
			})
		}
	}

	// Judge: lifecycle, then the merged report of every group's latest
	// results.
	now := d.clock.Now().UTC()
	d.mu.Lock()
	next, transitions := analysis.Step(d.life, analysis.Observation{Now: snap.CollectedAt, Evaluated: evaluated, Findings: res.Findings}, cfg.Policies)
	d.life = next
	inGroup := map[string]bool{}
	for _, c := range g.Checks {
		inGroup[c.Meta().ID] = true
		delete(d.unknown, c.Meta().ID)
	}
	for _, r := range res.Runs {
		d.runs[r.Check] = r
	}
	for _, f := range res.Findings {
		if f.Status == checks.Unknown {
			d.unknown[f.Check] = append(d.unknown[f.Check], f)
		}
	}
	d.swept[g.Name] = true
	rep := d.buildReport(cfg, snap, traceID, now)
	d.latest = rep
	d.mu.Unlock()
	d.updateFindingMetrics(rep)

	// Persist and act.
	if path := cfg.File.StateFile; path != "" || d.ledger != nil {
		if err := d.saveState(ctx, path, now); err != nil {
			d.log.Error("cannot save state", "path", path, "err", err)
			result = SweepFailure
		}
	}
	if cfg.File.Events.Enabled {
		sups := cfg.Settings.Suppressions
		d.events.handle(ctx, transitions, cfg.EventSeverity, func(f *checks.Finding) bool {
			kept, _, _ := analysis.Suppress([]checks.Finding{*f}, sups, now)
			return len(kept) == 0
		}, now)
	}
	if d.remediation != nil && cfg.File.Remediation.FindingsEnabled() && d.IsLeader() {
		d.remediate(ctx, transitions, cfg, now)
	}
	if dir := cfg.File.Reports.Dir; dir != "" {
		if err := saveReport(dir, rep, g.Name, cfg.File.Reports.Keep, cfg.File.Reports.MaxAge.Value(), now); err != nil {
			d.log.Warn("cannot save report", "dir", dir, "err", err)
		}
	}
	if unreadable(snap) {
		result = SweepFailure
		span.SetStatus(codes.Error, "nothing could be read from the cluster")
	}
	for _, t := range transitions {
		d.log.Info("finding "+string(t.To), "check", t.Finding.Check, "object", t.Finding.Object.String(),
			"severity", t.Finding.Severity, "reason", t.Finding.Reason, "trace_id", traceID)
	}
	d.log.Info("sweep done", "group", g.Name, "checks", len(res.Runs), "findings", len(res.Findings),
		"transitions", len(transitions), "gaps", len(snap.Coverage), "duration", time.Since(wall).Round(time.Millisecond),
		"trace_id", traceID)
}

// saveState keeps the finding lifecycle across restarts: in the evidence
// ledger when remediation has one (so that replicas sharing a PostgreSQL
// ledger share it too), else in the state file.
func (d *Daemon) saveState(ctx context.Context, path string, now time.Time) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	life := d.life // Step never changes a lifecycle in place
	d.mu.Unlock()
	st := State{Schema: StateSchema, Cluster: d.cluster, SavedAt: now, Lifecycle: life}
	if d.ledger != nil {
		data, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("state: %w", err)
		}
		return d.ledger.PutState(ctx, stateKey(d.cluster), data)
	}
	return SaveState(path, st)
}

// stateKey is where the ledger keeps a cluster's finding lifecycle.
func stateKey(cluster string) string { return "lifecycle/" + cluster }

// needs reports whether any check of g requires kind k.
func needs(g *Group, k snapshot.Kind) bool {
	for _, c := range g.Checks {
		for _, r := range c.Meta().Requires {
			if r == k {
				return true
			}
		}
	}
	return false
}

// unreadable reports whether the snapshot saw nothing: every object kind
// is a blind gap (the API server unreachable, credentials rejected).
func unreadable(s *snapshot.Snapshot) bool {
	blind := 0
	for _, c := range s.Coverage {
		if c.Blind() && c.Reason != snapshot.NotCollected && c.Kind != snapshot.KindControlPlane {
			blind++
		}
	}
	return blind >= len(snapshot.ObjectKinds)-1 // APIServices may be merely not collected
}

// buildReport merges every group's latest results into one report over
// the newest snapshot: the tracked (pending and firing) findings with
// their lifecycle evidence, the unknown findings and the latest run of
// every scheduled check. d.mu must be held.
func (d *Daemon) buildReport(cfg *Config, snap *snapshot.Snapshot, traceID string, now time.Time) *report.Report {
	// The checks some group runs, in group and catalogue order.
	var fs []checks.Finding
	configured := map[string]bool{}
	var runs []checks.Run
	for _, g := range cfg.Groups {
		for _, c := range g.Checks {
			id := c.Meta().ID
			if configured[id] {
				continue
			}
			configured[id] = true
			if r, ok := d.runs[id]; ok {
				runs = append(runs, r)
			}
			fs = append(fs, d.unknown[id]...)
		}
	}
	for _, t := range d.life.InState(analysis.Pending, analysis.Firing) {
		if !configured[t.Finding.Check] {
			continue
		}
		f := t.Finding
		f.Evidence = append(f.Evidence[:len(f.Evidence):len(f.Evidence)], lifecycleEvidence(t))
		fs = append(fs, f)
	}
	checks.Sort(fs)
	return report.Build(report.Input{
		Snapshot: snap, Result: checks.Result{Findings: fs, Runs: runs},
		Suppressions: cfg.Settings.Suppressions, Now: now, TraceID: traceID,
	})
}

func lifecycleEvidence(t analysis.Tracked) checks.Evidence {
	at := t.ActiveAt
	msg := "pending: seen since " + at.Format(time.RFC3339) + ", not yet for the check's `for` duration"
	if t.State == analysis.Firing && t.FiredAt != nil {
		at = *t.FiredAt
		msg = "firing since " + at.Format(time.RFC3339) + " (first seen " + t.ActiveAt.Format(time.RFC3339) + ")"
	}
	return checks.Evidence{Type: EvLifecycle, Path: "state", Value: string(t.State), Message: msg, Time: &at}
}

// stateOf returns a report finding's lifecycle state from its evidence.
func stateOf(f *checks.Finding) string {
	for i := len(f.Evidence) - 1; i >= 0; i-- {
		if f.Evidence[i].Type == EvLifecycle {
			return f.Evidence[i].Value
		}
	}
	if f.Status == checks.Unknown {
		return string(checks.Unknown)
	}
	return ""
}

// updateFindingMetrics sets patrol_findings and patrol_health_score from a
// report.
func (d *Daemon) updateFindingMetrics(rep *report.Report) {
	type key struct{ check, sev, state string }
	counts := map[key]int{}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		st := stateOf(f)
		if f.Status != checks.Firing || (st != string(analysis.Pending) && st != string(analysis.Firing)) {
			continue
		}
		counts[key{f.Check, string(f.Severity), st}]++
	}
	d.metricsMu.Lock()
	defer d.metricsMu.Unlock()
	d.metrics.Findings.Reset()
	for k, n := range counts {
		d.metrics.Findings.WithLabelValues(d.cluster, k.check, k.sev, k.state).Set(float64(n))
	}
	d.metrics.HealthScore.Reset()
	if rep.Score != nil {
		d.metrics.HealthScore.WithLabelValues(d.cluster, "").Set(*rep.Score)
	}
	for _, ns := range rep.Namespaces {
		d.metrics.HealthScore.WithLabelValues(d.cluster, ns.Name).Set(ns.Score)
	}
}
