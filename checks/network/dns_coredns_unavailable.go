package network

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// dnsLabel is the label every cluster DNS distribution (kubeadm CoreDNS,
// GKE kube-dns, EKS, AKS, k3s) puts on its Deployment, pods and Service.
const dnsLabel = "k8s-app"

// CoreDNSUnavailable fires when the cluster DNS has no available replica
// or its Service no ready endpoint: every name lookup in the cluster fails.
var CoreDNSUnavailable = checks.New(checks.Meta{
	ID:    "dns.coredns_unavailable",
	Title: "Cluster DNS unavailable",
	Description: "The cluster DNS (kube-system Deployment coredns or kube-dns, label k8s-app=kube-dns) has no available replica, or the kube-dns Service has no ready endpoint. " +
		"Every in-cluster name lookup then fails, which surfaces as timeouts and crash loops everywhere else. Clusters without it in kube-system stay quiet.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindDeployment},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "2m",
			Description: "how long DNS must be unavailable before the check fires"},
	},
	Remedy:   "kubectl -n kube-system get deploy,pods,endpointslices -l k8s-app=kube-dns; kubectl -n kube-system logs deploy/coredns (look for plugin/loop, upstream and permission errors) and describe its pods.",
	Priority: 80,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	var deps []*snapshot.Deployment
	for i := range env.Snap.Deployments {
		d := &env.Snap.Deployments[i]
		if d.Namespace == "kube-system" && (d.Name == "coredns" || d.Name == "kube-dns" || d.Labels[dnsLabel] == "kube-dns") {
			deps = append(deps, d)
		}
	}
	var svc *snapshot.Service
	if s := env.Index.Services[checks.NN("kube-system", "kube-dns")]; s != nil {
		svc = s
	} else {
		for i := range env.Snap.Services {
			s := &env.Snap.Services[i]
			if s.Namespace == "kube-system" && s.Labels[dnsLabel] == "kube-dns" {
				svc = s
				break
			}
		}
	}
	if len(deps) == 0 && svc == nil {
		return nil
	}
	_, podGap := env.Snap.Gap(snapshot.KindPod)
	_, sliceGap := env.Snap.Gap(snapshot.KindEndpointSlice)

	var ev []checks.Evidence
	var down *snapshot.Deployment
	var since time.Time
	depsOK := len(deps) == 0
	for _, d := range deps {
		ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "deployment(" + d.Name + ").status.availableReplicas",
			Value: fmt.Sprintf("%d/%d", d.AvailableReplicas, d.Replicas)})
		if d.AvailableReplicas > 0 {
			depsOK = true
			continue
		}
		if down == nil {
			down = d
		}
		if c, ok := snapshot.FindCondition(d.Conditions, "Available"); ok && c.Status != "True" {
			ev = append(ev, checks.Evidence{Type: checks.EvCondition, Path: "deployment(" + d.Name + ").status.conditions[Available]",
				Value: c.Status, Message: strings.TrimSpace(c.Reason + ": " + c.Message), Time: at(c.LastTransitionTime)})
			if c.LastTransitionTime.After(since) {
				since = c.LastTransitionTime
			}
		}
	}

	// The Service's endpoints are the ground truth when they are known: a
	// ready endpoint answers queries whatever the Deployments say.
	if svc != nil && !sliceGap {
		ready, total := env.Index.ReadyEndpoints(svc.Namespace, svc.Name)
		ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "service(" + svc.Name + ").endpoints",
			Value: fmt.Sprintf("%d ready of %d", ready, total)})
		if ready > 0 {
			return nil
		}
	} else if depsOK {
		return nil
	}

	// The DNS pods say why: CrashLoopBackOff on a forward loop, Pending
	// without a CNI, ImagePullBackOff in an air-gapped cluster.
	var pods []*snapshot.Pod
	if !podGap {
		for _, p := range env.Index.PodsByNamespace["kube-system"] {
			if terminal(p) || p.Labels[dnsLabel] != "kube-dns" {
				continue
			}
			pods = append(pods, p)
		}
	}
	if since.IsZero() {
		// No Available condition to date the outage: the newest pod
		// readiness change is the conservative estimate.
		for _, p := range pods {
			if t := notReadySince(p); !podReady(p) && t.After(since) {
				since = t
			}
		}
	}
	for j, p := range pods {
		if j == 4 {
			break
		}
		ev = append(ev, podEvidence(p))
	}

	var f checks.Finding
	switch {
	case down != nil && down.Replicas == 0:
		f = env.Finding(checks.Ref(snapshot.KindDeployment, &down.Meta), "DNSScaledToZero",
			fmt.Sprintf("cluster DNS Deployment kube-system/%s is scaled to 0 replicas: in-cluster name resolution fails", down.Name), ev...)
		since = time.Time{}
	case down != nil:
		if (!since.IsZero() && env.Age(since) < wait) || env.Age(down.CreationTimestamp) < wait {
			return nil
		}
		why := "no pod found"
		if len(pods) > 0 {
			why = podList(pods, 3)
		}
		for _, p := range pods {
			if m := lastError(p, 200); m != "" {
				why += "; last error: " + m
				break
			}
		}
		f = env.Finding(checks.Ref(snapshot.KindDeployment, &down.Meta), "DNSUnavailable",
			fmt.Sprintf("cluster DNS Deployment kube-system/%s has 0 of %d replicas available (%s): in-cluster name resolution fails",
				down.Name, down.Replicas, why), ev...)
	default:
		// The pods run but the Service routes to none of them.
		since = time.Time{}
		if env.Age(svc.CreationTimestamp) < wait {
			return nil
		}
		msg := fmt.Sprintf("cluster DNS Service kube-system/%s (%s) has no ready endpoint: in-cluster name resolution fails", svc.Name, svc.ClusterIP)
		if len(deps) > 0 {
			msg += fmt.Sprintf("; the DNS Deployment is available, so check the Service's selector %s against the DNS pods' labels", selectorString(svc.Selector))
		}
		f = env.Finding(checks.Ref(snapshot.KindService, &svc.Meta), "DNSServiceNoEndpoints", msg, ev...)
	}
	if !since.IsZero() {
		f.Since = at(since)
		f.Message += " (for " + node.Round(env.Age(since)) + ")"
	}
	return []checks.Finding{f}
})
