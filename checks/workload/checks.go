// Package workload holds the checks over controllers: Deployments,
// StatefulSets, DaemonSets, Jobs, CronJobs, HPAs and PodDisruptionBudgets.
package workload

import "github.com/kubepatrol/patrol/checks"

// Checks lists the workload checks.
func Checks() []checks.Check {
	return []checks.Check{
		DeploymentRolloutStuck, DeploymentReplicasUnavailable, DeploymentGenerationMismatch,
		StatefulSetReplicasNotReady, StatefulSetUpdateNotRolledOut,
		DaemonSetNotScheduled, DaemonSetMisscheduled, DaemonSetUnavailable,
		JobFailed, JobNotCompleted, CronJobFailing,
		HPAMaxedOut, HPAMetricsUnavailable, HPAReplicasMismatch, HPATargetMissing,
		PDBDisruptionsBlocked,
	}
}
