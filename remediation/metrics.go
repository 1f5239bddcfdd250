package remediation

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's self-metrics. Labels are low-cardinality only:
// playbook, action, result, guard, pager, status, code — never an object.
type Metrics struct {
	Actions          *prometheus.CounterVec
	Refusals         *prometheus.CounterVec
	PendingApprovals prometheus.Gauge
	Decisions        *prometheus.CounterVec
	DecisionSeconds  prometheus.Histogram
	Alerts           *prometheus.CounterVec
	Deduplicated     prometheus.Counter
	Webhook          *prometheus.CounterVec
	Pages            *prometheus.CounterVec
	LedgerErrors     prometheus.Counter
	Paused           prometheus.Gauge
}

// NewMetrics registers the metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_remediation_actions_total",
			Help: "Playbook steps carried out, by playbook, action and result (done, dry_run, failed, skipped, reconciled).",
		}, []string{"playbook", "action", "result"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_remediation_guard_refusals_total",
			Help: "Decisions a guard refused, by guard.",
		}, []string{"guard"}),
		PendingApprovals: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patrol_remediation_pending_approvals",
			Help: "High-risk steps waiting for approval.",
		}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_remediation_decisions_total",
			Help: "Decisions recorded in the ledger, by playbook and the state they were created in (running, planned, refused).",
		}, []string{"playbook", "outcome"}),
		DecisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patrol_remediation_decision_seconds",
			Help:    "Time from an alert or finding to its recorded decision (matching, guards and the ledger write).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_alerts_received_total",
			Help: "Alerts received from Alertmanager, by status (firing, resolved).",
		}, []string{"status"}),
		Deduplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patrol_alerts_deduplicated_total",
			Help: "Firing alerts already being handled (same fingerprint), so no new decision was made.",
		}),
		Webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_webhook_requests_total",
			Help: "Alertmanager webhook requests, by HTTP status code.",
		}, []string{"code"}),
		Pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patrol_pages_total",
			Help: "Pages by pager, action (trigger, resolve) and result (sent, failed, dry_run).",
		}, []string{"pager", "action", "result"}),
		LedgerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patrol_ledger_errors_total",
			Help: "Ledger reads and writes that failed.",
		}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patrol_remediation_paused",
			Help: "1 while remediation is paused (every action refused).",
		}),
	}
	reg.MustRegister(m.Actions, m.Refusals, m.PendingApprovals, m.Decisions, m.DecisionSeconds, m.Alerts,
		m.Deduplicated, m.Webhook, m.Pages, m.LedgerErrors, m.Paused)
	return m
}
