// Command patrol is kubepatrol's on-call CLI (also the kubectl plugin
// kubectl-patrol): inspect clusters and recordings, list checks, validate
// configs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubepatrol/patrol/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
