package rules

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"
)

// RemediationConfig is the daemon config's `remediation:` section: the
// Alertmanager intake, the playbooks, the guards every action passes, the
// pagers and the evidence ledger.
type RemediationConfig struct {
	// Enabled turns the intake and the engine on (default off).
	Enabled bool `yaml:"enabled"`
	// DryRun forces every playbook to dry-run, enabled or not.
	DryRun bool `yaml:"dry_run"`
	// Playbooks are playbook files or folders; empty uses the shipped ones
	// (all of which ship disabled).
	Playbooks []string `yaml:"playbooks"`
	// Findings lets findings from scheduled sweeps trigger playbooks when
	// they start firing (default true).
	Findings *bool `yaml:"findings"`
	// Workers run decisions' steps concurrently (default 4).
	Workers int `yaml:"workers"`
	// ReportURL is linked from pages (e.g. https://patrold.example.com).
	ReportURL string        `yaml:"report_url"`
	Ledger    LedgerConfig  `yaml:"ledger"`
	Webhook   WebhookConfig `yaml:"webhook"`
	Guards    GuardsConfig  `yaml:"guards"`
	// Pagers are named notification targets that playbooks escalate to.
	Pagers map[string]PagerConfig `yaml:"pagers"`
}

// LedgerConfig locates the evidence ledger.
type LedgerConfig struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// Path is the SQLite file (default patrol-ledger.db).
	Path string `yaml:"path"`
	// DSN or DSNFile is the PostgreSQL connection URL.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
}

