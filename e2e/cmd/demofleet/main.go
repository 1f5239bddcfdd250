// Command demofleet fills the local control plane with a fleet of healthy
// workloads and injects a handful of faults (the e2e scenarios), then keeps
// running, renewing the fault nodes' Leases as their kubelets would, until it
// is stopped (SIGINT or SIGTERM). It is started by e2e/demo.sh and stopped
// by e2e/demo-down.sh; e2e/scale.sh uses it with -fleet scale and no faults.
//
//	demofleet -kubeconfig .cache/local-cluster/kubeconfig -ready-file .cache/demo/ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/e2e/fleet"
	"github.com/kubepatrol/patrol/e2e/scenarios"
)

// defaultFaults become visible within about two minutes (the checks'
// default thresholds), so the demo needs no threshold overrides.
var defaultFaults = []string{
	"node-not-ready", "node-pressure", "node-cordoned",
	"pod-crash-looping", "pod-oom-killed", "pod-image-pull-failing", "pod-config-error", "pod-unschedulable",
	"deployment-rollout-stuck", "job-failed", "webhook-service-missing", "leader-lease-stale",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demofleet:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	fleetName := flag.String("fleet", "demo", "fleet to create: small, demo or scale")
	pods := flag.Int("pods", 30000, "with -fleet scale: pods in all")
	perDeployment := flag.Int("per-deployment", 300, "with -fleet scale: replicas per Deployment")
	faults := flag.String("faults", strings.Join(defaultFaults, ","), `comma-separated scenarios to inject, "all" or "none"`)
	readyFile := flag.String("ready-file", "", "file to create once the fleet is settled and the faults are visible")
	settle := flag.Duration("settle-timeout", 10*time.Minute, "how long to wait for the fleet to settle")
	exit := flag.Bool("exit", false, "exit once ready instead of staying to renew leases (and leave everything in place)")
	cleanupOnExit := flag.Bool("cleanup", false, "on SIGINT/SIGTERM, remove the injected faults before exiting")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	var f fleet.Fleet
	switch *fleetName {
	case "small":
		f = fleet.Small()
	case "demo":
		f = fleet.Demo()
	case "scale":
		f = fleet.Scale(*pods, *perDeployment)
	default:
		return fmt.Errorf("-fleet: unknown fleet %q (small, demo or scale)", *fleetName)
	}
	var scs []*scenarios.Scenario
	switch *faults {
	case "none", "":
	case "all":
		scs = scenarios.All()
	default:
		var err error
		if scs, err = scenarios.ByName(strings.Split(*faults, ",")...); err != nil {
			return err
		}
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c := scenarios.Clients{Kube: kube}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Faults first: their time thresholds run while the fleet settles.
	start := time.Now()
	var cleanups []scenarios.Cleanup
	for _, s := range scs {
		if err := scenarios.Purge(ctx, s, c); err != nil {
			return fmt.Errorf("remove leftovers of %s: %w", s.Name, err)
		}
		cleanup, err := s.Apply(ctx, c)
		if err != nil {
			return fmt.Errorf("inject %s: %w", s.Name, err)
		}
		cleanups = append(cleanups, cleanup)
		log.Info("fault injected", "scenario", s.Name, "what", s.Description)
	}

	log.Info("creating fleet", "fleet", f.Name, "namespaces", len(f.Namespaces), "pods", f.Pods())
	if err := fleet.Apply(ctx, kube, f); err != nil {
		return err
	}
	if err := fleet.WaitSettled(ctx, kube, f, *settle); err != nil {
		return err
	}
	log.Info("fleet settled", "fleet", f.Name, "pods", f.Pods(), "after", time.Since(start).Round(100*time.Millisecond))

	var wg sync.WaitGroup
	errs := make([]error, len(scs))
	for i, s := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = scenarios.WaitVisible(ctx, s, c)
			if errs[i] == nil {
				log.Info("fault visible", "scenario", s.Name, "after", time.Since(start).Round(time.Second))
			}
		}()
	}
	if len(scs) > 0 {
		log.Info("waiting for the faults to pass the checks' time thresholds (up to about 2 minutes)")
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return err
		}
	}
	log.Info("ready", "after", time.Since(start).Round(100*time.Millisecond))
	if *exit {
		return nil
	}

	<-ctx.Done()
	log.Info("stopping: lease renewal ends")
	if *cleanupOnExit {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, cleanup := range cleanups {
			if err := cleanup(cctx); err != nil {
				log.Warn("cleanup", "err", err)
			}
		}
	}
	return nil
}
