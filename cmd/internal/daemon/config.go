package daemon

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/cmd/internal/app"
	"github.com/kubepatrol/patrol/rules"
)

// Config is a validated daemon config applied to the check catalogue.
type Config struct {
	// File is the config as written (with defaults applied).
	File *rules.DaemonConfig
	// Settings are the enabled checks, their parameters and suppressions.
	Settings app.Settings
	Groups   []Group
	Policies analysis.Policies
	// EventSeverity is the lowest severity that emits an Event.
	EventSeverity checks.Severity
	// Playbooks are the remediation playbooks (when remediation is on).
	Playbooks []*rules.Playbook
}

// Group is one check group on its schedule.
type Group struct {
	Name         string
	Spec         string
	Schedule     cron.Schedule
	Checks       []checks.Check
	Jitter       time.Duration
	CheckTimeout time.Duration
}

// LoadConfig reads a daemon config file, validates it strictly and applies
// it to the catalogue. Every error names file:line:col; all are reported
// at once.
func LoadConfig(path string) (*Config, error) {
	f, err := rules.LoadDaemonConfig(path)
	if err != nil {
		return nil, err
	}
	return Apply(f)
}

// Apply applies a decoded daemon config to the check catalogue.
func Apply(f *rules.DaemonConfig) (*Config, error) {
	var errs []error
	st, err := app.Configure(f.Inspection())
	if err != nil {
		errs = append(errs, err)
	}
	c := &Config{File: f, Settings: st}
	pos := f.Positions
	all := catalog.All()
	for i, g := range f.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		for j, sel := range g.Checks {
			if _, err := catalog.Select(all, []string{sel}, nil); err != nil {
				errs = append(errs, fmt.Errorf("%s: group %q: %w", pos.Pos(fmt.Sprintf("%s.checks[%d]", p, j)), g.Name, err))
			}
		}
		for j, sel := range g.Skip {
			if _, err := catalog.Select(all, []string{sel}, nil); err != nil {
				errs = append(errs, fmt.Errorf("%s: group %q: %w", pos.Pos(fmt.Sprintf("%s.skip[%d]", p, j)), g.Name, err))
			}
		}
		sched, err := rules.CronParser.Parse(g.Schedule)
		if err != nil {
			continue // reported by Validate
		}
		group := Group{Name: g.Name, Spec: g.Schedule, Schedule: sched, Jitter: g.Jitter.Value(), CheckTimeout: g.CheckTimeout.Value()}
		if len(errs) == 0 {
			group.Checks, _ = catalog.Select(st.Checks, g.Checks, g.Skip)
			if len(group.Checks) == 0 {
				errs = append(errs, fmt.Errorf("%s: group %q selects no enabled check", pos.Pos(p), g.Name))
			}
		}
		c.Groups = append(c.Groups, group)
	}
	known := catalog.ByID()
	lc := f.Lifecycle
	c.Policies = analysis.Policies{
		Default:           analysis.Policy{For: lc.For.Value(), KeepFiringFor: lc.KeepFiringFor.Value()},
		Checks:            map[string]analysis.Policy{},
		ResolvedRetention: lc.ResolvedRetention.Value(),
	}
	for _, id := range slices.Sorted(maps.Keys(lc.Checks)) {
		if _, ok := known[id]; !ok {
			errs = append(errs, fmt.Errorf("%s: unknown check %q (see `patrol checks list`)", pos.Pos("lifecycle.checks."+id), id))
			continue
		}
		o := lc.Checks[id]
		p := c.Policies.Default
		if o.For != "" {
			p.For = o.For.Value()
		}
		if o.KeepFiringFor != "" {
			p.KeepFiringFor = o.KeepFiringFor.Value()
		}
		c.Policies.Checks[id] = p
	}
	c.EventSeverity, _ = checks.ParseSeverity(f.Events.Severity)
	if f.Remediation.Enabled {
		pbs, err := LoadPlaybooks(f)
		if err != nil {
			errs = append(errs, err)
		}
		c.Playbooks = pbs
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// CheckFile validates a config file offline (patrold --config.check).
func CheckFile(path string) error {
	_, err := LoadConfig(path)
	return err
}

// restartOnly lists the settings a reload cannot change: the process must
// restart to bind a new address, reach another cluster or change its
// leader election.
func restartOnly(old, next *rules.DaemonConfig) error {
	var changed []string
	cmp := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			changed = append(changed, name)
		}
	}
	cmp("cluster", old.Cluster, next.Cluster)
	cmp("kubeconfig", old.Kubeconfig, next.Kubeconfig)
	cmp("in_cluster", old.InCluster, next.InCluster)
	cmp("context", old.Context, next.Context)
	cmp("listen", old.Listen, next.Listen)
	cmp("state_file", old.StateFile, next.StateFile)
	cmp("sync_timeout", old.SyncTimeout, next.SyncTimeout)
	cmp("leader_election", old.LeaderElection, next.LeaderElection)
	// Playbooks reload; the rest of remediation (ledger, webhook, guards,
	// pagers) is wired once.
	oldR, nextR := old.Remediation, next.Remediation
	oldR.Playbooks, nextR.Playbooks = nil, nil
	cmp("remediation (other than playbooks)", oldR, nextR)
	if len(changed) > 0 {
		return fmt.Errorf("%s: changing %s requires a restart; the running config is kept", next.File, strings.Join(changed, ", "))
	}
	return nil
}
