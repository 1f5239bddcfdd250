package remediation

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

func decideOne(t *testing.T, r *rig, a Alert) Outcome {
	t.Helper()
	outs, err := r.eng.Alerts(context.Background(), message(a.Status, a))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("outcomes: %+v", outs)
	}
	return outs[0]
}

// A node goes NotReady: cordon, the node comes back, verified healthy.
func TestAlertCordonsAndVerifies(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) {
		p.Steps = p.Steps[:1] // cordon only
	})}, func(o *Options) {
		o.AfterAction = func(*ledger.Record, int) { cl.setReady("worker-c", true) }
	})
	o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	if o.Result != "decided" || o.State != ledger.Running || o.Playbook != "node-not-ready" {
		t.Fatalf("outcome %+v", o)
	}
	rec := r.waitState(t, o.RecordID, ledger.Succeeded)
	if r.cordon.writes() != 1 {
		t.Errorf("cordon writes = %d, want 1", r.cordon.writes())
	}
	st := rec.Steps[0]
	if st.Status != ledger.StepDone || len(st.Calls) != 1 || st.Calls[0].ResourceVersionBefore != "10" || st.Calls[0].ResourceVersionAfter != "11" {
		t.Errorf("step %+v", st)
	}
	if rec.Verification == nil || rec.Verification.Status != "healthy" {
		t.Errorf("verification %+v", rec.Verification)
	}
	if len(rec.Findings) == 0 || rec.Findings[0].Check != "node.unreachable" {
		t.Errorf("diagnosis findings %+v", rec.Findings)
	}
	if rec.Trigger.Alertname != "KubeNodeNotReady" || rec.Target.String() != "Node/worker-c" || rec.PlaybookVersion != "7" || rec.DryRun {
		t.Errorf("record header %+v", rec)
	}
	if len(rec.Evidence) == 0 || rec.Evidence[0].Type != "alert" {
		t.Errorf("evidence %+v", rec.Evidence)
	}
	if len(r.pager.sent()) != 0 {
		t.Errorf("pages sent for a recovered node: %+v", r.pager.sent())
	}
	// The same alert again (Alertmanager repeats) is deduplicated.
	o2 := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	if o2.Result != "duplicate" || o2.RecordID != o.RecordID {
		t.Errorf("repeat: %+v", o2)
	}
	if r.cordon.writes() != 1 {
		t.Errorf("repeat cordoned again")
	}
}

// A disabled playbook dry-runs: the action is asked for a dry run only,
// nothing is paged, and the record is a plan.
func TestDisabledPlaybookDryRuns(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Enabled = false })})
	o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	rec := r.waitState(t, o.RecordID, ledger.Planned)
	if r.cordon.writes() != 0 || r.cordon.calls() != 1 {
		t.Errorf("cordon: %d writes, %d calls; want a single dry-run call", r.cordon.writes(), r.cordon.calls())
	}
	if !rec.DryRun || rec.Steps[0].Status != ledger.StepDryRun || !rec.Steps[0].Calls[0].DryRun {
		t.Errorf("record %+v", rec.Steps)
	}
	// The high-risk drain is planned too, without waiting for approval.
	if rec.Steps[1].Status != ledger.StepDryRun {
		t.Errorf("drain step %+v", rec.Steps[1])
	}
	if len(r.pager.sent()) != 0 {
		t.Errorf("a dry run paged: %+v", r.pager.sent())
	}
	if len(rec.Pages) != 1 || rec.Pages[0].Status != "dry_run" {
		t.Errorf("pages %+v", rec.Pages)
	}
	if g := rec.Guards[len(rec.Guards)-1]; g.Guard != GuardDryRun {
		t.Errorf("last verdict %+v, want the dry-run note", g)
	}
}

