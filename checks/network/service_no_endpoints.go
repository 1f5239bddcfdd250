package network

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ServiceNoEndpoints fires on Services with a selector and no ready
// endpoint, and says which of the usual causes it is: the selector matches
// no pod (a typo, a relabelled Deployment, a workload scaled to zero), or
// the pods exist and none is ready.
var ServiceNoEndpoints = checks.New(checks.Meta{
	ID:    "service.no_endpoints",
	Title: "Service has no ready endpoints",
	Description: "A Service with a selector has no ready endpoint in its EndpointSlices, so connections to it are refused or time out. " +
		"The finding says whether the selector matches no pod at all (warning; info for a headless Service) or the matching pods are all not ready (critical: the backend is down). " +
		"Services whose workload is scaled to zero on purpose, and the headless discovery stubs monitoring stacks put in kube-system, stay quiet.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindService, snapshot.KindEndpointSlice, snapshot.KindPod},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "3m",
			Description: "how long the Service must be without ready endpoints (judged by its age and its pods' readiness transitions) before the check fires"},
	},
	Remedy:   "kubectl get endpointslices -n NAMESPACE -l kubernetes.io/service-name=NAME; compare the Service's selector with the pods' labels (kubectl get pods -n NAMESPACE --show-labels) and look at why the pods are not ready (kubectl describe pod).",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	var out []checks.Finding
	var zero *scaledDown
	for i := range env.Snap.Services {
		svc := &env.Snap.Services[i]
		if svc.Type == "ExternalName" || len(svc.Selector) == 0 || svc.DeletionTimestamp != nil {
			continue
		}
		if env.Age(svc.CreationTimestamp) < wait {
			continue
		}
		ready, total := env.Index.ReadyEndpoints(svc.Namespace, svc.Name)
		if ready > 0 {
			continue
		}
		if zero == nil {
			zero = newScaledDown(env.Snap)
		}
		f, ok := noEndpoints(env, zero, svc, total, wait)
		if ok {
			out = append(out, f)
		}
	}
	return out
})

func noEndpoints(env *checks.Env, zero *scaledDown, svc *snapshot.Service, total int, wait time.Duration) (checks.Finding, bool) {
	selText := selectorString(svc.Selector)
	ref := checks.Ref(snapshot.KindService, &svc.Meta)
	ev := []checks.Evidence{
		{Type: checks.EvField, Path: "spec.selector", Value: selText},
		{Type: checks.EvRelation, Path: "endpointslices", Value: fmt.Sprintf("0 ready of %d", total),
			Message: plural(len(env.Index.SlicesByService[checks.NN(svc.Namespace, svc.Name)]), "EndpointSlice") + " for the Service"},
	}
	sel := labelPairs(svc.Selector)
	pods := selectedPods(env.Index, svc.Namespace, sel)

	if len(pods) == 0 {
		msg := fmt.Sprintf("Service %s/%s selects %s but no pod in namespace %s has those labels", svc.Namespace, svc.Name, selText, svc.Namespace)
		sev := checks.Warning
		if zero.covering(svc) != "" {
			// Scaled to zero on purpose (KEDA, Knative, a paused
			// environment): no endpoint is the expected state.
			return checks.Finding{}, false
		}
		if svc.ClusterIP == "None" && svc.Namespace == "kube-system" {
			// Discovery stubs: monitoring stacks install headless
			// Services for kube-scheduler, kube-controller-manager and
			// etcd, which select nothing on managed control planes.
			return checks.Finding{}, false
		}
		near := nearMisses(env, svc, sel, 3)
		switch {
		case len(near) > 0:
			msg += "; closest match: " + strings.Join(near, "; ")
			for _, n := range near {
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "pods(near miss)", Value: n,
					Message: "pod matching all but one selector label"})
			}
		case svc.ClusterIP == "None":
			// Headless Services selecting nothing are mostly discovery
			// stubs (e.g. kube-prometheus-stack's kube-scheduler and
			// etcd Services on managed control planes).
			msg += " (headless Service: its DNS name resolves to nothing)"
			sev = checks.Info
		}
		f := env.Finding(ref, "NoMatchingPods", msg, ev...)
		f.Severity = sev
		return f, true
	}

	var readyPods, notReady []*snapshot.Pod
	var since time.Time
	for _, p := range pods {
		if podReady(p) && p.DeletionTimestamp == nil {
			readyPods = append(readyPods, p)
			continue
		}
		notReady = append(notReady, p)
		if t := notReadySince(p); t.After(since) {
			since = t
		}
	}
	if len(readyPods) > 0 {
		// Ready pods but no ready endpoint: the EndpointSlice controller
		// skipped them (named targetPort missing on the pods) or lags.
		var latestReady time.Time
		for _, p := range readyPods {
			if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && c.LastTransitionTime.After(latestReady) {
				latestReady = c.LastTransitionTime
			}
		}
		if !latestReady.IsZero() && env.Age(latestReady) < wait {
			return checks.Finding{}, false
		}
		var ports []string
		for _, p := range svc.Ports {
			ports = append(ports, fmt.Sprintf("%d->%s", p.Port, p.TargetPort))
		}
		msg := fmt.Sprintf("Service %s/%s has no ready endpoint although %s matching %s %s ready; check that its targetPorts (%s) exist on the pods' containers and that the EndpointSlice controller runs",
			svc.Namespace, svc.Name, plural(len(readyPods), "pod"), selText, isAre(len(readyPods)), strings.Join(ports, ", "))
		for j, p := range readyPods {
			if j == 3 {
				break
			}
			ev = append(ev, podEvidence(p))
		}
		f := env.Finding(ref, "EndpointsMissing", msg, ev...)
		f.Severity = checks.Warning
		return f, true
	}
	if !since.IsZero() && env.Age(since) < wait {
		// A rollout or restart still inside its grace period.
		return checks.Finding{}, false
	}
	sort.SliceStable(notReady, func(a, b int) bool { return notReady[a].Name < notReady[b].Name })
	dur := ""
	if !since.IsZero() {
		dur = " for " + node.Round(env.Age(since))
	}
	what := fmt.Sprintf("none of its %d pods is ready", len(notReady))
	if len(notReady) == 1 {
		what = "its only pod is not ready"
	}
	msg := fmt.Sprintf("Service %s/%s has had no ready endpoint%s: %s (%s)",
		svc.Namespace, svc.Name, dur, what, podList(notReady, 3))
	for j, p := range notReady {
		if j == 5 {
			break
		}
		ev = append(ev, podEvidence(p))
	}
	f := env.Finding(ref, "NoReadyEndpoints", msg, ev...)
	if !since.IsZero() {
		f.Since = at(since)
	}
	return f, true
}

