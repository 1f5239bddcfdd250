package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DaemonSetNotScheduled fires when a DaemonSet has no pod on some of the
// nodes it should run on.
var DaemonSetNotScheduled = checks.New(checks.Meta{
	ID:    "daemonset.not_scheduled",
	Title: "DaemonSet pods not scheduled",
	Description: "status.currentNumberScheduled is below status.desiredNumberScheduled for longer than the " +
		"threshold: eligible nodes have no daemon pod at all, so whatever the DaemonSet provides (CNI, " +
		"log shipping, CSI node plugin, monitoring agent) is missing there. The controller cannot create " +
		"the pods, usually because of a quota, an admission webhook or PodSecurity denial, or a missing " +
		"ServiceAccount; the FailedCreate event says which.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDaemonSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "10m",
			Description: "how long nodes must lack their daemon pod before the check fires (kubernetes-mixin KubeDaemonSetNotScheduled)"},
	},
	Remedy:   "kubectl describe daemonset NAME -n NS and read the FailedCreate events; fix the quota, webhook, PodSecurity level or ServiceAccount they name.",
	Priority: 60,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	_, podsGap := env.Snap.Gap(snapshot.KindPod)
	for i := range env.Snap.DaemonSets {
		ds := &env.Snap.DaemonSets[i]
		missing := ds.DesiredNumberScheduled - ds.CurrentNumberScheduled
		if missing <= 0 || ds.DeletionTimestamp != nil {
			continue
		}
		lacking := nodesWithoutDaemonPod(env, ds, podsGap)
		fc := freshEvent(env, snapshot.KindDaemonSet, ds.Namespace, ds.Name, time.Hour, "FailedCreate", "FailedPlacement", "FailedDaemonPod")
		since := ds.CreationTimestamp
		switch {
		case fc != nil:
			if s := eventStart(fc); s.After(since) {
				since = s
			}
		case len(lacking) > 0:
			// A node that just joined gets its pod within seconds: date
			// the shortfall from the newest node that lacks one.
			for _, n := range lacking {
				if n.CreationTimestamp.After(since) {
					since = n.CreationTimestamp
				}
			}
		}
		if env.Age(since) < wait {
			continue
		}
		msg := fmt.Sprintf("daemonset %s runs on %d of the %d nodes it should (%d without a pod for %s)",
			ds.Name, ds.CurrentNumberScheduled, ds.DesiredNumberScheduled, missing, round(env.Age(since)))
		var ev []checks.Evidence
		ev = append(ev, fieldEvidence("status.currentNumberScheduled", fmt.Sprint(ds.CurrentNumberScheduled),
			fmt.Sprintf("desiredNumberScheduled=%d", ds.DesiredNumberScheduled), nil))
		reason := "PodsNotScheduled"
		if fc != nil {
			reason = fc.Reason
			msg += ": " + fc.Reason + ": " + oneLine(fc.Message, 400)
			ev = append(ev, eventEvidence(fc))
		}
		if len(lacking) > 0 && len(lacking) <= int(missing) {
			var names []string
			for _, n := range lacking {
				names = append(names, n.Name)
			}
			msg += "; no pod on " + strings.Join(names, ", ")
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "nodes", Value: strings.Join(names, ","),
				Message: "eligible nodes (by nodeSelector and taints) without a pod of this DaemonSet"})
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "nodes without their pod at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindDaemonSet, &ds.Meta), reason, msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

// nodesWithoutDaemonPod lists the nodes, by name, that match the
// DaemonSet's nodeSelector, carry no taint its pods do not tolerate, and
// have no live pod of the DaemonSet. (Node affinity is not in the
// snapshot: a node excluded by it may be listed, so the list is only shown
// when it is no longer than the controller's own shortfall.) It returns nothing when
// the snapshot lacks nodes or pods.
func nodesWithoutDaemonPod(env *checks.Env, ds *snapshot.DaemonSet, podsGap bool) []*snapshot.Node {
	if podsGap || len(env.Snap.Nodes) == 0 {
		return nil
	}
	has := map[string]bool{}
	for _, p := range podsOf(env, ds.UID) {
		if p.NodeName != "" && p.DeletionTimestamp == nil {
			has[p.NodeName] = true
		}
	}
	var out []*snapshot.Node
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if has[n.Name] || n.DeletionTimestamp != nil {
			continue
		}
		if _, bad := selectorMismatch(ds.NodeSelector, n); bad {
			continue
		}
		if _, tainted := blockingTaint(ds, n); tainted {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}