// Half the nodes NotReady at once: nothing is cordoned, one page.
func TestMaxUnhealthyPagesOnce(t *testing.T) {
	bad := []string{"worker-a", "worker-b", "worker-c", "worker-d", "worker-e"}
	cl := fleet(10, bad...)
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook)})
	var alerts []Alert
	for _, n := range bad {
		alerts = append(alerts, alert("KubeNodeNotReady", n, "firing"))
	}
	outs, err := r.eng.Alerts(context.Background(), message("firing", alerts...))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.State != ledger.Refused {
			t.Errorf("%s: %s, want refused", o.Fingerprint, o.State)
		}
		rec, _ := r.led.Get(context.Background(), o.RecordID)
		if refusedBy(rec) != GuardMaxUnhealthy {
			t.Errorf("%s refused by %q: %s", o.RecordID, refusedBy(rec), rec.Message)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if r.cordon.calls() != 0 {
		t.Errorf("cordon called %d times", r.cordon.calls())
	}
	pages := r.pager.sent()
	if len(pages) != 1 || !strings.Contains(pages[0].Summary, "Many Nodes unhealthy") {
		t.Fatalf("pages: %+v", pages)
	}
	// All resolve: the storm page resolves.
	var resolved []Alert
	for _, a := range alerts {
		a.Status = "resolved"
		resolved = append(resolved, a)
	}
	if _, err := r.eng.Alerts(context.Background(), message("resolved", resolved...)); err != nil {
		t.Fatal(err)
	}
	pages = r.pager.sent()
	if len(pages) != 2 || pages[1].Action != "resolve" || pages[1].DedupKey != pages[0].DedupKey {
		t.Errorf("after resolve: %+v", pages)
	}
}

func TestGuardsRefuse(t *testing.T) {
	tests := []struct {
		name  string
		node  string
		guard string
		tweak func(*Options)
		pb    func(*rules.Playbook)
	}{
		{name: "control-plane node is protected", node: "cp-0", guard: GuardProtected},
		{name: "paused", node: "worker-c", guard: GuardPause, tweak: func(o *Options) { o.Guards.Paused = true }},
		{name: "protected by name", node: "worker-c", guard: GuardProtected, tweak: func(o *Options) { o.Guards.ProtectedNodes = []string{"worker-*"} }},
		{name: "maintenance window", node: "worker-c", guard: GuardMaintenance, tweak: func(o *Options) {
			o.Guards.Maintenance = []rules.MaintenanceWindow{{Name: "upgrade", Start: time.Now().Add(-time.Hour).Format(time.RFC3339), End: time.Now().Add(time.Hour).Format(time.RFC3339)}}
		}},
		{name: "recurring maintenance", node: "worker-c", guard: GuardMaintenance, tweak: func(o *Options) {
			o.Guards.Maintenance = []rules.MaintenanceWindow{{Name: "always", Schedule: "@every 1m", Duration: "2m"}}
		}},
		{name: "no inventory", node: "worker-c", guard: GuardMaxUnhealthy, tweak: func(o *Options) {
			o.Snapshot = (&cluster{snap: &snapshotEmpty}).get
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := fleet(9, "worker-c", "cp-0")
			var tw []func(*Options)
			if tc.tweak != nil {
				tw = append(tw, tc.tweak)
			}
			r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook)}, tw...)
			o := decideOne(t, r, alert("KubeNodeNotReady", tc.node, "firing"))
			rec := r.waitState(t, o.RecordID, ledger.Refused)
			if got := refusedBy(rec); got != tc.guard {
				t.Errorf("refused by %q, want %q: %s", got, tc.guard, rec.Message)
			}
			if r.cordon.calls() != 0 {
				t.Errorf("cordon called")
			}
			for _, s := range rec.Steps {
				if s.Status != ledger.StepSkipped {
					t.Errorf("step %s: %s", s.Name, s.Status)
				}
			}
		})
	}
}

// Cooldown and rate limits: the same target twice within the cooldown is
// refused; a playbook over its rate limit is refused.
func TestCooldownAndRateLimit(t *testing.T) {
	cl := fleet(20, "worker-a", "worker-b", "worker-c", "worker-d")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) {
		p.Steps = p.Steps[:1]
		p.Verify = nil
	})})
	first := decideOne(t, r, alert("KubeNodeNotReady", "worker-a", "firing"))
	r.waitState(t, first.RecordID, ledger.Succeeded)
	again := alert("KubeNodeUnreachable", "worker-a", "firing")
	again.Labels["alertname"] = "KubeNodeNotReady"
	again.Fingerprint = "other"
	o := decideOne(t, r, again)
	rec := r.waitState(t, o.RecordID, ledger.Refused)
	if refusedBy(rec) != GuardCooldown {
		t.Errorf("second run on worker-a refused by %q, want cooldown: %s", refusedBy(rec), rec.Message)
	}
	for _, n := range []string{"worker-b", "worker-c"} {
		o := decideOne(t, r, alert("KubeNodeNotReady", n, "firing"))
		r.waitState(t, o.RecordID, ledger.Succeeded)
	}
	o = decideOne(t, r, alert("KubeNodeNotReady", "worker-d", "firing"))
	rec = r.waitState(t, o.RecordID, ledger.Refused)
	if refusedBy(rec) != GuardRatePlaybook {
		t.Errorf("fourth run refused by %q, want the playbook rate limit: %s", refusedBy(rec), rec.Message)
	}
	if r.cordon.writes() != 3 {
		t.Errorf("cordons = %d, want 3", r.cordon.writes())
	}
}

