package controlplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// WebhookServiceUnavailable fires on admission webhooks whose Service is
// missing or has no ready endpoint. With failurePolicy Fail every matching
// write is rejected (a classic way to wedge a cluster: the webhook's own
// pods cannot be recreated); with Ignore matching requests go through
// without it.
var WebhookServiceUnavailable = checks.New(checks.Meta{
	ID:    "webhook.service_unavailable",
	Title: "Admission webhook backend unavailable",
	Description: "A validating or mutating admission webhook calls a Service that does not exist or has no ready endpoint. " +
		"With failurePolicy Fail the API server rejects every write its rules match (critical; this can block the webhook's own pods from being recreated); with Ignore matching requests are admitted without its validation or mutation (warning). URL webhooks are not checked.",
	Severity: checks.Critical,
	// Either webhook kind is enough (a dump often holds only one of them),
	// so neither is required; the Services and their endpoints are.
	Requires: []snapshot.Kind{snapshot.KindService, snapshot.KindEndpointSlice},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "2m",
			Description: "how long the backend must be unavailable (by the Service's age and its pods' readiness) before the check fires"},
	},
	Remedy:   "Restore the webhook's backend (kubectl -n NS get pods,endpointslices for its Service); if it cannot come back quickly, set failurePolicy: Ignore or delete the webhook configuration of an uninstalled tool.",
	Priority: 88,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	var out []checks.Finding
	for i := range env.Snap.WebhookConfigs {
		wc := &env.Snap.WebhookConfigs[i]
		if env.Age(wc.CreationTimestamp) < wait {
			// Installed moments ago: its Service may still be coming.
			continue
		}
		type broken struct {
			h            snapshot.Webhook
			reason, text string
		}
		var bad []broken
		var ev []checks.Evidence
		var since time.Time
		seen := map[string]bool{}
		for _, h := range wc.Webhooks {
			if h.Service == nil {
				continue
			}
			ns, name := h.Service.Namespace, h.Service.Name
			b := serviceBackend(env, ns, name)
			if b.svc != nil && b.svc.Type == "ExternalName" {
				continue
			}
			reason, text := b.describe(ns, name)
			if reason == "" {
				continue
			}
			if b.svc == nil {
				complete, gone := serviceSeen(env, ns)
				if !complete {
					// Collected for another namespace: absence proves nothing.
					continue
				}
				if gone {
					text += " (its namespace is gone)"
				}
			}
			if b.svc != nil {
				if env.Age(b.svc.CreationTimestamp) < wait || (!b.since.IsZero() && env.Age(b.since) < wait) {
					continue
				}
				if !b.since.IsZero() && (since.IsZero() || b.since.Before(since)) {
					since = b.since
				}
			}
			bad = append(bad, broken{h, reason, text})
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "webhooks[" + h.Name + "]",
				Value: "failurePolicy " + h.FailurePolicy, Message: "calls Service " + ns + "/" + name + "; rules: " + rules(h)})
			if !seen[ns+"/"+name] {
				seen[ns+"/"+name] = true
				ev = append(ev, b.evidence(ns, name)...)
			}
		}
		if len(bad) == 0 {
			continue
		}
		// Lead with a webhook that fails closed: it is the one blocking writes.
		worst := bad[0]
		for _, b := range bad {
			if b.h.FailurePolicy != "Ignore" {
				worst = b
				break
			}
		}
		var msg string
		if worst.h.FailurePolicy == "Ignore" {
			msg = fmt.Sprintf("webhook %s (failurePolicy Ignore) of %s %s cannot be called: %s; matching requests (%s) are admitted without it",
				worst.h.Name, wc.Kind, wc.Name, worst.text, rules(worst.h))
		} else {
			msg = fmt.Sprintf("webhook %s (failurePolicy Fail) of %s %s cannot be called: %s; the API server rejects every matching request: %s",
				worst.h.Name, wc.Kind, wc.Name, worst.text, rules(worst.h))
		}
		if len(bad) > 1 {
			msg += fmt.Sprintf(" (%d webhooks of this configuration are affected)", len(bad))
		}
		if worst.h.FailurePolicy != "Ignore" {
			if r, ok := webhookRejection(env, worst.h); ok {
				msg += fmt.Sprintf("; it is rejecting creations: %s %s/%s reports %s", r.kind, r.ns, r.name, r.text)
				if r.backend {
					msg += " — a deadlock: the webhook's own backend cannot create its pods through it; set failurePolicy: Ignore (or delete the configuration) until it runs"
				}
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: strings.ToLower(r.kind) + "/" + r.ns + "/" + r.name,
					Value: "rejected", Message: r.text, Time: r.at})
			}
		}
		f := env.Finding(checks.Ref(wc.Kind, &wc.Meta), worst.reason, msg, ev...)
		if worst.h.FailurePolicy == "Ignore" {
			f.Severity = checks.Warning
		}
		if !since.IsZero() {
			f.Since = at(since)
		}
		out = append(out, f)
	}
	return out
})

