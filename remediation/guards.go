package remediation

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// Guard names, as recorded in verdicts and in the refusal metric.
const (
	GuardPause        = "pause"
	GuardTarget       = "target"
	GuardProtected    = "protected"
	GuardMaintenance  = "maintenance"
	GuardMaxUnhealthy = "max_unhealthy"
	GuardCooldown     = "cooldown"
	GuardRatePlaybook = "rate_limit_playbook"
	GuardRateGlobal   = "rate_limit_global"
	GuardDiagnosis    = "diagnosis"
	GuardDryRun       = "dry_run"
)

// Guards is the one guard layer every decision passes. It keeps the
// recent acting runs in memory (seeded from the ledger at start) so that a
// decision costs no ledger read.
type Guards struct {
	cfg          rules.GuardsConfig
	cooldown     time.Duration
	rateMax      int
	ratePer      time.Duration
	maxUnhealthy float64
	windows      []window

	mu     sync.Mutex
	paused bool
	// Acting runs, kept so that each guard answers in O(log n) even at
	// thousands of decisions a second: run times per playbook and mode,
	// all run times per mode, and the last run per target.
	byPlaybook map[string][]time.Time // playbook|mode -> times, ascending
	all        map[bool][]time.Time   // mode -> times, ascending
	last       map[string]time.Time   // playbook|target|mode -> time
	pruned     time.Time
	protSnap   *snapshot.Snapshot
	protNodes  map[string]string
}

type window struct {
	name     string
	schedule cron.Schedule
	dur      time.Duration
	start    time.Time
	end      time.Time
}

func mode(dry bool) string {
	if dry {
		return "|dry"
	}
	return "|act"
}

// NewGuards builds the guards from the (validated) config.
func NewGuards(cfg rules.GuardsConfig) (*Guards, error) {
	g := &Guards{cfg: cfg, cooldown: cfg.Cooldown.Value(), paused: cfg.Paused,
		byPlaybook: map[string][]time.Time{}, all: map[bool][]time.Time{}, last: map[string]time.Time{}}
	if rl := cfg.RateLimit; rl != nil {
		g.rateMax, g.ratePer = rl.Max, rl.Per.Value()
	}
	f, err := rules.ParseFraction(cfg.MaxUnhealthy)
	if err != nil {
		return nil, fmt.Errorf("max_unhealthy: %w", err)
	}
	g.maxUnhealthy = f
	for i, m := range cfg.Maintenance {
		w := window{name: m.Name, dur: m.Duration.Value()}
		if w.name == "" {
			w.name = fmt.Sprintf("maintenance[%d]", i)
		}
		if m.Schedule != "" {
			s, err := rules.CronParser.Parse(m.Schedule)
			if err != nil {
				return nil, fmt.Errorf("maintenance %s: %w", w.name, err)
			}
			w.schedule = s
		} else {
			if w.start, err = time.Parse(time.RFC3339, m.Start); err != nil {
				return nil, fmt.Errorf("maintenance %s: %w", w.name, err)
			}
			if w.end, err = time.Parse(time.RFC3339, m.End); err != nil {
				return nil, fmt.Errorf("maintenance %s: %w", w.name, err)
			}
		}
		g.windows = append(g.windows, w)
	}
	return g, nil
}

// SetPaused switches the pause guard.
func (g *Guards) SetPaused(p bool) {
	g.mu.Lock()
	g.paused = p
	g.mu.Unlock()
}

// Paused reports the pause switch.
func (g *Guards) Paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// Seed loads acting runs recorded in the ledger (after a restart).
func (g *Guards) Seed(recs []*ledger.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b *ledger.Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, r := range recs {
		g.record(r.CreatedAt, r.Playbook, r.Target.String(), r.DryRun)
	}
}

// record notes an acting run; g.mu is held. Times arrive in order, except
// across a clock step, which insertion handles.
func (g *Guards) record(at time.Time, pb, target string, dry bool) {
	ins := func(ts []time.Time) []time.Time {
		i, _ := slices.BinarySearchFunc(ts, at, time.Time.Compare)
		for i < len(ts) && !ts[i].After(at) {
			i++
		}
		return slices.Insert(ts, i, at)
	}
	g.byPlaybook[pb+mode(dry)] = ins(g.byPlaybook[pb+mode(dry)])
	g.all[dry] = ins(g.all[dry])
	if k := pb + "|" + target + mode(dry); at.After(g.last[k]) {
		g.last[k] = at
	}
}

