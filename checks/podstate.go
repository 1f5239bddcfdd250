package checks

import (
	"fmt"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PodNotReadyReason says why a pod is not ready, in the words kubectl
// shows: the first waiting or failed container's reason and name
// (CrashLoopBackOff with its last termination), Pending with the
// scheduler's reason, Terminating, or "Running, not ready" with the first
// unready container.
func PodNotReadyReason(p *snapshot.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	if p.NodeName == "" {
		if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok && c.Status == "False" && c.Reason != "" {
			return "Pending (" + c.Reason + ")"
		}
		return "Pending"
	}
	for _, cs := range [][]snapshot.Container{p.InitContainers, p.Containers} {
		for _, c := range cs {
			switch {
			case c.State.State == snapshot.StateWaiting && c.State.Reason != "" && c.State.Reason != "PodInitializing":
				if c.LastState.Reason != "" && c.State.Reason == "CrashLoopBackOff" {
					return fmt.Sprintf("%s (%s: last %s, exit %d)", c.State.Reason, c.Name, c.LastState.Reason, c.LastState.ExitCode)
				}
				return c.State.Reason + " (" + c.Name + ")"
			case c.State.State == snapshot.StateTerminated && c.State.ExitCode != 0 && !c.Sidecar:
				reason := c.State.Reason
				if reason == "" {
					reason = "Error"
				}
				return fmt.Sprintf("%s (%s, exit %d)", reason, c.Name, c.State.ExitCode)
			}
		}
	}
	switch p.Phase {
	case "Running":
		for _, c := range p.Containers {
			if c.HasStatus && !c.Ready {
				return "Running, not ready (" + c.Name + ")"
			}
		}
		return "Running, not ready"
	case "":
		return "Unknown"
	}
	return p.Phase
}