// rules renders a webhook's rule summaries, naming the core group (the
// empty one) as "core".
func rules(h snapshot.Webhook) string {
	if len(h.Rules) == 0 {
		return "no rules"
	}
	out := make([]string, len(h.Rules))
	for i, r := range h.Rules {
		out[i] = strings.Replace(r, " /", " core/", 1)
	}
	return strings.Join(out, "; ")
}

// rejection is an object creation the webhook made fail.
type rejection struct {
	kind, ns, name, text string
	at                   *time.Time
	// backend is true when the rejected workload is the webhook's own
	// backend (its Service selects the workload's pods).
	backend bool
}

// webhookRejection finds a controller whose pod creations fail on the
// webhook ("failed calling webhook \"NAME\""): a ReplicaFailure condition
// of a ReplicaSet or Deployment, or a FailedCreate event. The webhook's
// own backend is preferred: that is a deadlock.
func webhookRejection(env *checks.Env, h snapshot.Webhook) (rejection, bool) {
	needle := `webhook "` + h.Name + `"`
	var found []rejection
	backendOf := func(ns string, sel *snapshot.Selector) bool {
		if h.Service == nil || ns != h.Service.Namespace || sel == nil {
			return false
		}
		svc := env.Index.Services[checks.NN(ns, h.Service.Name)]
		return svc != nil && snapshot.MatchesMap(svc.Selector, sel.MatchLabels)
	}
	for i := range env.Snap.Deployments {
		d := &env.Snap.Deployments[i]
		if c, ok := snapshot.FindCondition(d.Conditions, "ReplicaFailure"); ok && c.Status == "True" && strings.Contains(c.Message, needle) {
			found = append(found, rejection{kind: "Deployment", ns: d.Namespace, name: d.Name, text: c.Reason + ": " + c.Message,
				at: timePtr(c.LastTransitionTime), backend: backendOf(d.Namespace, d.Selector)})
		}
	}
	for i := range env.Snap.Events {
		e := &env.Snap.Events[i]
		if e.Reason != "FailedCreate" || !strings.Contains(e.Message, needle) {
			continue
		}
		r := rejection{kind: e.Involved.Kind, ns: e.Involved.Namespace, name: e.Involved.Name, text: e.Reason + ": " + e.Message, at: timePtr(e.LastTime)}
		if e.Involved.Kind == "ReplicaSet" {
			for j := range env.Snap.ReplicaSets {
				rs := &env.Snap.ReplicaSets[j]
				if rs.Namespace != r.ns || rs.Name != r.name {
					continue
				}
				if o, ok := rs.Controller(); ok && o.Kind == "Deployment" {
					if d := env.Index.Deployments[o.UID]; d != nil {
						r.backend = backendOf(d.Namespace, d.Selector)
					}
				}
			}
		}
		if e.Involved.Kind == "DaemonSet" || e.Involved.Kind == "StatefulSet" {
			for j := range env.Snap.DaemonSets {
				if ds := &env.Snap.DaemonSets[j]; ds.Namespace == r.ns && ds.Name == r.name {
					r.backend = backendOf(ds.Namespace, ds.Selector)
				}
			}
			for j := range env.Snap.StatefulSets {
				if st := &env.Snap.StatefulSets[j]; st.Namespace == r.ns && st.Name == r.name {
					r.backend = backendOf(st.Namespace, st.Selector)
				}
			}
		}
		found = append(found, r)
	}
	if len(found) == 0 {
		return rejection{}, false
	}
	for _, r := range found {
		if r.backend {
			return r, true
		}
	}
	return found[0], true
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
