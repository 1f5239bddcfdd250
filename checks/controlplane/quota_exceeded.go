package controlplane

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// quotaRejection matches the admission error a quota puts in FailedCreate
// events: `pods "web-1" is forbidden: exceeded quota: compute, requested:
// requests.cpu=500m, used: requests.cpu=3800m, limited: requests.cpu=4`, or
// `failed quota: compute: must specify limits.cpu for: app`.
var quotaRejection = regexp.MustCompile(`(exceeded|failed) quota: ([a-z0-9][-a-z0-9.]*)`)

// QuotaExceeded fires on ResourceQuotas that are used up or that rejected
// object creations: controllers then retry forever and pods never appear.
var QuotaExceeded = checks.New(checks.Meta{
	ID:    "quota.exceeded",
	Title: "ResourceQuota exhausted or rejecting creations",
	Description: "A ResourceQuota has a resource at or over its hard limit, or FailedCreate events show it rejecting objects (\"exceeded quota\", or \"failed quota: must specify\" for pods without the requests/limits it constrains). " +
		"Rejected pods are never created: Deployments stay below their replicas and Jobs never start. Fully used without rejections is info.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindResourceQuota},
	Params: []checks.Param{
		{Name: "window", Type: checks.Duration, Default: "1h",
			Description: "how far back FailedCreate events count as current rejections"},
	},
	Remedy:   "kubectl describe resourcequota -n NAMESPACE NAME; raise the quota, scale down or shrink requests elsewhere in the namespace, or add the requests/limits the quota requires to the rejected workload.",
	Priority: 78,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	start := env.Now.Add(-env.Params.Duration("window"))

	// Rejections by namespace/quota, newest event kept.
	type rejections struct {
		count  int
		newest *snapshot.Event
		first  time.Time
	}
	rej := map[string]*rejections{}
	for i := range env.Snap.Events {
		e := &env.Snap.Events[i]
		if e.LastTime.Before(start) || e.Type != "Warning" || !strings.Contains(e.Message, "quota: ") {
			continue
		}
		m := quotaRejection.FindStringSubmatch(e.Message)
		if m == nil {
			continue
		}
		ns := e.Namespace
		if ns == "" {
			ns = e.Involved.Namespace
		}
		k := checks.NN(ns, strings.TrimRight(m[2], "."))
		r := rej[k]
		if r == nil {
			r = &rejections{}
			rej[k] = r
		}
		r.count += checks.EventCountSince(e, start)
		if t := e.FirstTime; !t.IsZero() && (r.first.IsZero() || t.Before(r.first)) {
			r.first = t
		}
		if r.newest == nil || e.LastTime.After(r.newest.LastTime) {
			r.newest = e
		}
	}

	var out []checks.Finding
	for i := range env.Snap.ResourceQuotas {
		q := &env.Snap.ResourceQuotas[i]
		var over, full []string
		var ev []checks.Evidence
		for _, res := range sortedKeys(q.Hard) {
			hard, used := q.Hard[res], q.Used[res]
			switch {
			case used > hard:
				over = append(over, fmt.Sprintf("%s %s of %s", res, quantity(res, used), quantity(res, hard)))
			case used == hard && hard > 0:
				full = append(full, fmt.Sprintf("%s %s of %s", res, quantity(res, used), quantity(res, hard)))
			default:
				continue
			}
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "status.used[" + res + "]",
				Value: quantity(res, used), Message: "hard " + quantity(res, hard)})
		}
		r := rej[checks.NN(q.Namespace, q.Name)]
		if len(over) == 0 && len(full) == 0 && r == nil {
			continue
		}
		var parts []string
		if len(over) > 0 {
			parts = append(parts, "is over its limit: "+strings.Join(over, ", "))
		}
		if len(full) > 0 {
			parts = append(parts, "is fully used: "+strings.Join(full, ", "))
		}
		reason, sev := "QuotaExceeded", checks.Warning
		if len(over) == 0 && r == nil {
			reason, sev = "QuotaFullyUsed", checks.Info
		}
		if r != nil {
			e := r.newest
			if strings.Contains(e.Message, "failed quota:") && len(over) == 0 {
				reason = "FailedQuota"
			}
			what := e.Involved.Kind + "/" + e.Involved.Name
			parts = append(parts, fmt.Sprintf("rejected %d creations in the last %s, latest for %s: %s",
				r.count, node.Round(env.Params.Duration("window")), what, e.Message))
			ev = append(ev, checks.Evidence{Type: checks.EvEvent, Path: "events[" + e.Reason + "](" + what + ")",
				Value: fmt.Sprintf("%s x%d", e.Reason, r.count), Message: e.Message, Source: e.Source, Time: at(e.LastTime)})
		}
		f := env.Finding(checks.Ref(snapshot.KindResourceQuota, &q.Meta), reason,
			fmt.Sprintf("ResourceQuota %s/%s %s", q.Namespace, q.Name, strings.Join(parts, "; ")), ev...)
		f.Severity = sev
		if r != nil && !r.first.IsZero() {
			f.Since = at(r.first)
		}
		out = append(out, f)
	}
	return out
})
