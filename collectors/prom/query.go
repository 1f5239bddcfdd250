package prom

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DefaultJobs are the job-label regular expressions that tell which
// Prometheus job scrapes which component. They decide the component of
// metrics that several components expose (workqueue_*) and name the
// target behind a coverage gap. They match the usual job names:
// kube-prometheus (apiserver, kube-scheduler, kube-controller-manager,
// kube-etcd, node-exporter), the Prometheus example configuration
// (kubernetes-apiservers) and plain names (etcd, node).
var DefaultJobs = map[snapshot.Kind]string{
	snapshot.KindMetricsAPIServer:         `.*apiserver.*`,
	snapshot.KindMetricsEtcd:              `.*etcd.*`,
	snapshot.KindMetricsScheduler:         `.*scheduler.*`,
	snapshot.KindMetricsControllerManager: `.*controller-manager.*|kcm`,
	snapshot.KindMetricsNode:              `.*node.*exporter.*|node`,
}

// query is one PromQL query derived from a signal.
type query struct {
	sig   snapshot.Signal
	expr  string
	rng   bool
	start time.Time
	end   time.Time
	step  time.Duration
}

// Queries returns the PromQL for every signal, with extra matchers (e.g.
// `cluster="prod"`) added to each selector and the component job regular
// expressions from jobs (DefaultJobs when nil). It is what
// docs/metrics.md lists.
func Queries(extra string, jobs map[snapshot.Kind]string) map[string]string {
	out := make(map[string]string, len(snapshot.Signals))
	for _, s := range snapshot.Signals {
		out[s.Name] = Expr(s, extra, jobs)
	}
	return out
}

// Expr renders a signal as PromQL.
func Expr(s snapshot.Signal, extra string, jobs map[snapshot.Kind]string) string {
	ms := matchers(s, extra, jobs)
	if s.Expr != "" {
		return strings.ReplaceAll(s.Expr, "{}", "{"+ms+"}")
	}
	by := func(extraLabel string) string {
		ls := append([]string{}, s.By...)
		if extraLabel != "" {
			ls = append(ls, extraLabel)
		}
		return " by (" + strings.Join(ls, ", ") + ")"
	}
	win := promDuration(s.Window)
	switch s.Type {
	case snapshot.SignalCounter:
		return fmt.Sprintf("sum%s (rate(%s{%s}[%s]))", by(""), s.Metric, ms, win)
	case snapshot.SignalHistogram:
		return fmt.Sprintf("sum%s (increase(%s_bucket{%s}[%s]))", by("le"), s.Metric, ms, win)
	}
	agg := s.Agg
	if agg == "" {
		agg = "sum"
	}
	if len(s.By) == 0 {
		return fmt.Sprintf("%s(%s{%s})", agg, s.Metric, ms)
	}
	return fmt.Sprintf("%s%s (%s{%s})", agg, by(""), s.Metric, ms)
}

func matchers(s snapshot.Signal, extra string, jobs map[snapshot.Kind]string) string {
	var parts []string
	for _, m := range s.Match {
		parts = append(parts, m.Name+m.Op+strconv.Quote(m.Value))
	}
	if s.JobScoped {
		if re := jobRegexp(s.Kind, jobs); re != "" {
			parts = append(parts, "job=~"+strconv.Quote(re))
		}
	}
	if extra = strings.TrimSpace(strings.Trim(strings.TrimSpace(extra), "{}")); extra != "" {
		parts = append(parts, extra)
	}
	return strings.Join(parts, ",")
}

func jobRegexp(k snapshot.Kind, jobs map[snapshot.Kind]string) string {
	if re, ok := jobs[k]; ok {
		return re
	}
	return DefaultJobs[k]
}

// promDuration renders a duration in PromQL's units: 5m, 1h, 90s.
func promDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "5m"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
