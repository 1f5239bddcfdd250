package ledger

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestObserveAlert walks one alert through new, repeat, linked, resolved
// and re-fired, checking what ObserveAlert returns as the previous
// observation each time.
func TestObserveAlert(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		fire := AlertObservation{Fingerprint: "fp1", Status: AlertFiring, Alertname: "KubeNodeNotReady",
			StartsAt: at(-time.Minute), IncidentKey: "inc1"}

		prev, err := l.ObserveAlert(ctx, fire)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			t.Fatalf("new alert: prev = %+v, want nil", prev)
		}

		prev, err = l.ObserveAlert(ctx, fire)
		if err != nil {
			t.Fatal(err)
		}
		want := fire
		if prev == nil || prev.UpdatedAt.IsZero() {
			t.Fatalf("repeat: prev = %+v, want the first observation", prev)
		}
		firstSeen := prev.UpdatedAt
		want.UpdatedAt = firstSeen
		if d := cmp.Diff(&want, prev); d != "" {
			t.Errorf("repeat: prev (-want +got):\n%s", d)
		}

		if err := l.SetAlertRecord(ctx, "fp1", "rec-1"); err != nil {
			t.Fatal(err)
		}
		// A repeat without a record ID keeps the link.
		prev, err = l.ObserveAlert(ctx, fire)
		if err != nil {
			t.Fatal(err)
		}
		if prev.RecordID != "rec-1" || !prev.UpdatedAt.After(firstSeen) {
			t.Errorf("after SetAlertRecord: prev = %+v, want record rec-1 and a later UpdatedAt", prev)
		}

		resolved := fire
		resolved.Status = AlertResolved
		resolved.EndsAt = at(5 * time.Minute)
		resolved.IncidentKey = ""
		prev, err = l.ObserveAlert(ctx, resolved)
		if err != nil {
			t.Fatal(err)
		}
		if prev.Status != AlertFiring || prev.RecordID != "rec-1" || prev.IncidentKey != "inc1" {
			t.Errorf("resolve: prev = %+v, want firing, rec-1, inc1", prev)
		}

		refire := fire
		refire.StartsAt = at(10 * time.Minute)
		refire.RecordID = "rec-2"
		prev, err = l.ObserveAlert(ctx, refire)
		if err != nil {
			t.Fatal(err)
		}
		want = resolved
		want.IncidentKey = "inc1" // kept: the resolve carried none
		want.RecordID = "rec-1"
		want.UpdatedAt = prev.UpdatedAt
		if d := cmp.Diff(&want, prev); d != "" {
			t.Errorf("re-fire: prev (-want +got):\n%s", d)
		}
		prev, err = l.ObserveAlert(ctx, refire)
		if err != nil {
			t.Fatal(err)
		}
		if prev.RecordID != "rec-2" || !prev.StartsAt.Equal(at(10*time.Minute)) || !prev.EndsAt.IsZero() {
			t.Errorf("after re-fire: prev = %+v, want rec-2, the new start and no end", prev)
		}

		errIs(t, l.SetAlertRecord(ctx, "nope", "rec-3"), ErrNotFound, "nope")
		if _, err := l.ObserveAlert(ctx, AlertObservation{Fingerprint: "fp2", Status: "pending"}); err == nil {
			t.Error("status pending accepted")
		}
		if _, err := l.ObserveAlert(ctx, AlertObservation{Status: AlertFiring}); err == nil {
			t.Error("empty fingerprint accepted")
		}
	})
}

// TestObserveAlertConcurrent proves that concurrent deliveries of one new
// alert are serialised: exactly one of them sees it as new.
func TestObserveAlertConcurrent(t *testing.T) {
	const n = 8
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		for round := range 5 {
			fp := fmt.Sprintf("fp-%d", round)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				fresh int
				errs  []error
			)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					prev, err := l.ObserveAlert(ctx, AlertObservation{Fingerprint: fp, Status: AlertFiring})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					} else if prev == nil {
						fresh++
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("round %d: %d errors, first: %v", round, len(errs), errs[0])
			}
			if fresh != 1 {
				t.Errorf("round %d: %d of %d deliveries saw a new alert, want 1", round, fresh, n)
			}
		}
	})
}

// TestState proves the key-value table: missing keys, overwrite, empty
// and binary values.
func TestState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		if v, ok, err := l.GetState(ctx, "lifecycle"); err != nil || ok || v != nil {
			t.Fatalf("missing key: %q %v %v", v, ok, err)
		}
		for _, v := range [][]byte{
			[]byte(`{"findings":{"node.not_ready|Node/worker-1":{"state":"firing"}}}`),
			[]byte(`{"findings":{}}`),
			{0, 1, 2, 0xff, 0, 'x'},
			{},
			nil,
		} {
			if err := l.PutState(ctx, "lifecycle", v); err != nil {
				t.Fatal(err)
			}
			got, ok, err := l.GetState(ctx, "lifecycle")
			if err != nil || !ok {
				t.Fatalf("GetState: %v %v", ok, err)
			}
			if !bytes.Equal(got, v) || got == nil {
				t.Errorf("GetState = %q, want %q (non-nil)", got, v)
			}
		}
		if err := l.PutState(ctx, "other", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := l.GetState(ctx, "lifecycle"); len(got) != 0 {
			t.Errorf("writing another key changed lifecycle to %q", got)
		}
	})
}
