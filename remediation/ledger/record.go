package ledger

import (
	"time"

	"github.com/kubepatrol/patrol/checks"
)

// RecordSchema names the JSON form of a record (patrol evidence show -o json,
// /api/v1/evidence).
const RecordSchema = "kubepatrol.io/evidence/v1"

// State is where a decision stands.
type State string

// The states of a record. Terminal states never change again.
const (
	// Planned: dry-run; the steps record exactly what would have been done.
	Planned State = "planned"
	// Refused: a guard refused; Guards says which one and why.
	Refused State = "refused"
	// AwaitingApproval: a high-risk step waits for `patrol approve ID`.
	AwaitingApproval State = "awaiting_approval"
	// Running: steps are being executed (an intent may be in flight).
	Running State = "running"
	// Verifying: the steps are done; the target is re-checked.
	Verifying State = "verifying"
	// Succeeded: verification saw the target healthy.
	Succeeded State = "succeeded"
	// Escalated: verification failed (or the playbook only pages) and
	// on-call was paged.
	Escalated State = "escalated"
	// Failed: a step failed terminally.
	Failed State = "failed"
	// Expired: an approval was not given in time.
	Expired State = "expired"
	// Closed: the trigger resolved before anything was done.
	Closed State = "closed"
)

// Terminal reports whether s never changes again.
func (s State) Terminal() bool {
	switch s {
	case Planned, Refused, Succeeded, Escalated, Failed, Expired, Closed:
		return true
	}
	return false
}

// Trigger is what started a decision: an Alertmanager alert or a finding.
type Trigger struct {
	// Source is "alertmanager" or "finding".
	Source string `json:"source"`
	// Fingerprint is the alert's fingerprint, or the finding's key
	// (check|kind/namespace/name).
	Fingerprint string `json:"fingerprint"`
	GroupKey    string `json:"groupKey,omitempty"`
	Receiver    string `json:"receiver,omitempty"`
	// Alertname or Check names the rule that fired.
	Alertname string `json:"alertname,omitempty"`
	Check     string `json:"check,omitempty"`
	// Status is firing or resolved.
	Status       string            `json:"status"`
	Severity     string            `json:"severity,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	ExternalURL  string            `json:"externalURL,omitempty"`
	Message      string            `json:"message,omitempty"`
}

// Verdict is one guard's decision.
type Verdict struct {
	Guard   string `json:"guard"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// StepStatus is where one step stands.
type StepStatus string

// The statuses of a step. Intent is written (durably) before the action
// runs and replaced by the outcome after it; a record found with a step in
// Intent after a crash is reconciled against the object's real state.
const (
	StepPending          StepStatus = "pending"
	StepIntent           StepStatus = "intent"
	StepDone             StepStatus = "done"
	StepFailed           StepStatus = "failed"
	StepDryRun           StepStatus = "dry_run"
	StepSkipped          StepStatus = "skipped"
	StepAwaitingApproval StepStatus = "awaiting_approval"
	StepReconciled       StepStatus = "reconciled"
)

// Call is one API call an action made (or, in a dry run, would make).
type Call struct {
	Verb        string `json:"verb"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name"`
	// ResourceVersionBefore and After are the object's resourceVersion
	// before and after the call.
	ResourceVersionBefore string    `json:"resourceVersionBefore,omitempty"`
	ResourceVersionAfter  string    `json:"resourceVersionAfter,omitempty"`
	DryRun                bool      `json:"dryRun,omitempty"`
	Error                 string    `json:"error,omitempty"`
	At                    time.Time `json:"at"`
	// Detail says what the call did or would do ("spec.unschedulable: false → true").
	Detail string `json:"detail,omitempty"`
}

// Step is one action step of a playbook as executed (or planned).
type Step struct {
	Name   string            `json:"name"`
	Action string            `json:"action"`
	Target checks.ObjectRef  `json:"target"`
	Params map[string]string `json:"params,omitempty"`
	Status StepStatus        `json:"status"`
	// Risk is low or high; a high-risk step needs approval.
	Risk      string     `json:"risk,omitempty"`
	Calls     []Call     `json:"calls,omitempty"`
	Message   string     `json:"message,omitempty"`
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts,omitempty"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	// ApprovedBy and ApprovedAt are set when a high-risk step was approved.
	ApprovedBy string     `json:"approvedBy,omitempty"`
	ApprovedAt *time.Time `json:"approvedAt,omitempty"`
	// Blockers name what stopped the step (e.g. the pod whose
	// PodDisruptionBudget blocked a drain).
	Blockers []string `json:"blockers,omitempty"`
}

// Verification is the re-check after the steps.
type Verification struct {
	// Status is healthy, unhealthy, timeout or skipped.
	Status   string           `json:"status"`
	Checks   []string         `json:"checks,omitempty"`
	Attempts int              `json:"attempts"`
	Findings []checks.Finding `json:"findings,omitempty"`
	Message  string           `json:"message,omitempty"`
	At       time.Time        `json:"at"`
}

// Page is one notification sent (or, in a dry run, that would be sent).
type Page struct {
	Pager    string `json:"pager"`
	Type     string `json:"type"`
	Action   string `json:"action"` // trigger or resolve
	DedupKey string `json:"dedupKey"`
	Summary  string `json:"summary"`
	Severity string `json:"severity,omitempty"`
	// Status is sent, failed or dry_run.
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	At       time.Time `json:"at"`
}

// Record is one decision: everything needed to judge it afterwards without
// the cluster.
type Record struct {
	Schema    string    `json:"schema"`
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	State     State     `json:"state"`
	// IncidentKey groups records of one incident (the alert fingerprint
	// or the finding key); a page's dedup_key derives from it.
	IncidentKey     string           `json:"incidentKey"`
	Trigger         Trigger          `json:"trigger"`
	Target          checks.ObjectRef `json:"target"`
	Playbook        string           `json:"playbook,omitempty"`
	PlaybookVersion string           `json:"playbookVersion,omitempty"`
	DryRun          bool             `json:"dryRun"`
	// Evidence and Findings are what the decision was based on: the
	// trigger's evidence and the diagnosis checks' findings.
	Evidence     []checks.Evidence `json:"evidence,omitempty"`
	Findings     []checks.Finding  `json:"findings,omitempty"`
	Guards       []Verdict         `json:"guards,omitempty"`
	Steps        []Step            `json:"steps,omitempty"`
	Verification *Verification     `json:"verification,omitempty"`
	Pages        []Page            `json:"pages,omitempty"`
	// TraceID is the OpenTelemetry trace of the whole decision.
	TraceID string `json:"traceID,omitempty"`
	// SpanID is the decision's root span, so that later steps (after a
	// restart too) join the same trace.
	SpanID  string `json:"spanID,omitempty"`
	Message string `json:"message,omitempty"`
	// Revision increases with every Update (optimistic concurrency).
	Revision int64 `json:"revision"`
}
