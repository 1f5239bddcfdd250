package checks

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// RunResult is how one check's run ended.
type RunResult string

// Run results.
const (
	ResultOK       RunResult = "ok"       // ran, found nothing
	ResultFindings RunResult = "findings" // ran, found faults
	ResultUnknown  RunResult = "unknown"  // could not run: data missing
	ResultSkipped  RunResult = "skipped"  // not applicable to this snapshot
	ResultError    RunResult = "error"    // panicked
	ResultTimeout  RunResult = "timeout"  // exceeded its timeout
)

// Run records one check's run.
type Run struct {
	Check    string        `json:"check"`
	Result   RunResult     `json:"result"`
	Findings int           `json:"findings"`
	Duration time.Duration `json:"durationNanos"`
	Detail   string        `json:"detail,omitempty"`
}

// Result is the outcome of running a catalogue over a snapshot.
type Result struct {
	Findings []Finding `json:"findings"`
	Runs     []Run     `json:"runs"`
}

// Runner runs checks over a snapshot, concurrently, each isolated: a
// panicking or slow check is reported and never stalls the others.
type Runner struct {
	Checks []Check
	// Params holds resolved parameters by check ID; a check without an
	// entry runs with its defaults.
	Params map[string]Params
	// Timeout bounds each check (default 10s).
	Timeout time.Duration
	// Workers bounds concurrency (default GOMAXPROCS).
	Workers int
	Logger  *slog.Logger
	// Observe, when set, is called after each check's run (for metrics
	// and traces).
	Observe func(Run)
}

// Run executes every check over s.
func (r *Runner) Run(ctx context.Context, s *snapshot.Snapshot) Result {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	workers := r.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ix := NewIndex(s)

	runs := make([]Run, len(r.Checks))
	found := make([][]Finding, len(r.Checks))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				runs[i], found[i] = r.runOne(ctx, s, ix, r.Checks[i], timeout, log)
				if r.Observe != nil {
					r.Observe(runs[i])
				}
			}
		}()
	}
	for i := range r.Checks {
		next <- i
	}
	close(next)
	wg.Wait()

	ignored := ignoreAnnotations(s)
	n := 0
	for _, fs := range found {
		n += len(fs)
	}
	all := make([]Finding, 0, n)
	for _, fs := range found {
		for _, f := range fs {
			if len(ignored) > 0 && ignores(ignored[f.Object.String()], f.Check) {
				continue
			}
			all = append(all, f)
		}
	}
	if len(all) == 0 {
		all = nil
	}
	MarkPrimary(all, r.Checks)
	Sort(all)
	return Result{Findings: all, Runs: runs}
}

func (r *Runner) runOne(ctx context.Context, s *snapshot.Snapshot, ix *Index, c Check, timeout time.Duration, log *slog.Logger) (Run, []Finding) {
	m := c.Meta()
	run := Run{Check: m.ID}
	if m.LiveOnly && s.Source != snapshot.SourceLive {
		run.Result, run.Detail = ResultSkipped, "needs a live cluster"
		return run, nil
	}
	var blind []snapshot.Coverage
	for _, k := range m.Requires {
		if g, ok := s.Gap(k); ok {
			if g.Reason == snapshot.NotCollected {
				run.Result, run.Detail = ResultSkipped, fmt.Sprintf("%s not in snapshot", k)
				return run, nil
			}
			if g.Blind() {
				blind = append(blind, g)
			}
		}
	}
	if len(blind) > 0 {
		f := unknownFinding(s, m, blind)
		run.Result, run.Detail, run.Findings = ResultUnknown, f.Message, 1
		return run, []Finding{f}
	}
	params, ok := r.Params[m.ID]
	if !ok {
		var err error
		if params, err = ResolveParams(m, nil); err != nil {
			run.Result, run.Detail = ResultError, err.Error()
			return run, nil
		}
	}
	env := &Env{Snap: s, Index: ix, Now: s.CollectedAt, Meta: m, Params: params}

	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type out struct {
		f   []Finding
		err string
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				log.Error("check panicked", "check", m.ID, "panic", p, "stack", string(debug.Stack()))
				done <- out{err: fmt.Sprintf("panic: %v", p)}
			}
		}()
		done <- out{f: c.Run(cctx, env)}
	}()
	select {
	case o := <-done:
		run.Duration = time.Since(start)
		if o.err != "" {
			run.Result, run.Detail = ResultError, o.err
			return run, nil
		}
		for i := range o.f {
			if o.f[i].Check == "" {
				o.f[i].Check = m.ID
			}
			if o.f[i].Status == "" {
				o.f[i].Status = Firing
			}
			if o.f[i].Evidence == nil {
				o.f[i].Evidence = []Evidence{}
			}
		}
		run.Findings = len(o.f)
		run.Result = ResultOK
		if len(o.f) > 0 {
			run.Result = ResultFindings
		}
		return run, o.f
	case <-cctx.Done():
		run.Duration = time.Since(start)
		run.Result, run.Detail = ResultTimeout, fmt.Sprintf("did not finish within %s", timeout)
		log.Warn("check timed out", "check", m.ID, "timeout", timeout)
		return run, nil
	}
}

