package network

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// at returns a pointer to a copy of t, for Evidence.Time and Finding.Since.
func at(t time.Time) *time.Time { return &t }

// terminal reports whether a pod has finished.
func terminal(p *snapshot.Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// podReady reports whether the pod's Ready condition is True.
func podReady(p *snapshot.Pod) bool {
	c, ok := snapshot.FindCondition(p.Conditions, "Ready")
	return ok && c.Status == "True"
}

// notReadySince returns when a pod stopped (or never started) being ready:
// its Ready condition's last transition, else its creation.
func notReadySince(p *snapshot.Pod) time.Time {
	if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime
	}
	return p.CreationTimestamp
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// labelPair is one key/value of a map selector.
type labelPair struct{ key, value string }

// labelPairs lists a map selector's pairs, for matching many label sets
// against it.
func labelPairs(sel map[string]string) []labelPair {
	out := make([]labelPair, 0, len(sel))
	for k, v := range sel {
		out = append(out, labelPair{k, v})
	}
	return out
}

// selectedPods returns the live pods of ns whose labels carry every
// key/value of sel (none when sel is empty).
func selectedPods(ix *checks.Index, ns string, sel []labelPair) []*snapshot.Pod {
	if len(sel) == 0 {
		return nil
	}
	var out []*snapshot.Pod
	for _, p := range ix.PodsByNamespace[ns] {
		if !terminal(p) && matches(sel, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

func matches(sel []labelPair, labels map[string]string) bool {
	for _, l := range sel {
		if got, ok := labels[l.key]; !ok || got != l.value {
			return false
		}
	}
	return true
}

// podList renders up to n pods as "name: status" for a message.
func podList(pods []*snapshot.Pod, n int) string {
	var parts []string
	for i, p := range pods {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(pods)-n))
			break
		}
		parts = append(parts, p.Name+": "+checks.PodNotReadyReason(p))
	}
	return strings.Join(parts, ", ")
}

// selectorString renders a map selector as k=v,k=v in key order.
func selectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

// podEvidence renders a pod's readiness as evidence.
func podEvidence(p *snapshot.Pod) checks.Evidence {
	status := checks.PodNotReadyReason(p)
	if podReady(p) && p.DeletionTimestamp == nil {
		status = "Running, ready"
	}
	ev := checks.Evidence{Type: checks.EvRelation, Path: "pod(" + p.Namespace + "/" + p.Name + ")", Value: status}
	if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok {
		ev.Message = strings.TrimSpace("Ready=" + c.Status + " " + c.Reason + " " + c.Message)
		if !c.LastTransitionTime.IsZero() {
			ev.Time = at(c.LastTransitionTime)
		}
	}
	if p.NodeName != "" {
		ev.Message = strings.TrimSpace(ev.Message + " on node " + p.NodeName)
	}
	return ev
}

// plural renders "1 pod", "3 pods".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// lastError returns the newest termination message of a pod's containers
// (what the process printed before dying, e.g. CoreDNS's "plugin/loop:
// Loop detected"), shortened to n bytes.
func lastError(p *snapshot.Pod, n int) string {
	for _, cs := range [][]snapshot.Container{p.InitContainers, p.Containers} {
		for _, c := range cs {
			for _, st := range []snapshot.ContainerState{c.State, c.LastState} {
				if st.State == snapshot.StateTerminated && st.ExitCode != 0 && st.Message != "" {
					m := strings.TrimSpace(st.Message)
					if len(m) > n {
						m = m[:n] + "…"
					}
					return m
				}
			}
		}
	}
	return ""
}
