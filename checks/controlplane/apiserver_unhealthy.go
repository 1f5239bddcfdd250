package controlplane

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerUnhealthy fires when the API server's own /readyz reports
// failing checks (etcd, informer sync, post-start hooks) or cannot be read.
var APIServerUnhealthy = checks.New(checks.Meta{
	ID:    "controlplane.apiserver_unhealthy",
	Title: "API server not ready",
	Description: "The API server's /readyz?verbose reports failing checks, or the endpoint itself fails. " +
		"A failing etcd check means writes (and soon reads) fail cluster-wide; other failing checks mean this API server instance should not receive traffic.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindControlPlane},
	LiveOnly: true,
	Remedy:   "kubectl get --raw '/readyz?verbose'; for etcd, check the etcd members (etcdctl endpoint health --cluster) and their disk latency; otherwise read the kube-apiserver logs on the control-plane node.",
	Priority: 98,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	cp := env.Snap.ControlPlane
	if cp == nil {
		return nil
	}
	ref := checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}
	var failing []snapshot.HealthCheck
	for _, c := range cp.Readyz {
		if !c.OK {
			failing = append(failing, c)
		}
	}
	if len(failing) == 0 {
		if cp.ReadyzError == "" {
			return nil
		}
		return []checks.Finding{env.Finding(ref, "ReadyzFailed",
			"the API server's /readyz endpoint failed: "+cp.ReadyzError,
			checks.Evidence{Type: checks.EvField, Path: "/readyz", Value: "error", Message: cp.ReadyzError})}
	}
	var names []string
	var ev []checks.Evidence
	etcd, onlyShutdown := false, true
	for _, c := range failing {
		names = append(names, strings.TrimSpace(c.Name+" "+c.Message))
		ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "/readyz[" + c.Name + "]", Value: "failed", Message: c.Message})
		etcd = etcd || strings.HasPrefix(c.Name, "etcd")
		onlyShutdown = onlyShutdown && c.Name == "shutdown"
	}
	reason, sev := "APIServerNotReady", checks.Critical
	msg := fmt.Sprintf("the API server's /readyz reports %d failing checks: %s", len(failing), strings.Join(names, "; "))
	switch {
	case etcd:
		reason = "EtcdUnhealthy"
		msg += "; the API server cannot reach a healthy etcd, so writes fail"
	case onlyShutdown:
		reason, sev = "APIServerShuttingDown", checks.Warning
		msg += "; this API server instance is shutting down"
	}
	f := env.Finding(ref, reason, msg, ev...)
	f.Severity = sev
	return []checks.Finding{f}
})
