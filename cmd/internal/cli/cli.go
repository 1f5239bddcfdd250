// Package cli is the `patrol` command tree (also installed as the kubectl
// plugin `kubectl-patrol`): inspect, snapshot save, checks list,
// check-config and version.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// ExitError carries a process exit code up to main.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes.
const (
	ExitOK       = 0
	ExitError_   = 1 // the command failed
	ExitFindings = 3 // --fail-on matched a finding
)

type globals struct {
	stdout, stderr io.Writer
	verbosity      int
	logFormat      string
}

func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbosity >= 2:
		level = slog.LevelDebug
	case g.verbosity == 1:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := New(stdout, stderr)
	root.SetArgs(PluginCompletionArgs(os.Args[0], args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "patrol:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "patrol:", err)
	return ExitError_
}

// New builds the command tree.
func New(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "patrol",
		Short: "Inspect Kubernetes clusters, diagnose faults, and report them with evidence",
		Long: `patrol inspects a Kubernetes cluster (or a recorded dump of one), runs a catalogue
of checks over one immutable snapshot, and reports findings with the evidence
behind them, a health score and a grade.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Installed as kubectl-patrol, the help and usage say "kubectl patrol".
	if b := baseName(os.Args[0]); strings.HasPrefix(b, "kubectl-") || strings.HasPrefix(b, "kubectl_complete-") {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl patrol"}
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().CountVarP(&g.verbosity, "verbose", "v", "log more (-v info, -vv debug) to stderr")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(inspectCmd(g), snapshotCmd(g), checksCmd(g), checkConfigCmd(g), analyzeCmd(g), versionCmd(g))
	root.AddCommand(diagnoseCmd(g), runbookCmd(g), completionCmd(g))
	root.AddCommand(remediateCmd(g), evidenceCmd(g), approveCmd(g), pauseCmd(g, true), pauseCmd(g, false))
	return root
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// kubeFlags registers the kubectl connection flags (--kubeconfig,
// --context, -n, --request-timeout, --token, …) on cmd.
func kubeFlags(cmd *cobra.Command) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.AddFlags(cmd.Flags())
	return f
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(g.stdout, "patrol", Version)
			return err
		},
	}
}
