// Package remediation turns alerts and findings into decisions: it
// matches them to playbooks, passes every decision through one guard
// layer, runs the playbook's steps through Actions, verifies the result,
// pages when it is not good, and writes all of it to the evidence ledger
// (intent before each write, outcome after), so that a restarted daemon
// neither repeats nor forgets an action.
package remediation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"k8s.io/utils/clock"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// Ledger is the evidence ledger as the engine uses it
// (remediation/ledger.Ledger implements it on SQLite and PostgreSQL).
type Ledger interface {
	Create(ctx context.Context, r *ledger.Record) error
	Update(ctx context.Context, r *ledger.Record) error
	Get(ctx context.Context, id string) (*ledger.Record, error)
	List(ctx context.Context, f ledger.Filter) ([]*ledger.Record, error)
	Unfinished(ctx context.Context) ([]*ledger.Record, error)
	ObserveAlert(ctx context.Context, a ledger.AlertObservation) (*ledger.AlertObservation, error)
	CreateForAlert(ctx context.Context, r *ledger.Record, fingerprint string) error
}

var errNoLedger = errors.New("remediation: no ledger: this engine only plans")

// Options configure an Engine. Snapshot is required; without a Ledger the
// engine only plans (Plan), it cannot decide or act.
type Options struct {
	Cluster string
	Ledger  Ledger
	// Actions by playbook word (remediation/actions.Cluster).
	Actions map[string]Action
	// Pagers by the names playbooks escalate to.
	Pagers    map[string]Pager
	Playbooks []*rules.Playbook
	Guards    rules.GuardsConfig
	// DryRun forces every playbook to dry-run.
	DryRun bool
	// Snapshot returns the latest picture of the cluster (the daemon's
	// informer caches), for diagnosis, verification and guards.
	Snapshot func(ctx context.Context) *snapshot.Snapshot
	// Catalog and Params are the configured checks, run for diagnosis and
	// verification.
	Catalog      []checks.Check
	Params       map[string]checks.Params
	CheckTimeout time.Duration
	// Workers run decisions concurrently (default 4).
	Workers int
	// ApprovalTimeout bounds the wait for an approval (default 1h).
	ApprovalTimeout time.Duration
	// ReportURL is linked from pages.
	ReportURL string
	Clock     clock.Clock
	Tracer    trace.Tracer
	Logger    *slog.Logger
	Metrics   *Metrics
	// AfterAction, when set, is called after an action's write returned
	// and before its outcome is recorded (a failpoint for crash tests).
	AfterAction func(rec *ledger.Record, step int)
	// SnapshotMaxAge reuses a snapshot taken less than this ago (0: a
	// fresh one every time). The daemon sets a few seconds: building a
	// snapshot of a large cluster from the informer caches is not free.
	SnapshotMaxAge time.Duration
	// ResumeEvery is how often records nobody works on are picked up
	// again (after a restart, a full queue, a diagnosis still waiting);
	// default 15s.
	ResumeEvery time.Duration
	// StepAttempts bounds retries of a retryable action failure (default 3)
	// and StepBackoff is the first wait between them (default 2s).
	StepAttempts int
	StepBackoff  time.Duration
}

// Engine makes and carries out decisions. Make one with New; call Run to
// start the workers (on the leader only), Alerts and Findings to feed it.
type Engine struct {
	opt     Options
	log     *slog.Logger
	clock   clock.Clock
	tracer  trace.Tracer
	metrics *Metrics
	guards  *Guards
	pbs     atomic.Pointer[[]*playbook]
	queue   chan string

	mu       sync.Mutex
	inflight map[string]bool
	// firing holds the targets alerts say are sick now, by kind, with the
	// fingerprints that say so.
	firing map[string]map[string]map[string]bool
	// storms are open max-unhealthy pages by dedup key.
	storms map[string]storm

	// cache holds what is derived from one snapshot: the unhealthy
	// nodes and check results, so that a burst of decisions costs one
	// pass over the fleet, not one each.
	cacheMu sync.Mutex
	cache   snapCache

	// resumed gets a value (if it has room) each time Run has queued what
	// the ledger holds unfinished, for tests that must not race with it.
	resumed chan struct{}
}

type snapCache struct {
	snap    *snapshot.Snapshot
	taken   time.Time
	sick    map[string]bool
	results map[string][]checks.Finding
}

type storm struct {
	playbook string
	kind     string
	record   string
}