// A high-risk step waits for approval, then runs.
func TestApproval(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Verify = nil })})
	o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	rec := r.waitState(t, o.RecordID, ledger.AwaitingApproval)
	if rec.Steps[0].Status != ledger.StepDone || rec.Steps[1].Status != ledger.StepAwaitingApproval {
		t.Fatalf("steps %+v", rec.Steps)
	}
	if r.drain.calls() != 0 {
		t.Fatal("drain ran before approval")
	}
	if _, err := r.eng.Approve(context.Background(), "rec-doesnotexist", "x"); err == nil {
		t.Error("approving an unknown record succeeded")
	}
	if _, err := r.eng.Approve(context.Background(), o.RecordID, "alice"); err != nil {
		t.Fatal(err)
	}
	rec = r.waitState(t, o.RecordID, ledger.Succeeded)
	if rec.Steps[1].ApprovedBy != "alice" || rec.Steps[1].Status != ledger.StepDone || r.drain.writes() != 1 {
		t.Errorf("after approval: %+v, drains %d", rec.Steps[1], r.drain.writes())
	}
	if _, err := r.eng.Approve(context.Background(), o.RecordID, "bob"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("second approval: %v", err)
	}
}

// Verification times out: the playbook escalates, and the alert's
// resolution resolves the page.
func TestVerifyFailsEscalates(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Steps = p.Steps[:1] })})
	a := alert("KubeNodeNotReady", "worker-c", "firing")
	o := decideOne(t, r, a)
	rec := r.waitState(t, o.RecordID, ledger.Escalated)
	if rec.Verification.Status != "unhealthy" || rec.Verification.Attempts < 2 {
		t.Errorf("verification %+v", rec.Verification)
	}
	pages := r.pager.sent()
	if len(pages) != 1 || pages[0].Action != "trigger" || pages[0].Severity != "critical" || pages[0].RecordID != rec.ID {
		t.Fatalf("pages %+v", pages)
	}
	if pages[0].DedupKey != "kubepatrol/test/"+a.Fingerprint {
		t.Errorf("dedup key %q", pages[0].DedupKey)
	}
	if ev, ok := pages[0].Details["evidence"].([]string); !ok || len(ev) == 0 {
		t.Errorf("page carries no evidence: %+v", pages[0].Details)
	}
	a.Status = "resolved"
	if _, err := r.eng.Alerts(context.Background(), message("resolved", a)); err != nil {
		t.Fatal(err)
	}
	pages = r.pager.sent()
	if len(pages) != 2 || pages[1].Action != "resolve" || pages[1].DedupKey != pages[0].DedupKey {
		t.Errorf("resolve: %+v", pages)
	}
	rec, _ = r.led.Get(context.Background(), rec.ID)
	if n := len(rec.Pages); n != 2 {
		t.Errorf("record pages %d, want trigger and resolve", n)
	}
}

// A failing action: terminal errors stop the playbook, name the blocker
// and page; retryable ones are retried.
func TestActionFailure(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Steps = p.Steps[:1] })})
	r.cordon.err = Retryable(errors.New("the server is currently unable to handle the request"))
	o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	rec := r.waitState(t, o.RecordID, ledger.Failed)
	if r.cordon.calls() != 3 || rec.Steps[0].Attempts != 3 {
		t.Errorf("retryable: %d calls, %d attempts; want 3", r.cordon.calls(), rec.Steps[0].Attempts)
	}
	if !strings.Contains(rec.Message, "PodDisruptionBudget default/web") || len(rec.Steps[0].Blockers) != 1 {
		t.Errorf("blockers not recorded: %s %+v", rec.Message, rec.Steps[0])
	}
	if len(r.pager.sent()) != 1 {
		t.Errorf("no page for a failed step")
	}
}

