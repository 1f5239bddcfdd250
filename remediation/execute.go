package remediation

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

var (
	attrPlaybook = attribute.Key("patrol.playbook")
	attrTarget   = attribute.Key("patrol.target")
	attrTrigger  = attribute.Key("patrol.trigger")
	attrRecord   = attribute.Key("patrol.record")
	attrStep     = attribute.Key("patrol.step")
	attrAction   = attribute.Key("patrol.action")
	attrResult   = attribute.Key("patrol.result")
)

// ErrNotAwaiting is returned by Approve for a record with no step waiting.
var ErrNotAwaiting = errors.New("no step of this record is waiting for approval")

// process advances one record as far as it can go now.
func (e *Engine) process(ctx context.Context, id string) {
	e.mu.Lock()
	if e.inflight[id] {
		e.mu.Unlock()
		return
	}
	e.inflight[id] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.inflight, id)
		e.mu.Unlock()
		if p := recover(); p != nil {
			e.log.Error("remediation worker panicked", "record", id, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	rec, err := e.opt.Ledger.Get(ctx, id)
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		e.log.Error("ledger: cannot read decision", "record", id, "err", err)
		return
	}
	if rec.State.Terminal() {
		return
	}
	ctx = e.joinTrace(ctx, rec)
	ctx, span := e.tracer.Start(ctx, "patrol.remediation.run", trace.WithAttributes(
		attrRecord.String(rec.ID), attrPlaybook.String(rec.Playbook), attrTarget.String(rec.Target.String())))
	defer span.End()
	if err := e.advance(ctx, rec); err != nil {
		span.SetStatus(codes.Error, err.Error())
		if ctx.Err() == nil {
			e.metrics.LedgerErrors.Inc()
			e.log.Error("remediation: cannot record progress", "record", id, "err", err)
		}
	}
	span.SetAttributes(attrResult.String(string(rec.State)))
}

