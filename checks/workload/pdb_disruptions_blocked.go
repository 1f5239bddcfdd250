package workload

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PDBDisruptionsBlocked fires when a PodDisruptionBudget allows no
// voluntary disruption at all.
var PDBDisruptionsBlocked = checks.New(checks.Meta{
	ID:    "pdb.disruptions_blocked",
	Title: "PodDisruptionBudget blocks all evictions",
	Description: "status.disruptionsAllowed is 0 while the budget covers pods (expectedPods > 0) for longer " +
		"than the threshold: every eviction of its pods is refused, so kubectl drain, node upgrades, " +
		"cluster-autoscaler scale-down and descheduling hang on the nodes that run them. The finding says " +
		"whether pods are unhealthy (currentHealthy below desiredHealthy: fix the pods) or the budget can " +
		"never allow a disruption (minAvailable equal to the replica count, maxUnavailable 0: fix the " +
		"budget), or the disruption controller cannot compute it (SyncFailed).",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPDB},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long the budget must allow no disruption before the check fires (rolling updates block it briefly)"},
	},
	Remedy:   "kubectl get pdb NAME -n NS -o yaml; fix the unhealthy pods it names, or lower minAvailable / raise maxUnavailable so at least one pod may be evicted (or add a replica).",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.PDBs {
		b := &env.Snap.PDBs[i]
		if b.DisruptionsAllowed > 0 || b.DeletionTimestamp != nil {
			continue
		}
		cond, hasCond := snapshot.FindCondition(b.Conditions, "DisruptionAllowed")
		syncFailed := hasCond && cond.Status == "False" && cond.Reason == "SyncFailed"
		if b.ExpectedPods <= 0 && !syncFailed {
			continue // selects no pods: nothing is blocked
		}
		if hasCond && cond.Status == "True" || !syncFailed && b.CurrentHealthy > b.DesiredHealthy {
			continue // stale status: the controller will allow disruptions
		}
		since := b.CreationTimestamp
		if hasCond && cond.LastTransitionTime.After(since) {
			since = cond.LastTransitionTime
		}
		if env.Age(since) < wait {
			continue
		}
		budget := budgetString(b)
		ev := []checks.Evidence{
			fieldEvidence("status.disruptionsAllowed", "0",
				fmt.Sprintf("currentHealthy=%d, desiredHealthy=%d, expectedPods=%d", b.CurrentHealthy, b.DesiredHealthy, b.ExpectedPods), nil),
			fieldEvidence("spec", budget, "", nil),
		}
		if hasCond {
			ev = append(ev, conditionEvidence(cond))
		}
		var reason, msg string
		switch {
		case syncFailed:
			reason = "SyncFailed"
			msg = fmt.Sprintf("pdb %s (%s) allows no evictions: the disruption controller cannot compute it: %s",
				b.Name, budget, oneLine(cond.Message, 400))
		case b.CurrentHealthy < b.DesiredHealthy || b.DesiredHealthy < b.ExpectedPods:
			unhealthy := unhealthyPods(env, b)
			reason = "InsufficientPods"
			msg = fmt.Sprintf("pdb %s (%s) allows no evictions: %d of %d pods healthy, %d required",
				b.Name, budget, b.CurrentHealthy, b.ExpectedPods, b.DesiredHealthy)
			if len(unhealthy) > 0 {
				msg += ": " + summarize(unhealthy)
				ev = append(ev, troubleEvidence(unhealthy)...)
			}
			if zeroBudget(b, b.ExpectedPods) {
				msg += fmt.Sprintf("; the budget itself (%s for %d pods) would allow none even when all are healthy", budget, b.ExpectedPods)
			} else {
				msg += " — evictions are refused (\"Cannot evict pod as it would violate the pod's disruption budget\") and drains of their nodes block until the pods are healthy"
			}
		default:
			reason = "ZeroDisruptionBudget"
			msg = fmt.Sprintf("pdb %s (%s) can never allow an eviction: all %d pods must stay healthy",
				b.Name, budget, b.ExpectedPods)
			if b.ExpectedPods == 1 {
				msg = fmt.Sprintf("pdb %s (%s) can never allow an eviction: its only pod must stay healthy", b.Name, budget)
			}
			if !zeroBudget(b, b.ExpectedPods) && strings.HasSuffix(b.MinAvailable, "%") {
				msg += fmt.Sprintf(" (minAvailable %s of %d pods rounds up to %d)", b.MinAvailable, b.ExpectedPods, b.DesiredHealthy)
			}
			msg += ", so kubectl drain and node upgrades block on every node that runs one (\"Cannot evict pod as it would violate the pod's disruption budget\")"
		}
		ev = append(ev, thresholdEvidence("for", wait.String(), "no disruption allowed at least this long"))
		f := env.Finding(checks.Ref(snapshot.KindPDB, &b.Meta), reason, msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

// budgetString renders a PDB's spec: "minAvailable=2", "maxUnavailable=0".
func budgetString(b *snapshot.PDB) string {
	var parts []string
	if b.MinAvailable != "" {
		parts = append(parts, "minAvailable="+b.MinAvailable)
	}
	if b.MaxUnavailable != "" {
		parts = append(parts, "maxUnavailable="+b.MaxUnavailable)
	}
	if len(parts) == 0 {
		return "no budget"
	}
	return strings.Join(parts, ", ")
}

// unhealthyPods lists the pods a PDB selects that are not ready.
func unhealthyPods(env *checks.Env, b *snapshot.PDB) []trouble {
	var pods []*snapshot.Pod
	for _, p := range env.Index.PodsByNamespace[b.Namespace] {
		if p.DeletionTimestamp == nil && podReady(p) {
			continue // no trouble: skip the selector match
		}
		if b.Selector.Matches(p.Labels) {
			pods = append(pods, p)
		}
	}
	return troubles(env, pods, nil)
}

// zeroBudget reports whether the spec alone forbids any disruption for n
// expected pods.
func zeroBudget(b *snapshot.PDB, n int32) bool {
	if v := b.MaxUnavailable; v != "" {
		return v == "0" || v == "0%"
	}
	v := b.MinAvailable
	if strings.HasSuffix(v, "%") {
		p, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		return err == nil && p >= 100
	}
	m, err := strconv.Atoi(v)
	return err == nil && int32(m) >= n
}
