package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// PlannerOptions configure a Planner: the playbooks and guards a daemon
// would run with, the checks it would diagnose with, and the snapshot to
// judge.
type PlannerOptions struct {
	Playbooks []*rules.Playbook
	// Guards are the daemon config's remediation.guards; nil means the
	// defaults a daemon config without them gets.
	Guards *rules.GuardsConfig
	// Settings are the enabled checks and their parameters (diagnosis).
	Settings Settings
	Cluster  string
	// Snapshot reads the cluster picture; it is called at most once, and
	// only when a playbook matches.
	Snapshot func(ctx context.Context) (*snapshot.Snapshot, error)
	// DryRun judges every playbook as a dry run (the daemon config's
	// remediation.dry_run). Either way nothing can act: the planner has no
	// ledger and its actions and pagers only refuse; an enabled playbook is
	// just judged the way patrold would judge it.
	DryRun bool
	// Now is the time guards are judged at (maintenance windows); zero
	// means the wall clock.
	Now          time.Time
	CheckTimeout time.Duration
	Logger       *slog.Logger
}

// Planner says what the remediation engine would do, without a ledger and
// without any way to act: its actions and pagers only refuse. It backs
// `patrol remediate --dry-run` and the runbook's playbook proposal.
type Planner struct {
	eng  *remediation.Engine
	snap *onceSnapshot
}

// DefaultGuards returns the guards a daemon config that sets none gets.
func DefaultGuards() (rules.GuardsConfig, error) {
	c, err := rules.ParseDaemonConfig("(defaults)", []byte("{}"))
	if err != nil {
		return rules.GuardsConfig{}, fmt.Errorf("default guards: %w", err)
	}
	return c.Remediation.Guards, nil
}

