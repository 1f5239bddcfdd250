package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
)

// TestRoundTrip proves that a record comes back from Get exactly as it was
// created and updated: every field, nested evidence, steps, calls and
// times (in UTC, to the nanosecond).
func TestRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		r := sampleRecord()
		r.State = Running
		mustCreate(t, l, r)
		if !strings.HasPrefix(r.ID, IDPrefix) || len(r.ID) != len(IDPrefix)+26 {
			t.Errorf("ID %q: want %s and 26 characters", r.ID, IDPrefix)
		}
		if r.Schema != RecordSchema || r.Revision != 1 || r.CreatedAt.IsZero() || !r.UpdatedAt.Equal(r.CreatedAt) {
			t.Errorf("after Create: schema %q revision %d created %v updated %v", r.Schema, r.Revision, r.CreatedAt, r.UpdatedAt)
		}
		same(t, l, r)

		created := r.CreatedAt
		r.State = Escalated
		r.Steps[1].Status = StepFailed
		r.Pages = append(r.Pages, Page{Pager: "slack", Type: "slack", Action: "trigger", DedupKey: "k", Status: "failed", Error: "HTTP 500", At: at(8 * time.Minute)})
		if err := l.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Revision != 2 || !r.UpdatedAt.After(created) || !r.CreatedAt.Equal(created) {
			t.Errorf("after Update: revision %d created %v updated %v", r.Revision, r.CreatedAt, r.UpdatedAt)
		}
		same(t, l, r)
	})
}

// same fails unless Get returns want, field for field and byte for byte in
// JSON (which also pins every time's zone).
func same(t *testing.T, l *Ledger, want *Record) {
	t.Helper()
	got, err := l.Get(context.Background(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Get(%s) differs (-want +got):\n%s", want.ID, d)
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Fatalf("Get(%s) JSON differs:\nwant %s\n got %s", want.ID, wj, gj)
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %v %v", got.CreatedAt.Location(), got.UpdatedAt.Location())
	}
}

// TestCreateID proves a caller's ID is kept and a taken ID is refused.
func TestCreateID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		r := &Record{ID: "rec-given", State: Planned}
		mustCreate(t, l, r)
		if r.ID != "rec-given" {
			t.Errorf("ID %q, want rec-given", r.ID)
		}
		dup := &Record{ID: "rec-given", State: Refused}
		errIs(t, l.Create(ctx, dup), ErrConflict, "rec-given")
		if dup.Revision != 0 || !dup.CreatedAt.IsZero() {
			t.Errorf("failed Create changed the record: %+v", dup)
		}
		got, err := l.Get(ctx, "rec-given")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != Planned {
			t.Errorf("state %s: the duplicate overwrote the record", got.State)
		}
	})
}

// TestUpdateConflict proves optimistic concurrency: the second writer of
// one revision gets ErrConflict and its record is left as it was.
func TestUpdateConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		r := mustCreate(t, l, &Record{State: Running, Steps: []Step{{Name: "cordon", Status: StepIntent}}})
		a, err := l.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		a.Steps[0].Status = StepDone
		if err := l.Update(ctx, a); err != nil {
			t.Fatal(err)
		}
		b.State = Failed
		errIs(t, l.Update(ctx, b), ErrConflict, "revision 1, stored 2")
		if b.Revision != 1 {
			t.Errorf("failed Update moved the revision to %d", b.Revision)
		}
		got, err := l.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != Running || got.Steps[0].Status != StepDone || got.Revision != 2 {
			t.Errorf("stored %s/%s rev %d, want running/done rev 2", got.State, got.Steps[0].Status, got.Revision)
		}
		errIs(t, l.Update(ctx, &Record{ID: "rec-missing", Revision: 1}), ErrNotFound, "rec-missing")
		errIs(t, l.Update(ctx, &Record{}), ErrNotFound, "no ID")
	})
}