// joinTrace makes the record's decision span the parent of what follows,
// so a decision is one trace even across a restart.
func (e *Engine) joinTrace(ctx context.Context, rec *ledger.Record) context.Context {
	tid, err1 := trace.TraceIDFromHex(rec.TraceID)
	sid, err2 := trace.SpanIDFromHex(rec.SpanID)
	if err1 != nil || err2 != nil {
		return ctx
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

func (e *Engine) save(ctx context.Context, rec *ledger.Record) error {
	return e.opt.Ledger.Update(ctx, rec)
}

// advance runs the record's next phases: diagnosis, steps, verification,
// escalation.
func (e *Engine) advance(ctx context.Context, rec *ledger.Record) error {
	pb := e.playbook(rec.Playbook)
	now := e.clock.Now().UTC()
	if rec.State == ledger.AwaitingApproval {
		i := slices.IndexFunc(rec.Steps, func(s ledger.Step) bool { return s.Status == ledger.StepAwaitingApproval })
		if i < 0 {
			rec.State = ledger.Running
		} else if rec.Steps[i].ApprovedBy == "" {
			since := rec.UpdatedAt
			if s := rec.Steps[i].StartedAt; s != nil {
				since = *s
			}
			if now.Sub(since) < e.opt.ApprovalTimeout {
				return nil // still waiting
			}
			rec.Steps[i].Status = ledger.StepSkipped
			rec.Steps[i].Message = fmt.Sprintf("approval not given within %s", e.opt.ApprovalTimeout)
			rec.State = ledger.Expired
			rec.Message = "step " + rec.Steps[i].Name + ": approval expired"
			e.escalate(ctx, pb, rec, "approval for step "+rec.Steps[i].Name+" expired")
			return e.save(ctx, rec)
		} else {
			rec.Steps[i].Status = ledger.StepPending
			rec.State = ledger.Running
		}
	}
	if rec.State == ledger.Running {
		if len(rec.Findings) == 0 && pb != nil && len(pb.Diagnosis.Checks) > 0 && !anyStarted(rec) {
			rec.Findings = e.runChecks(ctx, pb.Diagnosis.Checks, rec.Target, true)
			wait := pb.Diagnosis.Wait.Value()
			if pb.Diagnosis.Wait == "" {
				wait = 2 * time.Minute
			}
			if pb.Diagnosis.Require && !confirmed(rec.Findings, rec.Target) && now.Sub(rec.CreatedAt) < wait {
				// Not yet: the periodic resume re-diagnoses it.
				rec.Findings = nil
				return nil
			}
			if pb.Diagnosis.Require && !confirmed(rec.Findings, rec.Target) {
				v := ledger.Verdict{Guard: GuardDiagnosis, Allowed: false,
					Reason: fmt.Sprintf("none of %s confirmed a fault on %s within %s", strings.Join(pb.Diagnosis.Checks, ", "), rec.Target, wait)}
				rec.Guards = append(rec.Guards, v)
				rec.State, rec.Message = ledger.Refused, "refused by guard diagnosis: "+v.Reason
				for i := range rec.Steps {
					rec.Steps[i].Status = ledger.StepSkipped
				}
				e.metrics.Refusals.WithLabelValues(GuardDiagnosis).Inc()
				e.escalate(ctx, pb, rec, "the alert fired but the diagnosis does not confirm it: not acting")
				return e.save(ctx, rec)
			}
			// The findings are saved with the first step's intent.
		}
		stop, err := e.steps(ctx, pb, rec)
		if err != nil || stop {
			return err
		}
		switch {
		case rec.DryRun:
			rec.State = ledger.Planned
			rec.Message = "dry run: nothing was written or sent"
			if pb != nil && pb.Verify != nil {
				rec.Verification = &ledger.Verification{Status: "skipped", Checks: pb.Verify.Checks, At: e.clock.Now().UTC(),
					Message: "dry run: would re-check " + strings.Join(pb.Verify.Checks, ", ") + " until healthy or " + pb.Verify.Timeout.Value().String()}
			}
			if pb != nil && (len(rec.Steps) == 0 || pb.Verify != nil) {
				e.escalate(ctx, pb, rec, "dry run")
			}
			return e.save(ctx, rec)
		case pb != nil && pb.Verify != nil:
			rec.State = ledger.Verifying
			rec.Verification = &ledger.Verification{Status: "pending", Checks: pb.Verify.Checks, At: e.clock.Now().UTC()}
			if err := e.save(ctx, rec); err != nil {
				return err
			}
		case len(rec.Steps) == 0:
			e.escalate(ctx, pb, rec, "")
			rec.State, rec.Message = ledger.Escalated, "paged: "+pageSummary(rec)
			return e.save(ctx, rec)
		default:
			rec.State, rec.Message = ledger.Succeeded, "all steps done"
			return e.save(ctx, rec)
		}
	}
	if rec.State == ledger.Verifying {
		return e.verify(ctx, pb, rec)
	}
	return nil
}

// confirmed reports whether a finding (not an unknown) is about the
// target itself.
func confirmed(fs []checks.Finding, t checks.ObjectRef) bool {
	for _, f := range fs {
		if f.Status != checks.Unknown && sameObject(f.Object, t) {
			return true
		}
	}
	return false
}

// sameObject compares kind, namespace and name: a target named by an
// alert's labels has no UID.
func sameObject(a, b checks.ObjectRef) bool {
	return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name
}

func anyStarted(rec *ledger.Record) bool {
	for _, s := range rec.Steps {
		if s.Status != ledger.StepPending {
			return true
		}
	}
	return false
}

// steps runs the pending steps in order. It returns stop=true when the
// record must not go on now (waiting for approval, or a step failed).
func (e *Engine) steps(ctx context.Context, pb *playbook, rec *ledger.Record) (bool, error) {
	for i := range rec.Steps {
		st := &rec.Steps[i]
		switch st.Status {
		case ledger.StepDone, ledger.StepDryRun, ledger.StepSkipped, ledger.StepReconciled:
			continue
		case ledger.StepFailed:
			return true, nil
		}
		var spec *stepSpec
		if pb != nil && i < len(pb.Steps) && pb.Steps[i].Name == st.Name {
			s := pb.Steps[i]
			spec = &stepSpec{enabled: s.IsEnabled(), when: s.When}
		}
		sctx, span := e.tracer.Start(ctx, "patrol.remediation.step", trace.WithAttributes(
			attrRecord.String(rec.ID), attrStep.String(st.Name), attrAction.String(st.Action)))
		stop, err := e.step(sctx, pb, rec, i, spec)
		span.SetAttributes(attrResult.String(string(st.Status)))
		if st.Status == ledger.StepFailed {
			span.SetStatus(codes.Error, st.Error)
		}
		span.End()
		if err != nil || stop {
			return true, err
		}
	}
	return false, nil
}

type stepSpec struct {
	enabled bool
	when    string
}

func (e *Engine) step(ctx context.Context, pb *playbook, rec *ledger.Record, i int, spec *stepSpec) (bool, error) {
	st := &rec.Steps[i]
	now := e.clock.Now().UTC()
	done := func(status ledger.StepStatus, msg string) {
		st.Status, st.Message = status, msg
		end := e.clock.Now().UTC()
		st.EndedAt = &end
		e.metrics.Actions.WithLabelValues(rec.Playbook, st.Action, string(status)).Inc()
	}
	// The last step's outcome is saved together with the state it leads
	// to (one write instead of two); every other outcome is saved at once.
	next := func() error {
		if i == len(rec.Steps)-1 {
			return nil
		}
		return e.save(ctx, rec)
	}
	if st.Status == ledger.StepPending {
		if spec != nil && !spec.enabled {
			done(ledger.StepSkipped, "step is switched off in the playbook (enabled: false)")
			return false, next()
		}
		if spec != nil && spec.when == "node_gone" {
			if gone, why := e.nodeGone(ctx, rec.Target); !gone {
				done(ledger.StepSkipped, "when node_gone: "+why)
				return false, next()
			}
		}
		if st.Risk == "high" && !rec.DryRun && st.ApprovedBy == "" {
			st.Status, st.StartedAt = ledger.StepAwaitingApproval, &now
			st.Message = fmt.Sprintf("high-risk step: waiting for approval (patrol approve %s) until %s",
				rec.ID, now.Add(e.opt.ApprovalTimeout).Format(time.RFC3339))
			rec.State, rec.Message = ledger.AwaitingApproval, st.Message
			e.metrics.PendingApprovals.Inc()
			return true, e.save(ctx, rec)
		}
	}
	if st.Action == "page" {
		if pb != nil {
			n := e.notice(pb, rec, "")
			if s := st.Params["severity"]; s != "" {
				n.Severity = s
			}
			if s := st.Params["summary"]; s != "" {
				n.Summary = s
			}
			for _, name := range stepPagers(pb, st.Params) {
				e.page(ctx, name, rec, n)
			}
		}
		if rec.DryRun {
			done(ledger.StepDryRun, "would page")
		} else {
			done(ledger.StepDone, "paged: "+pageSummary(rec))
		}
		return false, next()
	}
	act := e.opt.Actions[st.Action]
	if act == nil {
		done(ledger.StepFailed, "")
		st.Error = "no action " + st.Action + " is available"
		rec.State, rec.Message = ledger.Failed, "step "+st.Name+": "+st.Error
		return true, e.save(ctx, rec)
	}
	req := Request{Target: st.Target, Params: st.Params, DryRun: rec.DryRun, RecordID: rec.ID, TraceID: rec.TraceID, Playbook: rec.Playbook, Step: st.Name}
	if rec.DryRun {
		res, err := act.Do(ctx, req)
		st.Calls, st.Blockers = res.Calls, res.Blockers
		if err != nil {
			st.Error = err.Error()
			done(ledger.StepDryRun, "dry run: the action would fail: "+err.Error())
		} else {
			done(ledger.StepDryRun, firstNonEmpty(res.Message, "dry run"))
		}
		return false, next()
	}
	if st.Status == ledger.StepIntent {
		// A previous run wrote the intent but not the outcome: it may or
		// may not have acted. Ask the cluster.
		ok, why, err := act.Done(ctx, req)
		if err != nil {
			st.Error = "after a restart, cannot tell whether the step took effect: " + err.Error()
			return true, e.save(ctx, rec)
		}
		if ok {
			done(ledger.StepReconciled, "found in place after a restart, not repeated: "+why)
			return false, next()
		}
		st.Message = "intent found after a restart, effect not in place (" + why + "): running it"
	}
	st.Status, st.StartedAt = ledger.StepIntent, &now
	st.Attempts++
	if err := e.save(ctx, rec); err != nil {
		return true, err // never act without a durable intent
	}
	res, err := e.doWithRetry(ctx, act, req, st)
	if e.opt.AfterAction != nil {
		e.opt.AfterAction(rec, i)
	}
	st.Calls, st.Blockers = append(st.Calls, res.Calls...), res.Blockers
	if err != nil {
		st.Error = err.Error()
		done(ledger.StepFailed, firstNonEmpty(res.Message, "failed"))
		rec.State, rec.Message = ledger.Failed, "step "+st.Name+" failed: "+err.Error()
		if len(res.Blockers) > 0 {
			rec.Message += " (blocked by " + strings.Join(res.Blockers, "; ") + ")"
		}
		e.escalate(ctx, pb, rec, rec.Message)
		return true, e.save(ctx, rec)
	}
	done(ledger.StepDone, firstNonEmpty(res.Message, "done"))
	return false, next()
}

func (e *Engine) doWithRetry(ctx context.Context, act Action, req Request, st *ledger.Step) (Result, error) {
	wait := e.opt.StepBackoff
	var all Result
	for attempt := 1; ; attempt++ {
		res, err := act.Do(ctx, req)
		all.Calls = append(all.Calls, res.Calls...)
		all.Message, all.Blockers = res.Message, res.Blockers
		if err == nil || !IsRetryable(err) || attempt >= e.opt.StepAttempts {
			return all, err
		}
		e.log.Warn("remediation step failed, retrying", "record", req.RecordID, "step", st.Name, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return all, ctx.Err()
		case <-e.clock.After(wait):
		}
		st.Attempts++
		wait *= 2
	}
}

// nodeGone reports whether a pod target's node no longer exists.
func (e *Engine) nodeGone(ctx context.Context, t checks.ObjectRef) (bool, string) {
	s := e.snapshot(ctx)
	if s == nil || s.Count(snapshot.KindNode) == 0 {
		return false, "nodes could not be read"
	}
	node := ""
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Namespace == t.Namespace && p.Name == t.Name {
			node = p.NodeName
		}
	}
	if node == "" {
		return false, "the pod is not bound to a node (or is gone)"
	}
	for i := range s.Nodes {
		if s.Nodes[i].Name == node {
			return false, "node " + node + " still exists"
		}
	}
	return true, "node " + node + " is gone"
}

// verify re-checks the target until it is healthy or the timeout passes;
// one call does one check, then waits, so a restart resumes it.
func (e *Engine) verify(ctx context.Context, pb *playbook, rec *ledger.Record) error {
	if pb == nil || pb.Verify == nil {
		rec.State, rec.Message = ledger.Succeeded, "all steps done (the playbook no longer has a verification)"
		return e.save(ctx, rec)
	}
	timeout, interval := pb.Verify.Timeout.Value(), pb.Verify.Interval.Value()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	start := rec.Verification.At
	for {
		rec.Verification.Attempts++
		fs := e.runChecks(ctx, pb.Verify.Checks, rec.Target, false)
		now := e.clock.Now().UTC()
		firing, unknown := 0, 0
		for _, f := range fs {
			if f.Status == checks.Unknown {
				unknown++
			} else {
				firing++
			}
		}
		if firing == 0 && unknown == 0 {
			rec.Verification.Status, rec.Verification.Findings, rec.Verification.At = "healthy", nil, now
			rec.Verification.Message = fmt.Sprintf("%s no longer fire on %s", strings.Join(pb.Verify.Checks, ", "), rec.Target)
			rec.State, rec.Message = ledger.Succeeded, "verified healthy"
			return e.save(ctx, rec)
		}
		if now.Sub(start) >= timeout {
			rec.Verification.Status, rec.Verification.Findings, rec.Verification.At = "unhealthy", fs, now
			if firing == 0 {
				rec.Verification.Status = "unknown"
			}
			rec.Verification.Message = fmt.Sprintf("%s still %s on %s after %s", strings.Join(pb.Verify.Checks, ", "),
				map[bool]string{true: "fire", false: "cannot judge"}[firing > 0], rec.Target, timeout)
			e.escalate(ctx, pb, rec, rec.Verification.Message)
			rec.State, rec.Message = ledger.Escalated, "verification failed: "+rec.Verification.Message
			return e.save(ctx, rec)
		}
		rec.Verification.Findings = fs
		if err := e.save(ctx, rec); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.clock.After(min(interval, timeout-now.Sub(start)+time.Millisecond)):
		}
	}
}

