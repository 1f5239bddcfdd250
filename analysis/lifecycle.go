package analysis

import (
	"sort"
	"time"

	"github.com/kubepatrol/patrol/checks"
)

// AlertState is where a finding is in its lifecycle across sweeps.
type AlertState string

// The lifecycle states, as in Prometheus alerting rules.
const (
	// Pending: seen, but not yet for the check's `for` duration.
	Pending AlertState = "pending"
	// Firing: seen for at least `for`; announced once when it starts.
	Firing AlertState = "firing"
	// Resolved: was firing, then cleared (for longer than
	// keep_firing_for); kept for the retention period, then forgotten.
	Resolved AlertState = "resolved"
)

// Policy is one check's lifecycle timing.
type Policy struct {
	// For is how long a finding stays pending before it fires; 0 fires on
	// the first sweep that sees it.
	For time.Duration `json:"for"`
	// KeepFiringFor keeps a cleared finding firing this long: a fault that
	// flaps (clears and returns within it) is announced once.
	KeepFiringFor time.Duration `json:"keepFiringFor"`
}

// Policies are the lifecycle timings of every check.
type Policies struct {
	Default Policy
	// Checks overrides Default by check ID.
	Checks map[string]Policy
	// ResolvedRetention is how long resolved findings are kept.
	ResolvedRetention time.Duration
}

// For returns the policy of check id.
func (p Policies) For(id string) Policy {
	if c, ok := p.Checks[id]; ok {
		return c
	}
	return p.Default
}

// Tracked is one finding followed across sweeps, keyed by check and
// object (checks.Finding.Key).
type Tracked struct {
	Key   string     `json:"key"`
	State AlertState `json:"state"`
	// Finding is the finding as last seen.
	Finding checks.Finding `json:"finding"`
	// ActiveAt is when this episode started (first seen).
	ActiveAt time.Time `json:"activeAt"`
	// FiredAt is when it started firing.
	FiredAt *time.Time `json:"firedAt,omitempty"`
	// LastSeen is the last sweep that saw it.
	LastSeen time.Time `json:"lastSeen"`
	// ResolvedAt is when it resolved.
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
}

// Lifecycle is the state of every tracked finding. It is a value: Step
// returns a new one and never changes its input, so it can be saved,
// restored and compared.
type Lifecycle struct {
	Findings map[string]Tracked `json:"findings"`
}

// Observation is what one sweep saw.
type Observation struct {
	// Now is the sweep's time.
	Now time.Time
	// Evaluated holds the checks whose results in this sweep are
	// complete. Tracked findings of any other check (not in this sweep's
	// group, or blind, failed or timed out) keep their state: a check
	// that could not look never resolves a finding.
	Evaluated map[string]bool
	// Findings are the sweep's findings; only those with status firing
	// take part (unknown findings say nothing about the object).
	Findings []checks.Finding
}

// Transition is a change of one finding's state.
type Transition struct {
	Key string `json:"key"`
	// From is empty for a finding seen for the first time (or again after
	// it was resolved or dropped while pending).
	From    AlertState     `json:"from,omitempty"`
	To      AlertState     `json:"to"`
	At      time.Time      `json:"at"`
	Finding checks.Finding `json:"finding"`
}

// Announce reports whether the transition starts a firing episode, the one
// moment a finding should be announced (Event, page).
func (t Transition) Announce() bool { return t.To == Firing && t.From != Firing }

// Step advances the lifecycle by one sweep. It is pure: now comes from the
// observation, and the previous state is not modified.
//
//   - a new finding is pending, or firing at once when its `for` is 0;
//   - a pending finding fires once it has been seen for `for`; a pending
//     finding that clears is dropped without a trace;
//   - a firing finding that clears stays firing for keep_firing_for after
//     it was last seen, then resolves; if it returns meanwhile it is still
//     the same episode and is not announced again;
//   - a resolved finding is kept for ResolvedRetention, then forgotten; if
//     it returns, a new episode starts.
func Step(prev Lifecycle, obs Observation, pol Policies) (Lifecycle, []Transition) {
	now := obs.Now.UTC()
	next := Lifecycle{Findings: make(map[string]Tracked, len(prev.Findings))}
	for k, t := range prev.Findings {
		next.Findings[k] = t
	}
	var out []Transition
	seen := map[string]bool{}
	for _, f := range obs.Findings {
		if f.Status != checks.Firing || !obs.Evaluated[f.Check] {
			continue
		}
		key := f.Key()
		seen[key] = true
		p := pol.For(f.Check)
		t, ok := next.Findings[key]
		if !ok || t.State == Resolved {
			from := AlertState("")
			if ok {
				from = Resolved
			}
			t = Tracked{Key: key, State: Pending, Finding: f, ActiveAt: now, LastSeen: now}
			if p.For <= 0 {
				t.State, t.FiredAt = Firing, ptr(now)
			}
			next.Findings[key] = t
			out = append(out, Transition{Key: key, From: from, To: t.State, At: now, Finding: f})
			continue
		}
		t.Finding, t.LastSeen = f, now
		if t.State == Pending && now.Sub(t.ActiveAt) >= p.For {
			t.State, t.FiredAt = Firing, ptr(now)
			out = append(out, Transition{Key: key, From: Pending, To: Firing, At: now, Finding: f})
		}
		next.Findings[key] = t
	}
	for key, t := range next.Findings {
		if seen[key] {
			continue
		}
		switch t.State {
		case Resolved:
			if now.Sub(*t.ResolvedAt) >= pol.ResolvedRetention {
				delete(next.Findings, key)
			}
		case Pending:
			if obs.Evaluated[t.Finding.Check] {
				delete(next.Findings, key)
			}
		case Firing:
			if !obs.Evaluated[t.Finding.Check] {
				continue
			}
			if now.Sub(t.LastSeen) < pol.For(t.Finding.Check).KeepFiringFor {
				continue
			}
			t.State, t.ResolvedAt = Resolved, ptr(now)
			next.Findings[key] = t
			out = append(out, Transition{Key: key, From: Firing, To: Resolved, At: now, Finding: t.Finding})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return next, out
}

// Retain drops the tracked findings of checks keep rejects (for example
// checks removed from the configuration), without transitions.
func Retain(l Lifecycle, keep func(check string) bool) Lifecycle {
	next := Lifecycle{Findings: make(map[string]Tracked, len(l.Findings))}
	for k, t := range l.Findings {
		if keep(t.Finding.Check) {
			next.Findings[k] = t
		}
	}
	return next
}

// InState returns the tracked findings in any of the states, ordered as
// checks.Sort orders findings.
func (l Lifecycle) InState(states ...AlertState) []Tracked {
	var out []Tracked
	for _, t := range l.Findings {
		for _, s := range states {
			if t.State == s {
				out = append(out, t)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i].Finding, &out[j].Finding
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		return a.Object.String() < b.Object.String()
	})
	return out
}

func ptr(t time.Time) *time.Time { return &t }
