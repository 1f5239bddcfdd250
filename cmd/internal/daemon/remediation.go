package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/actions"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

// LoadPlaybooks loads the configured playbooks (relative paths from the
// config file's folder), or the shipped ones when none are configured, and
// checks that every check they name exists.
func LoadPlaybooks(f *rules.DaemonConfig) ([]*rules.Playbook, error) {
	var pbs []*rules.Playbook
	var err error
	if len(f.Remediation.Playbooks) == 0 {
		pbs, err = rules.BuiltinPlaybooks()
	} else {
		paths := make([]string, len(f.Remediation.Playbooks))
		for i, p := range f.Remediation.Playbooks {
			paths[i] = relTo(f.File, p)
		}
		pbs, err = rules.LoadPlaybooks(paths...)
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, pb := range pbs {
		if err := ValidatePlaybookChecks(pb); err != nil {
			errs = append(errs, err)
		}
		// A playbook may only page pagers the config defines.
		pagers := func(field string, names []string) {
			for i, name := range names {
				if _, ok := f.Remediation.Pagers[name]; !ok {
					errs = append(errs, fmt.Errorf("%s: %s: pager %q is not defined in %s (remediation.pagers)",
						pb.Positions.Pos(fmt.Sprintf("%s[%d]", field, i)), field, name, f.File))
				}
			}
		}
		if pb.Escalate != nil {
			pagers("escalate.pagers", pb.Escalate.Pagers)
		}
		for i, st := range pb.Steps {
			if p := st.Params["pagers"]; st.Action == "page" && p != "" {
				pagers(fmt.Sprintf("steps[%d].params.pagers", i), strings.Split(p, ","))
			}
		}
	}
	return pbs, errors.Join(errs...)
}

// ValidatePlaybookChecks rejects check IDs and families the catalogue
// does not have.
func ValidatePlaybookChecks(pb *rules.Playbook) error {
	all := catalog.All()
	return pb.ValidateCheckIDs(func(id string) bool {
		_, err := catalog.Select(all, []string{id}, nil)
		return err == nil
	})
}

func relTo(configFile, p string) string {
	if filepath.IsAbs(p) || configFile == "" {
		return p
	}
	return filepath.Join(filepath.Dir(configFile), p)
}

// secret reads a value given inline or in a file (trailing newline cut).
func secret(configFile, inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(relTo(configFile, file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// remediationSetup is the engine and what it needs, built once at start.
type remediationSetup struct {
	engine *remediation.Engine
	ledger *ledger.Ledger
	http   remediation.HTTPOptions
}

// setupRemediation opens the ledger and builds actions, pagers and the
// engine. Options.Ledger, when set, replaces the configured ledger.
func (d *Daemon) setupRemediation(ctx context.Context, cfg *Config) error {
	f := cfg.File
	r := f.Remediation
	var err error
	l := d.opt.Ledger
	if l == nil {
		lc := ledger.Config{Driver: r.Ledger.Driver, Path: relTo(f.File, r.Ledger.Path), Now: d.clock.Now}
		if r.Ledger.Driver == "postgres" {
			if lc.DSN, err = secret(f.File, r.Ledger.DSN, r.Ledger.DSNFile); err != nil {
				return fmt.Errorf("remediation.ledger.dsn_file: %w", err)
			}
		}
		if l, err = ledger.Open(ctx, lc); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	d.ledger = l
	hc := &http.Client{Timeout: time.Minute}
	pagers := map[string]remediation.Pager{}
	for name, pc := range r.Pagers {
		spec := actions.PagerSpec{Type: pc.Type, Headers: pc.Headers, Timeout: pc.Timeout.Value(), MaxAttempts: pc.MaxAttempts}
		if spec.URL, err = secret(f.File, pc.URL, pc.URLFile); err != nil {
			return fmt.Errorf("remediation.pagers.%s.url_file: %w", name, err)
		}
		if spec.RoutingKey, err = secret(f.File, pc.RoutingKey, pc.RoutingKeyFile); err != nil {
			return fmt.Errorf("remediation.pagers.%s.routing_key_file: %w", name, err)
		}
		if spec.Token, err = secret(f.File, pc.Token, pc.TokenFile); err != nil {
			return fmt.Errorf("remediation.pagers.%s.token_file: %w", name, err)
		}
		p, err := actions.NewPager(spec, hc)
		if err != nil {
			return fmt.Errorf("remediation.pagers.%s: %w", name, err)
		}
		pagers[name] = p
	}
	acts := map[string]remediation.Action{}
	if d.kube != nil {
		acts = actions.Cluster(d.kube, actions.Options{Logger: d.log.With("component", "actions"), Now: d.clock.Now, Instance: DefaultIdentity()})
	}
	d.remediationMetrics = remediation.NewMetrics(d.reg)
	eng, err := remediation.New(remediation.Options{
		Cluster: d.cluster, Ledger: l, Actions: acts, Pagers: pagers, Playbooks: cfg.Playbooks,
		Guards: r.Guards, DryRun: r.DryRun,
		Snapshot:        func(ctx context.Context) *snapshot.Snapshot { return d.source.Snapshot(ctx) },
		Catalog:         cfg.Settings.Checks,
		Params:          cfg.Settings.Params,
		CheckTimeout:    f.CheckTimeout.Value(),
		Workers:         r.Workers,
		SnapshotMaxAge:  2 * time.Second,
		ApprovalTimeout: r.Guards.ApprovalTimeout.Value(),
		ReportURL:       r.ReportURL,
		Tracer:          d.tracer,
		Logger:          d.log.With("component", "remediation"),
		Metrics:         d.remediationMetrics,
		AfterAction:     d.opt.AfterAction,
	})
	if err != nil {
		return err
	}
	token, err := secret(f.File, r.Webhook.BearerToken, r.Webhook.BearerTokenFile)
	if err != nil {
		return fmt.Errorf("remediation.webhook.bearer_token_file: %w", err)
	}
	admin, err := secret(f.File, r.Guards.ApprovalToken, r.Guards.ApprovalTokenFile)
	if err != nil {
		return fmt.Errorf("remediation.guards.approval_token_file: %w", err)
	}
	d.remediation = &remediationSetup{engine: eng, ledger: l, http: remediation.HTTPOptions{
		WebhookPath: r.Webhook.Path, WebhookToken: token, AdminToken: admin, MaxBodyBytes: r.Webhook.MaxBodyBytes,
		Markdown: ledger.WriteMarkdown,
	}}
	enabled := 0
	for _, pb := range cfg.Playbooks {
		if pb.Enabled && !r.DryRun {
			enabled++
		}
	}
	d.log.Info("remediation on", "playbooks", len(cfg.Playbooks), "enabled", enabled, "ledger", l.Driver(),
		"webhook", r.Webhook.Path, "pagers", len(pagers), "paused", r.Guards.Paused)
	return nil
}

// runRemediation runs the engine while this replica leads, and stops it
// when leadership is lost.
func (d *Daemon) runRemediation(ctx context.Context) error {
	for {
		// Wait to lead.
		for !d.IsLeader() {
			t := d.clock.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
		}
		if err := d.leadRemediation(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// leadRemediation runs the engine until ctx ends or leadership is lost.
func (d *Daemon) leadRemediation(ctx context.Context) error {
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.remediation.engine.Run(ectx) }()
	d.log.Info("remediation engine started (this replica leads)")
	for {
		t := d.clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			<-done
			return nil
		case err := <-done:
			t.Stop()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("remediation: %w", err)
			}
			return nil
		case <-t.C():
			if !d.IsLeader() {
				cancel()
				<-done
				d.log.Info("remediation engine stopped (leadership lost)")
				return nil
			}
		}
	}
}

// remediate hands findings that start firing to the engine (suppressed
// ones excepted).
func (d *Daemon) remediate(ctx context.Context, transitions []analysis.Transition, cfg *Config, now time.Time) {
	for _, t := range transitions {
		if !t.Announce() {
			continue
		}
		if kept, _, _ := analysis.Suppress([]checks.Finding{t.Finding}, cfg.Settings.Suppressions, now); len(kept) == 0 {
			continue
		}
		o, err := d.remediation.engine.Finding(ctx, t.Finding)
		if err != nil {
			d.log.Error("remediation: cannot record a decision for a finding", "check", t.Finding.Check, "object", t.Finding.Object.String(), "err", err)
			continue
		}
		if o.Result == "decided" {
			d.log.Info("remediation: finding triggered a playbook", "check", t.Finding.Check, "object", t.Finding.Object.String(),
				"playbook", o.Playbook, "record", o.RecordID, "state", o.State)
		}
	}
}