// WebhookConfig configures the Alertmanager webhook receiver.
type WebhookConfig struct {
	// Path is where Alertmanager posts (default /api/v1/alerts).
	Path string `yaml:"path"`
	// BearerToken or BearerTokenFile, when set, is required in the
	// Authorization header (401 without it). Alertmanager sends it with
	// http_config.authorization.credentials(_file).
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// GuardsConfig is the one guard layer every action passes.
type GuardsConfig struct {
	// Paused refuses every action (also switchable at run time).
	Paused bool `yaml:"paused"`
	// Cooldown is the default minimum time between two acting runs of a
	// playbook on one target (default 1h).
	Cooldown Duration `yaml:"cooldown"`
	// RateLimit bounds acting runs across all playbooks (default 20 per 1h).
	RateLimit *RateLimit `yaml:"rate_limit"`
	// MaxUnhealthy is the default fraction ("30%") of a kind that may look
	// sick at once before playbooks page instead of acting.
	MaxUnhealthy string `yaml:"max_unhealthy"`
	// ProtectedNamespaces are never acted on (default kube-system).
	ProtectedNamespaces []string `yaml:"protected_namespaces"`
	// ProtectedNodeLabels protect nodes carrying any of these label keys
	// (default the control-plane role labels).
	ProtectedNodeLabels []string `yaml:"protected_node_labels"`
	// ProtectedNodes are node names (globs) never acted on.
	ProtectedNodes []string `yaml:"protected_nodes"`
	// Maintenance windows refuse actions while planned work is under way.
	Maintenance []MaintenanceWindow `yaml:"maintenance"`
	// ApprovalTimeout is how long a high-risk step waits for approval
	// (default 1h).
	ApprovalTimeout Duration `yaml:"approval_timeout"`
	// ApprovalToken or ApprovalTokenFile guards the approval and pause API
	// (bearer); empty falls back to the webhook's token.
	ApprovalToken     string `yaml:"approval_token"`
	ApprovalTokenFile string `yaml:"approval_token_file"`
}

// MaintenanceWindow is either recurring (a cron schedule and a duration)
// or one-off (start and end, RFC 3339).
type MaintenanceWindow struct {
	Name     string   `yaml:"name"`
	Schedule string   `yaml:"schedule"`
	Duration Duration `yaml:"duration"`
	Start    string   `yaml:"start"`
	End      string   `yaml:"end"`
}

// PagerConfig is one notification target.
type PagerConfig struct {
	// Type is pagerduty, slack or webhook.
	Type string `yaml:"type"`
	// URL overrides PagerDuty's Events API endpoint; for slack and
	// webhook it is the endpoint (or URLFile, since a Slack URL is a secret).
	URL     string `yaml:"url"`
	URLFile string `yaml:"url_file"`
	// RoutingKey(File) is the PagerDuty integration key.
	RoutingKey     string `yaml:"routing_key"`
	RoutingKeyFile string `yaml:"routing_key_file"`
	// Token(File) is a bearer token for webhook pagers.
	Token     string            `yaml:"token"`
	TokenFile string            `yaml:"token_file"`
	Headers   map[string]string `yaml:"headers"`
	Timeout   Duration          `yaml:"timeout"`
	// MaxAttempts bounds retries of retryable failures (default 5).
	MaxAttempts int `yaml:"max_attempts"`
}

// Remediation defaults.
const (
	DefaultWebhookPath     = "/api/v1/alerts"
	DefaultMaxBodyBytes    = 1 << 20
	DefaultLedgerPath      = "patrol-ledger.db"
	DefaultCooldown        = Duration("1h")
	DefaultMaxUnhealthy    = "30%"
	DefaultApprovalTimeout = Duration("1h")
	DefaultWorkers         = 4
	DefaultRateMax         = 20
	DefaultRatePer         = Duration("1h")
)

// DefaultProtectedNodeLabels mark control-plane nodes.
var DefaultProtectedNodeLabels = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// FindingsEnabled reports whether sweep findings trigger playbooks.
func (r *RemediationConfig) FindingsEnabled() bool { return r.Findings == nil || *r.Findings }

func (r *RemediationConfig) setDefaults() {
	if r.Workers == 0 {
		r.Workers = DefaultWorkers
	}
	if r.Ledger.Driver == "" {
		r.Ledger.Driver = "sqlite"
	}
	if r.Ledger.Driver == "sqlite" && r.Ledger.Path == "" {
		r.Ledger.Path = DefaultLedgerPath
	}
	if r.Webhook.Path == "" {
		r.Webhook.Path = DefaultWebhookPath
	}
	if r.Webhook.MaxBodyBytes == 0 {
		r.Webhook.MaxBodyBytes = DefaultMaxBodyBytes
	}
	g := &r.Guards
	if g.Cooldown == "" {
		g.Cooldown = DefaultCooldown
	}
	if g.RateLimit == nil {
		g.RateLimit = &RateLimit{Max: DefaultRateMax, Per: DefaultRatePer}
	}
	if g.MaxUnhealthy == "" {
		g.MaxUnhealthy = DefaultMaxUnhealthy
	}
	if g.ProtectedNamespaces == nil {
		g.ProtectedNamespaces = []string{"kube-system"}
	}
	if g.ProtectedNodeLabels == nil {
		g.ProtectedNodeLabels = slices.Clone(DefaultProtectedNodeLabels)
	}
	if g.ApprovalTimeout == "" {
		g.ApprovalTimeout = DefaultApprovalTimeout
	}
	for name, p := range r.Pagers {
		if p.MaxAttempts == 0 {
			p.MaxAttempts = 5
		}
		if p.Timeout == "" {
			p.Timeout = "10s"
		}
		r.Pagers[name] = p
	}
}

func (r *RemediationConfig) validate(pos Positions) []error {
	pr := &problems{pos: pos}
	fail, dur := pr.fail, pr.dur
	const p = "remediation"
	if r.Workers < 0 {
		fail(p+".workers", "remediation.workers: must be positive, got %d", r.Workers)
	}
	if r.ReportURL != "" {
		if u, err := url.Parse(r.ReportURL); err != nil || u.Scheme == "" || u.Host == "" {
			fail(p+".report_url", "remediation.report_url: want an absolute URL, got %q", r.ReportURL)
		}
	}
	switch l := r.Ledger; l.Driver {
	case "sqlite":
		if l.DSN != "" || l.DSNFile != "" {
			fail(p+".ledger.dsn", "remediation.ledger: dsn is for driver postgres; sqlite takes path")
		}
	case "postgres":
		if (l.DSN == "") == (l.DSNFile == "") {
			fail(p+".ledger", "remediation.ledger: driver postgres needs exactly one of dsn or dsn_file")
		}
		if l.Path != "" {
			fail(p+".ledger.path", "remediation.ledger: path is for driver sqlite; postgres takes dsn")
		}
	default:
		fail(p+".ledger.driver", "remediation.ledger.driver: unknown driver %q (want sqlite or postgres)", l.Driver)
	}
	w := r.Webhook
	if len(w.Path) == 0 || w.Path[0] != '/' {
		fail(p+".webhook.path", "remediation.webhook.path: want an absolute path, got %q", w.Path)
	}
	if w.BearerToken != "" && w.BearerTokenFile != "" {
		fail(p+".webhook.bearer_token", "remediation.webhook: set bearer_token or bearer_token_file, not both")
	}
	if w.MaxBodyBytes < 1024 {
		fail(p+".webhook.max_body_bytes", "remediation.webhook.max_body_bytes: want at least 1024, got %d", w.MaxBodyBytes)
	}
	g := r.Guards
	if d := dur(p+".guards.cooldown", g.Cooldown); d < 0 {
		fail(p+".guards.cooldown", "remediation.guards.cooldown: must not be negative")
	}
	if rl := g.RateLimit; rl != nil {
		if rl.Max < 1 {
			fail(p+".guards.rate_limit.max", "remediation.guards.rate_limit.max: want at least 1, got %d", rl.Max)
		}
		if d := dur(p+".guards.rate_limit.per", rl.Per); d <= 0 && validDuration(rl.Per) {
			fail(p+".guards.rate_limit.per", "remediation.guards.rate_limit.per: must be positive")
		}
	}
	if _, err := ParseFraction(g.MaxUnhealthy); err != nil {
		fail(p+".guards.max_unhealthy", "remediation.guards.max_unhealthy: %v", err)
	}
	dur(p+".guards.approval_timeout", g.ApprovalTimeout)
	if g.ApprovalToken != "" && g.ApprovalTokenFile != "" {
		fail(p+".guards.approval_token", "remediation.guards: set approval_token or approval_token_file, not both")
	}
	for i, m := range g.Maintenance {
		mp := fmt.Sprintf("%s.guards.maintenance[%d]", p, i)
		switch {
		case m.Schedule != "" && (m.Start != "" || m.End != ""):
			fail(mp, "maintenance window: set schedule+duration or start+end, not both")
		case m.Schedule != "":
			if _, err := CronParser.Parse(m.Schedule); err != nil {
				fail(mp+".schedule", "maintenance schedule %q: %v", m.Schedule, err)
			}
			if d := dur(mp+".duration", m.Duration); d <= 0 && validDuration(m.Duration) {
				fail(mp+".duration", "maintenance window with a schedule needs a positive duration")
			}
		case m.Start != "" || m.End != "":
			s, err1 := time.Parse(time.RFC3339, m.Start)
			e, err2 := time.Parse(time.RFC3339, m.End)
			if err1 != nil {
				fail(mp+".start", "maintenance start %q: want RFC 3339 (2026-11-22T02:00:00Z)", m.Start)
			}
			if err2 != nil {
				fail(mp+".end", "maintenance end %q: want RFC 3339 (2026-11-22T06:00:00Z)", m.End)
			}
			if err1 == nil && err2 == nil && !e.After(s) {
				fail(mp+".end", "maintenance window ends (%s) before it starts (%s)", m.End, m.Start)
			}
		default:
			fail(mp, "maintenance window needs schedule+duration or start+end")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Pagers)) {
		pg := r.Pagers[name]
		pp := p + ".pagers." + name
		one := func(field, a, b string) {
			if a != "" && b != "" {
				fail(pp+"."+field, "pager %q: set %s or %s_file, not both", name, field, field)
			}
		}
		one("url", pg.URL, pg.URLFile)
		one("routing_key", pg.RoutingKey, pg.RoutingKeyFile)
		one("token", pg.Token, pg.TokenFile)
		switch pg.Type {
		case "pagerduty":
			if pg.RoutingKey == "" && pg.RoutingKeyFile == "" {
				fail(pp, "pager %q: type pagerduty needs routing_key or routing_key_file", name)
			}
		case "slack", "webhook":
			if pg.URL == "" && pg.URLFile == "" {
				fail(pp, "pager %q: type %s needs url or url_file", name, pg.Type)
			}
		default:
			fail(pp+".type", "pager %q: unknown type %q (want pagerduty, slack or webhook)", name, pg.Type)
		}
		if pg.URL != "" {
			if u, err := url.Parse(pg.URL); err != nil || u.Scheme == "" || u.Host == "" {
				fail(pp+".url", "pager %q: url is not an absolute URL", name)
			}
		}
		dur(pp+".timeout", pg.Timeout)
		if pg.MaxAttempts < 0 {
			fail(pp+".max_attempts", "pager %q: max_attempts must be positive", name)
		}
	}
	return pr.errs
}