// TestGetPrefix proves git-like ID prefixes: a unique prefix of at least
// MinPrefix characters finds its record, a shared one is ambiguous, a short
// one is not a prefix at all, and LIKE wildcards are plain characters.
func TestGetPrefix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		for _, id := range []string{"rec-aaaa1111xxxx", "rec-aaaa1111yyyy", "rec-bbbb2222zzzz", "rec-cccc", "rec-cccc3333"} {
			mustCreate(t, l, &Record{ID: id, State: Planned})
		}
		for _, tc := range []struct {
			arg, want string
			err       error
			mention   string
		}{
			{arg: "rec-aaaa1111xxxx", want: "rec-aaaa1111xxxx"},
			{arg: "rec-aaaa1111x", want: "rec-aaaa1111xxxx"},
			{arg: "rec-bbbb", want: "rec-bbbb2222zzzz"},
			{arg: "rec-cccc", want: "rec-cccc"}, // an exact ID wins over being a prefix
			{arg: "rec-cccc3", want: "rec-cccc3333"},
			{arg: "rec-aaaa1111", err: ErrAmbiguous, mention: "rec-aaaa1111xxxx, rec-aaaa1111yyyy"},
			{arg: "rec-bbb", err: ErrNotFound, mention: "rec-bbb"},
			{arg: "rec-dddd", err: ErrNotFound, mention: "rec-dddd"},
			{arg: "rec-%%%%", err: ErrNotFound, mention: "rec-%%%%"},
			{arg: "rec-____", err: ErrNotFound, mention: "rec-____"},
			{arg: "REC-AAAA1111XXXX", err: ErrNotFound, mention: "REC-AAAA1111XXXX"},
		} {
			got, err := l.Get(ctx, tc.arg)
			if tc.err != nil {
				errIs(t, err, tc.err, tc.mention)
				continue
			}
			if err != nil {
				t.Errorf("Get(%q): %v", tc.arg, err)
				continue
			}
			if got.ID != tc.want {
				t.Errorf("Get(%q) = %s, want %s", tc.arg, got.ID, tc.want)
			}
		}
	})
}

// listFixture creates seven records, one second apart, and returns them by
// name.
func listFixture(t *testing.T, l *Ledger) map[string]*Record {
	t.Helper()
	n1 := checks.ObjectRef{Kind: "Node", Name: "worker-1", UID: "u1"}
	n2 := checks.ObjectRef{Kind: "Node", Name: "worker-2"}
	pod := checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "web-0"}
	step := func(s StepStatus) []Step { return []Step{{Name: "s", Action: "a", Status: s}} }
	recs := []struct {
		name string
		r    Record
	}{
		{"r1", Record{State: Succeeded, Playbook: "node-not-ready", Target: n1, IncidentKey: "inc1", Trigger: Trigger{Fingerprint: "fp1"}, Steps: step(StepDone)}},
		{"r2", Record{State: Refused, Playbook: "node-not-ready", Target: n2, IncidentKey: "inc2", Trigger: Trigger{Fingerprint: "fp2"}}},
		{"r3", Record{State: Planned, Playbook: "pod-restart", Target: pod, IncidentKey: "inc1", DryRun: true, Trigger: Trigger{Fingerprint: "fp3"}, Steps: step(StepDryRun)}},
		{"r4", Record{State: Running, Playbook: "pod-restart", Target: pod, IncidentKey: "inc1", Trigger: Trigger{Fingerprint: "fp3"}, Steps: step(StepIntent)}},
		{"r5", Record{State: Failed, Playbook: "node-not-ready", Target: n1, IncidentKey: "inc3", Trigger: Trigger{Fingerprint: "fp1"}, Steps: step(StepFailed)}},
		{"r6", Record{State: AwaitingApproval, Playbook: "node-drain", Target: n1, IncidentKey: "inc3", Trigger: Trigger{Fingerprint: "fp4"}, Steps: step(StepAwaitingApproval)}},
		{"r7", Record{State: Verifying, Playbook: "node-drain", Target: n2, IncidentKey: "inc4", Trigger: Trigger{Fingerprint: "fp5"}, Steps: step(StepReconciled)}},
	}
	out := map[string]*Record{}
	for _, rc := range recs {
		r := rc.r
		out[rc.name] = mustCreate(t, l, &r)
	}
	return out
}

