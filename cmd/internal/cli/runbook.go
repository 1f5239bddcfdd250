package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/cmd/internal/app"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/rules"
)

type runbookOpts struct {
	labels map[string]string
	// fingerprint and alertmanager look the alert's labels up in
	// Alertmanager.
	fingerprint  string
	alertmanager string
	list         bool
	output       string
	snapshot     string
	at           string
	config       string
	logs         bool
	timeout      time.Duration
	playbooks    []string
}

func runbookCmd(g *globals) *cobra.Command {
	o := &runbookOpts{}
	cmd := &cobra.Command{
		Use:   "runbook ALERTNAME",
		Short: "Print an alert's runbook; with --labels, check the alert's object and fill the runbook in",
		Long: `runbook prints the runbook of a kubernetes-mixin alert (or one of kubepatrol's
own): what it means, its impact, how to diagnose it with exact commands, and
how to mitigate it.

With --labels (the alert's labels: namespace, pod, container, node, deployment,
statefulset, daemonset, job_name, horizontalpodautoscaler, persistentvolumeclaim,
poddisruptionbudget, resourcequota…), it runs the checks the runbook names and a
diagnosis of the alert's object against the live cluster (or --snapshot), reports
what they found, and fills the runbook's commands in for that object. It also
plans the alert with the remediation playbooks (--playbooks, default the shipped
ones) as a dry run and shows what the matching playbook would do.`,
		Example: `  patrol runbook --list
  patrol runbook KubePodCrashLooping
  patrol runbook KubePodCrashLooping --labels namespace=shop,pod=api-7d9c-1,container=api
  patrol runbook KubeNodeNotReady --labels node=worker-4 -o json
  patrol runbook --fingerprint 0c05a85571e39ae8 --alertmanager-url http://alertmanager:9093
  kubectl patrol runbook KubeDeploymentReplicasMismatch --labels namespace=shop,deployment=web`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list {
				return cobra.NoArgs(cmd, args)
			}
			if o.fingerprint != "" {
				return cobra.MaximumNArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		ValidArgsFunction: completeAlerts,
	}
	kf := kubeFlags(cmd)
	f := cmd.Flags()
	f.StringToStringVar(&o.labels, "labels", nil, "the alert's labels, k=v,k=v: check the alert's object and fill the runbook in")
	f.StringVar(&o.fingerprint, "fingerprint", "", "an alert's fingerprint: take its name and labels from Alertmanager (--alertmanager-url)")
	f.StringVar(&o.alertmanager, "alertmanager-url", os.Getenv("ALERTMANAGER_URL"), "Alertmanager's base URL, for --fingerprint (default $ALERTMANAGER_URL)")
	f.BoolVar(&o.list, "list", false, "list the alerts that have a runbook")
	f.StringVarP(&o.output, "output", "o", "markdown", "output format: markdown|json")
	f.StringVar(&o.snapshot, "snapshot", "", "check a recorded snapshot instead of the live cluster")
	f.StringVar(&o.at, "at", "", "the time to judge a recording at (RFC 3339)")
	f.StringVar(&o.config, "config", "", "config file: thresholds, enabled checks, suppressions")
	f.BoolVar(&o.logs, "logs", true, "read the containers' logs for the diagnosis (live clusters only)")
	f.DurationVar(&o.timeout, "list-timeout", 30*time.Second, "timeout for listing each kind")
	f.StringSliceVar(&o.playbooks, "playbooks", nil, "with --labels: playbook files or folders to propose a dry-run plan from (default: the shipped ones)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("markdown", "json"))
	_ = cmd.RegisterFlagCompletionFunc("labels", fixedCompletion("namespace=", "pod=", "container=", "node=", "deployment=",
		"statefulset=", "daemonset=", "job_name=", "horizontalpodautoscaler=", "persistentvolumeclaim=", "poddisruptionbudget=", "resourcequota="))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.output != "markdown" && o.output != "md" && o.output != "json" {
			return fmt.Errorf("-o: unknown format %q (want markdown|json)", o.output)
		}
		if o.list {
			return listRunbooks(g.stdout, o.output)
		}
		if o.fingerprint != "" {
			if len(o.labels) > 0 {
				return fmt.Errorf("--fingerprint and --labels: give one (the fingerprint's alert carries its labels)")
			}
			name, labels, err := alertByFingerprint(cmd.Context(), o.alertmanager, o.fingerprint)
			if err != nil {
				return err
			}
			if len(args) == 1 && args[0] != name {
				return fmt.Errorf("alert %s is %s, not %s", o.fingerprint, name, args[0])
			}
			args, o.labels = []string{name}, labels
		}
		var at time.Time
		var err error
		if o.at != "" {
			if at, err = time.Parse(time.RFC3339, o.at); err != nil {
				return fmt.Errorf("--at: want RFC 3339: %w", err)
			}
		}
		st, err := app.LoadSettings(o.config)
		if err != nil {
			return err
		}
		log := g.logger()
		src := app.Source{Path: o.snapshot, At: at, Kube: kf, AllNamespaces: true, Timeout: o.timeout, Logger: log}
		var prop app.PlaybookProposer
		if len(o.labels) > 0 {
			pbs, err := loadPlaybooks(o.playbooks, nil)
			if err != nil {
				return err
			}
			// The snapshot is read again, and only when a playbook
			// matches the alert.
			prop = &app.Proposer{Playbooks: pbs, Settings: st, Logger: log,
				Snapshot: func(ctx context.Context) (*snapshot.Snapshot, error) { return app.Snapshot(ctx, src) }}
		}
		r, err := app.Runbook(cmd.Context(), app.RunbookOptions{Alert: args[0], Labels: o.labels, Proposer: prop, Diagnose: app.DiagnoseOptions{
			Source: src, Settings: st, Logs: o.logs, Now: time.Now(), Logger: log,
		}})
		if err != nil {
			return err
		}
		if o.output == "json" {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		return runbookMarkdown(g.stdout, r)
	}
	return cmd
}

// alertByFingerprint finds an alert in Alertmanager (API v2, active,
// silenced and inhibited alike) and returns its name and labels.
func alertByFingerprint(ctx context.Context, base, fp string) (string, map[string]string, error) {
	if base == "" {
		return "", nil, fmt.Errorf("--fingerprint needs --alertmanager-url (or $ALERTMANAGER_URL)")
	}
	u := strings.TrimRight(base, "/") + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, fmt.Errorf("--alertmanager-url: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("alertmanager: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return "", nil, fmt.Errorf("alertmanager %s: %s: %s", u, res.Status, strings.TrimSpace(string(b)))
	}
	var alerts []struct {
		Fingerprint string            `json:"fingerprint"`
		Labels      map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(res.Body).Decode(&alerts); err != nil {
		return "", nil, fmt.Errorf("alertmanager: cannot decode /api/v2/alerts: %w", err)
	}
	for _, a := range alerts {
		if a.Fingerprint == fp {
			if a.Labels["alertname"] == "" {
				return "", nil, fmt.Errorf("alert %s has no alertname label", fp)
			}
			return a.Labels["alertname"], a.Labels, nil
		}
	}
	return "", nil, fmt.Errorf("no alert with fingerprint %s in Alertmanager (%d alerts): it may have resolved", fp, len(alerts))
}

func listRunbooks(w io.Writer, format string) error {
	books, err := rules.Runbooks()
	if err != nil {
		return err
	}
	if format == "json" {
		type item struct {
			Alert    string   `json:"alert"`
			Severity string   `json:"severity,omitempty"`
			Object   string   `json:"object,omitempty"`
			Checks   []string `json:"checks,omitempty"`
			Summary  string   `json:"summary,omitempty"`
			File     string   `json:"file"`
		}
		var items []item
		for _, b := range books {
			items = append(items, item{b.Alert, b.Severity, b.Object, b.Checks, b.Summary, b.File})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tOBJECT\tCHECKS")
	for _, b := range books {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Alert, firstNonEmptyStr(b.Object, "-"), firstNonEmptyStr(strings.Join(b.Checks, ","), "-"))
	}
	return tw.Flush()
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// runbookMarkdown writes the runbook, preceded, when labels were given, by
// what kubepatrol found.
func runbookMarkdown(w io.Writer, r *app.RunbookReport) error {
	var b strings.Builder
	if len(r.Labels) == 0 {
		fmt.Fprintf(&b, "<!-- %s · severity %s · %s -->\n\n", r.File, firstNonEmptyStr(r.Severity, "-"), firstNonEmptyStr(r.Summary, r.Alert))
		b.WriteString(r.Runbook)
		_, err := io.WriteString(w, b.String())
		return err
	}
	var keys []string
	for k := range r.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ls []string
	for _, k := range keys {
		ls = append(ls, k+"="+r.Labels[k])
	}
	fmt.Fprintf(&b, "# %s: what kubepatrol found\n\n", r.Alert)
	fmt.Fprintf(&b, "Labels `%s`", strings.Join(ls, ","))
	if r.Object != nil {
		fmt.Fprintf(&b, " · object `%s`", r.Object.String())
	}
	b.WriteString("\n\n## Checks the runbook names\n\n")
	if len(r.Checks) == 0 {
		b.WriteString("This runbook names no kubepatrol check; the diagnosis below is all kubepatrol can add.\n")
	}
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "- **%s** (%s): %s", c.Check, c.Title, c.Result)
		if c.Detail != "" {
			fmt.Fprintf(&b, ", %s", c.Detail)
		}
		b.WriteString("\n")
		for _, f := range c.Findings {
			fmt.Fprintf(&b, "  - `%s` %s: %s\n", f.Object.String(), f.Severity, strings.Join(strings.Fields(f.Message), " "))
		}
	}
	b.WriteString("\n")
	if r.Diagnosis != nil {
		var db strings.Builder
		if err := report.DiagnosisMarkdown(&db, r.Diagnosis); err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimRight(db.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "#") {
				line = "#" + line
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Remediation playbook\n\n")
	if p := r.Playbook; p != nil {
		switch p.Status {
		case "proposed":
			fmt.Fprintf(&b, "Playbook `%s` proposes (dry run, nothing executed):\n\n", p.Playbook)
			for i, s := range p.Steps {
				fmt.Fprintf(&b, "%d. %s\n", i+1, s)
			}
			if p.Detail != "" {
				fmt.Fprintf(&b, "\n> %s\n", p.Detail)
			}
			fmt.Fprintf(&b, "\nEvery guard's verdict: `patrol remediate --dry-run --alert %s --labels %s`.\n", r.Alert, strings.Join(ls, ","))
		default:
			fmt.Fprintf(&b, "No proposal (%s): %s.\n", p.Status, p.Detail)
		}
	}
	if len(r.Unfilled) > 0 {
		fmt.Fprintf(&b, "\n> Placeholders the labels did not fill: %s.\n", strings.Join(prefixAll("$", r.Unfilled), ", "))
	}
	fmt.Fprintf(&b, "\n---\n\n<!-- %s, filled in for this alert -->\n\n", r.File)
	b.WriteString(r.Runbook)
	_, err := io.WriteString(w, b.String())
	return err
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
