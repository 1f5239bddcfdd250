package analysis

import (
	"path"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
)

// Suppression silences findings by check and object, for a reason, until
// an expiry date. An expired suppression no longer applies and is reported.
type Suppression struct {
	// Check is a check ID, a family prefix ("pod" or "pod.") or a glob.
	Check string `json:"check"`
	// Kind, Namespace and Name are globs; empty matches anything.
	Kind      string    `json:"kind,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	Reason    string    `json:"reason"`
	Owner     string    `json:"owner,omitempty"`
	Expires   time.Time `json:"expires"`
	// Where locates the suppression in its config file (file:line:col).
	Where string `json:"where,omitempty"`
}

// Suppressed is a finding silenced by a suppression.
type Suppressed struct {
	Finding checks.Finding `json:"finding"`
	By      Suppression    `json:"by"`
}

// Matches reports whether the suppression covers f (ignoring expiry).
func (s *Suppression) Matches(f *checks.Finding) bool {
	return matchCheck(s.Check, f.Check) && glob(s.Kind, f.Object.Kind) &&
		glob(s.Namespace, f.Object.Namespace) && glob(s.Name, f.Object.Name)
}

func matchCheck(pattern, id string) bool {
	if pattern == "" || pattern == "*" || pattern == id {
		return true
	}
	if !strings.ContainsAny(pattern, "*?[") {
		return strings.HasPrefix(id, strings.TrimSuffix(pattern, ".")+".")
	}
	ok, _ := path.Match(pattern, id)
	return ok
}

func glob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Suppress splits findings into those kept and those a live suppression
// silences; it also returns the suppressions that expired before now.
func Suppress(fs []checks.Finding, sups []Suppression, now time.Time) (kept []checks.Finding, silenced []Suppressed, expired []Suppression) {
	var live []Suppression
	for _, s := range sups {
		if !s.Expires.IsZero() && !now.Before(s.Expires) {
			expired = append(expired, s)
			continue
		}
		live = append(live, s)
	}
	for _, f := range fs {
		hit := -1
		for i := range live {
			if live[i].Matches(&f) {
				hit = i
				break
			}
		}
		if hit >= 0 {
			silenced = append(silenced, Suppressed{Finding: f, By: live[hit]})
			continue
		}
		kept = append(kept, f)
	}
	return kept, silenced, expired
}