// New validates the options and builds an engine; nothing runs yet.
func New(opt Options) (*Engine, error) {
	if opt.Snapshot == nil {
		return nil, errors.New("remediation: a snapshot source is required")
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.ApprovalTimeout <= 0 {
		opt.ApprovalTimeout = time.Hour
	}
	if opt.StepAttempts <= 0 {
		opt.StepAttempts = 3
	}
	if opt.StepBackoff <= 0 {
		opt.StepBackoff = 2 * time.Second
	}
	if opt.ResumeEvery <= 0 {
		opt.ResumeEvery = 15 * time.Second
	}
	if opt.CheckTimeout <= 0 {
		opt.CheckTimeout = 10 * time.Second
	}
	e := &Engine{
		opt: opt, log: opt.Logger, clock: opt.Clock, tracer: opt.Tracer, metrics: opt.Metrics,
		queue: make(chan string, 4096), inflight: map[string]bool{}, resumed: make(chan struct{}, 1),
		firing: map[string]map[string]map[string]bool{}, storms: map[string]storm{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	if e.tracer == nil {
		e.tracer = noop.NewTracerProvider().Tracer("")
	}
	if e.metrics == nil {
		e.metrics = NewMetrics(nil)
	}
	g, err := NewGuards(opt.Guards)
	if err != nil {
		return nil, fmt.Errorf("remediation guards: %w", err)
	}
	e.guards = g
	e.metrics.Paused.Set(b2f(g.Paused()))
	if err := e.SetPlaybooks(opt.Playbooks); err != nil {
		return nil, err
	}
	return e, nil
}

// SetPlaybooks replaces the playbooks (config reload). Decisions in flight
// keep the steps they were created with.
func (e *Engine) SetPlaybooks(pbs []*rules.Playbook) error {
	for _, pb := range pbs {
		for _, st := range pb.Steps {
			if st.Action != "page" && e.opt.Actions[st.Action] == nil {
				return fmt.Errorf("playbook %s step %s: no action %q is available", pb.Name, st.Name, st.Action)
			}
			if p := st.Params["pagers"]; st.Action == "page" && p != "" {
				for _, name := range strings.Split(p, ",") {
					if e.opt.Pagers[strings.TrimSpace(name)] == nil {
						return fmt.Errorf("playbook %s step %s pages %q, which is not configured (remediation.pagers)", pb.Name, st.Name, name)
					}
				}
			}
		}
		if pb.Escalate != nil {
			for _, p := range pb.Escalate.Pagers {
				if e.opt.Pagers[p] == nil {
					return fmt.Errorf("playbook %s escalates to pager %q, which is not configured (remediation.pagers)", pb.Name, p)
				}
			}
		}
	}
	c, err := compile(pbs)
	if err != nil {
		return err
	}
	e.pbs.Store(&c)
	return nil
}

// Guards exposes the guard layer (pause switch).
func (e *Engine) Guards() *Guards { return e.guards }

// SetPaused switches the pause guard.
func (e *Engine) SetPaused(p bool) {
	e.guards.SetPaused(p)
	e.metrics.Paused.Set(b2f(p))
}

func (e *Engine) playbooks() []*playbook { return *e.pbs.Load() }

func (e *Engine) playbook(name string) *playbook {
	for _, p := range e.playbooks() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Run reconciles what the ledger holds unfinished, then runs the workers
// until ctx ends. Only the replica that may write (the leader) runs it.
func (e *Engine) Run(ctx context.Context) error {
	if e.opt.Ledger == nil {
		return errNoLedger
	}
	if err := e.seed(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range e.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-e.queue:
					e.process(ctx, id)
				}
			}
		}()
	}
	// Pick up records nobody is working on: after a restart, and any that
	// a full queue could not take.
	e.resume(ctx)
	select {
	case e.resumed <- struct{}{}:
	default:
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-e.clock.After(e.opt.ResumeEvery):
			e.dropStaleSnapshot()
			e.resume(ctx)
		}
	}
}

// seed loads recent acting runs into the guards.
func (e *Engine) seed(ctx context.Context) error {
	now := e.clock.Now()
	var raw []*rules.Playbook
	for _, p := range e.playbooks() {
		raw = append(raw, p.Playbook)
	}
	recs, err := e.opt.Ledger.List(ctx, ledger.Filter{Since: now.Add(-e.guards.Horizon(raw)), Acted: true})
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		return fmt.Errorf("ledger: %w", err)
	}
	e.guards.Seed(recs)
	return nil
}