// TestList proves each Filter field, alone and combined, and the newest
// first order.
func TestList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		rs := listFixture(t, l)
		names := map[string]string{}
		for n, r := range rs {
			names[r.ID] = n
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want string
		}{
			{"all", Filter{}, "r7 r6 r5 r4 r3 r2 r1"},
			{"states", Filter{States: []State{Running, Refused}}, "r4 r2"},
			{"one state", Filter{States: []State{Succeeded}}, "r1"},
			{"playbook", Filter{Playbook: "node-not-ready"}, "r5 r2 r1"},
			{"target node ignores UID", Filter{Target: &checks.ObjectRef{Kind: "Node", Name: "worker-1", UID: "other"}}, "r6 r5 r1"},
			{"target pod", Filter{Target: &checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "web-0"}}, "r4 r3"},
			{"target other namespace", Filter{Target: &checks.ObjectRef{Kind: "Pod", Namespace: "other", Name: "web-0"}}, ""},
			{"incident", Filter{IncidentKey: "inc1"}, "r4 r3 r1"},
			{"fingerprint", Filter{Fingerprint: "fp3"}, "r4 r3"},
			{"since is inclusive", Filter{Since: rs["r3"].CreatedAt}, "r7 r6 r5 r4 r3"},
			{"until is exclusive", Filter{Until: rs["r3"].CreatedAt}, "r2 r1"},
			{"since and until", Filter{Since: rs["r2"].CreatedAt, Until: rs["r5"].CreatedAt}, "r4 r3 r2"},
			{"since in another zone", Filter{Since: rs["r6"].CreatedAt.In(time.FixedZone("X", -5*3600))}, "r7 r6"},
			{"limit keeps the newest", Filter{Limit: 2}, "r7 r6"},
			{"acted", Filter{Acted: true}, "r7 r4 r1"},
			{"acted on a target (cooldown)", Filter{Acted: true, Target: &checks.ObjectRef{Kind: "Node", Name: "worker-1"}}, "r1"},
			{"acted by a playbook since (rate limit)", Filter{Acted: true, Playbook: "pod-restart", Since: rs["r2"].CreatedAt}, "r4"},
			{"everything", Filter{States: []State{Running}, Playbook: "pod-restart", Target: &checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "web-0"},
				IncidentKey: "inc1", Fingerprint: "fp3", Since: rs["r1"].CreatedAt, Until: rs["r7"].CreatedAt, Limit: 5, Acted: true}, "r4"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := l.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var gotNames []string
				for _, r := range got {
					gotNames = append(gotNames, names[r.ID])
				}
				if s := strings.Join(gotNames, " "); s != tc.want {
					t.Errorf("List = %q, want %q", s, tc.want)
				}
			})
		}
	})
}

// TestUnfinished proves that the records in non-terminal states come back
// oldest first, and leave the list when they finish.
func TestUnfinished(t *testing.T) {
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		rs := listFixture(t, l)
		check := func(want ...string) {
			t.Helper()
			got, err := l.Unfinished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var wantIDs []string
			for _, n := range want {
				wantIDs = append(wantIDs, rs[n].ID)
			}
			if d := cmp.Diff(wantIDs, ids(got)); d != "" {
				t.Errorf("Unfinished (-want +got):\n%s", d)
			}
		}
		check("r4", "r6", "r7")
		r4 := rs["r4"]
		r4.State = Succeeded
		r4.Steps[0].Status = StepDone
		if err := l.Update(ctx, r4); err != nil {
			t.Fatal(err)
		}
		check("r6", "r7")
	})
}

// TestConcurrentCreates proves that records created from several
// goroutines at once are all stored, under unique IDs.
func TestConcurrentCreates(t *testing.T) {
	const workers, each = 8, 25
	forEachBackend(t, func(t *testing.T, l *Ledger) {
		ctx := context.Background()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			made []string
			errs []error
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					r := &Record{State: Planned, Playbook: fmt.Sprintf("w%d", w), Message: fmt.Sprint(i)}
					err := l.Create(ctx, r)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						made = append(made, r.ID)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d Creates failed, first: %v", len(errs), errs[0])
		}
		all, err := l.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		stored := ids(all)
		slices.Sort(stored)
		slices.Sort(made)
		if len(slices.Compact(slices.Clone(made))) != workers*each {
			t.Fatalf("%d unique IDs handed out, want %d", len(slices.Compact(slices.Clone(made))), workers*each)
		}
		if d := cmp.Diff(made, stored); d != "" {
			t.Fatalf("stored IDs differ from created (-created +stored):\n%s", d)
		}
	})
}

// TestRecordActed pins which step statuses count as having acted.
func TestRecordActed(t *testing.T) {
	for _, tc := range []struct {
		steps []StepStatus
		want  bool
	}{
		{nil, false},
		{[]StepStatus{StepPending, StepDryRun, StepSkipped, StepAwaitingApproval, StepFailed}, false},
		{[]StepStatus{StepPending, StepDone}, true},
		{[]StepStatus{StepIntent}, true},
		{[]StepStatus{StepSkipped, StepReconciled}, true},
	} {
		r := &Record{}
		for _, s := range tc.steps {
			r.Steps = append(r.Steps, Step{Status: s})
		}
		if got := r.Acted(); got != tc.want {
			t.Errorf("Acted(%v) = %v, want %v", tc.steps, got, tc.want)
		}
	}
	for _, s := range []State{Planned, Refused, AwaitingApproval, Running, Verifying, Succeeded, Escalated, Failed, Expired, Closed} {
		if s.Unfinished() == s.Terminal() {
			t.Errorf("state %s: Unfinished %v and Terminal %v", s, s.Unfinished(), s.Terminal())
		}
	}
}
