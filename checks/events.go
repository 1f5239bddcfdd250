package checks

import (
	"math"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// EventCountSince estimates how many of an aggregated event's occurrences
// fall after start, assuming they were spread evenly between its first and
// last time; at least one, since its last occurrence does.
func EventCountSince(e *snapshot.Event, start time.Time) int {
	n := int(e.Count)
	if n < 1 {
		n = 1
	}
	if e.FirstTime.IsZero() || !e.FirstTime.Before(start) {
		return n
	}
	span := e.LastTime.Sub(e.FirstTime)
	if span <= 0 {
		return 1
	}
	est := int(math.Ceil(float64(n) * float64(e.LastTime.Sub(start)) / float64(span)))
	return max(1, min(n, est))
}