// resume queues unfinished records that no worker holds.
func (e *Engine) resume(ctx context.Context) {
	recs, err := e.opt.Ledger.Unfinished(ctx)
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		e.log.Error("ledger: cannot list unfinished decisions", "err", err)
		return
	}
	pending := 0
	for _, r := range recs {
		if r.State == ledger.AwaitingApproval {
			pending++
		}
		e.enqueue(r.ID)
	}
	e.metrics.PendingApprovals.Set(float64(pending))
}

func (e *Engine) enqueue(id string) {
	e.mu.Lock()
	busy := e.inflight[id]
	e.mu.Unlock()
	if busy {
		return
	}
	select {
	case e.queue <- id:
	default:
		// The periodic resume picks it up.
	}
}

// Outcome is what became of one alert or finding.
type Outcome struct {
	Fingerprint string `json:"fingerprint"`
	// Result is decided, duplicate, resolved, unmatched or ignored.
	Result   string       `json:"result"`
	RecordID string       `json:"recordID,omitempty"`
	State    ledger.State `json:"state,omitempty"`
	Playbook string       `json:"playbook,omitempty"`
	Detail   string       `json:"detail,omitempty"`
}

// Alerts takes one Alertmanager webhook message. It returns once every
// alert's decision is durably recorded; the steps run in the workers. An
// error means the ledger could not record: the caller answers 5xx so that
// Alertmanager retries.
func (e *Engine) Alerts(ctx context.Context, m *WebhookMessage) ([]Outcome, error) {
	if e.opt.Ledger == nil {
		return nil, errNoLedger
	}
	now := e.clock.Now().UTC()
	// First note every firing target, so that a message carrying many
	// nodes at once is judged as a whole by the max-unhealthy guard.
	e.mu.Lock()
	for _, a := range m.Alerts {
		for _, pb := range e.playbooks() {
			if !pb.matchAlert(a.Labels) {
				continue
			}
			if t, err := pb.alertTarget(a.Labels); err == nil {
				e.markFiring(t, a.Fingerprint, a.Status == "firing")
			}
		}
	}
	e.mu.Unlock()

	out := make([]Outcome, 0, len(m.Alerts))
	for i := range m.Alerts {
		a := &m.Alerts[i]
		e.metrics.Alerts.WithLabelValues(a.Status).Inc()
		o, err := e.alert(ctx, m, a, now)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (e *Engine) alert(ctx context.Context, m *WebhookMessage, a *Alert, now time.Time) (Outcome, error) {
	start := time.Now()
	o := Outcome{Fingerprint: a.Fingerprint}
	prev, err := e.opt.Ledger.ObserveAlert(ctx, ledger.AlertObservation{
		Fingerprint: a.Fingerprint, Status: a.Status, Alertname: a.Labels["alertname"],
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, IncidentKey: a.Fingerprint, UpdatedAt: now,
	})
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		return o, fmt.Errorf("ledger: %w", err)
	}
	if a.Status == "resolved" {
		o.Result = "resolved"
		if prev == nil || prev.RecordID == "" {
			o.Detail = "no decision was made for this alert"
			return o, nil
		}
		o.RecordID = prev.RecordID
		return o, e.resolveIncident(ctx, a.Fingerprint, now)
	}
	if prev != nil && prev.Status == "firing" && prev.RecordID != "" {
		e.metrics.Deduplicated.Inc()
		o.Result, o.RecordID, o.Detail = "duplicate", prev.RecordID, "already handled by "+prev.RecordID
		return o, nil
	}
	pb := e.matchAlert(a.Labels)
	if pb == nil {
		o.Result, o.Detail = "unmatched", "no playbook matches alert "+a.Labels["alertname"]
		return o, nil
	}
	trig := ledger.Trigger{
		Source: "alertmanager", Fingerprint: a.Fingerprint, GroupKey: m.GroupKey, Receiver: m.Receiver,
		Alertname: a.Labels["alertname"], Status: a.Status, Severity: a.Labels["severity"],
		Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
		GeneratorURL: a.GeneratorURL, ExternalURL: m.ExternalURL,
		Message: firstNonEmpty(a.Annotations["summary"], a.Annotations["description"], a.Annotations["message"]),
	}
	target, terr := pb.alertTarget(a.Labels)
	rec, err := e.decide(ctx, pb, trig, target, terr, alertEvidence(a), now)
	if err != nil {
		return o, err
	}
	e.metrics.DecisionSeconds.Observe(time.Since(start).Seconds())
	o.Result, o.RecordID, o.State, o.Playbook = "decided", rec.ID, rec.State, pb.Name
	return o, nil
}

// Finding takes a finding that started firing in a scheduled sweep.
func (e *Engine) Finding(ctx context.Context, f checks.Finding) (Outcome, error) {
	if e.opt.Ledger == nil {
		return Outcome{}, errNoLedger
	}
	start := time.Now()
	now := e.clock.Now().UTC()
	key := f.Key()
	o := Outcome{Fingerprint: key}
	for _, pb := range e.playbooks() {
		if !pb.matchFinding(&f) {
			continue
		}
		target, ok := pb.findingTarget(&f)
		if !ok || !pb.selects(target) {
			continue
		}
		// A finding that keeps firing is one incident: skip it while a
		// decision for it is open.
		open, err := e.opt.Ledger.List(ctx, ledger.Filter{IncidentKey: key, States: []ledger.State{ledger.Running, ledger.Verifying, ledger.AwaitingApproval}, Limit: 1})
		if err != nil {
			e.metrics.LedgerErrors.Inc()
			return o, fmt.Errorf("ledger: %w", err)
		}
		if len(open) > 0 {
			e.metrics.Deduplicated.Inc()
			o.Result, o.RecordID, o.Detail = "duplicate", open[0].ID, "already handled by "+open[0].ID
			return o, nil
		}
		since := time.Time{}
		if f.Since != nil {
			since = *f.Since
		}
		trig := ledger.Trigger{
			Source: "finding", Fingerprint: key, Check: f.Check, Status: "firing", Severity: string(f.Severity),
			StartsAt: since, Message: f.Message,
		}
		rec, err := e.decide(ctx, pb, trig, target, nil, f.Evidence, now)
		if err != nil {
			return o, err
		}
		e.metrics.DecisionSeconds.Observe(time.Since(start).Seconds())
		o.Result, o.RecordID, o.State, o.Playbook = "decided", rec.ID, rec.State, pb.Name
		return o, nil
	}
	o.Result = "unmatched"
	return o, nil
}

func (e *Engine) matchAlert(labels map[string]string) *playbook {
	for _, pb := range e.playbooks() {
		if !pb.matchAlert(labels) {
			continue
		}
		t, err := pb.alertTarget(labels)
		if err == nil && !pb.selects(t) {
			continue
		}
		return pb
	}
	return nil
}

// decide records one decision: the guards' verdicts and the planned steps.
func (e *Engine) decide(ctx context.Context, pb *playbook, trig ledger.Trigger, target checks.ObjectRef, targetErr error, ev []checks.Evidence, now time.Time) (*ledger.Record, error) {
	ctx, span := e.tracer.Start(ctx, "patrol.remediation.decide", trace.WithAttributes(
		attrPlaybook.String(pb.Name), attrTarget.String(target.String()), attrTrigger.String(trig.Source)))
	defer span.End()
	dry := e.opt.DryRun || !pb.Enabled
	rec := &ledger.Record{
		Cluster: e.opt.Cluster, State: ledger.Running, IncidentKey: trig.Fingerprint, Trigger: trig, Target: target,
		Playbook: pb.Name, PlaybookVersion: pb.Version, DryRun: dry, Evidence: ev,
	}
	if sc := span.SpanContext(); sc.IsValid() {
		rec.TraceID, rec.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	for _, st := range pb.Steps {
		rec.Steps = append(rec.Steps, ledger.Step{
			Name: st.Name, Action: st.Action, Target: target, Params: st.Params, Status: ledger.StepPending, Risk: risk(st),
		})
	}
	var refusal *ledger.Verdict
	if targetErr != nil {
		v := ledger.Verdict{Guard: GuardTarget, Allowed: false, Reason: targetErr.Error()}
		rec.Guards, refusal = []ledger.Verdict{v}, &v
	} else {
		snap := e.snapshot(ctx)
		sick := e.sick(target.Kind, snap)
		rec.Guards, refusal = e.guards.Evaluate(decision{
			pb: pb, target: target, dryRun: dry, now: now, snap: snap, sick: sick, pageOnly: len(pb.Steps) == 0,
		})
	}
	if refusal != nil {
		rec.State = ledger.Refused
		rec.Message = "refused by guard " + refusal.Guard + ": " + refusal.Reason
		for i := range rec.Steps {
			rec.Steps[i].Status = ledger.StepSkipped
		}
		e.metrics.Refusals.WithLabelValues(refusal.Guard).Inc()
	}
	create := e.opt.Ledger.Create
	if trig.Source == "alertmanager" {
		create = func(ctx context.Context, r *ledger.Record) error {
			return e.opt.Ledger.CreateForAlert(ctx, r, trig.Fingerprint)
		}
	}
	if err := create(ctx, rec); err != nil {
		e.metrics.LedgerErrors.Inc()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	e.metrics.Decisions.WithLabelValues(pb.Name, string(rec.State)).Inc()
	e.log.Info("remediation decision", "record", rec.ID, "playbook", pb.Name, "target", target.String(),
		"state", rec.State, "dry_run", dry, "trace_id", rec.TraceID, "detail", rec.Message)
	switch {
	case refusal == nil:
		e.enqueue(rec.ID)
	case refusal.Guard == GuardMaxUnhealthy:
		e.stormPage(ctx, pb, rec)
	}
	return rec, nil
}

// markFiring notes (or forgets) a firing target; e.mu is held.
func (e *Engine) markFiring(t checks.ObjectRef, fp string, firing bool) {
	byKind := e.firing[t.Kind]
	if byKind == nil {
		byKind = map[string]map[string]bool{}
		e.firing[t.Kind] = byKind
	}
	key := t.String()
	if firing {
		if byKind[key] == nil {
			byKind[key] = map[string]bool{}
		}
		byKind[key][fp] = true
		return
	}
	delete(byKind[key], fp)
	if len(byKind[key]) == 0 {
		delete(byKind, key)
	}
}

// snapshot returns the latest snapshot, reusing one younger than
// SnapshotMaxAge.
func (e *Engine) snapshot(ctx context.Context) *snapshot.Snapshot {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	if c := e.cache; c.snap != nil && e.opt.SnapshotMaxAge > 0 && time.Since(c.taken) < e.opt.SnapshotMaxAge {
		return c.snap
	}
	s := e.opt.Snapshot(ctx)
	if s != e.cache.snap {
		e.cache = snapCache{snap: s, taken: time.Now()}
	}
	e.cache.taken = time.Now()
	return s
}

// dropStaleSnapshot lets a snapshot older than SnapshotMaxAge go, so that
// an idle engine does not keep a copy of the cluster (at 150,000 pods, a
// snapshot is several times the informer caches' size).
func (e *Engine) dropStaleSnapshot() {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	if e.cache.snap != nil && time.Since(e.cache.taken) >= e.opt.SnapshotMaxAge {
		e.cache = snapCache{}
	}
}

// sick counts targets of a kind that look unhealthy: those alerts say are
// sick, plus, for nodes, those whose Ready condition is not True in the
// snapshot.
func (e *Engine) sick(kind string, s *snapshot.Snapshot) int {
	var base map[string]bool
	if s != nil && kind == string(snapshot.KindNode) {
		base = e.unhealthyNodes(s)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(base)
	for k := range e.firing[kind] {
		if !base[k] {
			n++
		}
	}
	return n
}

// unhealthyNodes are the nodes whose Ready condition is not True, keyed
// like ObjectRef.String, computed once per snapshot.
func (e *Engine) unhealthyNodes(s *snapshot.Snapshot) map[string]bool {
	if s == nil {
		return nil
	}
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	if e.cache.snap == s && e.cache.sick != nil {
		return e.cache.sick
	}
	out := map[string]bool{}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if c, ok := snapshot.FindCondition(n.Conditions, "Ready"); !ok || c.Status != "True" {
			out["Node/"+n.Name] = true
		}
	}
	if e.cache.snap != s {
		e.cache = snapCache{snap: s, taken: time.Now()}
	}
	e.cache.sick = out
	return out
}

func risk(st rules.Step) string {
	if st.Risk != "" {
		return st.Risk
	}
	return "low"
}

func alertEvidence(a *Alert) []checks.Evidence {
	at := a.StartsAt
	ev := []checks.Evidence{{
		Type: "alert", Path: "alertname", Value: a.Labels["alertname"], Source: a.GeneratorURL, Time: &at,
		Message: firstNonEmpty(a.Annotations["summary"], a.Annotations["description"], a.Annotations["message"]),
	}}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev = append(ev, checks.Evidence{Type: "label", Path: "labels." + k, Value: a.Labels[k]})
	}
	if d := a.Annotations["description"]; d != "" && d != ev[0].Message {
		ev = append(ev, checks.Evidence{Type: "annotation", Path: "annotations.description", Value: d})
	}
	return ev
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
