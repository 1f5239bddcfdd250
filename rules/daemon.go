package rules

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DaemonConfig is patrold's configuration file. It carries the inspection
// config's `checks:` and `suppressions:` sections unchanged (same keys,
// same meaning as `patrol inspect --config`) beside the daemon's own
// settings. Durations are strings such as 30s, 5m, 36h or 7d.
type DaemonConfig struct {
	// Cluster names the cluster in reports, metrics and events.
	Cluster string `yaml:"cluster"`
	// Kubeconfig is a kubeconfig file; InCluster uses the pod's service
	// account. With neither, patrold runs in-cluster when it finds the
	// in-cluster environment and uses the default kubeconfig otherwise.
	Kubeconfig string `yaml:"kubeconfig"`
	InCluster  bool   `yaml:"in_cluster"`
	// Context selects a kubeconfig context (default: the current one).
	Context string `yaml:"context"`
	// Listen is the one address patrold serves /metrics, health probes,
	// reports and the API on.
	Listen string `yaml:"listen"`
	// StateFile keeps the finding lifecycle across restarts; empty keeps
	// it in memory only.
	StateFile string `yaml:"state_file"`
	// SyncTimeout bounds the wait for the informer caches at start-up;
	// kinds still not synced then are reported as coverage gaps.
	SyncTimeout Duration `yaml:"sync_timeout"`
	// Jitter and CheckTimeout are the defaults of every group.
	Jitter       Duration `yaml:"jitter"`
	CheckTimeout Duration `yaml:"check_timeout"`
	// Groups are the check groups, each on its own cron schedule.
	Groups []GroupConfig `yaml:"groups"`
	// Lifecycle is the finding state machine: pending → firing → resolved.
	Lifecycle LifecycleConfig `yaml:"lifecycle"`
	// Events configures Kubernetes Events for findings that start firing.
	Events EventsConfig `yaml:"events"`
	// LeaderElection elects the one replica that acts (emits Events).
	LeaderElection LeaderElectionConfig `yaml:"leader_election"`
	// Reports configures report retention.
	Reports ReportsConfig `yaml:"reports"`
	// Remediation configures alert intake, playbooks, guards, pagers and
	// the evidence ledger.
	Remediation RemediationConfig `yaml:"remediation"`

	// Checks and Suppressions are the inspection config's sections.
	Checks       map[string]CheckConfig `yaml:"checks"`
	Suppressions []SuppressionConfig    `yaml:"suppressions"`

	// File is the path the config was read from; Positions locate values.
	File      string    `yaml:"-"`
	Positions Positions `yaml:"-"`
}

// GroupConfig is one group of checks on one schedule.
type GroupConfig struct {
	// Name is the group's lower snake case name (a metric label value).
	Name string `yaml:"name"`
	// Schedule is a cron expression with optional seconds
	// ("*/30 * * * * *", "0 */5 * * * *", "*/5 * * * *") or a descriptor
	// ("@every 1m", "@hourly").
	Schedule string `yaml:"schedule"`
	// Checks selects checks by ID or family ("node", "pod.crash_looping");
	// empty means every enabled check.
	Checks []string `yaml:"checks"`
	// Skip removes checks (IDs or families) from the selection.
	Skip []string `yaml:"skip"`
	// Jitter delays each run by a fixed offset in [0, jitter), derived
	// from the instance's identity and the group name, so that many
	// daemons on the same schedule spread their load.
	Jitter Duration `yaml:"jitter"`
	// CheckTimeout bounds each check of the group.
	CheckTimeout Duration `yaml:"check_timeout"`
}

// LifecycleConfig sets how long a finding must persist before it fires
// and how long it keeps firing after it clears.
type LifecycleConfig struct {
	// For is how long a finding stays pending before it fires (default 0:
	// it fires on the first sweep that sees it).
	For Duration `yaml:"for"`
	// KeepFiringFor keeps a cleared finding firing this long, so that a
	// flapping fault is announced once, not on every return.
	KeepFiringFor Duration `yaml:"keep_firing_for"`
	// ResolvedRetention keeps resolved findings this long (default 1h).
	ResolvedRetention Duration `yaml:"resolved_retention"`
	// Checks overrides for and keep_firing_for per check ID.
	Checks map[string]LifecycleCheckConfig `yaml:"checks"`
}

// LifecycleCheckConfig overrides the lifecycle of one check.
type LifecycleCheckConfig struct {
	For           Duration `yaml:"for"`
	KeepFiringFor Duration `yaml:"keep_firing_for"`
}

// EventsConfig configures Kubernetes Events.
type EventsConfig struct {
	// Enabled emits a Warning Event on the object of each critical finding
	// when it starts firing (only the leader emits).
	Enabled bool `yaml:"enabled"`
	// RatePerMinute and Burst bound emission (defaults 30 and 10).
	RatePerMinute float64 `yaml:"rate_per_minute"`
	Burst         int     `yaml:"burst"`
	// Severity is the lowest severity that emits (default critical).
	Severity string `yaml:"severity"`
}

