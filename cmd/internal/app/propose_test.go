package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

var clusterAt = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// cluster reads testdata/cli/remediation/cluster.yaml: eight nodes,
// worker-5 unreachable, cp-1 a control-plane node, shop/db-0 stuck
// terminating on a deleted node.
func cluster(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	s, err := Snapshot(context.Background(), Source{Path: filepath.Join("..", "..", "..", "testdata", "cli", "remediation", "cluster.yaml"), At: clusterAt})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shipped(t *testing.T) []*rules.Playbook {
	t.Helper()
	pbs, err := rules.BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	return pbs
}

// TestProposer: the runbook's proposal is the engine's plan in one line
// per step, with the refusal or the paging note as its detail; the
// snapshot is read only when a playbook matches, and a failed read makes
// the proposal unavailable instead of failing the runbook.
func TestProposer(t *testing.T) {
	s := cluster(t)
	st, err := Configure(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		alert   string
		labels  map[string]string
		loadErr error
		reads   int
		want    PlaybookProposal
	}{
		{"an unreachable worker is cordoned", "KubeNodeUnreachable", map[string]string{"node": "worker-5"}, nil, 1, PlaybookProposal{
			Playbook: "node-not-ready", DryRun: true, Status: "proposed",
			Steps: []string{
				"would cordon Node/worker-5 (spec.unschedulable: true)",
				"skipped drain_node (drain): step is switched off in the playbook (enabled: false)",
			},
			Detail: "would page oncall if node.not_ready, node.unreachable still fire after 10m0s",
		}},
		{"a control-plane node is protected", "KubeNodeNotReady", map[string]string{"node": "cp-1", "alertname": "KubeNodeNotReady"}, nil, 1, PlaybookProposal{
			Playbook: "node-not-ready", DryRun: true, Status: "proposed",
			Steps: []string{
				"skipped cordon_node (cordon): refused by guard protected",
				"skipped drain_node (drain): refused by guard protected",
			},
			Detail: "refused by guard protected: node cp-1 carries node-role.kubernetes.io/control-plane (guards.protected_node_labels): control-plane nodes are not remediated",
		}},
		{"an alert without the label that names its node", "KubeNodeNotReady", map[string]string{"instance": "10.0.0.5:9100"}, nil, 0, PlaybookProposal{
			Playbook: "node-not-ready", DryRun: true, Status: "proposed", Steps: []string{},
			Detail: `refused by guard target: alert KubeNodeNotReady has no "node" label to name the Node`,
		}},
		{"a page-only playbook", "KubeDeploymentRolloutStuck", map[string]string{"namespace": "shop", "deployment": "web"}, nil, 1, PlaybookProposal{
			Playbook: "deployment-rollout-stuck", DryRun: true, Status: "proposed", Steps: []string{}, Detail: "would page oncall",
		}},
		{"no playbook for the alert: the cluster is not read", "KubeQuotaExceeded", map[string]string{"namespace": "shop", "resourcequota": "compute"}, nil, 0, PlaybookProposal{
			DryRun: true, Status: "none", Steps: []string{}, Detail: "no playbook matches alert KubeQuotaExceeded",
		}},
		{"the cluster cannot be read", "KubeNodeUnreachable", map[string]string{"node": "worker-5"}, errors.New("connection refused"), 1, PlaybookProposal{
			DryRun: true, Status: "unavailable", Detail: "cannot read the cluster for the plan: connection refused",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			p := &Proposer{Playbooks: shipped(t), Settings: st, Snapshot: func(context.Context) (*snapshot.Snapshot, error) {
				reads++
				if tc.loadErr != nil {
					return nil, tc.loadErr
				}
				return s, nil
			}}
			before := len(tc.labels)
			got, err := p.Propose(context.Background(), tc.alert, tc.labels, &analysis.Diagnosis{CollectedAt: s.CollectedAt})
			if err != nil {
				t.Fatal(err)
			}
			if got.Playbook != tc.want.Playbook || got.DryRun != tc.want.DryRun || got.Status != tc.want.Status || got.Detail != tc.want.Detail ||
				strings.Join(got.Steps, "\n") != strings.Join(tc.want.Steps, "\n") {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			if reads != tc.reads {
				t.Errorf("snapshot read %d times, want %d", reads, tc.reads)
			}
			if len(tc.labels) != before {
				t.Errorf("Propose changed the caller's labels: %v", tc.labels)
			}
		})
	}
}

// TestPlannerGuardsAndClock: a planner judges the guards it is given at
// the time it is given (a maintenance window over the snapshot's time
// refuses; the same plan an hour later does not), and it cannot act.
func TestPlannerGuardsAndClock(t *testing.T) {
	s := cluster(t)
	g, err := DefaultGuards()
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxUnhealthy != rules.DefaultMaxUnhealthy || g.Cooldown != rules.DefaultCooldown || len(g.ProtectedNamespaces) != 1 {
		t.Fatalf("default guards: %+v", g)
	}
	g.Maintenance = []rules.MaintenanceWindow{{Name: "upgrade", Start: "2026-03-02T09:30:00Z", End: "2026-03-02T10:30:00Z"}}
	labels := map[string]string{"alertname": "KubeNodeNotReady", "node": "worker-5"}
	for _, tc := range []struct {
		now   time.Time
		state ledger.State
		guard string
	}{
		{clusterAt, ledger.Refused, "refused by guard maintenance: maintenance window upgrade"},
		{clusterAt.Add(time.Hour), ledger.Planned, ""},
	} {
		pl, err := NewPlanner(PlannerOptions{Playbooks: shipped(t), Guards: &g, Now: tc.now,
			Snapshot: func(context.Context) (*snapshot.Snapshot, error) { return s, nil }})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := pl.Plan(context.Background(), labels, nil)
		if err != nil || rec == nil {
			t.Fatalf("%v: %v %v", tc.now, rec, err)
		}
		if rec.State != tc.state || !strings.HasPrefix(rec.Message, tc.guard) || !rec.CreatedAt.Equal(tc.now) || !rec.DryRun {
			t.Errorf("at %v: state %s, message %q, created %v", tc.now, rec.State, rec.Message, rec.CreatedAt)
		}
		if _, err := pl.eng.Alerts(context.Background(), &remediation.WebhookMessage{}); err == nil {
			t.Error("a planner took an alert for a decision")
		}
	}
	for _, a := range []planOnly{"cordon", "oncall"} {
		if _, err := a.Do(context.Background(), remediation.Request{}); err == nil {
			t.Errorf("%s acted", a)
		}
		if _, err := a.Send(context.Background(), remediation.Notice{}); err == nil {
			t.Errorf("%s paged", a)
		}
	}
}

func TestFindingFor(t *testing.T) {
	s := cluster(t)
	st, err := Configure(nil)
	if err != nil {
		t.Fatal(err)
	}
	noUnreachable := st
	noUnreachable.Checks = nil
	for _, c := range st.Checks {
		if c.Meta().ID != "node.unreachable" {
			noUnreachable.Checks = append(noUnreachable.Checks, c)
		}
	}
	for _, tc := range []struct {
		name  string
		st    Settings
		check string
		obj   checks.ObjectRef
		err   string
	}{
		{"fires", st, "node.unreachable", checks.ObjectRef{Kind: "Node", Name: "worker-5"}, ""},
		{"kind in any case", st, "pod.stuck_terminating", checks.ObjectRef{Kind: "pod", Namespace: "shop", Name: "db-0"}, ""},
		{"fires elsewhere", st, "node.unreachable", checks.ObjectRef{Kind: "Node", Name: "worker-1"},
			"check node.unreachable does not fire on Node/worker-1 in this snapshot (it fires on Node/worker-5)"},
		{"fires nowhere", st, "node.not_ready", checks.ObjectRef{Kind: "Node", Name: "worker-1"}, "check node.not_ready does not fire on Node/worker-1 in this snapshot"},
		{"unknown", st, "node.flying", checks.ObjectRef{Kind: "Node", Name: "worker-1"}, `unknown check "node.flying"`},
		{"disabled", noUnreachable, "node.unreachable", checks.ObjectRef{Kind: "Node", Name: "worker-5"}, "check node.unreachable is disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := FindingFor(context.Background(), s, tc.st, tc.check, tc.obj, nil)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err && !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || f.Check != tc.check || f.Object.Name != tc.obj.Name || f.Status != checks.Firing {
				t.Errorf("%+v, %v", f, err)
			}
		})
	}
}