// runChecks runs the named checks on the latest snapshot and keeps the
// findings about the target (and, with near, about what runs on a target
// node).
func (e *Engine) runChecks(ctx context.Context, ids []string, t checks.ObjectRef, near bool) []checks.Finding {
	all := e.opt.Catalog
	if all == nil {
		all = catalog.All()
	}
	sel, err := catalog.Select(all, ids, nil)
	if err != nil {
		e.log.Warn("remediation: bad check selection", "checks", ids, "err", err)
		return nil
	}
	s := e.snapshot(ctx)
	if s == nil {
		return nil
	}
	var out []checks.Finding
	for _, f := range e.results(ctx, s, sel) {
		same := sameObject(f.Object, t)
		onNode := near && t.Kind == string(snapshot.KindNode) && f.Node == t.Name
		if same || onNode || (f.Status == checks.Unknown && f.Object.Name == "") {
			out = append(out, f)
		}
	}
	return out
}

// results runs the selected checks over s once per snapshot.
func (e *Engine) results(ctx context.Context, s *snapshot.Snapshot, sel []checks.Check) []checks.Finding {
	ids := make([]string, len(sel))
	for i, c := range sel {
		ids[i] = c.Meta().ID
	}
	key := strings.Join(ids, ",")
	e.cacheMu.Lock()
	if e.cache.snap == s {
		if fs, ok := e.cache.results[key]; ok {
			e.cacheMu.Unlock()
			return fs
		}
	}
	e.cacheMu.Unlock()
	r := checks.Runner{Checks: sel, Params: e.opt.Params, Timeout: e.opt.CheckTimeout, Logger: e.log}
	fs := r.Run(ctx, s).Findings
	e.cacheMu.Lock()
	if e.cache.snap != s {
		e.cache = snapCache{snap: s, taken: time.Now()}
	}
	if e.cache.results == nil {
		e.cache.results = map[string][]checks.Finding{}
	}
	e.cache.results[key] = fs
	e.cacheMu.Unlock()
	return fs
}

