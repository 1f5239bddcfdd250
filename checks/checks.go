// Package checks defines what a check is and what it reports: the Check
// interface and its Meta descriptor, Finding with its Evidence, and the
// Runner that executes a catalogue of checks over one snapshot.
//
// A check is a pure function of a snapshot. It does not call the API
// server, read the clock (the snapshot's CollectedAt is "now"), or keep
// state between runs, so the same check runs live, on a recorded file and in
// tests with identical results.
package checks

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Severity is how urgent a finding is; the words are the Prometheus
// `severity` label's.
type Severity string

// The severities, least to most urgent.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Rank orders severities: info 1, warning 2, critical 3, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// ParseSeverity parses one of info, warning or critical.
func ParseSeverity(s string) (Severity, error) {
	switch Severity(s) {
	case Info, Warning, Critical:
		return Severity(s), nil
	}
	return "", fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// Status is the state of a finding.
type Status string

const (
	// Firing: the check saw the fault.
	Firing Status = "firing"
	// Unknown: the check could not tell, because data it needs is missing.
	Unknown Status = "unknown"
)

// ObjectRef names the object a finding is about.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// String renders kind/name or kind/namespace/name.
func (o ObjectRef) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Ref builds an ObjectRef from a kind and slim metadata.
func Ref(kind snapshot.Kind, m *snapshot.Meta) ObjectRef {
	return ObjectRef{Kind: string(kind), Namespace: m.Namespace, Name: m.Name, UID: m.UID}
}

// Evidence types.
const (
	EvField     = "field"
	EvCondition = "condition"
	EvEvent     = "event"
	EvRelation  = "relation"
	EvCoverage  = "coverage"
	EvMetric    = "metric"
	EvThreshold = "threshold"
)

// Evidence is one thing a check saw that led to its finding: a field value,
// a condition, an event, a related object, a sample.
type Evidence struct {
	Type    string     `json:"type"`
	Path    string     `json:"path,omitempty"`
	Value   string     `json:"value"`
	Message string     `json:"message,omitempty"`
	Source  string     `json:"source,omitempty"`
	Time    *time.Time `json:"time,omitempty"`
}

// Finding is one fault on one object.
type Finding struct {
	Check    string     `json:"check"`
	Severity Severity   `json:"severity"`
	Status   Status     `json:"status"`
	Object   ObjectRef  `json:"object"`
	Reason   string     `json:"reason"`
	Message  string     `json:"message"`
	Since    *time.Time `json:"since,omitempty"`
	Evidence []Evidence `json:"evidence"`
	// Node is the node the object runs on, when it has one; it lets the
	// report score nodes and group findings without the snapshot.
	Node string `json:"node,omitempty"`
	// PrimaryOf lists the other checks firing on the same object that this
	// finding explains; ExplainedBy names the primary finding's check when
	// this one is secondary.
	PrimaryOf   []string `json:"primaryOf,omitempty"`
	ExplainedBy string   `json:"explainedBy,omitempty"`
}

// Key identifies a finding across sweeps: check plus object.
func (f *Finding) Key() string { return f.Check + "|" + f.Object.String() }

// ParamType is the type of a check parameter.
type ParamType string

// Parameter types.
const (
	Duration ParamType = "duration"
	Int      ParamType = "int"
	Float    ParamType = "float"
	String   ParamType = "string"
)

// Param describes one tunable threshold of a check.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Default     string    `json:"default"`
	Description string    `json:"description"`
}

// Meta describes a check.
type Meta struct {
	ID          string          `json:"id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Severity    Severity        `json:"severity"`
	Requires    []snapshot.Kind `json:"requires"`
	Params      []Param         `json:"params,omitempty"`
	// LiveOnly checks need data only a live API server gives; on recorded
	// snapshots they are skipped.
	LiveOnly bool `json:"liveOnly,omitempty"`
	// Remedy is the first thing an on-call engineer should do.
	Remedy string `json:"remedy,omitempty"`
	// Priority breaks ties when several checks fire on one object: the
	// higher one is the primary (the cause, not the symptom).
	Priority int `json:"-"`
}

// Check is one inspection.
type Check interface {
	Meta() Meta
	Run(ctx context.Context, env *Env) []Finding
}

// Func adapts a function to a Check.
type Func struct {
	M Meta
	F func(ctx context.Context, env *Env) []Finding
}

// Meta returns the descriptor.
func (f Func) Meta() Meta { return f.M }

// Run runs the function.
func (f Func) Run(ctx context.Context, env *Env) []Finding { return f.F(ctx, env) }

// New returns a Check from metadata and a function.
func New(m Meta, f func(ctx context.Context, env *Env) []Finding) Check { return Func{M: m, F: f} }

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*[a-z0-9]$`)

// ValidID reports whether id has the `<area>.<condition>` lower snake case
// form.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Env is what a check runs against: the snapshot, its shared index, the
// snapshot's time and the check's resolved parameters.
type Env struct {
	Snap   *snapshot.Snapshot
	Index  *Index
	Now    time.Time
	Meta   Meta
	Params Params
}

// Finding starts a firing finding for obj with the check's ID and default
// severity.
func (e *Env) Finding(obj ObjectRef, reason, message string, ev ...Evidence) Finding {
	return Finding{
		Check: e.Meta.ID, Severity: e.Meta.Severity, Status: Firing, Object: obj,
		Reason: reason, Message: message, Evidence: ev,
	}
}

// Age returns how long ago t was, by the snapshot's clock.
func (e *Env) Age(t time.Time) time.Duration { return e.Now.Sub(t) }