// LeaderElectionConfig configures the coordination.k8s.io Lease.
type LeaderElectionConfig struct {
	Enabled bool `yaml:"enabled"`
	// Namespace and Name locate the Lease (defaults kube-system, patrold).
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// Identity is this replica's holder identity (default: hostname_pid).
	Identity string `yaml:"identity"`
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (defaults 15s, 10s, 2s).
	LeaseDuration Duration `yaml:"lease_duration"`
	RenewDeadline Duration `yaml:"renew_deadline"`
	RetryPeriod   Duration `yaml:"retry_period"`
}

// ReportsConfig configures report retention.
type ReportsConfig struct {
	// Dir, when set, receives every sweep's report as JSON.
	Dir string `yaml:"dir"`
	// Keep is how many reports to keep in Dir (default 24).
	Keep int `yaml:"keep"`
	// MaxAge removes reports older than this from Dir (default: none).
	MaxAge Duration `yaml:"max_age"`
}

// Duration is a duration as written in a config file: a Go duration or
// one with d (day) and w (week) units.
type Duration string

// Value parses d; the empty string and invalid values (which Validate
// rejects) are 0.
func (d Duration) Value() time.Duration {
	v, _ := ParseDuration(string(d))
	return v
}

// Defaults of the daemon config.
const (
	DefaultListen            = ":8080"
	DefaultSchedule          = "@every 1m"
	DefaultJitter            = Duration("10s")
	DefaultCheckTimeout      = Duration("10s")
	DefaultSyncTimeout       = Duration("2m")
	DefaultResolvedRetention = Duration("1h")
	DefaultLeaseNamespace    = "kube-system"
	DefaultLeaseName         = "patrold"
	DefaultLeaseDuration     = Duration("15s")
	DefaultRenewDeadline     = Duration("10s")
	DefaultRetryPeriod       = Duration("2s")
	DefaultEventsPerMinute   = 30
	DefaultEventsBurst       = 10
	DefaultReportsKeep       = 24
)

// CronParser parses group schedules: five fields, or six with seconds
// first, or a descriptor such as "@every 30s".
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var groupName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// LoadDaemonConfig reads, strictly decodes, defaults and validates a
// daemon config file. Every error names file:line:col.
func LoadDaemonConfig(path string) (*DaemonConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDaemonConfig(path, data)
}

