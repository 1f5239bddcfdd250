package controlplane

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// at returns a pointer to a copy of t, for Evidence.Time and Finding.Since.
func at(t time.Time) *time.Time { return &t }

// backend is what a webhook or APIService finds behind its Service.
type backend struct {
	svc          *snapshot.Service
	ready, total int
	// pods are the live pods the Service selects; notReady those of them
	// not ready, and since the newest time one of them became not ready.
	pods, notReady []*snapshot.Pod
	since          time.Time
	havePods       bool
}

// serviceBackend looks up a Service and its endpoints.
func serviceBackend(env *checks.Env, ns, name string) backend {
	b := backend{svc: env.Index.Services[checks.NN(ns, name)]}
	if b.svc == nil {
		return b
	}
	b.ready, b.total = env.Index.ReadyEndpoints(ns, name)
	_, gap := env.Snap.Gap(snapshot.KindPod)
	b.havePods = !gap
	if len(b.svc.Selector) == 0 || gap {
		return b
	}
	for _, p := range env.Index.PodsByNamespace[ns] {
		if p.Phase == "Succeeded" || p.Phase == "Failed" || !snapshot.MatchesMap(b.svc.Selector, p.Labels) {
			continue
		}
		b.pods = append(b.pods, p)
		c, ok := snapshot.FindCondition(p.Conditions, "Ready")
		if ok && c.Status == "True" && p.DeletionTimestamp == nil {
			continue
		}
		b.notReady = append(b.notReady, p)
		t := p.CreationTimestamp
		if ok && !c.LastTransitionTime.IsZero() {
			t = c.LastTransitionTime
		}
		if t.After(b.since) {
			b.since = t
		}
	}
	return b
}

// serviceSeen tells whether the snapshot can vouch that a Service it does
// not hold does not exist: not when it was collected for one namespace only
// (Snapshot.Namespace) and the Service lives in another. nsGone is set when
// a complete Namespace list lacks the Service's namespace.
func serviceSeen(env *checks.Env, ns string) (complete, nsGone bool) {
	if scope := env.Snap.Namespace; scope != "" && scope != ns {
		return false, false
	}
	if _, gap := env.Snap.Gap(snapshot.KindNamespace); !gap && len(env.Snap.Namespaces) > 0 && env.Snap.Namespace == "" {
		nsGone = true
		for i := range env.Snap.Namespaces {
			if env.Snap.Namespaces[i].Name == ns {
				nsGone = false
				break
			}
		}
	}
	return true, nsGone
}

// describe says in a few words what is wrong with the backend, or "" when
// it has a ready endpoint.
func (b backend) describe(ns, name string) (reason, text string) {
	switch {
	case b.svc == nil:
		return "ServiceNotFound", fmt.Sprintf("Service %s/%s does not exist", ns, name)
	case b.ready > 0:
		return "", ""
	case b.havePods && len(b.svc.Selector) > 0 && len(b.pods) == 0:
		return "NoReadyEndpoints", fmt.Sprintf("Service %s/%s has no endpoints: its selector matches no pod", ns, name)
	case len(b.notReady) > 0:
		return "NoReadyEndpoints", fmt.Sprintf("Service %s/%s has no ready endpoint: %s", ns, name, podStates(b.notReady, 3))
	}
	return "NoReadyEndpoints", fmt.Sprintf("Service %s/%s has no ready endpoint (%d not ready)", ns, name, b.total)
}

// evidence renders the backend.
func (b backend) evidence(ns, name string) []checks.Evidence {
	path := "service(" + ns + "/" + name + ")"
	if b.svc == nil {
		return []checks.Evidence{{Type: checks.EvRelation, Path: path, Value: "not found"}}
	}
	ev := []checks.Evidence{{Type: checks.EvRelation, Path: path + ".endpoints", Value: fmt.Sprintf("%d ready of %d", b.ready, b.total)}}
	for i, p := range b.notReady {
		if i == 3 {
			break
		}
		e := checks.Evidence{Type: checks.EvRelation, Path: "pod(" + p.Namespace + "/" + p.Name + ")", Value: checks.PodNotReadyReason(p)}
		if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && !c.LastTransitionTime.IsZero() {
			e.Time = at(c.LastTransitionTime)
		}
		ev = append(ev, e)
	}
	return ev
}

func podStates(pods []*snapshot.Pod, n int) string {
	var parts []string
	for i, p := range pods {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(pods)-n))
			break
		}
		parts = append(parts, p.Name+" "+checks.PodNotReadyReason(p))
	}
	return strings.Join(parts, ", ")
}

// quantity renders a quota amount the way kubectl shows it: millicores or
// cores for CPU, binary units for memory and storage, plain counts else.
func quantity(resource string, v int64) string {
	switch {
	case strings.Contains(resource, "cpu"):
		if v%1000 == 0 {
			return fmt.Sprintf("%d", v/1000)
		}
		return fmt.Sprintf("%dm", v)
	case strings.Contains(resource, "memory") || strings.Contains(resource, "storage"):
		units := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi"}
		i := 0
		for v >= 1024 && v%1024 == 0 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return fmt.Sprintf("%d%s", v, units[i])
	}
	return fmt.Sprintf("%d", v)
}
