package daemon

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubepatrol/patrol/checks"
)

// Metrics are patrold's self-metrics. Every label is bounded: cluster,
// group, check, severity, state, result, kind, reason and namespace; object
// names never become labels (they are in findings and evidence).
type Metrics struct {
	SweepDuration   *prometheus.HistogramVec
	Sweeps          *prometheus.CounterVec
	LastSuccess     *prometheus.GaugeVec
	CheckDuration   *prometheus.HistogramVec
	CheckRuns       *prometheus.CounterVec
	Findings        *prometheus.GaugeVec
	HealthScore     *prometheus.GaugeVec
	CollectorErrors *prometheus.CounterVec
	ReloadOK        prometheus.Gauge
	ReloadTime      prometheus.Gauge
	Leader          *prometheus.GaugeVec
	BuildInfo       *prometheus.GaugeVec
	EventsEmitted   *prometheus.CounterVec
}

// Sweep results (the result label of patrol_sweeps_total).
const (
	SweepSuccess = "success"
	SweepFailure = "failure"
	SweepSkipped = "skipped"
)

// NewMetrics registers the self-metrics on reg.
func NewMetrics(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		SweepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patrol_sweep_duration_seconds",
			Help:    "Duration of one sweep of a check group: snapshot from the informer caches, checks, lifecycle, report.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"cluster", "group"}),
		Sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_sweeps_total",
			Help: "Sweeps by result: success, failure (nothing could be read, or the state could not be saved), skipped (the previous sweep of the group was still running).",
		}, []string{"cluster", "group", "result"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patrol_last_successful_sweep_timestamp_seconds",
			Help: "Unix time of the group's last successful sweep.",
		}, []string{"cluster", "group"}),
		CheckDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patrol_check_duration_seconds",
			Help:    "Duration of one check's run over a snapshot.",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30},
		}, []string{"check"}),
		CheckRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_check_runs_total",
			Help: "Check runs by result: ok, findings, unknown (data missing), skipped, error (panicked), timeout.",
		}, []string{"check", "result"}),
		Findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patrol_findings",
			Help: "Current findings (not suppressed) by check, severity and lifecycle state (pending, firing).",
		}, []string{"cluster", "check", "severity", "state"}),
		HealthScore: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patrol_health_score",
			Help: "Health score 0-100 of the cluster (namespace=\"\") and of each namespace, from the latest report.",
		}, []string{"cluster", "namespace"}),
		CollectorErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_collector_errors_total",
			Help: "List and watch errors of the informers by kind and coverage reason (Forbidden, NotServed, Unreachable, ...).",
		}, []string{"cluster", "kind", "reason"}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patrol_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or failed and the previous config is still running (0).",
		}),
		ReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patrol_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
		Leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patrol_leader",
			Help: "1 when this replica holds the leader Lease (and may act), else 0.",
		}, []string{"cluster"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patrol_build_info",
			Help: "Always 1; the labels carry patrold's version and the Go version it was built with.",
		}, []string{"version", "goversion"}),
		EventsEmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_events_emitted_total",
			Help: "Kubernetes Events emitted for findings that started firing, by the finding's reason.",
		}, []string{"cluster", "reason"}),
	}
	reg.MustRegister(m.SweepDuration, m.Sweeps, m.LastSuccess, m.CheckDuration, m.CheckRuns, m.Findings,
		m.HealthScore, m.CollectorErrors, m.ReloadOK, m.ReloadTime, m.Leader, m.BuildInfo, m.EventsEmitted)
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	return m
}

// initGroups creates every group's sweep series at zero, so that rate()
// and absent() work before the first sweep.
func (m *Metrics) initGroups(cluster string, groups []Group) {
	for _, g := range groups {
		for _, r := range []string{SweepSuccess, SweepFailure, SweepSkipped} {
			m.Sweeps.WithLabelValues(cluster, g.Name, r)
		}
	}
}

// observeRun records one check's run.
func (m *Metrics) observeRun(r checks.Run) {
	m.CheckRuns.WithLabelValues(r.Check, string(r.Result)).Inc()
	if r.Result != checks.ResultSkipped && r.Result != checks.ResultUnknown {
		m.CheckDuration.WithLabelValues(r.Check).Observe(r.Duration.Seconds())
	}
}
