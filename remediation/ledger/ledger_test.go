package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation/ledger/pgtest"
)

// The PostgreSQL server shared by the tests of this binary (TestMain).
var (
	pgDSN    string
	pgErr    error
	pgSchema atomic.Int64
)

func TestMain(m *testing.M) {
	// The crash helper is this binary re-executed; it needs no server.
	if os.Getenv(crashEnv) != "" {
		os.Exit(crashHelper())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	dsn, stop, err := pgtest.Start(ctx)
	cancel()
	pgDSN, pgErr = dsn, err
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// testBase is the clock's start in every test.
var testBase = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// stepClock is a clock that advances one second (plus a sub-second part,
// so that nanoseconds survive the round trip) on every reading.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func newStepClock() *stepClock { return &stepClock{t: testBase} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second + 123456789*time.Nanosecond)
	return c.t
}

// forEachConfig runs fn once per backend with the Config of an empty
// ledger: a SQLite file in a temp dir, and a fresh PostgreSQL schema.
// PostgreSQL is skipped when it is not installed, unless
// KUBEPATROL_REQUIRE_POSTGRES is set.
func forEachConfig(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Config{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "ledger.db"), Now: newStepClock().Now})
	})
	t.Run("postgres", func(t *testing.T) {
		switch {
		case errors.Is(pgErr, pgtest.ErrNotInstalled) && !pgtest.Required():
			t.Skip(pgErr)
		case pgErr != nil:
			t.Fatal(pgErr)
		}
		dsn, err := pgtest.WithSchema(context.Background(), pgDSN, fmt.Sprintf("t%d", pgSchema.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, Config{Driver: DriverPostgres, DSN: dsn, Now: newStepClock().Now})
	})
}

// forEachBackend runs fn once per backend with an open, empty ledger that
// is closed when the test ends.
func forEachBackend(t *testing.T, fn func(t *testing.T, l *Ledger)) {
	t.Helper()
	forEachConfig(t, func(t *testing.T, cfg Config) {
		fn(t, openT(t, cfg))
	})
}

// openT opens cfg and closes it at the end of the test.
func openT(t *testing.T, cfg Config) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// at is testBase plus d.
func at(d time.Duration) time.Time { return testBase.Add(d) }

// atp is a pointer to at(d).
func atp(d time.Duration) *time.Time {
	t := at(d)
	return &t
}

