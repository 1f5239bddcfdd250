package node

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// nodeLeaseNamespace holds one Lease per node, renewed by its kubelet.
const nodeLeaseNamespace = "kube-node-lease"

// HeartbeatStale fires when a kubelet stopped renewing its node Lease. It
// is the earliest sign of a dead kubelet, and the only one when the node
// lifecycle controller is itself down and never flips Ready to Unknown.
var HeartbeatStale = checks.New(checks.Meta{
	ID:    "node.heartbeat_stale",
	Title: "Node heartbeat stale",
	Description: "The node's Lease in kube-node-lease has not been renewed for longer than its lease duration (the kubelet renews it every 10s by default). " +
		"It fires before the node controller marks the node Unknown, and also when the controller-manager is down and nobody ever will.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNode, snapshot.KindLease},
	Params: []checks.Param{
		{Name: "factor", Type: checks.Float, Default: "1",
			Description: "fire when the lease is older than this multiple of its leaseDurationSeconds (40s by default)"},
		{Name: "min_age", Type: checks.Duration, Default: "40s",
			Description: "never fire on a lease younger than this, whatever its duration"},
	},
	Remedy:   "Check the kubelet on the node (systemctl status kubelet; journalctl -u kubelet) and its connectivity to the API server; if Ready is still True, check that kube-controller-manager runs.",
	Priority: 85,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	factor, minAge := env.Params.Float("factor"), env.Params.Duration("min_age")
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if n.DeletionTimestamp != nil {
			continue
		}
		l := env.Index.Leases[checks.NN(nodeLeaseNamespace, n.Name)]
		if l == nil || l.RenewTime == nil {
			// No lease (very old kubelet, simulated node) or never renewed:
			// nothing to judge by.
			continue
		}
		dur := time.Duration(l.LeaseDurationSeconds) * time.Second
		if dur <= 0 {
			dur = 40 * time.Second
		}
		limit := time.Duration(factor * float64(dur))
		if limit < minAge {
			limit = minAge
		}
		renewed := *l.RenewTime
		age := env.Age(renewed)
		if age < limit {
			continue
		}
		ev := []checks.Evidence{
			{Type: checks.EvField, Path: "lease(" + nodeLeaseNamespace + "/" + l.Name + ").spec.renewTime",
				Value: renewed.Format(time.RFC3339), Message: fmt.Sprintf("last renewed %s ago by %q", Round(age), l.HolderIdentity), Time: at(renewed)},
			{Type: checks.EvThreshold, Path: "leaseDurationSeconds", Value: fmt.Sprintf("%d", l.LeaseDurationSeconds),
				Message: fmt.Sprintf("fires after %s without renewal", Round(limit))},
		}
		msg := fmt.Sprintf("kubelet on node %s last renewed its lease %s ago (lease duration %s)", n.Name, Round(age), Round(dur))
		switch c, st := readyState(n); st {
		case "True":
			msg += "; the node still reports Ready=True: the kubelet may be down or cut off, or the node controller is not running"
			ev = append(ev, ConditionEvidence(c))
		case "":
		default:
			msg += fmt.Sprintf("; the node is Ready=%s", st)
			ev = append(ev, ConditionEvidence(c))
		}
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), "NodeHeartbeatStale", msg, ev...)
		f.Since = at(renewed)
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})