// scaledDown holds the Deployments and StatefulSets scaled to zero, by
// namespace, in snapshot order.
type scaledDown struct {
	deployments  map[string][]*snapshot.Deployment
	statefulSets map[string][]*snapshot.StatefulSet
}

func newScaledDown(s *snapshot.Snapshot) *scaledDown {
	z := &scaledDown{deployments: map[string][]*snapshot.Deployment{}, statefulSets: map[string][]*snapshot.StatefulSet{}}
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d.Replicas == 0 {
			z.deployments[d.Namespace] = append(z.deployments[d.Namespace], d)
		}
	}
	for i := range s.StatefulSets {
		if st := &s.StatefulSets[i]; st.Replicas == 0 {
			z.statefulSets[st.Namespace] = append(z.statefulSets[st.Namespace], st)
		}
	}
	return z
}

// covering names a Deployment or StatefulSet of the Service's namespace
// that is scaled to zero and whose pods the Service would select.
func (z *scaledDown) covering(svc *snapshot.Service) string {
	covers := func(s *snapshot.Selector) bool {
		return s != nil && snapshot.MatchesMap(svc.Selector, s.MatchLabels)
	}
	for _, d := range z.deployments[svc.Namespace] {
		if covers(d.Selector) {
			return "Deployment " + d.Name
		}
	}
	for _, s := range z.statefulSets[svc.Namespace] {
		if covers(s.Selector) {
			return "StatefulSet " + s.Name
		}
	}
	return ""
}

// nearMisses describes up to n distinct label differences of pods that
// match every selector label but one: the usual typo or relabelling.
func nearMisses(env *checks.Env, svc *snapshot.Service, sel []labelPair, n int) []string {
	// A difference is judged once (replicas look alike): whether it is a
	// near miss, and then it is reported for the first pod that has it.
	type diff struct {
		key, got string
		missing  bool
	}
	judged := map[diff]bool{}
	var out []string
	for _, p := range env.Index.PodsByNamespace[svc.Namespace] {
		if terminal(p) {
			continue
		}
		var d diff
		var want string
		misses := 0
		for _, l := range sel {
			got, ok := p.Labels[l.key]
			if ok && got == l.value {
				continue
			}
			if misses++; misses > 1 {
				break
			}
			d, want = diff{key: l.key, got: got, missing: !ok}, l.value
		}
		if misses != 1 {
			continue
		}
		if _, done := judged[d]; done {
			continue
		}
		// A missing key says little when it is the only key.
		similar := len(sel) > 1
		if !d.missing {
			similar = alike(d.got, want)
		}
		judged[d] = similar
		if !similar {
			continue
		}
		if d.missing {
			out = append(out, "pod "+p.Name+" has no label "+d.key)
		} else {
			out = append(out, "pod "+p.Name+" has "+d.key+"="+d.got+", not "+want)
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// alike reports whether two label values look like a typo or a rename of
// each other: one contains the other, or they are a few edits apart.
func alike(a, b string) bool {
	if strings.Contains(a, b) || strings.Contains(b, a) {
		return true
	}
	limit := 1
	if n := min(len(a), len(b)); n >= 5 {
		limit = max(2, n/3)
	}
	return editDistance(a, b) <= limit
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
