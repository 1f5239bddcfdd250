// Package pod holds the checks over Pods: crash loops, OOM kills, image
// pulls, configuration errors, scheduling, readiness and termination.
package pod

import "github.com/kubepatrol/patrol/checks"

// Checks lists the pod checks.
func Checks() []checks.Check {
	return []checks.Check{}
}
