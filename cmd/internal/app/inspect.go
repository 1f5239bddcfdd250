package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/file"
	"github.com/kubepatrol/patrol/collectors/kube"
	"github.com/kubepatrol/patrol/collectors/prom"
	"github.com/kubepatrol/patrol/collectors/scrape"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Source says where to read a snapshot from: a recording (Path) or the
// cluster the kubectl flags point at.
type Source struct {
	Path    string
	At      time.Time
	Cluster string
	Kube    *genericclioptions.ConfigFlags
	// AllNamespaces ignores the namespace flag for namespaced kinds.
	AllNamespaces bool
	Timeout       time.Duration
	Requests      *atomic.Int64
	Logger        *slog.Logger
	// Prometheus, when its URL is set, adds metrics from a Prometheus
	// server; Scrape, when it has targets, scrapes /metrics directly.
	Prometheus prom.Options
	Scrape     []string
	// ScrapeInterval separates the two scrapes that give rates (0: one
	// scrape, lifetime totals).
	ScrapeInterval    time.Duration
	ScrapeInsecureTLS bool
}

// Snapshot reads one snapshot from src.
func Snapshot(ctx context.Context, src Source) (*snapshot.Snapshot, error) {
	if src.Path != "" {
		return file.Load(src.Path, file.Options{At: src.At, Cluster: src.Cluster})
	}
	if src.Kube == nil {
		return nil, fmt.Errorf("no cluster and no --snapshot given")
	}
	cfg, err := src.Kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	name := src.Cluster
	raw, rerr := src.Kube.ToRawKubeConfigLoader().RawConfig()
	if name == "" {
		ctxName := raw.CurrentContext
		if src.Kube.Context != nil && *src.Kube.Context != "" {
			ctxName = *src.Kube.Context
		}
		name = ctxName
		if rerr == nil {
			if c, ok := raw.Contexts[ctxName]; ok && c.Cluster != "" && name == "" {
				name = c.Cluster
			}
		}
		if name == "" {
			name = cfg.Host
		}
	}
	ns := ""
	if !src.AllNamespaces && src.Kube.Namespace != nil {
		ns = *src.Kube.Namespace
	}
	s, err := kube.Collect(ctx, cfg, kube.Options{
		Cluster: name, Namespace: ns, Timeout: src.Timeout, Requests: src.Requests, Logger: src.Logger,
	})
	if err != nil {
		return nil, err
	}
	if !src.At.IsZero() {
		s.CollectedAt = src.At.UTC()
	}
	// Without a URL this records that no Prometheus was configured, so
	// the checks that need one are skipped rather than passed.
	if err := prom.AddTo(ctx, s, src.Prometheus); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if len(src.Scrape) > 0 {
		var targets []scrape.Target
		for _, t := range src.Scrape {
			tg, err := scrape.ParseTarget(t)
			if err != nil {
				return nil, err
			}
			targets = append(targets, tg)
		}
		if err := scrape.AddTo(ctx, s, scrape.Options{Config: cfg, Targets: targets, Interval: src.ScrapeInterval,
			InsecureSkipVerify: src.ScrapeInsecureTLS}); err != nil {
			return nil, fmt.Errorf("scrape: %w", err)
		}
	}
	s.CompleteMetricCoverage()
	return s, nil
}

// Inspect runs the configured checks over s and builds the report.
func Inspect(ctx context.Context, s *snapshot.Snapshot, st Settings, minSev checks.Severity, now time.Time, log *slog.Logger) *report.Report {
	r := checks.Runner{Checks: st.Checks, Params: st.Params, Logger: log}
	res := r.Run(ctx, s)
	return report.Build(report.Input{
		Snapshot: s, Result: res, Suppressions: st.Suppressions, Now: now, MinSeverity: minSev,
	})
}
