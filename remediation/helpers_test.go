package remediation

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// fakeAction records what it was asked and can be told the effect is in
// place (Done) or to fail.
type fakeAction struct {
	name string
	mu   sync.Mutex
	reqs []Request
	done map[string]bool // target -> effect in place
	err  error
}

func newFake(name string) *fakeAction { return &fakeAction{name: name, done: map[string]bool{}} }

func (f *fakeAction) Name() string { return f.name }

func (f *fakeAction) Do(_ context.Context, req Request) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	call := ledger.Call{Verb: "patch", Resource: "nodes", Name: req.Target.Name, ResourceVersionBefore: "10", ResourceVersionAfter: "11", DryRun: req.DryRun, At: time.Now()}
	if f.err != nil {
		return Result{Calls: []ledger.Call{call}, Blockers: []string{"pod default/web-0: PodDisruptionBudget default/web allows 0 disruptions"}}, f.err
	}
	if !req.DryRun {
		f.done[req.Target.String()] = true
	}
	return Result{Calls: []ledger.Call{call}, Message: f.name + " " + req.Target.String()}, nil
}

func (f *fakeAction) Done(_ context.Context, req Request) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done[req.Target.String()] {
		return true, "in place", nil
	}
	return false, "not in place", nil
}

func (f *fakeAction) writes() (n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.reqs {
		if !r.DryRun {
			n++
		}
	}
	return n
}

func (f *fakeAction) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

type fakePager struct {
	mu      sync.Mutex
	notices []Notice
}

func (p *fakePager) Type() string { return "webhook" }

func (p *fakePager) Send(_ context.Context, n Notice) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notices = append(p.notices, n)
	return 1, nil
}

func (p *fakePager) sent() []Notice {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Notice(nil), p.notices...)
}

// cluster is a mutable snapshot source.
type cluster struct {
	mu   sync.Mutex
	snap *snapshot.Snapshot
}

func (c *cluster) get(context.Context) *snapshot.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

func (c *cluster) setReady(name string, ready bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := *c.snap
	s.Nodes = append([]snapshot.Node(nil), s.Nodes...)
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			s.Nodes[i] = node(name, ready, s.Nodes[i].Labels)
		}
	}
	c.snap = &s
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func node(name string, ready bool, labels map[string]string) snapshot.Node {
	st, reason := "True", "KubeletReady"
	hb := t0
	if !ready {
		st, reason, hb = "Unknown", "NodeStatusUnknown", t0.Add(-10*time.Minute)
	}
	return snapshot.Node{
		Meta: snapshot.Meta{Name: name, UID: "uid-" + name, CreationTimestamp: t0.Add(-24 * time.Hour), Labels: labels},
		Conditions: []snapshot.Condition{{Type: "Ready", Status: st, Reason: reason, Message: "Kubelet stopped posting node status.",
			LastTransitionTime: t0.Add(-10 * time.Minute), LastHeartbeatTime: hb}},
	}
}

// fleet has n worker nodes (notReady of them NotReady) and one
// control-plane node.
func fleet(n int, notReady ...string) *cluster {
	s := &snapshot.Snapshot{ID: "test", Cluster: "test", CollectedAt: t0}
	bad := map[string]bool{}
	for _, b := range notReady {
		bad[b] = true
	}
	for i := range n {
		name := "worker-" + string(rune('a'+i))
		s.Nodes = append(s.Nodes, node(name, !bad[name], nil))
	}
	s.Nodes = append(s.Nodes, node("cp-0", !bad["cp-0"], map[string]string{"node-role.kubernetes.io/control-plane": ""}))
	return &cluster{snap: s}
}

const nodePlaybook = `apiVersion: kubepatrol.io/v1
kind: Playbook
name: node-not-ready
version: "7"
enabled: true
trigger:
  alerts:
    - alertname: KubeNodeNotReady
  checks: [node.not_ready, node.unreachable]
  object:
    kind: Node
diagnosis:
  checks: [node.not_ready, node.unreachable]
  require: true
steps:
  - name: cordon_node
    action: cordon
  - name: drain_node
    action: drain
    risk: high
verify:
  checks: [node.not_ready, node.unreachable]
  timeout: 300ms
  interval: 50ms
escalate:
  pagers: [oncall]
  severity: critical
guards:
  cooldown: 1h
  rate_limit: {max: 3, per: 1h}
  max_unhealthy: 30%
`

