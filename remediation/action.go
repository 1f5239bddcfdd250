package remediation

import (
	"context"
	"errors"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Request is one step for an Action to carry out.
type Request struct {
	// Target is the object the step acts on.
	Target checks.ObjectRef
	// Params are the step's parameters from the playbook (e.g. replicas,
	// timeout, annotation key and value), already validated by the rules
	// package.
	Params map[string]string
	// DryRun asks the action to record the calls it would make without
	// making them (server-side dry run where the API offers it).
	DryRun bool
	// RecordID is the ledger record; actions that write to the cluster put
	// it in an annotation (AnnotationRecord) and a Kubernetes Event on the
	// target, so the object points back to the decision.
	RecordID string
	// TraceID is the decision's OpenTelemetry trace ID.
	TraceID string
	// Playbook and Step name what asked (Event messages, annotations).
	Playbook string
	Step     string
}

// Result is what an action did (or would do).
type Result struct {
	Calls   []ledger.Call
	Message string
	// Blockers name what stopped the action (e.g. "pod default/web-0:
	// PodDisruptionBudget default/web allows 0 disruptions").
	Blockers []string
}

// Action is one kind of write: cordon, drain, restart, delete, scale,
// annotate. Implementations live in remediation/actions, the only code
// that writes to a cluster.
type Action interface {
	// Name is the playbook's word for the action ("cordon").
	Name() string
	// Do carries the step out. A failure it may be worth repeating is a
	// Retryable error; anything else is terminal.
	Do(ctx context.Context, req Request) (Result, error)
	// Done reports whether the step's effect is already in place on the
	// cluster (the node is cordoned, the annotation carries this record
	// ID, the pod is gone). The engine calls it on restart for a step
	// whose intent was written but whose outcome was not, so that the
	// step is neither repeated nor forgotten.
	Done(ctx context.Context, req Request) (bool, string, error)
}

// Notice is one page: a trigger or resolve for an incident.
type Notice struct {
	// Action is "trigger" or "resolve".
	Action string
	// DedupKey identifies the incident across trigger and resolve.
	DedupKey string
	Summary  string
	// Source is the affected object or cluster ("cluster/node/kwok-node-3").
	Source   string
	Severity string // critical, error, warning or info
	// Details carry the evidence (PagerDuty custom_details, Slack blocks).
	Details map[string]any
	Links   []Link
	// RecordID is the ledger record the page belongs to.
	RecordID string
	TraceID  string
	// Time is when the notice was made.
	Time time.Time
}

// Link is a link attached to a page.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Pager sends pages: PagerDuty Events v2, Slack, a generic JSON webhook.
type Pager interface {
	// Type is "pagerduty", "slack" or "webhook".
	Type() string
	// Send delivers n, retrying retryable failures with backoff within ctx.
	// It returns the number of attempts made.
	Send(ctx context.Context, n Notice) (attempts int, err error)
}

// AnnotationRecord is the annotation an action puts on the object it
// changed, holding the ledger record ID.
const AnnotationRecord = "kubepatrol.io/remediation-record"

// RetryableError is a failure that may succeed if tried again (a timeout,
// a conflict, a 429 or 5xx from the API server or a pager).
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable marks err as worth retrying; nil stays nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// IsRetryable reports whether err (or an error it wraps) is retryable.
func IsRetryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}
