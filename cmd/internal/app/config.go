// Package app wires kubepatrol's parts together for both binaries: it
// applies a config file to the check catalogue, collects snapshots from a
// cluster or a recording, runs the checks and builds reports.
package app

import (
	"errors"
	"fmt"
	"sort"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/rules"
)

// Settings is a config applied to the catalogue.
type Settings struct {
	Checks       []checks.Check
	Params       map[string]checks.Params
	Suppressions []analysis.Suppression
}

type overridden struct {
	checks.Check
	meta checks.Meta
}

func (o overridden) Meta() checks.Meta { return o.meta }

// Configure applies cfg (nil means defaults) to the built-in catalogue.
// Unknown check IDs, parameters and severities are errors with the
// config's file:line:col.
func Configure(cfg *rules.Config) (Settings, error) {
	all := catalog.All()
	st := Settings{Params: map[string]checks.Params{}}
	byID := map[string]checks.Check{}
	for _, c := range all {
		byID[c.Meta().ID] = c
	}
	var errs []error
	disabled := map[string]bool{}
	if cfg != nil {
		ids := make([]string, 0, len(cfg.Checks))
		for id := range cfg.Checks {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			cc := cfg.Checks[id]
			path := "checks." + id
			c, ok := byID[id]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: unknown check %q (see `patrol checks list`)", cfg.Positions.Pos(path), id))
				continue
			}
			m := c.Meta()
			if cc.Enabled != nil && !*cc.Enabled {
				disabled[id] = true
			}
			if cc.Severity != "" {
				sev, err := checks.ParseSeverity(cc.Severity)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", cfg.Positions.Pos(path+".severity"), err))
				} else {
					m.Severity = sev
					byID[id] = overridden{Check: c, meta: m}
				}
			}
			if len(cc.Params) > 0 {
				names := make([]string, 0, len(cc.Params))
				for name := range cc.Params {
					names = append(names, name)
				}
				sort.Strings(names)
				for _, name := range names {
					if _, err := checks.ResolveParams(m, map[string]string{name: cc.Params[name]}); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", cfg.Positions.Pos(path+".params."+name), err))
					}
				}
				if p, err := checks.ResolveParams(m, cc.Params); err == nil {
					st.Params[id] = p
				}
			}
		}
		for i, s := range cfg.Suppressions {
			exp, _ := s.ExpiryTime() // validated by rules.ParseConfig
			st.Suppressions = append(st.Suppressions, analysis.Suppression{
				Check: s.Check, Kind: s.Kind, Namespace: s.Namespace, Name: s.Name,
				Reason: s.Reason, Owner: s.Owner, Expires: exp,
				Where: cfg.Positions.Pos(fmt.Sprintf("suppressions[%d]", i)),
			})
		}
	}
	if len(errs) > 0 {
		return st, errors.Join(errs...)
	}
	for _, c := range all {
		id := c.Meta().ID
		if !disabled[id] {
			st.Checks = append(st.Checks, byID[id])
		}
	}
	return st, nil
}

// LoadSettings reads an optional config file and applies it.
func LoadSettings(path string) (Settings, error) {
	if path == "" {
		return Configure(nil)
	}
	cfg, err := rules.LoadConfig(path)
	if err != nil {
		return Settings{}, err
	}
	return Configure(cfg)
}