func parsePB(t *testing.T, yaml string, mutate ...func(*rules.Playbook)) *rules.Playbook {
	t.Helper()
	pb, err := rules.ParsePlaybook("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(pb)
	}
	return pb
}

type rig struct {
	eng    *Engine
	led    *ledger.Ledger
	cordon *fakeAction
	drain  *fakeAction
	pager  *fakePager
	cl     *cluster
	cancel context.CancelFunc
	done   chan struct{}
}

func guardsCfg() rules.GuardsConfig {
	return rules.GuardsConfig{
		Cooldown: "1h", RateLimit: &rules.RateLimit{Max: 20, Per: "1h"}, MaxUnhealthy: "30%",
		ProtectedNamespaces: []string{"kube-system"}, ProtectedNodeLabels: rules.DefaultProtectedNodeLabels,
	}
}

func newRig(t *testing.T, cl *cluster, pbs []*rules.Playbook, tweak ...func(*Options)) *rig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	return openRig(t, path, cl, pbs, tweak...)
}

func openRig(t *testing.T, path string, cl *cluster, pbs []*rules.Playbook, tweak ...func(*Options)) *rig {
	return newRigFor(t, path, cl, pbs, tweak...)
}

func newRigFor(t testing.TB, path string, cl *cluster, pbs []*rules.Playbook, tweak ...func(*Options)) *rig {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Config{Driver: "sqlite", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{led: l, cordon: newFake("cordon"), drain: newFake("drain"), pager: &fakePager{}, cl: cl}
	opt := Options{
		Cluster: "test", Ledger: l, Actions: map[string]Action{"cordon": r.cordon, "drain": r.drain},
		Pagers: map[string]Pager{"oncall": r.pager}, Playbooks: pbs, Guards: guardsCfg(), Snapshot: cl.get,
		StepBackoff: time.Millisecond, ApprovalTimeout: time.Hour,
	}
	for _, tw := range tweak {
		tw(&opt)
	}
	if r.eng, err = New(opt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := r.eng.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("engine: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	// Let Run queue what the ledger holds unfinished first: a decision
	// made before that would race with it (a record whose worker a test
	// kills could be picked up again before the test stops the engine).
	select {
	case <-r.eng.resumed:
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not start")
	}
	return r
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
		r.led.Close()
	}
}

func alert(name, node, status string) Alert {
	return Alert{
		Status: status, Labels: map[string]string{"alertname": name, "node": node, "severity": "warning"},
		Annotations: map[string]string{"summary": node + " is unready"},
		StartsAt:    t0.Add(-15 * time.Minute), GeneratorURL: "http://prometheus/graph?g0.expr=x",
		Fingerprint: "fp-" + name + "-" + node,
	}
}

func message(status string, alerts ...Alert) *WebhookMessage {
	return &WebhookMessage{Version: "4", Status: status, Receiver: "patrol", GroupKey: "{}:{alertname=\"KubeNodeNotReady\"}", Alerts: alerts}
}

// waitState polls the ledger until the record reaches a state.
func (r *rig) waitState(t *testing.T, id string, want ...ledger.State) *ledger.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := r.led.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if rec.State == w {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %s: state %s, want %v (%s)", id, rec.State, want, rec.Message)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refusedBy(rec *ledger.Record) string {
	for _, v := range rec.Guards {
		if !v.Allowed {
			return v.Guard
		}
	}
	return ""
}

var _ = checks.Warning

var snapshotEmpty = snapshot.Snapshot{ID: "empty", CollectedAt: t0}

func refNode(name string) checks.ObjectRef { return checks.ObjectRef{Kind: "Node", Name: name} }
