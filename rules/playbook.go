package rules

// PlaybookAPIVersion and PlaybookKind head every playbook file.
const (
	PlaybookAPIVersion = "kubepatrol.io/v1"
	PlaybookKind       = "Playbook"
)

// Playbook is one declarative remediation: what triggers it, what it looks
// at first, what it does, how it checks the result and whom it pages when
// the result is not good. A playbook acts only when Enabled; otherwise
// every run is a dry run that records exactly what it would have done.
type Playbook struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	// Name is the playbook's lower kebab case name (unique).
	Name string `yaml:"name"`
	// Version is recorded in the ledger with every decision.
	Version     string `yaml:"version"`
	Description string `yaml:"description"`
	// Enabled lets the playbook write; without it every run is a dry run.
	Enabled bool `yaml:"enabled"`
	// Trigger says which alerts and findings start the playbook.
	Trigger Trigger `yaml:"trigger"`
	// Target says which object an alert is about (from its labels).
	Target TargetSpec `yaml:"target"`
	// Diagnosis runs checks on the target before acting, so the action
	// carries the same evidence as a scheduled finding.
	Diagnosis Diagnosis `yaml:"diagnosis"`
	// Steps are the actions, in order.
	Steps []Step `yaml:"steps"`
	// Verify re-checks the target after the steps.
	Verify *Verify `yaml:"verify"`
	// Escalate pages when verification fails, or at once when the playbook
	// has no steps (a page-only playbook).
	Escalate *Escalate `yaml:"escalate"`
	// Guards override the global guards for this playbook.
	Guards PlaybookGuards `yaml:"guards"`

	// File is where the playbook was read from; Positions locate values.
	File      string    `yaml:"-"`
	Positions Positions `yaml:"-"`
}

// Trigger matches alerts (by alertname and label matchers) and findings
// (by check ID or family), then filters the target object.
type Trigger struct {
	Alerts []AlertTrigger `yaml:"alerts"`
	// Checks are check IDs or families ("node.not_ready", "node").
	Checks []string `yaml:"checks"`
	// Severity is the lowest severity that triggers (default warning).
	Severity string `yaml:"severity"`
	// Object filters the target.
	Object ObjectSelector `yaml:"object"`
}

// AlertTrigger matches one alert rule.
type AlertTrigger struct {
	Alertname string `yaml:"alertname"`
	// Matchers are Alertmanager-style label matchers: `name="value"`,
	// `name!="value"`, `name=~"regex"`, `name!~"regex"` (regexes anchored).
	Matchers []string `yaml:"matchers"`
}

// ObjectSelector filters target objects.
type ObjectSelector struct {
	// Kind is the target's kind (Node, Pod, Deployment, ...).
	Kind string `yaml:"kind"`
	// Namespaces limits namespaced targets (empty: all).
	Namespaces []string `yaml:"namespaces"`
	// Names are glob patterns on the object name ("worker-*").
	Names []string `yaml:"names"`
}

// TargetSpec derives the target object from an alert's labels. Defaults
// follow kube-state-metrics and the kubernetes-mixin: kind Node takes
// the `node` label, Pod takes `namespace` + `pod`, Deployment takes
// `namespace` + `deployment`, and so on.
type TargetSpec struct {
	Kind           string `yaml:"kind"`
	NameLabel      string `yaml:"name_label"`
	NamespaceLabel string `yaml:"namespace_label"`
}

// Diagnosis lists the checks run on the target before acting.
type Diagnosis struct {
	Checks []string `yaml:"checks"`
	// Require, when true, acts only if one of the diagnosis checks
	// confirms the fault on the target; otherwise the run pages (or
	// records) instead of acting on an alert the snapshot does not back.
	Require bool `yaml:"require"`
	// Wait is how long a required diagnosis may take to confirm the fault
	// (default 2m): an alert can run ahead of the cluster state the checks
	// see (informer lag, a check's own grace period).
	Wait Duration `yaml:"wait"`
}

// Step is one action.
type Step struct {
	// Name is the step's lower snake case name (unique in the playbook).
	Name string `yaml:"name"`
	// Action is one of cordon, uncordon, drain, restart, delete_pod,
	// scale, annotate, page.
	Action string `yaml:"action"`
	// Params are the action's parameters (see docs/playbooks.md), e.g.
	// drain: timeout, grace_period, delete_emptydir_data; scale: replicas;
	// annotate: key, value; delete_pod: force, only_if_node_gone.
	Params map[string]string `yaml:"params"`
	// Risk is low (default) or high; a high-risk step waits for approval.
	Risk string `yaml:"risk"`
	// When gates the step: "" (always) or "node_gone" (the target pod's
	// node no longer exists); a gated step that does not apply is
	// recorded as skipped.
	When string `yaml:"when"`
	// Enabled, when false, ships a step switched off (e.g. drain after
	// cordon): it is recorded as skipped until an operator turns it on.
	Enabled *bool `yaml:"enabled"`
}

// Verify re-checks the target until the checks no longer fire on it, or
// the timeout passes.
type Verify struct {
	Checks   []string `yaml:"checks"`
	Timeout  Duration `yaml:"timeout"`
	Interval Duration `yaml:"interval"`
}

// Escalate pages named pagers (from the daemon config's remediation.pagers).
type Escalate struct {
	Pagers   []string `yaml:"pagers"`
	Severity string   `yaml:"severity"`
	// Summary is the page's one line; empty derives it from the trigger.
	Summary string `yaml:"summary"`
}

// PlaybookGuards override the global guards for one playbook.
type PlaybookGuards struct {
	// Cooldown is the minimum time between two acting runs on one target.
	Cooldown Duration `yaml:"cooldown"`
	// RateLimit bounds acting runs of this playbook.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// MaxUnhealthy is the fraction of the target kind ("30%" or "0.3")
	// that may look sick at once before the playbook pages instead of
	// acting.
	MaxUnhealthy string `yaml:"max_unhealthy"`
}

// RateLimit allows Max acting runs per Per.
type RateLimit struct {
	Max int      `yaml:"max"`
	Per Duration `yaml:"per"`
}