// NewPlanner builds a ledger-less engine over the playbooks.
func NewPlanner(o PlannerOptions) (*Planner, error) {
	if o.Snapshot == nil {
		return nil, errors.New("planner: a snapshot source is required")
	}
	var g rules.GuardsConfig
	if o.Guards != nil {
		g = *o.Guards
	} else {
		var err error
		if g, err = DefaultGuards(); err != nil {
			return nil, err
		}
	}
	// A step's action and a playbook's pagers must exist for the engine to
	// take the playbook; here they exist only to be named, never called.
	acts := map[string]remediation.Action{}
	pagers := map[string]remediation.Pager{}
	for _, pb := range o.Playbooks {
		for _, st := range pb.Steps {
			acts[st.Action] = planOnly(st.Action)
		}
		if pb.Escalate != nil {
			for _, p := range pb.Escalate.Pagers {
				pagers[p] = planOnly(p)
			}
		}
	}
	var clk clock.Clock = clock.RealClock{}
	if !o.Now.IsZero() {
		clk = fixedClock{now: o.Now}
	}
	snap := &onceSnapshot{load: o.Snapshot}
	catalogue := o.Settings.Checks
	if catalogue == nil {
		catalogue = catalog.All()
	}
	eng, err := remediation.New(remediation.Options{
		Cluster: o.Cluster, Actions: acts, Pagers: pagers, Playbooks: o.Playbooks, Guards: g, DryRun: o.DryRun,
		Snapshot: snap.get, Catalog: catalogue, Params: o.Settings.Params, CheckTimeout: o.CheckTimeout,
		Clock: clk, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Planner{eng: eng, snap: snap}, nil
}

// Plan returns what the engine would decide for an alert (labels, with
// alertname) or a finding: nil when no playbook matches, an error when
// the snapshot could not be read.
func (p *Planner) Plan(ctx context.Context, labels map[string]string, f *checks.Finding) (*ledger.Record, error) {
	rec := p.eng.Plan(ctx, labels, f)
	if err := p.snap.loadErr(); err != nil {
		return nil, err
	}
	return rec, nil
}

// FindingFor runs one check over s and returns its finding on obj (kind
// compared case-insensitively; obj.Namespace empty for cluster-scoped
// kinds). It fails when the check is unknown or disabled, could not judge,
// or does not fire on obj.
func FindingFor(ctx context.Context, s *snapshot.Snapshot, st Settings, check string, obj checks.ObjectRef, log *slog.Logger) (*checks.Finding, error) {
	if _, ok := catalog.ByID()[check]; !ok {
		return nil, fmt.Errorf("unknown check %q (see `patrol checks list`)", check)
	}
	sel, err := catalog.Select(st.Checks, []string{check}, nil)
	if err != nil || len(sel) == 0 {
		return nil, fmt.Errorf("check %s is disabled in this configuration", check)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := (&checks.Runner{Checks: sel, Params: st.Params, Logger: log}).Run(ctx, s)
	var elsewhere []string
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Check != check {
			continue
		}
		same := strings.EqualFold(f.Object.Kind, obj.Kind) && f.Object.Namespace == obj.Namespace && f.Object.Name == obj.Name
		switch {
		case f.Status == checks.Unknown && (same || f.Object.Name == ""):
			return nil, fmt.Errorf("check %s could not judge %s: %s", check, obj, f.Message)
		case same:
			return f, nil
		case f.Status == checks.Firing:
			elsewhere = append(elsewhere, f.Object.String())
		}
	}
	msg := fmt.Sprintf("check %s does not fire on %s in this snapshot", check, obj)
	if n := len(elsewhere); n > 0 {
		if n > 5 {
			elsewhere = append(elsewhere[:5], fmt.Sprintf("and %d more", n-5))
		}
		msg += " (it fires on " + strings.Join(elsewhere, ", ") + ")"
	}
	return nil, errors.New(msg)
}

// Proposer is the PlaybookProposer of `patrol runbook`: it plans the
// alert with the remediation engine as a dry run.
type Proposer struct {
	Playbooks []*rules.Playbook
	// Guards nil means the default guards.
	Guards   *rules.GuardsConfig
	Settings Settings
	// Snapshot reads the cluster the runbook judged; it is called only
	// when a playbook matches the alert.
	Snapshot func(ctx context.Context) (*snapshot.Snapshot, error)
	Logger   *slog.Logger
}

// Propose plans the alert (its labels, alertname added when missing). The
// guards are judged at the diagnosis' collection time when there is one.
func (p *Proposer) Propose(ctx context.Context, alert string, labels map[string]string, d *analysis.Diagnosis) (*PlaybookProposal, error) {
	ls := maps.Clone(labels)
	if ls == nil {
		ls = map[string]string{}
	}
	if ls["alertname"] == "" {
		ls["alertname"] = alert
	}
	var now time.Time
	if d != nil {
		now = d.CollectedAt
	}
	pl, err := NewPlanner(PlannerOptions{Playbooks: p.Playbooks, Guards: p.Guards, Settings: p.Settings,
		Snapshot: p.Snapshot, Now: now, Logger: p.Logger})
	if err != nil {
		return nil, err
	}
	rec, err := pl.Plan(ctx, ls, nil)
	if err != nil {
		return &PlaybookProposal{Status: "unavailable", DryRun: true, Detail: "cannot read the cluster for the plan: " + err.Error()}, nil
	}
	return ProposalOf(rec, ls["alertname"]), nil
}

// ProposalOf summarises a plan (nil: no playbook matched alert).
func ProposalOf(rec *ledger.Record, alert string) *PlaybookProposal {
	if rec == nil {
		return &PlaybookProposal{Status: "none", DryRun: true, Steps: []string{}, Detail: "no playbook matches alert " + alert}
	}
	p := &PlaybookProposal{Playbook: rec.Playbook, DryRun: true, Status: "proposed", Steps: []string{}, Detail: rec.Message}
	for _, s := range rec.Steps {
		if s.Status == ledger.StepDryRun {
			p.Steps = append(p.Steps, s.Message)
			continue
		}
		p.Steps = append(p.Steps, fmt.Sprintf("%s %s (%s): %s", s.Status, s.Name, s.Action, s.Message))
	}
	return p
}

// onceSnapshot reads the snapshot on first use and keeps it (and its
// error) for the engine's later calls.
type onceSnapshot struct {
	load func(ctx context.Context) (*snapshot.Snapshot, error)
	once sync.Once
	s    *snapshot.Snapshot
	err  error
}

// A failed read gives the engine an empty snapshot (nothing could be read,
// which its guards judge as such); Plan then reports the error instead of
// the plan.
func (o *onceSnapshot) get(ctx context.Context) *snapshot.Snapshot {
	o.once.Do(func() {
		o.s, o.err = o.load(ctx)
		if o.s == nil && o.err == nil {
			o.err = errors.New("no snapshot")
		}
		if o.err != nil {
			o.s = &snapshot.Snapshot{}
		}
	})
	return o.s
}

// loadErr is the read's error, nil when it succeeded or never ran.
func (o *onceSnapshot) loadErr() error { return o.err }

// planOnly stands in for an action or pager a plan names but never runs.
type planOnly string

var errPlanOnly = errors.New("planning only: this engine never acts (acting is patrold's)")

func (a planOnly) Name() string { return string(a) }
func (a planOnly) Type() string { return "plan" }
func (a planOnly) Do(context.Context, remediation.Request) (remediation.Result, error) {
	return remediation.Result{}, errPlanOnly
}
func (a planOnly) Done(context.Context, remediation.Request) (bool, string, error) {
	return false, "", errPlanOnly
}
func (a planOnly) Send(context.Context, remediation.Notice) (int, error) { return 0, errPlanOnly }

// fixedClock is a clock stopped at now: plans of a recording are judged
// at its time. Only Now and Since are fixed; a plan uses nothing else.
type fixedClock struct {
	clock.RealClock
	now time.Time
}

func (c fixedClock) Now() time.Time                  { return c.now }
func (c fixedClock) Since(t time.Time) time.Duration { return c.now.Sub(t) }
