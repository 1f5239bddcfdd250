package checks

import (
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestEventCountSince(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ev := func(count int32, first, last time.Time) *snapshot.Event {
		return &snapshot.Event{Count: count, FirstTime: first, LastTime: last}
	}
	tests := []struct {
		name string
		e    *snapshot.Event
		want int
	}{
		{"all inside", ev(5, start.Add(10*time.Minute), start.Add(50*time.Minute)), 5},
		{"no first time", ev(4, time.Time{}, start.Add(time.Minute)), 4},
		{"half the span inside", ev(10, start.Add(-time.Hour), start.Add(time.Hour)), 5},
		{"mostly before", ev(40, start.Add(-72*time.Hour), start.Add(time.Minute)), 1},
		{"zero count", ev(0, start.Add(time.Minute), start.Add(time.Minute)), 1},
	}
	for _, tt := range tests {
		if got := EventCountSince(tt.e, start); got != tt.want {
			t.Errorf("%s: EventCountSince = %d, want %d", tt.name, got, tt.want)
		}
	}
}
