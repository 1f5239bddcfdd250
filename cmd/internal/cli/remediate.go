package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/cmd/internal/app"
	"github.com/kubepatrol/patrol/cmd/internal/daemon"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation/ledger"
	"github.com/kubepatrol/patrol/rules"
)

type remediateOpts struct {
	dryRun    bool
	alert     string
	labels    map[string]string
	check     string
	object    string
	snapshot  string
	at        string
	playbooks []string
	config    string
	output    string
	timeout   time.Duration
}

func remediateCmd(g *globals) *cobra.Command {
	o := &remediateOpts{}
	cmd := &cobra.Command{
		Use:   "remediate --dry-run (--alert NAME --labels k=v,… | --check ID --object Kind/ns/name)",
		Short: "Show what patrold's remediation would do for an alert or a finding, without doing it",
		Long: `remediate --dry-run plans an alert (its name and labels) or a check's finding on
an object the way patrold's remediation engine would decide it: the playbook
that matches, the target, every guard's verdict, the diagnosis findings and the
steps it would take, or that no playbook matches. Nothing is written to the
cluster, the ledger or a pager: this command never acts; acting is patrold's.

Guards are judged at the snapshot's time. Rate limits and cooldowns count the
runs the ledger holds, which a plan does not read: their verdicts assume no
recent run. Use patrol evidence list to see those.`,
		Example: `  patrol remediate --dry-run --alert KubeNodeNotReady --labels node=worker-4
  patrol remediate --dry-run --check pod.stuck_terminating --object Pod/shop/db-0 --snapshot dump/ -o markdown
  patrol remediate --dry-run --alert KubeNodeNotReady --labels node=worker-4 --config patrold.yaml --playbooks my-playbooks/`,
		Args: cobra.NoArgs,
	}
	kf := kubeFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "required: plan only (this command never acts)")
	f.StringVar(&o.alert, "alert", "", "the alert's name (alertname)")
	f.StringToStringVar(&o.labels, "labels", nil, "the alert's labels, k=v,k=v (node=worker-4; namespace=shop,pod=db-0)")
	f.StringVar(&o.check, "check", "", "plan a check's finding instead of an alert: the check ID")
	f.StringVar(&o.object, "object", "", "with --check: the object it fires on, Kind/name or Kind/namespace/name")
	f.StringVar(&o.snapshot, "snapshot", "", "plan against a recorded snapshot instead of the live cluster")
	f.StringVar(&o.at, "at", "", "the time to judge a recording at (RFC 3339)")
	f.StringSliceVar(&o.playbooks, "playbooks", nil, "playbook files or folders (default: the daemon config's, else the shipped ones)")
	f.StringVar(&o.config, "config", "", "patrold's config (its remediation guards, playbooks and checks) or an inspection config (checks)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table|json|markdown")
	f.DurationVar(&o.timeout, "list-timeout", 30*time.Second, "timeout for listing each kind")
	_ = cmd.RegisterFlagCompletionFunc("check", completeChecks)
	_ = cmd.RegisterFlagCompletionFunc("alert", completeAlerts)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "markdown"))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !o.dryRun {
			return errors.New("remediate only plans, and needs --dry-run to say so: this command never acts. " +
				"Acting is patrold's (its playbooks, guards and ledger); patrol approve is how a person lets a waiting step run")
		}
		if o.output == "md" {
			o.output = "markdown"
		}
		if o.output != "table" && o.output != "json" && o.output != "markdown" {
			return fmt.Errorf("-o: unknown format %q (want table|json|markdown)", o.output)
		}
		alertMode := o.alert != "" || len(o.labels) > 0
		checkMode := o.check != "" || o.object != ""
		switch {
		case alertMode && checkMode:
			return errors.New("plan an alert (--alert, --labels) or a finding (--check, --object), not both")
		case checkMode && (o.check == "" || o.object == ""):
			return errors.New("a finding needs both --check ID and --object Kind/namespace/name")
		case !alertMode && !checkMode:
			return errors.New("say what to plan: --alert NAME --labels k=v,… or --check ID --object Kind/namespace/name")
		}
		labels := map[string]string{}
		for k, v := range o.labels {
			labels[k] = v
		}
		if o.alert != "" {
			if a := labels["alertname"]; a != "" && a != o.alert {
				return fmt.Errorf("--alert %s and --labels alertname=%s differ", o.alert, a)
			}
			labels["alertname"] = o.alert
		}
		if alertMode && labels["alertname"] == "" {
			return errors.New("--alert NAME is required (or alertname in --labels)")
		}
		var obj checks.ObjectRef
		if checkMode {
			var err error
			if obj, err = parseObject(o.object); err != nil {
				return fmt.Errorf("--object: %w", err)
			}
		}
		var at time.Time
		if o.at != "" {
			var err error
			if at, err = time.Parse(time.RFC3339, o.at); err != nil {
				return fmt.Errorf("--at: want RFC 3339 (2026-03-02T10:00:00Z): %w", err)
			}
		}
		rc, err := loadRemediationConfig(o.config)
		if err != nil {
			return err
		}
		pbs, err := loadPlaybooks(o.playbooks, rc.daemon)
		if err != nil {
			return err
		}
		log := g.logger()
		s, err := app.Snapshot(cmd.Context(), app.Source{Path: o.snapshot, At: at, Kube: kf, AllNamespaces: true, Timeout: o.timeout, Logger: log})
		if err != nil {
			return err
		}
		var finding *checks.Finding
		if checkMode {
			if finding, err = app.FindingFor(cmd.Context(), s, rc.settings, o.check, obj, log); err != nil {
				return err
			}
		}
		cluster := rc.cluster
		if cluster == "" {
			cluster = s.Cluster
		}
		pl, err := app.NewPlanner(app.PlannerOptions{
			Playbooks: pbs, Guards: rc.guards, Settings: rc.settings, Cluster: cluster, DryRun: rc.dryRun, Now: s.CollectedAt,
			Snapshot: func(context.Context) (*snapshot.Snapshot, error) { return s, nil }, Logger: log,
		})
		if err != nil {
			return err
		}
		rec, err := pl.Plan(cmd.Context(), labels, finding)
		if err != nil {
			return err
		}
		what := "alert " + labels["alertname"] + " " + labelString(labels)
		if finding != nil {
			what = "finding " + finding.Check + " on " + finding.Object.String()
		}
		return writePlan(g.stdout, o.output, rec, what)
	}
	return cmd
}

