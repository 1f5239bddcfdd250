// Package pod holds the checks over Pods: crash loops, OOM kills, image
// pulls, configuration errors, scheduling, readiness and termination.
//
// Each check reads one pod at a time and reports at most one finding per
// pod, naming the worst container. The checks divide the failure modes
// between them so that one fault is reported once: a container in an
// image, configuration or crash state is never also "stuck creating" or
// "pending too long", and pods on a dead node are left to the node checks.
package pod

import "github.com/kubepatrol/patrol/checks"

// Checks lists the pod checks.
func Checks() []checks.Check {
	return []checks.Check{
		CrashLooping, OOMKilled, ImagePullFailing, ConfigError, Unschedulable, PendingTooLong,
		ContainerWaiting, InitFailing, NotReady, Restarting, Evicted, StuckTerminating,
	}
}
