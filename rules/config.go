package rules

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Config is the inspection configuration shared by `patrol inspect
// --config` and patrold: per-check settings and suppressions.
type Config struct {
	// Checks configures checks by ID.
	Checks map[string]CheckConfig `yaml:"checks"`
	// Suppressions silence findings, each with a reason and an expiry.
	Suppressions []SuppressionConfig `yaml:"suppressions"`

	// File is the path the config was read from; Positions locate values.
	File      string    `yaml:"-"`
	Positions Positions `yaml:"-"`
}

// CheckConfig configures one check.
type CheckConfig struct {
	// Enabled turns a check off (false) or on.
	Enabled *bool `yaml:"enabled"`
	// Severity overrides the check's default severity.
	Severity string `yaml:"severity"`
	// Params overrides thresholds by name.
	Params map[string]string `yaml:"params"`
}

// SuppressionConfig is one suppression as written in a config file.
type SuppressionConfig struct {
	Check     string `yaml:"check"`
	Kind      string `yaml:"kind"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	Reason    string `yaml:"reason"`
	Owner     string `yaml:"owner"`
	// Expires is a date (2026-12-31) or an RFC 3339 time.
	Expires string `yaml:"expires"`
}

// ExpiryTime parses Expires.
func (s SuppressionConfig) ExpiryTime() (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s.Expires); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s.Expires)
	if err != nil {
		return time.Time{}, fmt.Errorf("expires: want a date (2026-12-31) or RFC 3339 time, got %q", s.Expires)
	}
	return t.UTC(), nil
}

// LoadConfig reads and strictly decodes a config file and validates what
// it can without the check catalogue. Every error names file:line:col.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig over bytes; file names them in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	c := &Config{}
	pos, err := decodeStrict(file, data, c)
	if err != nil {
		return nil, err
	}
	c.File, c.Positions = file, pos
	var errs []error
	for i, s := range c.Suppressions {
		p := fmt.Sprintf("suppressions[%d]", i)
		if s.Check == "" {
			errs = append(errs, fmt.Errorf("%s: suppression needs a check (ID, family or glob)", pos.Pos(p)))
		}
		if s.Reason == "" {
			errs = append(errs, fmt.Errorf("%s: suppression of %q needs a reason", pos.Pos(p), s.Check))
		}
		if s.Expires == "" {
			errs = append(errs, fmt.Errorf("%s: suppression of %q needs an expiry date (expires: 2026-12-31)", pos.Pos(p), s.Check))
		} else if _, err := s.ExpiryTime(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pos.Pos(p+".expires"), err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}