// remediationConfig is what --config contributed to a plan.
type remediationConfig struct {
	settings app.Settings
	// guards nil: the defaults.
	guards  *rules.GuardsConfig
	cluster string
	dryRun  bool
	// daemon is set when the file was a daemon config.
	daemon *rules.DaemonConfig
}

// loadRemediationConfig reads --config: a daemon config gives the guards,
// the playbooks and the checks; an inspection config gives the checks.
func loadRemediationConfig(path string) (*remediationConfig, error) {
	if path == "" {
		st, err := app.LoadSettings("")
		return &remediationConfig{settings: st}, err
	}
	kind, err := detectConfig(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case configDaemon:
		c, err := daemon.LoadConfig(path)
		if err != nil {
			return nil, err
		}
		return &remediationConfig{settings: c.Settings, guards: &c.File.Remediation.Guards, cluster: c.File.Cluster,
			dryRun: c.File.Remediation.DryRun, daemon: c.File}, nil
	case configPlaybook:
		return nil, fmt.Errorf("--config %s holds playbooks: give them with --playbooks, and patrold's config with --config", path)
	}
	st, err := app.LoadSettings(path)
	return &remediationConfig{settings: st}, err
}

// loadPlaybooks loads the playbooks a plan runs with: the files given,
// else the daemon config's, else the shipped ones; check IDs are
// validated against the catalogue.
func loadPlaybooks(paths []string, dc *rules.DaemonConfig) ([]*rules.Playbook, error) {
	switch {
	case len(paths) > 0:
		pbs, err := rules.LoadPlaybooks(paths...)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, pb := range pbs {
			errs = append(errs, daemon.ValidatePlaybookChecks(pb))
		}
		return pbs, errors.Join(errs...)
	case dc != nil:
		return daemon.LoadPlaybooks(dc)
	}
	return rules.BuiltinPlaybooks()
}

// planOutput is the JSON form of a plan: Plan is the record the engine
// would write, absent when no playbook matches.
type planOutput struct {
	Matched bool           `json:"matched"`
	Detail  string         `json:"detail,omitempty"`
	Plan    *ledger.Record `json:"plan,omitempty"`
}

