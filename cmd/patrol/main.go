// Command patrol is kubepatrol's on-call CLI (also the kubectl plugin
// kubectl-patrol): inspect clusters and recordings, list checks, validate
// configs.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kubepatrol/patrol/cmd/internal/cli"
)

// memoryLimit is the soft heap limit when GOMEMLIMIT is unset: the garbage
// collector works harder near it, so inspecting a 150,000-pod snapshot
// stays under 1 GiB of RSS on a laptop or a CI runner.
const memoryLimit = 768 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