// Horizon is how far back Seed needs records.
func (g *Guards) Horizon(pbs []*rules.Playbook) time.Duration {
	h := max(g.cooldown, g.ratePer)
	for _, pb := range pbs {
		h = max(h, pb.Guards.Cooldown.Value())
		if pb.Guards.RateLimit != nil {
			h = max(h, pb.Guards.RateLimit.Per.Value())
		}
	}
	return h
}

// inMaintenance returns the window that covers now, if any.
func (g *Guards) inMaintenance(now time.Time) (string, bool) {
	for _, w := range g.windows {
		if w.schedule == nil {
			if !now.Before(w.start) && now.Before(w.end) {
				return w.name + " (until " + w.end.UTC().Format(time.RFC3339) + ")", true
			}
			continue
		}
		// The latest activation at or before now: step from now-dur.
		t := w.schedule.Next(now.Add(-w.dur - time.Second))
		if !t.After(now) && now.Before(t.Add(w.dur)) {
			return w.name + " (until " + t.Add(w.dur).UTC().Format(time.RFC3339) + ")", true
		}
	}
	return "", false
}

// decision is the input of Evaluate.
type decision struct {
	pb       *playbook
	target   checks.ObjectRef
	dryRun   bool
	now      time.Time
	snap     *snapshot.Snapshot
	sick     int // targets of the kind that look unhealthy now (alerts ∪ snapshot)
	pageOnly bool
	// plan judges without reserving the run (a proposal, not a decision).
	plan bool
}

// Evaluate runs every guard, records every verdict and, when all allow,
// reserves the run against the cooldown and rate limits. It returns the
// verdicts and the first refusal (nil when allowed).
func (g *Guards) Evaluate(d decision) ([]ledger.Verdict, *ledger.Verdict) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var vs []ledger.Verdict
	add := func(guard string, ok bool, format string, args ...any) {
		vs = append(vs, ledger.Verdict{Guard: guard, Allowed: ok, Reason: fmt.Sprintf(format, args...)})
	}
	key := d.target.String()
	pbName := d.pb.Name

	// Pause stops actions; a page-only playbook still pages.
	switch {
	case d.pageOnly:
		add(GuardPause, true, "page-only playbook: pages are not paused")
	case g.paused:
		add(GuardPause, false, "remediation is paused (patrol pause off, or guards.paused in the config)")
	default:
		add(GuardPause, true, "not paused")
	}

	if d.pageOnly {
		add(GuardProtected, true, "page-only playbook: nothing is written")
	} else if why, ok := g.protected(d.target, d.snap); ok {
		add(GuardProtected, false, "%s", why)
	} else {
		add(GuardProtected, true, "%s is not protected", key)
	}

	if w, ok := g.inMaintenance(d.now); ok {
		add(GuardMaintenance, false, "maintenance window %s", w)
	} else {
		add(GuardMaintenance, true, "no maintenance window open")
	}

	if d.pageOnly {
		add(GuardMaxUnhealthy, true, "page-only playbook: nothing is written")
	} else {
		limit := g.maxUnhealthy
		if d.pb.maxUnh > 0 {
			limit = d.pb.maxUnh
		}
		total := 0
		if d.snap != nil {
			total = d.snap.Count(snapshot.Kind(d.target.Kind))
		}
		switch {
		case total == 0:
			add(GuardMaxUnhealthy, false, "cannot tell how many %ss are unhealthy: none could be read from the cluster, so acting is unsafe", d.target.Kind)
		case float64(d.sick)/float64(total) > limit:
			add(GuardMaxUnhealthy, false, "%d of %d %ss (%.0f%%) look unhealthy, more than %.0f%%: the fault is likely the network or the control plane, not the %s; paging instead",
				d.sick, total, d.target.Kind, 100*float64(d.sick)/float64(total), 100*limit, strings.ToLower(d.target.Kind))
		default:
			add(GuardMaxUnhealthy, true, "%d of %d %ss (%.0f%%) look unhealthy, within %.0f%%", d.sick, total, d.target.Kind, 100*float64(d.sick)/float64(total), 100*limit)
		}
	}

	// Cooldown and rate limits count runs of the same mode (a dry run's
	// plan is judged as the real run would be, without using its budget).
	g.prune(d.now, d.pb)
	cooldown := g.cooldown
	if c := d.pb.Guards.Cooldown; c != "" {
		cooldown = c.Value()
	}
	if last, ok := g.last[pbName+"|"+key+mode(d.dryRun)]; ok && cooldown > 0 && d.now.Sub(last) < cooldown {
		add(GuardCooldown, false, "%s ran on %s %s ago; cooldown %s", pbName, key, d.now.Sub(last).Round(time.Second), cooldown)
	} else {
		add(GuardCooldown, true, "no run of %s on %s within %s", pbName, key, cooldown)
	}
	if rl := d.pb.Guards.RateLimit; rl != nil {
		n := count(g.byPlaybook[pbName+mode(d.dryRun)], d.now, rl.Per.Value())
		if n >= rl.Max {
			add(GuardRatePlaybook, false, "%s already ran %d times in the last %s (limit %d)", pbName, n, rl.Per, rl.Max)
		} else {
			add(GuardRatePlaybook, true, "%d of %d runs of %s in the last %s", n, rl.Max, pbName, rl.Per)
		}
	}
	if g.rateMax > 0 {
		n := count(g.all[d.dryRun], d.now, g.ratePer)
		if n >= g.rateMax {
			add(GuardRateGlobal, false, "%d runs of all playbooks in the last %s (limit %d)", n, g.ratePer, g.rateMax)
		} else {
			add(GuardRateGlobal, true, "%d of %d runs of all playbooks in the last %s", n, g.rateMax, g.ratePer)
		}
	}
	if d.dryRun {
		add(GuardDryRun, true, "dry run: the playbook is not enabled (or remediation.dry_run is set); nothing will be written or sent")
	}

	for i := range vs {
		if !vs[i].Allowed {
			v := vs[i]
			return vs, &v
		}
	}
	if !d.plan {
		g.record(d.now, pbName, key, d.dryRun)
	}
	return vs, nil
}

