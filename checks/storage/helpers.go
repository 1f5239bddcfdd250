package storage

import (
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// at returns a pointer to a copy of t, for Evidence.Time and Finding.Since.
func at(t time.Time) *time.Time { return &t }

// terminal reports whether a pod has finished.
func terminal(p *snapshot.Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// consumers returns the live pods in ns that mount claim.
func consumers(ix *checks.Index, ns, claim string) []*snapshot.Pod {
	var out []*snapshot.Pod
	for _, p := range ix.PodsByNamespace[ns] {
		if terminal(p) || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Claims {
			if c == claim {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// eventEvidence renders an event as evidence.
func eventEvidence(e *snapshot.Event) checks.Evidence {
	v := e.Reason
	if e.Count > 1 {
		v = fmt.Sprintf("%s x%d", e.Reason, e.Count)
	}
	return checks.Evidence{Type: checks.EvEvent, Path: "events[" + e.Reason + "]", Value: v,
		Message: e.Message, Source: e.Source, Time: at(e.LastTime)}
}

// bytes renders a size in binary units as kubectl shows them: 10Gi, 512Mi.
func bytes(n int64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi"}
	i := 0
	for n >= 1024 && n%1024 == 0 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", n, units[i])
}
