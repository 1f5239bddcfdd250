package network

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// KubeProxyUnavailable fires when kube-proxy pods are not ready on nodes
// that are themselves healthy: Service virtual IPs stop working from pods
// on those nodes. Clusters that replace kube-proxy (Cilium, Calico eBPF)
// have no such DaemonSet and stay quiet.
var KubeProxyUnavailable = checks.New(checks.Meta{
	ID:    "kubeproxy.unavailable",
	Title: "kube-proxy unavailable",
	Description: "The kube-system DaemonSet kube-proxy has pods that are not ready (or cannot be created) on Ready nodes. " +
		"Without kube-proxy a node's Service rules go stale: pods there cannot reach ClusterIPs and NodePorts on it stop answering. Clusters without kube-proxy stay quiet.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDaemonSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "5m",
			Description: "how long a kube-proxy pod must be not ready before it counts (rolling updates replace pods one at a time)"},
	},
	Remedy:   "kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide; kubectl -n kube-system logs POD (iptables/ipvs errors, API server reachability) and describe it.",
	Priority: 65,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	_, podGap := env.Snap.Gap(snapshot.KindPod)
	var out []checks.Finding
	for i := range env.Snap.DaemonSets {
		ds := &env.Snap.DaemonSets[i]
		if ds.Namespace != "kube-system" || (ds.Name != "kube-proxy" && ds.Labels["k8s-app"] != "kube-proxy") {
			continue
		}
		if ds.DesiredNumberScheduled == 0 {
			continue
		}
		ref := checks.Ref(snapshot.KindDaemonSet, &ds.Meta)
		status := checks.Evidence{Type: checks.EvField, Path: "status",
			Value: fmt.Sprintf("desired %d, scheduled %d, ready %d, available %d, unavailable %d",
				ds.DesiredNumberScheduled, ds.CurrentNumberScheduled, ds.NumberReady, ds.NumberAvailable, ds.NumberUnavailable)}

		if podGap {
			// Without pods only the DaemonSet's counters tell; they cannot
			// say for how long nor whether the nodes themselves are down.
			if ds.NumberUnavailable == 0 {
				continue
			}
			f := env.Finding(ref, "KubeProxyUnavailable",
				fmt.Sprintf("kube-proxy is unavailable on %d of %d nodes: Services do not work from pods there", ds.NumberUnavailable, ds.DesiredNumberScheduled), status)
			if ds.NumberAvailable == 0 {
				f.Severity = checks.Critical
			}
			out = append(out, f)
			continue
		}

		var bad []*snapshot.Pod
		var since time.Time
		for _, p := range env.Index.PodsByOwnerUID[ds.UID] {
			if terminal(p) || podReady(p) || p.DeletionTimestamp != nil {
				continue
			}
			if n := env.Index.Nodes[p.NodeName]; n != nil {
				if c, ok := snapshot.FindCondition(n.Conditions, "Ready"); !ok || c.Status != "True" {
					// The node's own checks explain it.
					continue
				}
			}
			t := notReadySince(p)
			if env.Age(t) < wait {
				continue
			}
			bad = append(bad, p)
			if since.IsZero() || t.Before(since) {
				since = t
			}
		}
		missing := int(ds.DesiredNumberScheduled - ds.CurrentNumberScheduled)
		failedCreate := env.Index.LatestEvent(snapshot.KindDaemonSet, ds.Namespace, ds.Name, "FailedCreate")
		if missing > 0 && failedCreate == nil {
			// Pods for new nodes are created within seconds; only a
			// creation error makes missing pods a fault.
			missing = 0
		}
		if len(bad) == 0 && missing == 0 {
			continue
		}
		sort.SliceStable(bad, func(a, b int) bool { return bad[a].NodeName < bad[b].NodeName })
		var parts []string
		ev := []checks.Evidence{status}
		for j, p := range bad {
			if j < 4 {
				parts = append(parts, nonEmpty(p.NodeName, p.Name)+": "+checks.PodNotReadyReason(p))
			}
			if j < 6 {
				ev = append(ev, podEvidence(p))
			}
		}
		if len(bad) > 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(bad)-4))
		}
		if missing > 0 {
			parts = append(parts, fmt.Sprintf("%d pods cannot be created: %s", missing, failedCreate.Message))
			ev = append(ev, checks.Evidence{Type: checks.EvEvent, Path: "events[FailedCreate]", Value: failedCreate.Reason,
				Message: failedCreate.Message, Source: failedCreate.Source, Time: at(failedCreate.LastTime)})
		}
		nodes := len(bad) + missing
		dur := ""
		if !since.IsZero() {
			dur = " for " + node.Round(env.Age(since))
		}
		for _, p := range bad {
			if m := lastError(p, 200); m != "" {
				parts = append(parts, "last error: "+m)
				break
			}
		}
		where := "those nodes"
		if nodes == 1 {
			where = "that node"
		}
		msg := fmt.Sprintf("kube-proxy has not been ready%s on %d of %d nodes (%s): Services do not work from pods on %s",
			dur, nodes, ds.DesiredNumberScheduled, strings.Join(parts, "; "), where)
		f := env.Finding(ref, "KubeProxyUnavailable", msg, ev...)
		if nodes >= int(ds.DesiredNumberScheduled) {
			f.Severity = checks.Critical
		}
		if !since.IsZero() {
			f.Since = at(since)
		}
		if len(bad) == 1 && missing == 0 {
			f.Node = bad[0].NodeName
		}
		out = append(out, f)
	}
	return out
})