// ParseDaemonConfig is LoadDaemonConfig over bytes; file names them in
// errors.
func ParseDaemonConfig(file string, data []byte) (*DaemonConfig, error) {
	c := &DaemonConfig{}
	pos, err := decodeStrict(file, data, c)
	if err != nil {
		return nil, err
	}
	c.File, c.Positions = file, pos
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *DaemonConfig) setDefaults() {
	def := func(d *Duration, v Duration) {
		if *d == "" {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	def(&c.Jitter, DefaultJitter)
	def(&c.CheckTimeout, DefaultCheckTimeout)
	def(&c.SyncTimeout, DefaultSyncTimeout)
	if len(c.Groups) == 0 {
		c.Groups = []GroupConfig{{Name: "all", Schedule: DefaultSchedule}}
	}
	// Groups inherit the top-level values; an invalid one is reported
	// once, at the top level.
	for i := range c.Groups {
		g := &c.Groups[i]
		if validDuration(c.Jitter) {
			def(&g.Jitter, c.Jitter)
		}
		if validDuration(c.CheckTimeout) {
			def(&g.CheckTimeout, c.CheckTimeout)
		}
	}
	def(&c.Lifecycle.ResolvedRetention, DefaultResolvedRetention)
	if c.Events.RatePerMinute == 0 {
		c.Events.RatePerMinute = DefaultEventsPerMinute
	}
	if c.Events.Burst == 0 {
		c.Events.Burst = DefaultEventsBurst
	}
	if c.Events.Severity == "" {
		c.Events.Severity = "critical"
	}
	le := &c.LeaderElection
	if le.Namespace == "" {
		le.Namespace = DefaultLeaseNamespace
	}
	if le.Name == "" {
		le.Name = DefaultLeaseName
	}
	def(&le.LeaseDuration, DefaultLeaseDuration)
	def(&le.RenewDeadline, DefaultRenewDeadline)
	def(&le.RetryPeriod, DefaultRetryPeriod)
	if c.Reports.Keep == 0 {
		c.Reports.Keep = DefaultReportsKeep
	}
	c.Remediation.setDefaults()
}

// Validate checks what can be checked without the check catalogue (check
// IDs are the daemon's to validate). Errors carry file:line:col and are
// joined.
func (c *DaemonConfig) Validate() error {
	pos := c.Positions
	pr := &problems{pos: pos}
	fail, dur := pr.fail, pr.dur
	if c.Kubeconfig != "" && c.InCluster {
		fail("in_cluster", "in_cluster: set either kubeconfig or in_cluster, not both")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		fail("listen", "listen: want host:port or :port, got %q", c.Listen)
	}
	dur("jitter", c.Jitter)
	if d := dur("check_timeout", c.CheckTimeout); d <= 0 && validDuration(c.CheckTimeout) {
		fail("check_timeout", "check_timeout: must be positive")
	}
	dur("sync_timeout", c.SyncTimeout)

	seen := map[string]int{}
	for i, g := range c.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		switch {
		case g.Name == "":
			fail(p, "group needs a name")
		case !groupName.MatchString(g.Name):
			fail(p+".name", "group name %q: want lower snake case (it is a metric label value)", g.Name)
		default:
			if j, dup := seen[g.Name]; dup {
				fail(p+".name", "group name %q already used by groups[%d]", g.Name, j)
			} else {
				seen[g.Name] = i
			}
		}
		if g.Schedule == "" {
			fail(p, "group %q needs a schedule (cron or @every)", g.Name)
		} else if _, err := CronParser.Parse(g.Schedule); err != nil {
			fail(p+".schedule", "schedule %q: %v", g.Schedule, err)
		}
		dur(p+".jitter", g.Jitter)
		if d := dur(p+".check_timeout", g.CheckTimeout); d <= 0 && validDuration(g.CheckTimeout) {
			fail(p+".check_timeout", "%s.check_timeout: must be positive", p)
		}
	}

	lc := c.Lifecycle
	dur("lifecycle.for", lc.For)
	dur("lifecycle.keep_firing_for", lc.KeepFiringFor)
	dur("lifecycle.resolved_retention", lc.ResolvedRetention)
	for _, id := range slices.Sorted(maps.Keys(lc.Checks)) {
		dur("lifecycle.checks."+id+".for", lc.Checks[id].For)
		dur("lifecycle.checks."+id+".keep_firing_for", lc.Checks[id].KeepFiringFor)
	}

	if c.Events.RatePerMinute < 0 {
		fail("events.rate_per_minute", "events.rate_per_minute: must be positive, got %v", c.Events.RatePerMinute)
	}
	if c.Events.Burst < 0 {
		fail("events.burst", "events.burst: must be positive, got %d", c.Events.Burst)
	}
	switch c.Events.Severity {
	case "info", "warning", "critical":
	default:
		fail("events.severity", "events.severity: unknown severity %q (want info, warning or critical)", c.Events.Severity)
	}

	le := c.LeaderElection
	ld := dur("leader_election.lease_duration", le.LeaseDuration)
	rd := dur("leader_election.renew_deadline", le.RenewDeadline)
	rp := dur("leader_election.retry_period", le.RetryPeriod)
	if ld > 0 && rd > 0 && rp > 0 {
		if ld <= rd {
			fail("leader_election.renew_deadline", "leader_election: renew_deadline (%s) must be shorter than lease_duration (%s)", rd, ld)
		}
		if float64(rd) <= 1.2*float64(rp) {
			fail("leader_election.retry_period", "leader_election: retry_period (%s) must be shorter than renew_deadline/1.2 (%s)", rp, rd)
		}
	}

	if c.Reports.Keep < 0 {
		fail("reports.keep", "reports.keep: must be positive, got %d", c.Reports.Keep)
	}
	dur("reports.max_age", c.Reports.MaxAge)

	errs := append(pr.errs, c.Remediation.validate(pos)...)
	errs = append(errs, validateSuppressions(c.Suppressions, pos)...)
	return errors.Join(errs...)
}

// Inspection returns the inspection part of the config (checks and
// suppressions) with the same file and positions, for the code that
// applies an inspection config to the catalogue.
func (c *DaemonConfig) Inspection() *Config {
	return &Config{Checks: c.Checks, Suppressions: c.Suppressions, File: c.File, Positions: c.Positions}
}

// validateSuppressions checks suppressions as ParseConfig does.
func validateSuppressions(sups []SuppressionConfig, pos Positions) []error {
	var errs []error
	for i, s := range sups {
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
	return errs
}

func validDuration(d Duration) bool {
	_, err := ParseDuration(string(d))
	return err == nil
}

// ParseDuration parses a Go duration, also with d (day) and w (week)
// units and fractions of them ("7d", "1w2d", "0.5d", "36h"); the empty
// string and "0" are 0. The config files, playbooks and check parameters
// all read durations with it.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 36h, 7d)", s)
		}
		num, unit := rest[:i], rest[i:j]
		switch unit {
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 36h, 7d)", s)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			total += time.Duration(n * float64(day))
		default:
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 36h, 7d)", s)
			}
			total += d
		}
		rest = rest[j:]
	}
	if total < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return total, nil
}

// problems collects a validator's errors, each prefixed with the
// file:line:col of the YAML path it is about.
type problems struct {
	pos  Positions
	errs []error
}

// fail records an error about path.
func (p *problems) fail(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.pos.Pos(path), fmt.Sprintf(format, args...)))
}

// dur parses the duration at path, recording an error (and returning 0)
// when it is not one.
func (p *problems) dur(path string, d Duration) time.Duration {
	v, err := ParseDuration(string(d))
	if err != nil {
		p.fail(path, "%s: %v", path, err)
	}
	return v
}