// IgnoreAnnotation on an object silences findings about it: "true" (or
// "*") silences every check, otherwise a comma-separated list of check IDs
// or families ("pod.restarting,hpa").
const IgnoreAnnotation = "kubepatrol.io/ignore"

func ignoreAnnotations(s *snapshot.Snapshot) map[string]string {
	out := map[string]string{}
	snapshot.EachMeta(s, func(k snapshot.Kind, m *snapshot.Meta) {
		if v, ok := m.Annotations[IgnoreAnnotation]; ok {
			out[Ref(k, m).String()] = v
		}
	})
	return out
}

func ignores(v, check string) bool {
	v = strings.TrimSpace(v)
	if v == "" || v == "false" {
		return false
	}
	if v == "true" || v == "*" {
		return true
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSuffix(strings.TrimSpace(p), ".")
		if p != "" && (check == p || strings.HasPrefix(check, p+".")) {
			return true
		}
	}
	return false
}

func unknownFinding(s *snapshot.Snapshot, m Meta, gaps []snapshot.Coverage) Finding {
	var parts []string
	var ev []Evidence
	for _, g := range gaps {
		parts = append(parts, fmt.Sprintf("%s (%s)", g.Kind, g.Reason))
		ev = append(ev, Evidence{Type: EvCoverage, Path: "coverage/" + string(g.Kind), Value: string(g.Reason), Message: g.Message})
	}
	return Finding{
		Check:    m.ID,
		Severity: m.Severity,
		Status:   Unknown,
		Object:   ObjectRef{Kind: string(snapshot.KindCluster), Name: s.Cluster},
		Reason:   "DataUnavailable",
		Message:  fmt.Sprintf("cannot evaluate %q: could not read %s", m.Title, strings.Join(parts, ", ")),
		Evidence: ev,
	}
}

// MarkPrimary links findings that fire on the same object: the most severe
// (then highest Meta.Priority) is primary and lists the others; each other
// names it in ExplainedBy and carries a relation evidence item.
func MarkPrimary(fs []Finding, catalog []Check) {
	prio := make(map[string]int, len(catalog))
	for _, c := range catalog {
		prio[c.Meta().ID] = c.Meta().Priority
	}
	byObj := make(map[string][]int)
	for i := range fs {
		if fs[i].Status != Firing {
			continue
		}
		k := fs[i].Object.String()
		byObj[k] = append(byObj[k], i)
	}
	for _, idx := range byObj {
		if len(idx) < 2 {
			continue
		}
		best := idx[0]
		for _, i := range idx[1:] {
			a, b := &fs[i], &fs[best]
			switch {
			case a.Severity.Rank() != b.Severity.Rank():
				if a.Severity.Rank() > b.Severity.Rank() {
					best = i
				}
			case prio[a.Check] != prio[b.Check]:
				if prio[a.Check] > prio[b.Check] {
					best = i
				}
			case a.Check < b.Check:
				best = i
			}
		}
		for _, i := range idx {
			if i == best {
				continue
			}
			fs[best].PrimaryOf = append(fs[best].PrimaryOf, fs[i].Check)
			fs[i].ExplainedBy = fs[best].Check
			fs[i].Evidence = append(fs[i].Evidence, Evidence{
				Type: EvRelation, Path: "explainedBy", Value: fs[best].Check,
				Message: "secondary: " + fs[best].Check + " fires on the same object and is the primary finding",
			})
		}
		sort.Strings(fs[best].PrimaryOf)
	}
}

// Sort orders findings: status firing first, then severity (most severe
// first), check ID, and object. The sort is stable.
func Sort(fs []Finding) {
	// Each finding's object key is rendered once, not in every comparison.
	objs := make([]string, len(fs))
	order := make([]int, len(fs))
	for i := range fs {
		objs[i] = fs[i].Object.String()
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := &fs[i], &fs[j]
		if a.Status != b.Status {
			if a.Status == Firing {
				return -1
			}
			if b.Status == Firing {
				return 1
			}
			return 0
		}
		if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
			return rb - ra
		}
		if c := strings.Compare(a.Check, b.Check); c != 0 {
			return c
		}
		return strings.Compare(objs[i], objs[j])
	})
	sorted := make([]Finding, len(fs))
	for k, i := range order {
		sorted[k] = fs[i]
	}
	copy(fs, sorted)
}