// Approve approves the record's waiting step and resumes it.
func (e *Engine) Approve(ctx context.Context, id, by string) (*ledger.Record, error) {
	rec, err := e.opt.Ledger.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(rec.Steps, func(s ledger.Step) bool { return s.Status == ledger.StepAwaitingApproval })
	if rec.State != ledger.AwaitingApproval || i < 0 {
		return rec, fmt.Errorf("%s is %s: %w", rec.ID, rec.State, ErrNotAwaiting)
	}
	now := e.clock.Now().UTC()
	rec.Steps[i].ApprovedBy, rec.Steps[i].ApprovedAt = by, &now
	rec.Steps[i].Message = "approved by " + by
	if err := e.save(ctx, rec); err != nil {
		return nil, err
	}
	e.metrics.PendingApprovals.Dec()
	e.log.Info("remediation step approved", "record", rec.ID, "step", rec.Steps[i].Name, "by", by)
	e.enqueue(rec.ID)
	return rec, nil
}

// escalate pages the playbook's pagers for the record (recording dry-run
// pages without sending them).
func (e *Engine) escalate(ctx context.Context, pb *playbook, rec *ledger.Record, why string) {
	if pb == nil || pb.Escalate == nil {
		return
	}
	n := e.notice(pb, rec, why)
	for _, name := range pb.Escalate.Pagers {
		e.page(ctx, name, rec, n)
	}
}

