package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DaemonSetUnavailable fires when daemon pods on healthy nodes have been
// unavailable for longer than a threshold.
var DaemonSetUnavailable = checks.New(checks.Meta{
	ID:    "daemonset.unavailable",
	Title: "DaemonSet pods unavailable",
	Description: "Daemon pods that exist are not ready (status.numberUnavailable > 0, numberReady below " +
		"desiredNumberScheduled) for longer than the threshold, so the nodes they run on lack the " +
		"DaemonSet's function (networking, storage, logs, metrics). Pods on nodes that are themselves " +
		"NotReady or unreachable are left to the node checks, and nodes with no pod at all to " +
		"daemonset.not_scheduled. Critical when no pod on a healthy node is available.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDaemonSet},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long pods must be unavailable before the check fires (kubernetes-mixin KubeDaemonSetRolloutStuck)"},
		{Name: "min_unavailable_fraction", Type: checks.Float, Default: "0",
			Description: "fire only when more than this fraction of the desired pods is unavailable (0 = any)"},
	},
	Remedy:   "kubectl get pods -n NS -o wide -l SELECTOR and kubectl describe pod on a failing one; fix the cause named in the finding.",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	minFrac := env.Params.Float("min_unavailable_fraction")
	_, podsGap := env.Snap.Gap(snapshot.KindPod)
	for i := range env.Snap.DaemonSets {
		ds := &env.Snap.DaemonSets[i]
		desired := ds.DesiredNumberScheduled
		if desired <= 0 || ds.DeletionTimestamp != nil {
			continue
		}
		unav := desired - ds.NumberAvailable
		if ds.NumberUnavailable > unav {
			unav = ds.NumberUnavailable
		}
		if r := desired - ds.NumberReady; r > unav {
			unav = r
		}
		if unav <= 0 {
			continue
		}
		pods := podsOf(env, ds.UID)
		onDown := 0
		ts := troubles(env, pods, func(p *snapshot.Pod) bool {
			if _, down := nodeDown(env, p.NodeName); down && p.NodeName != "" {
				onDown++
				return true
			}
			return false
		})
		var count int32
		var since time.Time
		switch {
		case !podsGap && len(pods) > 0:
			count = int32(len(ts))
			since = earliest(ts)
		case podsGap && ds.UpdatedNumberScheduled >= desired:
			// No pods to look at: trust the counts when no rollout is in
			// progress, dated from the DaemonSet's creation.
			count = unav - max(0, desired-ds.CurrentNumberScheduled)
			since = ds.CreationTimestamp
		}
		if count <= 0 || since.IsZero() || float64(count)/float64(desired) <= minFrac {
			continue
		}
		if since.Before(ds.CreationTimestamp) {
			since = ds.CreationTimestamp
		}
		if env.Age(since) < wait {
			continue
		}
		msg := fmt.Sprintf("daemonset %s has %d of %d pods unavailable for %s", ds.Name, count, desired, round(env.Age(since)))
		if len(ts) > 0 {
			msg += ": " + summarize(ts)
		}
		if onDown > 0 {
			msg += fmt.Sprintf(" (%s on NotReady nodes not counted)", plural(onDown, "more pod", "more pods"))
		}
		ev := []checks.Evidence{fieldEvidence("status.numberUnavailable", fmt.Sprint(ds.NumberUnavailable),
			fmt.Sprintf("desiredNumberScheduled=%d, numberReady=%d, numberAvailable=%d, updatedNumberScheduled=%d",
				desired, ds.NumberReady, ds.NumberAvailable, ds.UpdatedNumberScheduled), nil)}
		ev = append(ev, troubleEvidence(ts)...)
		ev = append(ev, thresholdEvidence("for", wait.String(), "pods unavailable at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindDaemonSet, &ds.Meta), "PodsUnavailable", msg, ev...)
		if count >= desired-int32(onDown) && ds.NumberAvailable == 0 && ds.NumberReady == 0 {
			f.Severity, f.Reason = checks.Critical, "NoPodsAvailable"
		}
		if len(ts) == 1 && ts[0].pod.NodeName != "" {
			f.Node = ts[0].pod.NodeName
		}
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})
