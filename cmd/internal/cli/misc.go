package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/cmd/internal/app"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func snapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Record cluster snapshots for offline inspection"}
	var out, cluster string
	var timeout time.Duration
	var all bool
	var mf metricFlags
	save := &cobra.Command{
		Use:   "save -o FILE",
		Short: "Record a live cluster's snapshot to a file (gzip when FILE ends in .gz)",
		Args:  cobra.NoArgs,
	}
	kf := kubeFlags(save)
	save.Flags().StringVarP(&out, "output", "o", "", "file to write (required; - for stdout)")
	save.Flags().StringVar(&cluster, "cluster-name", "", "name of the cluster in the snapshot")
	save.Flags().DurationVar(&timeout, "list-timeout", 30*time.Second, "timeout for listing each kind")
	save.Flags().BoolVarP(&all, "all-namespaces", "A", false, "all namespaces (the default unless -n is given)")
	mf.register(save)
	save.RunE = func(cmd *cobra.Command, _ []string) error {
		if out == "" {
			return fmt.Errorf("-o FILE is required")
		}
		s, err := app.Snapshot(cmd.Context(), app.Source{Kube: kf, Cluster: cluster, Timeout: timeout, AllNamespaces: all, Logger: g.logger(),
			Prometheus: mf.prometheus(), Scrape: mf.scrape, ScrapeInterval: mf.interval, ScrapeInsecureTLS: mf.insecure})
		if err != nil {
			return err
		}
		if out == "-" {
			return snapshot.Write(g.stdout, s)
		}
		return writeSnapshot(out, s)
	}
	cmd.AddCommand(save)
	return cmd
}

func writeSnapshot(path string, s *snapshot.Snapshot) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := snapshot.Writer(f, strings.HasSuffix(path, ".gz"))
	if err := snapshot.Write(w, s); err != nil {
		f.Close()
		return err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func checksCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "checks", Short: "The check catalogue"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the checks: ID, severity, title, what each detects, its thresholds and defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all := catalog.All()
			switch output {
			case "json":
				var ms []any
				for _, c := range all {
					ms = append(ms, c.Meta())
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ms)
			case "markdown", "md":
				return catalog.WriteMarkdown(g.stdout, all)
			case "table", "":
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSEVERITY\tTITLE\tPARAMETERS")
				for _, c := range all {
					m := c.Meta()
					var ps []string
					for _, p := range m.Params {
						ps = append(ps, p.Name+"="+p.Default)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, m.Severity, m.Title, strings.Join(ps, " "))
				}
				return tw.Flush()
			}
			return fmt.Errorf("-o: unknown format %q (want table|json|markdown)", output)
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table|json|markdown")
	cmd.AddCommand(list)
	return cmd
}

func checkConfigCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE...",
		Short: "Validate config files offline: inspection configs, patrold configs and playbooks; every error names file:line:col",
		Long: `check-config validates files without a cluster. It tells the kinds apart by
their first document: a playbook file (kind: Playbook) or a folder of them, a
patrold config (keys such as groups, listen or remediation), or else an
inspection config.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, f := range args {
				kind, err := checkConfigFile(f)
				if err != nil {
					fmt.Fprintln(g.stderr, err)
					failed++
					continue
				}
				fmt.Fprintf(g.stdout, "%s: ok (%s)\n", f, kind)
			}
			if failed > 0 {
				return &ExitError{Code: ExitError_, Err: fmt.Errorf("%d of %d config files are invalid", failed, len(args))}
			}
			return nil
		},
	}
}