// stepPagers are a page step's pagers: its pagers param, else the
// playbook's escalation pagers.
func stepPagers(pb *playbook, params map[string]string) []string {
	if p := params["pagers"]; p != "" {
		var out []string
		for _, name := range strings.Split(p, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out = append(out, name)
			}
		}
		return out
	}
	if pb.Escalate != nil {
		return pb.Escalate.Pagers
	}
	return nil
}

func (e *Engine) notice(pb *playbook, rec *ledger.Record, why string) Notice {
	var esc rules.Escalate
	if pb.Escalate != nil {
		esc = *pb.Escalate
	}
	sev := esc.Severity
	if sev == "" {
		sev = firstNonEmpty(rec.Trigger.Severity, "warning")
	}
	summary := esc.Summary
	if summary == "" {
		what := firstNonEmpty(rec.Trigger.Alertname, rec.Trigger.Check)
		summary = fmt.Sprintf("%s on %s (%s)", what, rec.Target, e.opt.Cluster)
		if m := rec.Trigger.Message; m != "" {
			summary += ": " + m
		}
	}
	if why != "" && why != "dry run" {
		summary += " — " + why
	}
	details := map[string]any{
		"cluster": e.opt.Cluster, "record": rec.ID, "playbook": rec.Playbook + "@" + rec.PlaybookVersion,
		"target": rec.Target.String(), "state": string(rec.State), "trigger": rec.Trigger.Source,
	}
	if rec.TraceID != "" {
		details["trace_id"] = rec.TraceID
	}
	var ev []string
	for _, x := range rec.Evidence {
		ev = append(ev, evLine(x))
	}
	for _, f := range rec.Findings {
		ev = append(ev, f.Check+" "+f.Object.String()+": "+f.Message)
	}
	if len(ev) > 0 {
		details["evidence"] = ev
	}
	var steps []string
	for _, s := range rec.Steps {
		line := s.Name + " (" + s.Action + "): " + string(s.Status)
		if s.Error != "" {
			line += ": " + s.Error
		}
		steps = append(steps, line)
	}
	if len(steps) > 0 {
		details["steps"] = steps
	}
	if v := rec.Verification; v != nil {
		details["verification"] = v.Status + ": " + v.Message
	}
	var refused []string
	for _, g := range rec.Guards {
		if !g.Allowed {
			refused = append(refused, g.Guard+": "+g.Reason)
		}
	}
	if len(refused) > 0 {
		details["refused_by"] = refused
	}
	var links []Link
	if u := rec.Trigger.GeneratorURL; u != "" {
		links = append(links, Link{Href: u, Text: "Alert source"})
	}
	if base := strings.TrimRight(e.opt.ReportURL, "/"); base != "" {
		links = append(links, Link{Href: base + "/api/v1/evidence/" + rec.ID, Text: "Evidence record " + rec.ID},
			Link{Href: base + "/report", Text: "Cluster report"})
	}
	return Notice{
		Action: "trigger", DedupKey: dedupKey(e.opt.Cluster, rec.IncidentKey), Summary: summary,
		Source: e.opt.Cluster + "/" + rec.Target.String(), Severity: sev, Details: details, Links: links,
		RecordID: rec.ID, TraceID: rec.TraceID, Time: e.clock.Now().UTC(),
	}
}

