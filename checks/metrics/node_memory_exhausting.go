package metrics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// MemoryExhausting fires when a node has used almost all its memory for a
// while (node-mixin NodeMemoryHighUtilization: more than 90% for 15m).
// Needs node_exporter metrics in Prometheus.
var MemoryExhausting = checks.New(checks.Meta{
	ID:    "node.memory_exhausting",
	Title: "Node memory exhausted",
	Description: "A node has used more than `max_used_percent` of its memory (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) " +
		"for longer than `for` (node-mixin NodeMemoryHighUtilization: 90% for 15m), critical above `critical_used_percent`. " +
		"Next come kubelet evictions (MemoryPressure) and kernel OOM kills, which hit whichever container the kernel picks, not the one that leaks.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsNode},
	Params: []checks.Param{
		{Name: "max_used_percent", Type: checks.Float, Default: "90", Description: "memory use that fires a warning when sustained (node-mixin memoryHighUtilizationThreshold)"},
		{Name: "critical_used_percent", Type: checks.Float, Default: "95", Description: "memory use that fires as critical when sustained"},
		{Name: "for", Type: checks.Duration, Default: "15m", Description: "how long the use must stay above the threshold (node-mixin: 15m)"},
	},
	Remedy: "Find the largest consumers on the node (kubectl top pods -A --sort-by=memory --field-selector spec.nodeName=NODE; on the node: ps aux --sort=-rss | head), " +
		"set memory requests that match the usage so the scheduler stops overpacking, and reserve memory for the system (--system-reserved, --kube-reserved).",
	Priority: 65,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	availS := series(env, "node_memory_MemAvailable_bytes")
	if len(availS) == 0 {
		return missing(env, snapshot.KindMetricsNode, "node_memory_MemAvailable_bytes")
	}
	total := map[string]float64{}
	for _, s := range series(env, "node_memory_MemTotal_bytes") {
		if l, ok := s.Last(); ok {
			total[hostKey(s.Labels)] = l.V
		}
	}
	warnUsed, critUsed := env.Params.Float("max_used_percent"), env.Params.Float("critical_used_percent")
	wait := env.Params.Duration("for")
	uname := unameMap(env)
	sort.SliceStable(availS, func(i, j int) bool { return hostKey(availS[i].Labels) < hostKey(availS[j].Labels) })
	var out []checks.Finding
	for _, s := range availS {
		t := total[hostKey(s.Labels)]
		if t <= 0 {
			continue
		}
		used := func(v float64) float64 { return (1 - v/t) * 100 }
		ok, since := sustainedStrict(s, wait, func(v float64) bool { return used(v) > warnUsed })
		if !ok {
			continue
		}
		l, _ := s.Last()
		ref, nodeName := nodeRef(env, s.Labels, uname)
		msg := fmt.Sprintf("%s has used %s of its memory for %s (%s of %s available): the kubelet evicts pods and the kernel OOM-kills next",
			ref.Name, percent(used(l.V)/100), node.Round(l.Time().Sub(since)), checks.Bytes(l.V), checks.Bytes(t))
		f := env.Finding(ref, "NodeMemoryHighUtilization", msg,
			seriesEvidence(s, checks.Bytes(l.V), fmt.Sprintf("available of %s (%s used) since %s", checks.Bytes(t), percent(used(l.V)/100), since.Format(time.RFC3339))),
			threshold("max_used_percent", fmt.Sprintf("%g%%", warnUsed), fmt.Sprintf("for %s; critical above %g%%", shortDur(wait), critUsed)))
		if crit, _ := sustainedStrict(s, wait, func(v float64) bool { return used(v) > critUsed }); crit {
			f.Severity = checks.Critical
		}
		f.Node = nodeName
		f.Since = &since
		out = append(out, f)
	}
	return out
})
