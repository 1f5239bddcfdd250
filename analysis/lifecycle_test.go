package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func crash(pod string) checks.Finding {
	return checks.Finding{
		Check: "pod.crash_looping", Severity: checks.Critical, Status: checks.Firing,
		Object: checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: pod}, Reason: "CrashLoopBackOff",
	}
}

// sweep is one step of a scenario: the minute it runs at and the pods the
// check sees crash looping ("-" for a sweep where the check is blind).
type sweep struct {
	min  int
	pods string
}

func observe(s sweep) Observation {
	obs := Observation{Now: t0.Add(time.Duration(s.min) * time.Minute), Evaluated: map[string]bool{"pod.crash_looping": s.pods != "-"}}
	if s.pods != "-" {
		for _, p := range strings.Fields(s.pods) {
			obs.Findings = append(obs.Findings, crash(p))
		}
	}
	return obs
}

// trace renders the transitions of one step as "a:pending>firing b:>pending".
func trace(ts []Transition) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s:%s>%s", strings.TrimPrefix(t.Key, "pod.crash_looping|Pod/shop/"), t.From, t.To))
	}
	return strings.Join(parts, " ")
}

func states(l Lifecycle) string {
	var parts []string
	for _, t := range l.InState(Pending, Firing, Resolved) {
		parts = append(parts, t.Finding.Object.Name+"="+string(t.State))
	}
	return strings.Join(parts, " ")
}

func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		sweeps []sweep
		// want holds, per sweep, "transitions | states".
		want []string
	}{
		{
			name:   "fires at once without for",
			sweeps: []sweep{{0, "a"}, {1, "a"}},
			want:   []string{"a:>firing | a=firing", " | a=firing"},
		},
		{
			name:   "pending until for, then firing",
			policy: Policy{For: 2 * time.Minute},
			sweeps: []sweep{{0, "a"}, {1, "a"}, {2, "a"}, {3, "a"}},
			want:   []string{"a:>pending | a=pending", " | a=pending", "a:pending>firing | a=firing", " | a=firing"},
		},
		{
			name:   "pending that clears is dropped silently",
			policy: Policy{For: 5 * time.Minute},
			sweeps: []sweep{{0, "a"}, {1, ""}, {2, "a"}},
			want:   []string{"a:>pending | a=pending", " | ", "a:>pending | a=pending"},
		},
		{
			name:   "firing that clears resolves and is kept for the retention",
			sweeps: []sweep{{0, "a"}, {1, ""}, {30, ""}, {61, ""}},
			want:   []string{"a:>firing | a=firing", "a:firing>resolved | a=resolved", " | a=resolved", " | "},
		},
		{
			name:   "resolved that returns starts a new episode",
			policy: Policy{For: time.Minute},
			sweeps: []sweep{{0, "a"}, {1, "a"}, {2, ""}, {3, "a"}, {4, "a"}},
			want: []string{"a:>pending | a=pending", "a:pending>firing | a=firing", "a:firing>resolved | a=resolved",
				"a:resolved>pending | a=pending", "a:pending>firing | a=firing"},
		},
		{
			name:   "flapping within keep_firing_for is announced once",
			policy: Policy{KeepFiringFor: 5 * time.Minute},
			sweeps: []sweep{{0, "a"}, {1, ""}, {2, "a"}, {3, ""}, {4, "a"}, {5, ""}, {6, ""}, {9, ""}, {10, ""}},
			want: []string{"a:>firing | a=firing", " | a=firing", " | a=firing", " | a=firing", " | a=firing",
				" | a=firing", " | a=firing", "a:firing>resolved | a=resolved", " | a=resolved"},
		},
		{
			name:   "a blind sweep neither resolves nor advances",
			policy: Policy{For: time.Minute},
			sweeps: []sweep{{0, "a b"}, {1, "-"}, {2, "a"}, {3, "-"}},
			want:   []string{"a:>pending b:>pending | a=pending b=pending", " | a=pending b=pending", "a:pending>firing | a=firing", " | a=firing"},
		},
		{
			name:   "several objects move independently",
			policy: Policy{For: time.Minute},
			sweeps: []sweep{{0, "a"}, {1, "a b"}, {2, "b"}, {3, ""}},
			want: []string{"a:>pending | a=pending", "a:pending>firing b:>pending | a=firing b=pending",
				"a:firing>resolved b:pending>firing | a=resolved b=firing", "b:firing>resolved | a=resolved b=resolved"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := Policies{Default: tc.policy, ResolvedRetention: time.Hour}
			var l Lifecycle
			for i, s := range tc.sweeps {
				prev := states(l)
				next, ts := Step(l, observe(s), pol)
				if states(l) != prev {
					t.Fatalf("sweep %d: Step modified its input", i)
				}
				l = next
				if got := trace(ts) + " | " + states(l); got != tc.want[i] {
					t.Errorf("sweep %d (minute %d, %q): got %q, want %q", i, s.min, s.pods, got, tc.want[i])
				}
			}
		})
	}
}

func TestLifecyclePerCheckPolicy(t *testing.T) {
	pol := Policies{Default: Policy{For: time.Hour}, Checks: map[string]Policy{"pod.crash_looping": {}}}
	l, ts := Step(Lifecycle{}, observe(sweep{0, "a"}), pol)
	if len(ts) != 1 || !ts[0].Announce() || l.Findings[ts[0].Key].State != Firing {
		t.Fatalf("per-check for 0 should fire at once: %+v", ts)
	}
}

// TestLifecycleRestart saves the state as JSON mid-episode, restores it and
// continues: a firing finding is not announced again, a pending one keeps
// its start time.
func TestLifecycleRestart(t *testing.T) {
	pol := Policies{Default: Policy{For: 2 * time.Minute}, ResolvedRetention: time.Hour}
	l, _ := Step(Lifecycle{}, observe(sweep{0, "a"}), pol)
	l, _ = Step(l, observe(sweep{2, "a b"}), pol) // a fires, b pending
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var restored Lifecycle
	if err := json.Unmarshal(data, &restored); err != nil {
		t.Fatal(err)
	}
	if states(restored) != "a=firing b=pending" {
		t.Fatalf("restored %s", states(restored))
	}
	l2, ts := Step(restored, observe(sweep{4, "a b"}), pol)
	if got := trace(ts); got != "b:pending>firing" {
		t.Errorf("after restart: transitions %q, want only b firing", got)
	}
	if !l2.Findings["pod.crash_looping|Pod/shop/a"].FiredAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("a lost its firing time: %+v", l2.Findings["pod.crash_looping|Pod/shop/a"])
	}
}

func TestRetain(t *testing.T) {
	l, _ := Step(Lifecycle{}, observe(sweep{0, "a"}), Policies{})
	if got := Retain(l, func(string) bool { return false }); len(got.Findings) != 0 || len(l.Findings) != 1 {
		t.Errorf("Retain: %d left, input %d", len(got.Findings), len(l.Findings))
	}
}

func TestUnknownFindingsDoNotTakePart(t *testing.T) {
	f := crash("a")
	f.Status = checks.Unknown
	l, ts := Step(Lifecycle{}, Observation{Now: t0, Evaluated: map[string]bool{f.Check: true}, Findings: []checks.Finding{f}}, Policies{})
	if len(ts) != 0 || len(l.Findings) != 0 {
		t.Errorf("unknown finding tracked: %+v", l)
	}
}