func evLine(x checks.Evidence) string {
	s := x.Type + " " + x.Path + "=" + x.Value
	if x.Message != "" {
		s += " (" + x.Message + ")"
	}
	return s
}

func dedupKey(cluster, incident string) string { return "kubepatrol/" + cluster + "/" + incident }

// page sends (or, in a dry run, records) one notice through one pager and
// records it on the record.
func (e *Engine) page(ctx context.Context, name string, rec *ledger.Record, n Notice) {
	pg := e.opt.Pagers[name]
	p := ledger.Page{Pager: name, Action: n.Action, DedupKey: n.DedupKey, Summary: n.Summary, Severity: n.Severity, At: e.clock.Now().UTC()}
	if pg != nil {
		p.Type = pg.Type()
	}
	_, span := e.tracer.Start(ctx, "patrol.remediation.page", trace.WithAttributes(attrRecord.String(rec.ID), attribute.String("patrol.pager", name)))
	defer span.End()
	switch {
	case rec.DryRun:
		p.Status = "dry_run"
	case pg == nil:
		p.Status, p.Error = "failed", "pager "+name+" is not configured"
	default:
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		attempts, err := pg.Send(pctx, n)
		cancel()
		p.Attempts = attempts
		if err != nil {
			p.Status, p.Error = "failed", err.Error()
			span.SetStatus(codes.Error, err.Error())
			e.log.Error("page failed", "pager", name, "record", rec.ID, "err", err)
		} else {
			p.Status = "sent"
		}
	}
	e.metrics.Pages.WithLabelValues(name, n.Action, p.Status).Inc()
	rec.Pages = append(rec.Pages, p)
}

