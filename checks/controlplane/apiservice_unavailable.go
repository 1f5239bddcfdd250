package controlplane

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServiceUnavailable fires on aggregated APIs (metrics.k8s.io,
// custom.metrics.k8s.io, …) the API server cannot reach. Besides their own
// API, an unavailable group breaks discovery: kubectl prints errors,
// namespaces hang in Terminating and HPAs lose their metrics.
var APIServiceUnavailable = checks.New(checks.Meta{
	ID:    "apiservice.unavailable",
	Title: "Aggregated API unavailable",
	Description: "An APIService backed by a Service reports Available=False (FailedDiscoveryCheck, MissingEndpoints, ServiceNotFound…). " +
		"Its API group fails, and with it discovery: kubectl warns on every call, namespace deletion hangs in Terminating and HPAs using metrics.k8s.io stop scaling. Local (built-in) APIServices are skipped.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindAPIService},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "5m",
			Description: "how long the APIService must be unavailable before the check fires"},
	},
	Remedy:   "kubectl get apiservice NAME -o yaml; fix the backing Service's pods (e.g. kubectl -n kube-system get pods -l k8s-app=metrics-server) or delete the APIService of an uninstalled add-on.",
	Priority: 70,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	_, svcGap := env.Snap.Gap(snapshot.KindService)
	_, sliceGap := env.Snap.Gap(snapshot.KindEndpointSlice)
	var out []checks.Finding
	for i := range env.Snap.APIServices {
		a := &env.Snap.APIServices[i]
		if a.Service == nil {
			continue
		}
		c, ok := snapshot.FindCondition(a.Conditions, "Available")
		if !ok || c.Status == "True" {
			continue
		}
		since := c.LastTransitionTime
		if since.IsZero() {
			since = a.CreationTimestamp
		}
		age := env.Age(since)
		if age < wait {
			continue
		}
		ns, name := a.Service.Namespace, a.Service.Name
		ev := []checks.Evidence{{Type: checks.EvCondition, Path: "status.conditions[Available]", Value: c.Status,
			Message: strings.TrimSpace(c.Reason + ": " + c.Message), Time: at(c.LastTransitionTime)}}
		group := a.Group
		if group == "" {
			group = strings.TrimPrefix(a.Name, a.Version+".")
		}
		msg := fmt.Sprintf("APIService %s (Service %s/%s) is unavailable for %s: %s", a.Name, ns, name, node.Round(age), nonEmpty(c.Message, c.Reason))
		if c.Reason != "" && c.Message != "" {
			msg = fmt.Sprintf("APIService %s (Service %s/%s) is unavailable (%s) for %s: %s", a.Name, ns, name, c.Reason, node.Round(age), c.Message)
		}
		if !svcGap && !sliceGap && (env.Snap.Namespace == "" || env.Snap.Namespace == ns) {
			b := serviceBackend(env, ns, name)
			if _, text := b.describe(ns, name); text != "" && b.svc != nil {
				// A missing Service is already what the condition says.
				msg += "; " + text
			}
			ev = append(ev, b.evidence(ns, name)...)
		}
		msg += fmt.Sprintf("; requests to %s/%s and API discovery fail", group, a.Version)
		if stuck := terminatingNamespaces(env); len(stuck) > 0 {
			msg += fmt.Sprintf(", which keeps %s Terminating (%s)", plural(len(stuck), "namespace", "namespaces"), strings.Join(stuck, ", "))
			ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "namespaces", Value: strings.Join(stuck, ","),
				Message: "namespaces being deleted: their deletion needs complete API discovery"})
		}
		f := env.Finding(checks.Ref(snapshot.KindAPIService, &a.Meta), nonEmpty(c.Reason, "APIServiceUnavailable"), msg, ev...)
		f.Since = at(since)
		out = append(out, f)
	}
	return out
})

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// terminatingNamespaces names (up to five of) the namespaces being deleted.
func terminatingNamespaces(env *checks.Env) []string {
	var out []string
	for i := range env.Snap.Namespaces {
		ns := &env.Snap.Namespaces[i]
		if ns.DeletionTimestamp == nil {
			continue
		}
		if len(out) == 5 {
			out = append(out, "…")
			break
		}
		out = append(out, ns.Name)
	}
	return out
}
