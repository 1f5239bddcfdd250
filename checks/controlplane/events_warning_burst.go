package controlplane

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// WarningBurst fires on namespaces with an unusual number of Warning events
// within a short window: something there is failing in a loop, and the
// event stream says what (the reasons) and where (the objects).
var WarningBurst = checks.New(checks.Meta{
	ID:    "events.warning_burst",
	Title: "Burst of Warning events",
	Description: "A namespace recorded at least the threshold number of Warning events within the window (aggregated events counted by occurrence). " +
		"One finding per namespace, with the top reasons and objects as evidence: a quick pointer to the loop (BackOff, Unhealthy, FailedMount, FailedScheduling…) behind a noisy namespace.",
	Severity: checks.Info,
	Requires: []snapshot.Kind{snapshot.KindEvent},
	Params: []checks.Param{
		{Name: "window", Type: checks.Duration, Default: "10m",
			Description: "how far back Warning events are counted"},
		{Name: "threshold", Type: checks.Int, Default: "100",
			Description: "Warning events within the window at which a namespace is reported (info); one pod failing a 10s readiness probe alone makes 60 per 10m"},
		{Name: "warning_threshold", Type: checks.Int, Default: "500",
			Description: "Warning events within the window at which the finding is a warning"},
	},
	Remedy:   "kubectl get events -n NAMESPACE --field-selector type=Warning --sort-by=.lastTimestamp; fix the object with the most events first.",
	Priority: 5,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	window := env.Params.Duration("window")
	threshold, warnAt := env.Params.Int("threshold"), env.Params.Int("warning_threshold")
	start := env.Now.Add(-window)

	type tally struct {
		total   int
		reasons map[string]int
		objects map[string]int
		sample  map[string]*snapshot.Event // newest event per reason
	}
	byNS := map[string]*tally{}
	for i := range env.Snap.Events {
		e := &env.Snap.Events[i]
		if e.Type != "Warning" || e.LastTime.Before(start) {
			continue
		}
		t := byNS[e.Namespace]
		if t == nil {
			t = &tally{reasons: map[string]int{}, objects: map[string]int{}, sample: map[string]*snapshot.Event{}}
			byNS[e.Namespace] = t
		}
		n := checks.EventCountSince(e, start)
		t.total += n
		t.reasons[e.Reason] += n
		t.objects[e.Involved.Kind+"/"+e.Involved.Name] += n
		if old := t.sample[e.Reason]; old == nil || e.LastTime.After(old.LastTime) {
			t.sample[e.Reason] = e
		}
	}

	nsMeta := map[string]*snapshot.Meta{}
	for i := range env.Snap.Namespaces {
		nsMeta[env.Snap.Namespaces[i].Name] = &env.Snap.Namespaces[i].Meta
	}
	var out []checks.Finding
	for _, ns := range sortedNS(byNS) {
		t := byNS[ns]
		if t.total < threshold {
			continue
		}
		reasons, objects := top(t.reasons, 5), top(t.objects, 3)
		where := "namespace " + ns
		ref := checks.ObjectRef{Kind: string(snapshot.KindNamespace), Name: ns}
		if m := nsMeta[ns]; m != nil {
			ref = checks.Ref(snapshot.KindNamespace, m)
		}
		if ns == "" {
			where, ref = "cluster-scoped objects", checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}
		}
		var rs []string
		var ev []checks.Evidence
		for _, r := range reasons {
			rs = append(rs, fmt.Sprintf("%s %d", r.key, r.n))
			e := t.sample[r.key]
			ev = append(ev, checks.Evidence{Type: checks.EvEvent, Path: "events.reason", Value: r.key,
				Message: fmt.Sprintf("%d occurrences; latest on %s/%s: %s", r.n, e.Involved.Kind, e.Involved.Name, e.Message),
				Source:  e.Source, Time: at(e.LastTime)})
		}
		for _, o := range objects {
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "events.involvedObject", Value: o.key, Message: fmt.Sprintf("%d Warning events", o.n)})
		}
		ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "threshold", Value: strconv.Itoa(threshold),
			Message: "Warning events per " + node.Round(window)})
		msg := fmt.Sprintf("%d Warning events in %s in the last %s (%s) about %s; most about %s (%d)",
			t.total, where, node.Round(window), strings.Join(rs, ", "), plural(len(t.objects), "object", "objects"), objects[0].key, objects[0].n)
		f := env.Finding(ref, "WarningEventBurst", msg, ev...)
		if t.total >= warnAt {
			f.Severity = checks.Warning
		}
		out = append(out, f)
	}
	return out
})

type counted struct {
	key string
	n   int
}

// top returns the n largest counts, ties by key.
func top(m map[string]int, n int) []counted {
	out := make([]counted, 0, len(m))
	for k, v := range m {
		out = append(out, counted{k, v})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].n != out[b].n {
			return out[a].n > out[b].n
		}
		return out[a].key < out[b].key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sortedNS[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