// The daemon dies between an action's write and the record of its
// outcome: after a restart the step is reconciled from the cluster, not
// repeated, and there is still one record.
func TestCrashBetweenIntentAndOutcome(t *testing.T) {
	cl := fleet(9, "worker-c")
	pbs := []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Steps = p.Steps[:1]; p.Verify = nil })}
	path := t.TempDir() + "/ledger.db"
	crashed := make(chan struct{})
	r := openRig(t, path, cl, pbs, func(o *Options) {
		o.AfterAction = func(*ledger.Record, int) {
			close(crashed)
			runtime.Goexit() // the worker dies here: no outcome is written
		}
	})
	o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
	<-crashed
	time.Sleep(50 * time.Millisecond)
	r.stop()
	cordon := r.cordon
	// On disk: one record, its step's intent without an outcome.
	l, err := ledger.Open(context.Background(), ledger.Config{Driver: "sqlite", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := l.Get(context.Background(), o.RecordID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Steps[0].Status != ledger.StepIntent {
		t.Fatalf("before restart: step %s, want intent", rec.Steps[0].Status)
	}
	l.Close()

	// The restarted daemon's cordon sees the cluster as the crash left it.
	after := newFake("cordon")
	after.done = cordon.done
	r2 := openRig(t, path, cl, pbs, func(o *Options) { o.Actions = map[string]Action{"cordon": after, "drain": newFake("drain")} })
	r2.cordon = after
	rec = r2.waitState(t, o.RecordID, ledger.Succeeded)
	if rec.Steps[0].Status != ledger.StepReconciled || !strings.Contains(rec.Steps[0].Message, "not repeated") {
		t.Errorf("step after restart: %+v", rec.Steps[0])
	}
	if r2.cordon.calls() != 0 || cordon.writes() != 1 {
		t.Errorf("cordon repeated: %d + %d calls", cordon.writes(), r2.cordon.calls())
	}
	all, err := r2.led.List(context.Background(), ledger.Filter{})
	if err != nil || len(all) != 1 {
		t.Errorf("records: %d (%v), want 1", len(all), err)
	}
}

// A finding from a sweep goes through the same engine.
func TestFindingTrigger(t *testing.T) {
	cl := fleet(9, "worker-c")
	r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Steps = p.Steps[:1]; p.Verify = nil })})
	fs := r.eng.runChecks(context.Background(), []string{"node.unreachable"}, refNode("worker-c"), false)
	if len(fs) != 1 {
		t.Fatalf("node.unreachable on worker-c: %+v", fs)
	}
	o, err := r.eng.Finding(context.Background(), fs[0])
	if err != nil || o.Result != "decided" {
		t.Fatalf("%+v %v", o, err)
	}
	rec := r.waitState(t, o.RecordID, ledger.Succeeded)
	if rec.Trigger.Source != "finding" || rec.Trigger.Check != "node.unreachable" || rec.Target.String() != "Node/worker-c" {
		t.Errorf("trigger %+v target %s", rec.Trigger, rec.Target)
	}
	o2, _ := r.eng.Finding(context.Background(), fs[0])
	if o2.Result == "decided" {
		rec2 := r.waitState(t, o2.RecordID, ledger.Refused)
		if refusedBy(rec2) != GuardCooldown {
			t.Errorf("second finding: %s", rec2.Message)
		}
	}
}

// An alert can run ahead of what the checks see: a required diagnosis
// waits for confirmation, and refuses (and pages) when none comes.
func TestDiagnosisWaits(t *testing.T) {
	t.Run("confirmed late", func(t *testing.T) {
		cl := fleet(9)
		r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) {
			p.Steps, p.Verify, p.Diagnosis.Wait = p.Steps[:1], nil, "10s"
		})}, func(o *Options) { o.ResumeEvery = 20 * time.Millisecond })
		o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
		time.Sleep(100 * time.Millisecond)
		if r.cordon.calls() != 0 {
			t.Fatal("acted before the diagnosis confirmed the fault")
		}
		cl.setReady("worker-c", false)
		rec := r.waitState(t, o.RecordID, ledger.Succeeded)
		if len(rec.Findings) == 0 || r.cordon.writes() != 1 {
			t.Errorf("findings %d, cordons %d", len(rec.Findings), r.cordon.writes())
		}
	})
	t.Run("never confirmed", func(t *testing.T) {
		cl := fleet(9)
		r := newRig(t, cl, []*rules.Playbook{parsePB(t, nodePlaybook, func(p *rules.Playbook) { p.Diagnosis.Wait = "100ms" })},
			func(o *Options) { o.ResumeEvery = 20 * time.Millisecond })
		o := decideOne(t, r, alert("KubeNodeNotReady", "worker-c", "firing"))
		rec := r.waitState(t, o.RecordID, ledger.Refused)
		if refusedBy(rec) != GuardDiagnosis || r.cordon.calls() != 0 || len(r.pager.sent()) != 1 {
			t.Errorf("refused by %q, %d cordons, %d pages", refusedBy(rec), r.cordon.calls(), len(r.pager.sent()))
		}
	})
}
