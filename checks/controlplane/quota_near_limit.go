package controlplane

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// QuotaNearLimit fires on ResourceQuotas with a resource almost used up:
// the next Deployment scale-up or rollout surge will be rejected.
var QuotaNearLimit = checks.New(checks.Meta{
	ID:    "quota.near_limit",
	Title: "ResourceQuota near its limit",
	Description: "A ResourceQuota has a resource whose used amount reaches the threshold share of its hard limit (but not the limit itself, which quota.exceeded reports). " +
		"Rolling updates need room for surge pods and are the first to be rejected.",
	Severity: checks.Info,
	Requires: []snapshot.Kind{snapshot.KindResourceQuota},
	Params: []checks.Param{
		{Name: "threshold", Type: checks.Float, Default: "90",
			Description: "percentage of a hard limit in use at which the check fires"},
	},
	Remedy:   "kubectl describe resourcequota -n NAMESPACE NAME; raise the quota or reduce requests (idle replicas, oversized requests) before the next rollout.",
	Priority: 25,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	threshold := env.Params.Float("threshold")
	var out []checks.Finding
	for i := range env.Snap.ResourceQuotas {
		q := &env.Snap.ResourceQuotas[i]
		type usage struct {
			name       string
			used, hard int64
			pct        float64
		}
		var near []usage
		for _, r := range sortedKeys(q.Hard) {
			hard, used := q.Hard[r], q.Used[r]
			if hard <= 0 || used >= hard {
				continue
			}
			if pct := 100 * float64(used) / float64(hard); pct >= threshold {
				near = append(near, usage{r, used, hard, pct})
			}
		}
		if len(near) == 0 {
			continue
		}
		sort.SliceStable(near, func(a, b int) bool { return near[a].pct > near[b].pct })
		var parts []string
		var ev []checks.Evidence
		for _, u := range near {
			parts = append(parts, fmt.Sprintf("%s %s of %s (%.0f%%)", u.name, quantity(u.name, u.used), quantity(u.name, u.hard), u.pct))
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "status.used[" + u.name + "]",
				Value: quantity(u.name, u.used), Message: fmt.Sprintf("hard %s, %.0f%% used", quantity(u.name, u.hard), u.pct)})
		}
		ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "threshold", Value: fmt.Sprintf("%g%%", threshold)})
		out = append(out, env.Finding(checks.Ref(snapshot.KindResourceQuota, &q.Meta), "QuotaNearLimit",
			fmt.Sprintf("ResourceQuota %s/%s is nearly used up: %s", q.Namespace, q.Name, strings.Join(parts, ", ")), ev...))
	}
	return out
})

func sortedKeys(r snapshot.Resources) []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