// stormPage pages once for a max-unhealthy refusal: many targets of one
// kind sick at once is one incident, not one page per target.
func (e *Engine) stormPage(ctx context.Context, pb *playbook, rec *ledger.Record) {
	key := "max-unhealthy/" + pb.Name + "/" + rec.Target.Kind
	e.mu.Lock()
	if s, open := e.storms[key]; open {
		e.mu.Unlock()
		rec.Message += "; already paged in " + s.record
		_ = e.save(ctx, rec)
		return
	}
	e.storms[key] = storm{playbook: pb.Name, kind: rec.Target.Kind, record: rec.ID}
	e.mu.Unlock()
	if pb.Escalate == nil {
		return
	}
	n := e.notice(pb, rec, "")
	n.DedupKey = dedupKey(e.opt.Cluster, key)
	n.Summary = fmt.Sprintf("Many %ss unhealthy at once in %s: not remediating %s (%s)", rec.Target.Kind, e.opt.Cluster, pb.Name, reasonOf(rec, GuardMaxUnhealthy))
	for _, name := range pb.Escalate.Pagers {
		e.page(ctx, name, rec, n)
	}
	if err := e.save(ctx, rec); err != nil {
		e.metrics.LedgerErrors.Inc()
		e.log.Error("ledger: cannot record page", "record", rec.ID, "err", err)
	}
}

func reasonOf(rec *ledger.Record, guard string) string {
	for _, v := range rec.Guards {
		if v.Guard == guard {
			return v.Reason
		}
	}
	return ""
}

// resolveIncident closes what an alert's resolution closes: waiting
// decisions are closed and pages sent for it are resolved; an open storm
// page is resolved once no target of its kind is firing.
func (e *Engine) resolveIncident(ctx context.Context, fp string, now time.Time) error {
	recs, err := e.opt.Ledger.List(ctx, ledger.Filter{IncidentKey: fp})
	if err != nil {
		e.metrics.LedgerErrors.Inc()
		return fmt.Errorf("ledger: %w", err)
	}
	for _, rec := range recs {
		changed := false
		if rec.State == ledger.AwaitingApproval {
			for i := range rec.Steps {
				if rec.Steps[i].Status == ledger.StepAwaitingApproval {
					rec.Steps[i].Status = ledger.StepSkipped
					rec.Steps[i].Message = "the alert resolved while waiting for approval"
				}
			}
			rec.State, rec.Message = ledger.Closed, "the alert resolved before the step was approved"
			e.metrics.PendingApprovals.Dec()
			changed = true
		}
		if e.resolvePages(ctx, rec, rec.IncidentKey) {
			changed = true
		}
		if changed {
			if err := e.save(ctx, rec); err != nil {
				e.metrics.LedgerErrors.Inc()
				return fmt.Errorf("ledger: %w", err)
			}
		}
	}
	// Storms: resolve when their kind has no firing target left.
	e.mu.Lock()
	var done []string
	for key, s := range e.storms {
		if len(e.firing[s.kind]) == 0 {
			done = append(done, key)
		}
	}
	e.mu.Unlock()
	for _, key := range done {
		e.mu.Lock()
		s := e.storms[key]
		delete(e.storms, key)
		e.mu.Unlock()
		rec, err := e.opt.Ledger.Get(ctx, s.record)
		if err != nil {
			continue
		}
		if e.resolvePages(ctx, rec, key) {
			_ = e.save(ctx, rec)
		}
	}
	return nil
}

// resolvePages sends a resolve for every pager that was sent a trigger
// under the incident's dedup key and not yet a resolve.
func (e *Engine) resolvePages(ctx context.Context, rec *ledger.Record, incident string) bool {
	key := dedupKey(e.opt.Cluster, incident)
	sent := map[string]bool{}
	for _, p := range rec.Pages {
		if p.DedupKey != key {
			continue
		}
		switch {
		case p.Action == "trigger" && p.Status == "sent":
			sent[p.Pager] = true
		case p.Action == "resolve" && p.Status == "sent":
			delete(sent, p.Pager)
		}
	}
	if len(sent) == 0 {
		return false
	}
	n := Notice{Action: "resolve", DedupKey: key, Summary: "resolved: " + firstNonEmpty(rec.Trigger.Alertname, rec.Trigger.Check) + " on " + rec.Target.String(),
		Source: e.opt.Cluster + "/" + rec.Target.String(), Severity: "info", RecordID: rec.ID, TraceID: rec.TraceID, Time: e.clock.Now().UTC()}
	names := make([]string, 0, len(sent))
	for name := range sent {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e.page(ctx, name, rec, n)
	}
	return true
}

func pageSummary(rec *ledger.Record) string {
	var ps []string
	for _, p := range rec.Pages {
		ps = append(ps, p.Pager+" "+p.Status)
	}
	if len(ps) == 0 {
		return "no pager configured"
	}
	return strings.Join(ps, ", ")
}