// count is how many times in ts (ascending) fall within per before now.
func count(ts []time.Time, now time.Time, per time.Duration) int {
	from := now.Add(-per)
	i, _ := slices.BinarySearchFunc(ts, from, time.Time.Compare)
	for i < len(ts) && !ts[i].After(from) {
		i++
	}
	return len(ts) - i
}

// prune drops runs older than every window that could still count them,
// at most once a minute.
func (g *Guards) prune(now time.Time, pb *playbook) {
	if now.Sub(g.pruned) < time.Minute {
		return
	}
	g.pruned = now
	h := max(g.cooldown, g.ratePer, 24*time.Hour)
	if pb != nil {
		h = max(h, pb.Guards.Cooldown.Value())
		if pb.Guards.RateLimit != nil {
			h = max(h, pb.Guards.RateLimit.Per.Value())
		}
	}
	from := now.Add(-h)
	cut := func(ts []time.Time) []time.Time {
		i, _ := slices.BinarySearchFunc(ts, from, time.Time.Compare)
		return slices.Clone(ts[i:])
	}
	for k, ts := range g.byPlaybook {
		if ts = cut(ts); len(ts) == 0 {
			delete(g.byPlaybook, k)
		} else {
			g.byPlaybook[k] = ts
		}
	}
	for k, ts := range g.all {
		g.all[k] = cut(ts)
	}
	for k, t := range g.last {
		if t.Before(from) {
			delete(g.last, k)
		}
	}
}

// protected says why a target must not be touched.
func (g *Guards) protected(t checks.ObjectRef, s *snapshot.Snapshot) (string, bool) {
	if t.Namespace != "" && slices.Contains(g.cfg.ProtectedNamespaces, t.Namespace) {
		return "namespace " + t.Namespace + " is protected (guards.protected_namespaces)", true
	}
	if t.Kind == string(snapshot.KindNamespace) && slices.Contains(g.cfg.ProtectedNamespaces, t.Name) {
		return "namespace " + t.Name + " is protected (guards.protected_namespaces)", true
	}
	if t.Kind != string(snapshot.KindNode) {
		return "", false
	}
	for _, pat := range g.cfg.ProtectedNodes {
		if ok, _ := path.Match(pat, t.Name); ok {
			return "node " + t.Name + " is protected (guards.protected_nodes " + pat + ")", true
		}
	}
	if l, ok := g.protectedLabels(s)[t.Name]; ok {
		return "node " + t.Name + " carries " + l + " (guards.protected_node_labels): control-plane nodes are not remediated", true
	}
	return "", false
}

// protectedLabels maps the snapshot's protected nodes to the label that
// protects them, computed once per snapshot; g.mu is held.
func (g *Guards) protectedLabels(s *snapshot.Snapshot) map[string]string {
	if s == nil {
		return nil
	}
	if g.protSnap == s {
		return g.protNodes
	}
	out := map[string]string{}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		for _, l := range g.cfg.ProtectedNodeLabels {
			if _, ok := n.Labels[l]; ok {
				out[n.Name] = l
				break
			}
		}
	}
	g.protSnap, g.protNodes = s, out
	return out
}