// sampleRecord is a record with every field set: an escalated cordon whose
// verification failed, with approval, calls, blockers and pages.
func sampleRecord() *Record {
	node := checks.ObjectRef{Kind: "Node", Name: "worker-3", UID: "6f1c2d3e-aaaa-bbbb-cccc-000000000003"}
	evidence := []checks.Evidence{
		{Type: checks.EvCondition, Path: "status.conditions[Ready]", Value: "Unknown", Message: "NodeStatusUnknown: Kubelet stopped posting node status.", Source: "node/worker-3", Time: atp(-18 * time.Minute)},
		{Type: checks.EvField, Path: "spec.unschedulable", Value: "false", Source: "node/worker-3"},
		{Type: checks.EvEvent, Path: "events/NodeNotReady", Value: "1", Message: "Node worker-3 status is now: NodeNotReady", Source: "event/default/worker-3.17f", Time: atp(-17 * time.Minute)},
		{Type: checks.EvMetric, Path: `up{job="kubelet",node="worker-3"}`, Value: "0", Source: "prometheus", Time: atp(-1 * time.Minute)},
		{Type: checks.EvThreshold, Path: "for", Value: "5m", Message: "NotReady for 18m exceeds 5m"},
		{Type: checks.EvRelation, Path: "pods", Value: "7", Message: "7 pods scheduled on the node | 3 owned by StatefulSets"},
		{Type: checks.EvCoverage, Path: "nodes", Value: "12/12", Message: "every node was read"},
		{Type: checks.EvMetric, Path: `node_load1{node="worker-3"}`, Value: "NaN", Source: "prometheus"},
		{Type: checks.EvField, Path: "status.nodeInfo.kubeletVersion", Value: "v1.32.2", Message: "taints <none>"},
		{Type: checks.EvEvent, Path: "events/Rebooted", Value: "2", Message: "line one\nline two"},
	}
	return &Record{
		Cluster:     "prod-eu",
		State:       Escalated,
		IncidentKey: "4f2a9c0d11e5b7a3",
		Trigger: Trigger{
			Source:       "alertmanager",
			Fingerprint:  "4f2a9c0d11e5b7a3",
			GroupKey:     `{}:{alertname="KubeNodeNotReady"}`,
			Receiver:     "kubepatrol",
			Alertname:    "KubeNodeNotReady",
			Status:       "firing",
			Severity:     "critical",
			Labels:       map[string]string{"alertname": "KubeNodeNotReady", "node": "worker-3", "severity": "critical"},
			Annotations:  map[string]string{"summary": "Node worker-3 is not ready", "runbook_url": "https://runbooks.example/node-not-ready"},
			StartsAt:     at(-15 * time.Minute),
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=kube_node_status_condition",
			ExternalURL:  "http://alertmanager:9093",
		},
		Target:          node,
		Playbook:        "node-not-ready",
		PlaybookVersion: "3",
		DryRun:          false,
		Evidence:        evidence,
		Findings: []checks.Finding{{
			Check: "node.not_ready", Severity: checks.Critical, Status: checks.Firing, Object: node,
			Reason: "NodeStatusUnknown", Message: "node worker-3 is NotReady for 18m",
			Since: atp(-18 * time.Minute), Evidence: evidence[:2], Node: "worker-3",
		}},
		Guards: []Verdict{
			{Guard: "enabled", Allowed: true, Reason: "playbook node-not-ready is enabled"},
			{Guard: "max_unhealthy", Allowed: true, Reason: "1 of 12 nodes unhealthy (8%) ≤ 30%"},
			{Guard: "cooldown", Allowed: true, Reason: "no action on Node/worker-3 in the last 1h"},
		},
		Steps: []Step{
			{
				Name: "cordon", Action: "cordon", Target: node, Status: StepDone, Risk: "low", Attempts: 1,
				StartedAt: atp(2 * time.Second), EndedAt: atp(2*time.Second + 40*time.Millisecond),
				Message: "node cordoned",
				Calls: []Call{{
					Verb: "patch", Resource: "nodes", Name: "worker-3",
					ResourceVersionBefore: "81234", ResourceVersionAfter: "81240",
					At: at(2*time.Second + 30*time.Millisecond), Detail: "spec.unschedulable: false → true",
				}},
			},
			{
				Name: "drain", Action: "drain", Target: node, Status: StepFailed, Risk: "high", Attempts: 3,
				Params:    map[string]string{"timeout": "5m", "grace_period": "30s"},
				StartedAt: atp(65 * time.Second), EndedAt: atp(6 * time.Minute),
				ApprovedBy: "alice@example.com", ApprovedAt: atp(60 * time.Second),
				Error:    "drain blocked by a PodDisruptionBudget",
				Blockers: []string{"pod shop/db-0: PodDisruptionBudget shop/db allows 0 disruptions"},
				Calls: []Call{
					{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: "shop", Name: "web-1",
						ResourceVersionBefore: "5521", At: at(66 * time.Second), Detail: "evicted"},
					{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: "shop", Name: "db-0",
						ResourceVersionBefore: "5530", At: at(67 * time.Second),
						Error: "Cannot evict pod as it would violate the pod's disruption budget."},
				},
			},
		},
		Verification: &Verification{
			Status: "unhealthy", Checks: []string{"node.not_ready"}, Attempts: 3, At: at(7 * time.Minute),
			Message: "node worker-3 still NotReady after 3 attempts",
			Findings: []checks.Finding{{
				Check: "node.not_ready", Severity: checks.Critical, Status: checks.Firing, Object: node,
				Reason: "NodeStatusUnknown", Message: "node worker-3 is NotReady for 25m", Evidence: []checks.Evidence{},
			}},
		},
		Pages: []Page{{
			Pager: "oncall", Type: "pagerduty", Action: "trigger", DedupKey: "kubepatrol/prod-eu/4f2a9c0d11e5b7a3",
			Summary: "KubeNodeNotReady on Node/worker-3: remediation failed, drain blocked", Severity: "critical",
			Status: "sent", Attempts: 1, At: at(7*time.Minute + time.Second),
		}},
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Message: "drain blocked by a PodDisruptionBudget; paged on-call",
	}
}

// mustCreate creates r or fails the test.
func mustCreate(t *testing.T, l *Ledger, r *Record) *Record {
	t.Helper()
	if err := l.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// ids lists the records' IDs.
func ids(recs []*Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// errIs fails unless err wraps target and mentions want.
func errIs(t *testing.T, err, target error, want string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not mention %q", err, want)
	}
}
