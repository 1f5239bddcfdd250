package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/cmd/internal/app"
)

type diagnoseOpts struct {
	snapshot   string
	at         string
	output     string
	config     string
	logs       bool
	tail       int64
	limitBytes string
	maxPods    int
	narrow     bool
	timeout    time.Duration
	evidence   bool
	color      string
}

func diagnoseCmd(g *globals) *cobra.Command {
	o := &diagnoseOpts{}
	cmd := &cobra.Command{
		Use:   "diagnose KIND/NAME",
		Short: "Everything about one object on one screen: findings, incident, events, logs, likely cause, next steps",
		Long: `diagnose explains one object: its findings and the incident they belong to, its
conditions, the events of the object and everything around it on one timeline,
its owners, pods and node, the Services, claims, ConfigMaps and Secrets it uses
(by name; Secret data is never read), its containers' recent logs mined into
templates (the previous run too after a crash), metric anomalies when metrics
were collected, the likely root cause and the runbook steps that apply, with the
exact commands for this object.

KIND is any of: pod, deployment, statefulset, daemonset, replicaset, job, cronjob,
node, service, persistentvolumeclaim, horizontalpodautoscaler, poddisruptionbudget
(kubectl's short names work too).`,
		Example: `  patrol diagnose deployment/checkout -n shop
  patrol diagnose pod/api-7d9c-1 -n shop -o markdown > ticket.md
  patrol diagnose node/worker-4
  kubectl patrol diagnose sts/kafka -n streaming
  # a recording: no logs
  patrol diagnose deploy/web -n shop --snapshot dump.json`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeDiagnoseTarget,
	}
	kf := kubeFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "diagnose in a recorded snapshot instead of the live cluster (no logs)")
	f.StringVar(&o.at, "at", "", "the time to judge a recording at (RFC 3339)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: "+strings.Join(report.DiagnosisFormats, "|"))
	f.StringVar(&o.config, "config", "", "config file: thresholds, enabled checks, suppressions")
	f.BoolVar(&o.logs, "logs", true, "read the containers' logs (live clusters only)")
	f.Int64Var(&o.tail, "tail", 300, "log lines to read per container and run")
	f.StringVar(&o.limitBytes, "limit-bytes", "256Ki", "log bytes to read at most per container and run")
	f.IntVar(&o.maxPods, "max-pods", 3, "pods whose logs to read for a controller (failing ones first)")
	f.BoolVar(&o.narrow, "narrow", false, "collect only the object's namespace (faster on large clusters; a cause in another namespace, such as a webhook's backend, is then not seen)")
	f.DurationVar(&o.timeout, "list-timeout", 30*time.Second, "timeout for listing each kind")
	f.BoolVar(&o.evidence, "evidence", false, "show each finding's evidence and a log example per template")
	f.StringVar(&o.color, "color", "auto", "colour table output: auto|always|never")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(report.DiagnosisFormats...))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		target := args[0]
		if len(args) == 2 {
			target = args[0] + "/" + args[1]
		}
		if !validDiagnosisFormat(o.output) {
			return fmt.Errorf("-o: unknown format %q (want %s)", o.output, strings.Join(report.DiagnosisFormats, "|"))
		}
		limit, err := resource.ParseQuantity(o.limitBytes)
		if err != nil {
			return fmt.Errorf("--limit-bytes: %w", err)
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
		ns := ""
		if kf.Namespace != nil {
			ns = *kf.Namespace
		}
		log := g.logger()
		res, err := app.Diagnose(cmd.Context(), app.DiagnoseOptions{
			Source: app.Source{Path: o.snapshot, At: at, Kube: kf, AllNamespaces: !o.narrow, Timeout: o.timeout, Logger: log},
			Target: target, Namespace: ns, Settings: st, Logs: o.logs, TailLines: o.tail, LimitBytes: limit.Value(),
			MaxPods: o.maxPods, Now: time.Now(), Logger: log,
		})
		if err != nil {
			return err
		}
		return report.RenderDiagnosis(g.stdout, o.output, res.Diagnosis, renderOptions(g, o.color, o.evidence))
	}
	return cmd
}

func validDiagnosisFormat(f string) bool {
	for _, x := range report.DiagnosisFormats {
		if f == x {
			return true
		}
	}
	return f == "md"
}