func writePlan(w io.Writer, format string, rec *ledger.Record, what string) error {
	if rec == nil {
		msg := "no playbook matches " + strings.TrimSpace(what)
		if format == "json" {
			return writeJSON(w, planOutput{Detail: msg})
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	}
	switch format {
	case "json":
		return writeJSON(w, planOutput{Matched: true, Plan: rec})
	case "markdown":
		r := *rec
		r.ID = "dry run, not recorded"
		return ledger.WriteMarkdown(w, &r)
	}
	return planTable(w, rec)
}

// planTable writes a plan for a terminal.
func planTable(w io.Writer, r *ledger.Record) error {
	var b bytes.Buffer
	pb := r.Playbook
	if r.PlaybookVersion != "" {
		pb += "@" + r.PlaybookVersion
	}
	trig := r.Trigger.Source
	switch {
	case r.Trigger.Alertname != "":
		trig = "alert " + r.Trigger.Alertname + " " + labelString(r.Trigger.Labels)
	case r.Trigger.Check != "":
		trig = "finding " + r.Trigger.Check + " (" + r.Trigger.Severity + ")"
	}
	verdict := "allowed: the steps below would run"
	if r.State == ledger.Refused {
		verdict = "refused"
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PLAYBOOK\t%s\n", pb)
	fmt.Fprintf(tw, "TRIGGER\t%s\n", strings.TrimSpace(trig))
	fmt.Fprintf(tw, "TARGET\t%s\n", orDash(r.Target.String(), r.Target.Name == ""))
	fmt.Fprintf(tw, "DECISION\t%s (dry run: nothing is written or sent)\n", verdict)
	if r.Message != "" {
		fmt.Fprintf(tw, "NOTE\t%s\n", r.Message)
	}
	_ = tw.Flush()

	b.WriteString("\nGUARD VERDICTS\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GUARD\tVERDICT\tREASON")
	for _, v := range r.Guards {
		verdict := "allowed"
		if !v.Allowed {
			verdict = "REFUSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Guard, verdict, v.Reason)
	}
	_ = tw.Flush()

	b.WriteString("\nDIAGNOSIS\n")
	if len(r.Findings) == 0 {
		b.WriteString("no diagnosis check fires on the target\n")
	} else {
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tSEVERITY\tOBJECT\tMESSAGE")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Check, f.Status, f.Severity, f.Object, strings.Join(strings.Fields(f.Message), " "))
		}
		_ = tw.Flush()
	}

	b.WriteString("\nSTEPS\n")
	if len(r.Steps) == 0 {
		b.WriteString("none: the playbook only pages\n")
	} else {
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tSTEP\tACTION\tRISK\tSTATUS\tWHAT")
		for i, s := range r.Steps {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, s.Name, s.Action, s.Risk, s.Status, s.Message)
		}
		_ = tw.Flush()
	}
	_, err := w.Write(b.Bytes())
	return err
}

func orDash(s string, empty bool) string {
	if empty || s == "" {
		return "-"
	}
	return s
}

// labelString renders labels as {k="v", …} in key order, alertname left
// out.
func labelString(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, ls[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// The kinds of file check-config and --config tell apart.
const (
	configInspection = "inspection config"
	configDaemon     = "daemon config"
	configPlaybook   = "playbooks"
)

// detectConfig tells a playbook file (or folder), a daemon config and an
// inspection config apart by the first document's top-level keys: a
// playbook has `kind: Playbook` (or a kubepatrol.io apiVersion), a daemon
// config has keys such as groups, listen or remediation. A file that does
// not parse is judged by its lines, so that its loader reports the error.
func detectConfig(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return configPlaybook, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	keys := map[string]string{}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err == nil && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			keys[m[i].Value] = m[i+1].Value
		}
	} else {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" && k[0] != ' ' && k[0] != '#' && k[0] != '-' {
				if _, seen := keys[k]; !seen {
					keys[k] = strings.TrimSpace(v)
				}
			}
		}
	}
	if keys["kind"] == rules.PlaybookKind || strings.HasPrefix(keys["apiVersion"], "kubepatrol.io/") {
		return configPlaybook, nil
	}
	// Top-level keys only a daemon config has.
	for _, k := range []string{"cluster", "kubeconfig", "in_cluster", "context", "listen", "state_file", "sync_timeout",
		"jitter", "check_timeout", "groups", "lifecycle", "events", "leader_election", "reports", "remediation"} {
		if _, ok := keys[k]; ok {
			return configDaemon, nil
		}
	}
	return configInspection, nil
}

// checkConfigFile validates one file of whichever kind it is.
func checkConfigFile(path string) (string, error) {
	kind, err := detectConfig(path)
	if err != nil {
		return "", err
	}
	switch kind {
	case configPlaybook:
		_, err = loadPlaybooks([]string{path}, nil)
	case configDaemon:
		err = daemon.CheckFile(path)
	default:
		_, err = app.LoadSettings(path)
	}
	return kind, err
}
