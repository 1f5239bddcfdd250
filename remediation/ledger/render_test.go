package ledger

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ledger")

// golden compares got with testdata/ledger/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "ledger", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

// stored is r as the ledger would hand it back: ID, schema, times and
// revision set.
func stored(r *Record, id string, created time.Duration, rev int64) *Record {
	r.ID = id
	r.Schema = RecordSchema
	r.CreatedAt = at(created)
	r.UpdatedAt = at(created + 8*time.Minute)
	r.Revision = rev
	return r
}

// tableRecords is a listing with IDs that share long prefixes and text that
// is too wide for 80 columns.
func tableRecords() []*Record {
	pod := checks.ObjectRef{Kind: "Pod", Namespace: "payments-production", Name: "checkout-api-7d9c8b6f5-x2k9p"}
	return []*Record{
		stored(sampleRecord(), "rec-01kj2b3c4d5e6f7g8h9j0kmnpq", 0, 4),
		stored(&Record{State: AwaitingApproval, Playbook: "node-drain", Target: checks.ObjectRef{Kind: "Node", Name: "worker-1"},
			Trigger: Trigger{Source: "finding", Check: "node.not_ready"}}, "rec-01kj2b3c4d9x7g8h9j0kmnpr", -3*time.Hour, 2),
		stored(&Record{State: Planned, DryRun: true, Playbook: "pod-crashloop-restart-with-backoff", Target: pod,
			Trigger: Trigger{Source: "alertmanager", Alertname: "KubePodCrashLoopingForAVeryLongTime"}}, "rec-01kj2a0000aaaaaaaaaaaaaaaa", -26*time.Hour, 1),
		stored(&Record{State: Refused, Trigger: Trigger{Source: "alertmanager", Alertname: "Watchdog"}}, "rec-01hx00000000000000000000zz", -400*24*time.Hour, 1),
		stored(&Record{State: Closed, Target: checks.ObjectRef{Kind: "Node", Name: "w"}}, "custom-id", -45*time.Second, 1),
	}
}

// TestWriteTable pins the listing, and that it fits 80 columns when two
// IDs share their millisecond (the first 14 characters).
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, tableRecords(), at(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > tableWidth {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
	golden(t, "table.golden", b.Bytes())

	// IDs are never cut, even when they cannot fit.
	long := []*Record{stored(&Record{State: Planned}, "rec-01kj2b3c4d5e6f7g8h9j0kmnpq", 0, 1), stored(&Record{State: Planned}, "rec-01kj2b3c4d5e6f7g8h9j0kmnpr", 0, 1)}
	b.Reset()
	if err := writeTable(&b, long, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, r := range long {
		if !strings.Contains(b.String(), r.ID+" ") {
			t.Errorf("ID %s cut:\n%s", r.ID, b.String())
		}
	}

	b.Reset()
	if err := WriteTable(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "ID  AGE  STATE  PLAYBOOK  TARGET  TRIGGER  DRY-RUN\n" {
		t.Errorf("empty table = %q", got)
	}
}

// TestAbbreviate proves the shortest unique prefixes, never below the
// minimum and never longer than the ID.
func TestAbbreviate(t *testing.T) {
	got := abbreviate([]string{"rec-aaaa1111xxxx", "rec-aaaa1111xyyy", "rec-bbbb2222", "rec-aaaa1111xxxx", "short", "rec-aaaaaa1é1"}, 12)
	want := []string{"rec-aaaa1111xx", "rec-aaaa1111xy", "rec-bbbb2222", "rec-aaaa1111xx", "short", "rec-aaaaaa1é"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("abbreviate (-want +got):\n%s", d)
	}
}

// TestWriteMarkdown pins the post-mortem document of a full record and of
// a bare refusal.
func TestWriteMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Record
	}{
		{"record-full.md.golden", stored(sampleRecord(), "rec-01kj2b3c4d5e6f7g8h9j0kmnpq", 0, 4)},
		{"record-refused.md.golden", stored(&Record{
			Cluster: "dev", State: Refused, IncidentKey: "node.not_ready|Node/kind-worker", DryRun: true,
			Trigger:  Trigger{Source: "finding", Fingerprint: "node.not_ready|Node/kind-worker", Check: "node.not_ready", Status: "firing", Severity: "critical"},
			Target:   checks.ObjectRef{Kind: "Node", Name: "kind-worker"},
			Playbook: "node-not-ready",
			Guards: []Verdict{
				{Guard: "enabled", Allowed: true, Reason: "enabled"},
				{Guard: "max_unhealthy", Allowed: false, Reason: "4 of 6 nodes unhealthy (67%) > 30%: the fault is likely the network or the control plane | page instead"},
			},
			Message: "refused by max_unhealthy",
		}, "rec-01kj2c0000000000000000000a", 0, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteMarkdown(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// TestMarkdownEscaping proves that text from the cluster cannot break a
// table row or a code span.
func TestMarkdownEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a|b", "a\\|b"},
		{"a\nb", "a<br>b"},
		{"a\r\nb", "a<br>b"},
	} {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"<none>\nnext", "&lt;none><br>next"},
	} {
		if got := txt(tc.in); got != tc.want {
			t.Errorf("txt(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got, want := inline(tc.in), strings.ReplaceAll(tc.want, "<br>", " "); got != want {
			t.Errorf("inline(%q) = %q, want %q", tc.in, got, want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"<none>", "`<none>`"},
		{"x", "`x`"},
		{"a`b", "``a`b``"},
		{"`a", "`` `a ``"},
		{"a\nb", "`a b`"},
	} {
		if got := code(tc.in); got != tc.want {
			t.Errorf("code(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
