package cli

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/cmd/internal/app"
)

type inspectOpts struct {
	snapshot      string
	at            string
	output        string
	severity      string
	failOn        string
	include, skip []string
	config        string
	cluster       string
	allNamespaces bool
	timeout       time.Duration
	evidence      bool
	color         string
	metrics       metricFlags
	// contexts and allContexts sweep several clusters into one fleet
	// report; concurrency bounds the clusters swept at once.
	contexts    []string
	allContexts bool
	concurrency int
}

func inspectCmd(g *globals) *cobra.Command {
	o := &inspectOpts{}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Inspect a cluster (or a recorded snapshot) and report findings",
		Example: `  # the current kubectl context, all namespaces
  patrol inspect
  # one namespace, only pod checks, as JSON
  patrol inspect -n shop --check pod -o json
  # a recorded dump; fail CI on any critical finding
  patrol inspect --snapshot dump/ --fail-on critical -o junit > report.xml
  # a fleet: two contexts swept concurrently into one report
  patrol inspect --context prod-eu --context prod-us
  patrol inspect --all-contexts -o json > fleet.json`,
		Args: cobra.NoArgs,
	}
	// The kubectl flags, except --context, which may repeat here.
	kf := genericclioptions.NewConfigFlags(true)
	kf.Context = nil
	kf.AddFlags(cmd.Flags())
	f := cmd.Flags()
	f.StringArrayVar(&o.contexts, "context", nil, "kubeconfig context to inspect; repeat it to sweep several clusters into one fleet report")
	f.BoolVar(&o.allContexts, "all-contexts", false, "sweep every context of the kubeconfig into one fleet report")
	f.IntVar(&o.concurrency, "fleet-concurrency", 4, "clusters swept at once in a fleet sweep")
	f.StringVar(&o.snapshot, "snapshot", "", "inspect a recorded snapshot: a kubectl -o json/yaml file, a folder of them, a cluster-info dump folder, or a saved kubepatrol snapshot")
	f.StringVar(&o.at, "at", "", "the time to judge the snapshot at (RFC 3339); default: the collection time, or for a recording the newest timestamp in it")
	f.StringVarP(&o.output, "output", "o", "table", "output format: "+strings.Join(report.Formats, "|"))
	f.StringVar(&o.severity, "severity", "", "show only findings at or above this severity (info|warning|critical)")
	f.StringVar(&o.failOn, "fail-on", "", "exit with status 3 when a finding at or above this severity fires (warning|critical)")
	f.StringSliceVar(&o.include, "check", nil, "run only these checks (IDs or families, e.g. pod,node.not_ready)")
	f.StringSliceVar(&o.skip, "skip", nil, "skip these checks (IDs or families)")
	f.StringVar(&o.config, "config", "", "config file: thresholds, enabled checks, suppressions")
	f.StringVar(&o.cluster, "cluster-name", "", "name of the cluster in the report (default: the kubeconfig context or the file name)")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "inspect all namespaces (the default unless -n is given)")
	f.DurationVar(&o.timeout, "list-timeout", 30*time.Second, "timeout for listing each kind")
	f.BoolVar(&o.evidence, "evidence", false, "show each finding's evidence in table output")
	f.StringVar(&o.color, "color", "auto", "colour table output: auto|always|never")
	o.metrics.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("check", completeChecks)
	_ = cmd.RegisterFlagCompletionFunc("skip", completeChecks)
	_ = cmd.RegisterFlagCompletionFunc("context", completeContexts(kf))
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(report.Formats...))
	_ = cmd.RegisterFlagCompletionFunc("severity", fixedCompletion("info", "warning", "critical"))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", fixedCompletion("info", "warning", "critical"))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log := g.logger()
		var minSev, failSev checks.Severity
		var err error
		if o.severity != "" {
			if minSev, err = checks.ParseSeverity(o.severity); err != nil {
				return &ExitError{Code: ExitError_, Err: fmt.Errorf("--severity: %w", err)}
			}
		}
		if o.failOn != "" {
			if failSev, err = checks.ParseSeverity(o.failOn); err != nil {
				return &ExitError{Code: ExitError_, Err: fmt.Errorf("--fail-on: %w", err)}
			}
		}
		if !validFormat(o.output) {
			return fmt.Errorf("-o: unknown format %q (want %s)", o.output, strings.Join(report.Formats, "|"))
		}
		var at time.Time
		if o.at != "" {
			if at, err = time.Parse(time.RFC3339, o.at); err != nil {
				return fmt.Errorf("--at: want RFC 3339 (2026-03-02T10:00:00Z): %w", err)
			}
		}
		st, err := app.LoadSettings(o.config)
		if err != nil {
			return err
		}
		if st.Checks, err = catalog.Select(st.Checks, o.include, o.skip); err != nil {
			return err
		}
		if o.allContexts || len(o.contexts) > 1 {
			return runFleet(cmd, g, o, kf, st, minSev, failSev, at)
		}
		if len(o.contexts) == 1 {
			kf.Context = &o.contexts[0]
		}
		var reqs atomic.Int64
		start := time.Now()
		s, err := app.Snapshot(cmd.Context(), app.Source{
			Path: o.snapshot, At: at, Cluster: o.cluster, Kube: kf, AllNamespaces: o.allNamespaces,
			Timeout: o.timeout, Requests: &reqs, Logger: log,
			Prometheus: o.metrics.prometheus(), Scrape: o.metrics.scrape, ScrapeInterval: o.metrics.interval,
			ScrapeInsecureTLS: o.metrics.insecure,
		})
		if err != nil {
			return err
		}
		collected := time.Since(start)
		r := app.Inspect(cmd.Context(), s, st, minSev, time.Now(), log)
		log.Info("inspection done", "cluster", r.Cluster, "findings", r.Summary.Firing, "unknown", r.Summary.Unknown,
			"collect", collected.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond), "api_requests", reqs.Load())
		opt := renderOptions(g, o.color, o.evidence)
		if err := report.Render(g.stdout, o.output, r, opt); err != nil {
			return err
		}
		if failSev != "" {
			for _, f := range r.Findings {
				if f.Status == checks.Firing && f.Severity.Rank() >= failSev.Rank() {
					return &ExitError{Code: ExitFindings}
				}
			}
		}
		return nil
	}
	return cmd
}

// renderOptions sizes and colours table output for the terminal stdout
// is, if any.
func renderOptions(g *globals, color string, verbose bool) report.Options {
	opt := report.Options{Verbose: verbose, Width: 80}
	if fd, ok := g.stdout.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		if w, _, err := term.GetSize(int(fd.Fd())); err == nil && w > 40 {
			opt.Width = w
		}
		opt.Color = color != "never" && os.Getenv("NO_COLOR") == ""
	}
	if color == "always" {
		opt.Color = true
	}
	return opt
}

func validFormat(f string) bool {
	for _, x := range report.Formats {
		if f == x {
			return true
		}
	}
	return f == "md"
}
