// Command patrold is kubepatrol's inspection daemon: it keeps a live
// picture of one cluster in informer caches, runs check groups on cron
// schedules, follows findings through pending → firing → resolved, and
// serves /metrics, probes, the latest report and a findings API.
//
//	patrold --config /etc/patrold/config.yaml
//	patrold --config config.yaml --config.check   # validate and exit
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/kubepatrol/patrol/cmd/internal/daemon"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("patrold", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "daemon config file (YAML; see docs/patrold.md)")
	check := fs.Bool("config.check", false, "validate the config file, print the errors (file:line:col) and exit 0 (valid) or 1")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (overrides the config file's kubeconfig and in_cluster)")
	listen := fs.String("listen", "", "address to serve on, e.g. :8080 (overrides the config file's listen)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	verbosity := fs.CountP("verbose", "v", "log more (-v debug)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "patrold:", err)
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "patrold", daemon.Version)
		return 0
	}
	if *config == "" {
		fmt.Fprintln(stderr, "patrold: --config is required")
		return 2
	}
	if *check {
		if err := daemon.CheckFile(*config); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", *config)
		return 0
	}

	level := slog.LevelInfo
	if *verbosity > 0 {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h)
	klog.SetSlogLogger(log.With("component", "client-go"))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()

	opt := daemon.Options{ConfigFile: *config, Kubeconfig: *kubeconfig, Listen: *listen, Logger: log, Reload: reload}
	// A failpoint for the crash-safety test: die (SIGKILL, no clean-up)
	// right after a remediation step's write, before its outcome is
	// recorded. Never set it in production.
	if os.Getenv("KUBEPATROL_FAILPOINT") == "after-action" {
		opt.AfterAction = func(rec *ledger.Record, step int) {
			log.Warn("failpoint after-action: killing the process", "record", rec.ID, "step", rec.Steps[step].Name)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	err := daemon.Run(ctx, opt)
	if err != nil {
		log.Error("patrold stopped", "err", err)
		return 1
	}
	log.Info("patrold stopped")
	return 0
}
