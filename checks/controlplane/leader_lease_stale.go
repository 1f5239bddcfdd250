package controlplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// leaderLeases are the control-plane components that elect a leader on a
// kube-system Lease, with what stops when none leads.
var leaderLeases = []struct{ name, impact string }{
	{"kube-scheduler", "new pods are not scheduled and stay Pending"},
	{"kube-controller-manager", "Deployments, ReplicaSets, Jobs, endpoints, node health and garbage collection are no longer reconciled"},
	{"cloud-controller-manager", "new nodes are not initialised and LoadBalancer Services and routes are not updated"},
}

// LeaderLeaseStale fires when a control-plane component's leader-election
// Lease is no longer renewed: no instance of it is working.
var LeaderLeaseStale = checks.New(checks.Meta{
	ID:    "controlplane.leader_lease_stale",
	Title: "Control-plane leader lease stale",
	Description: "The kube-system Lease of kube-scheduler, kube-controller-manager or cloud-controller-manager has not been renewed for several lease durations: no instance holds leadership, so that component's work stops cluster-wide. " +
		"Clusters where the lease does not exist (leader election disabled, some managed control planes) stay quiet, and so does a lease stale for over an hour whose component the snapshot shows at work after it went stale " +
		"(pods scheduled, pods created by controllers, nodes initialised): another instance leads through another lock and the lease is a leftover.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindLease},
	Params: []checks.Param{
		{Name: "factor", Type: checks.Float, Default: "4",
			Description: "fire when the lease is older than this multiple of its leaseDurationSeconds (15s by default)"},
		{Name: "min_age", Type: checks.Duration, Default: "30s",
			Description: "never fire on a lease renewed more recently than this (covers a leader handing over)"},
		{Name: "leftover_after", Type: checks.Duration, Default: "1h",
			Description: "a lease stale for longer than this while the snapshot shows its component at work (pods scheduled or created after it went stale) is taken for a leftover of a renamed lock and not reported"},
	},
	Remedy:   "Check the component's pods on the control-plane nodes (kubectl -n kube-system get pods -l component=kube-scheduler; crictl ps on the node) and their logs for lost API server or etcd connectivity.",
	Priority: 92,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	factor, minAge := env.Params.Float("factor"), env.Params.Duration("min_age")
	leftover := env.Params.Duration("leftover_after")
	var out []checks.Finding
	for _, ll := range leaderLeases {
		l := env.Index.Leases[checks.NN("kube-system", ll.name)]
		if l == nil || l.RenewTime == nil {
			continue
		}
		dur := time.Duration(l.LeaseDurationSeconds) * time.Second
		if dur <= 0 {
			dur = 15 * time.Second
		}
		limit := max(time.Duration(factor*float64(dur)), minAge)
		renewed := *l.RenewTime
		age := env.Age(renewed)
		if age < limit {
			continue
		}
		// A component that demonstrably worked after its lease went
		// stale leads through another lock (a renamed lease, a managed
		// control plane): the stale object is a leftover.
		if age >= leftover {
			if _, ok := workedSince(env, ll.name, renewed.Add(dur)); ok {
				continue
			}
		}
		holder := l.HolderIdentity
		reason := "LeaderLeaseExpired"
		who := fmt.Sprintf("held by %s", holder)
		if holder == "" {
			reason, who = "NoLeader", "released by its last holder and not acquired since"
		}
		ev := []checks.Evidence{
			{Type: checks.EvField, Path: "spec.renewTime", Value: renewed.Format(time.RFC3339),
				Message: "last renewed " + node.Round(age) + " ago", Time: at(renewed)},
			{Type: checks.EvField, Path: "spec.holderIdentity", Value: holder},
			{Type: checks.EvThreshold, Path: "leaseDurationSeconds", Value: fmt.Sprintf("%d", l.LeaseDurationSeconds),
				Message: fmt.Sprintf("fires after %s without renewal", node.Round(limit))},
		}
		if l.LeaseTransitions > 0 {
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "spec.leaseTransitions", Value: fmt.Sprintf("%d", l.LeaseTransitions)})
		}
		// kubeadm-style static pods of the component say why it stopped.
		var pods []string
		for _, p := range env.Index.PodsByNamespace["kube-system"] {
			if p.Labels["component"] != ll.name {
				continue
			}
			st := checks.PodNotReadyReason(p)
			if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && c.Status == "True" && p.DeletionTimestamp == nil {
				st = "Running, ready"
			} else {
				pods = append(pods, p.Name+" "+st)
			}
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "pod(kube-system/" + p.Name + ")", Value: st,
				Message: "on node " + p.NodeName})
		}
		impact := ll.impact
		if len(pods) > 0 {
			impact += " (" + strings.Join(pods, ", ") + ")"
		}
		f := env.Finding(checks.Ref(snapshot.KindLease, &l.Meta), reason,
			fmt.Sprintf("%s leader lease (%s) was last renewed %s ago, lease duration %s: no %s is leading, so %s",
				ll.name, who, node.Round(age), node.Round(dur), ll.name, impact), ev...)
		f.Since = at(renewed)
		out = append(out, f)
	}
	return out
})

// workedSince reports whether the snapshot shows the component at work
// after t: for kube-scheduler a pod bound by the default scheduler, for
// kube-controller-manager a pod created by a ReplicaSet, Job, DaemonSet or
// StatefulSet controller, for cloud-controller-manager a node that joined
// with a provider ID and without the uninitialized taint.
func workedSince(env *checks.Env, component string, t time.Time) (string, bool) {
	switch component {
	case "kube-scheduler":
		for i := range env.Snap.Pods {
			p := &env.Snap.Pods[i]
			if p.SchedulerName != "" && p.SchedulerName != "default-scheduler" {
				continue
			}
			if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok && c.Status == "True" && c.LastTransitionTime.After(t) {
				return "pod " + p.Namespace + "/" + p.Name + " was scheduled at " + c.LastTransitionTime.Format(time.RFC3339), true
			}
		}
	case "kube-controller-manager":
		for i := range env.Snap.Pods {
			p := &env.Snap.Pods[i]
			o, ok := p.Controller()
			if !ok || !p.CreationTimestamp.After(t) {
				continue
			}
			switch o.Kind {
			case "ReplicaSet", "Job", "DaemonSet", "StatefulSet":
				return "pod " + p.Namespace + "/" + p.Name + " was created by its " + o.Kind + " at " + p.CreationTimestamp.Format(time.RFC3339), true
			}
		}
	case "cloud-controller-manager":
		for i := range env.Snap.Nodes {
			n := &env.Snap.Nodes[i]
			if !n.CreationTimestamp.After(t.Add(5*time.Minute)) || n.ProviderID == "" {
				continue
			}
			initialized := true
			for _, tt := range n.Taints {
				if tt.Key == "node.cloudprovider.kubernetes.io/uninitialized" {
					initialized = false
				}
			}
			if initialized {
				return "node " + n.Name + " joined and was initialised at " + n.CreationTimestamp.Format(time.RFC3339), true
			}
		}
	}
	return "", false
}
