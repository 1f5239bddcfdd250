package synth

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// grace is how long a derived symptom must have lasted before it is
// Expected rather than only Tolerated.
const grace = 15 * time.Minute

func active(p *snapshot.Pod) bool {
	return p.Phase != "Succeeded" && p.Phase != "Failed" && p.DeletionTimestamp == nil
}

func ready(p *snapshot.Pod) bool {
	if p.Phase != "Running" {
		return false
	}
	c, ok := snapshot.FindCondition(p.Conditions, "Ready")
	return ok && c.Status == "True"
}

// down describes a workload's pods that are not ready.
type down struct {
	n          int
	podFaults  []time.Time // since, for pods broken by a pod fault
	podKind    FaultKind
	nodeKind   FaultKind
	byNodeOnly bool
}

func (g *gen) downOf(pods []int) (activeN, readyN int, d down) {
	for _, i := range pods {
		p := &g.s.Pods[i]
		if !active(p) {
			continue
		}
		activeN++
		if ready(p) {
			readyN++
			continue
		}
		d.n++
		if k, ok := g.podFault[i]; ok {
			d.podFaults = append(d.podFaults, g.faultSince[i])
			d.podKind = k
		} else if ni := g.nodeIndex(p.NodeName); ni >= 0 {
			d.nodeKind = g.badNode[ni]
		}
	}
	sort.Slice(d.podFaults, func(a, b int) bool { return d.podFaults[a].Before(d.podFaults[b]) })
	d.byNodeOnly = d.n > 0 && len(d.podFaults) == 0
	return
}

func (d down) cause() FaultKind {
	if d.podKind != "" {
		return d.podKind
	}
	return d.nodeKind
}

// derive computes every status that follows from the pods (workloads,
// EndpointSlices, budgets, quotas) and the derived expectations.
func (g *gen) derive() {
	for _, w := range g.ws {
		switch w.kind {
		case snapshot.KindDeployment:
			g.deriveDeployment(w)
		case snapshot.KindStatefulSet:
			g.deriveStatefulSet(w)
		case snapshot.KindDaemonSet:
			g.deriveDaemonSet(w)
		}
		if w.pdb >= 0 {
			g.derivePDB(w)
		}
	}
	g.slices()
	g.quotas()
}

func (g *gen) deriveDeployment(w *workload) {
	act, rdy, dn := g.downOf(w.pods)
	d := &g.s.Deployments[w.idx]
	rs := &g.s.ReplicaSets[w.rs]
	d.StatusReplicas, d.UpdatedReplicas, d.ReadyReplicas, d.AvailableReplicas = int32(act), int32(act), int32(rdy), int32(rdy)
	d.UnavailableReplicas = int32(max(0, w.replicas-rdy))
	rs.StatusReplicas, rs.ReadyReplicas, rs.AvailableReplicas = int32(act), int32(rdy), int32(rdy)
	maxUnavailable := w.replicas * 25 / 100
	progressed := rs.CreationTimestamp.Add(g.dur(20*time.Second, 3*time.Minute))
	avail := snapshot.Condition{Type: "Available", Status: "True", Reason: "MinimumReplicasAvailable",
		Message: "Deployment has minimum availability.", LastTransitionTime: progressed, LastUpdateTime: progressed}
	availableFalse := rdy < w.replicas-maxUnavailable
	if availableFalse {
		// It flipped when the (maxUnavailable+1)th pod went down.
		var sinces []time.Time
		for _, i := range w.pods {
			if p := &g.s.Pods[i]; active(p) && !ready(p) {
				sinces = append(sinces, g.faultSince[i])
			}
		}
		sort.Slice(sinces, func(a, b int) bool { return sinces[a].Before(sinces[b]) })
		t := sinces[min(maxUnavailable, len(sinces)-1)]
		avail = snapshot.Condition{Type: "Available", Status: "False", Reason: "MinimumReplicasUnavailable",
			Message: "Deployment does not have minimum availability.", LastTransitionTime: t, LastUpdateTime: t}
	}
	d.Conditions = []snapshot.Condition{
		avail,
		{Type: "Progressing", Status: "True", Reason: "NewReplicaSetAvailable",
			Message:            fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name),
			LastTransitionTime: rs.CreationTimestamp.Add(time.Second), LastUpdateTime: progressed},
	}
	if dn.n == 0 {
		return
	}
	note := fmt.Sprintf("%d of %d replicas unavailable", dn.n, w.replicas)
	if len(dn.podFaults) > maxUnavailable && dn.podFaults[maxUnavailable].Before(g.at.Add(-grace)) && availableFalse {
		g.expect("deployment.replicas_unavailable", snapshot.KindDeployment, w.ns, w.name, dn.podKind,
			note+"; Available=False for 15m or more because of faulted pods")
	} else {
		g.tolerate("deployment.replicas_unavailable", snapshot.KindDeployment, w.ns, w.name, dn.cause(), note)
	}
	if w.name == "coredns" && w.ns == "kube-system" {
		g.tolerate("dns.coredns_unavailable", "", "", "", dn.cause(), note)
	}
}

func (g *gen) deriveStatefulSet(w *workload) {
	act, rdy, dn := g.downOf(w.pods)
	s := &g.s.StatefulSets[w.idx]
	s.StatusReplicas, s.CurrentReplicas, s.UpdatedReplicas = int32(act), int32(act), int32(act)
	s.ReadyReplicas, s.AvailableReplicas = int32(rdy), int32(rdy)
	if dn.n > 0 {
		g.tolerate("statefulset.replicas_not_ready", snapshot.KindStatefulSet, w.ns, w.name, dn.cause(),
			fmt.Sprintf("%d of %d replicas not ready", dn.n, w.replicas))
	}
}

func (g *gen) deriveDaemonSet(w *workload) {
	act, rdy, dn := g.downOf(w.pods)
	d := &g.s.DaemonSets[w.idx]
	d.DesiredNumberScheduled, d.CurrentNumberScheduled, d.UpdatedNumberScheduled = int32(w.replicas), int32(act), int32(act)
	d.NumberReady, d.NumberAvailable = int32(rdy), int32(rdy)
	d.NumberUnavailable = int32(max(0, w.replicas-rdy))
	if dn.n > 0 {
		note := fmt.Sprintf("%d of %d pods on not-ready nodes", dn.n, w.replicas)
		g.tolerate("daemonset.unavailable", snapshot.KindDaemonSet, w.ns, w.name, dn.cause(), note)
		if w.name == "kube-proxy" {
			g.tolerate("kubeproxy.unavailable", "", "", "", dn.cause(), note)
		}
	}
}

func (g *gen) derivePDB(w *workload) {
	p := &g.s.PDBs[w.pdb]
	_, rdy, dn := g.downOf(w.pods)
	expected := w.replicas
	var desired int
	switch {
	case p.MinAvailable == "50%":
		desired = int(math.Ceil(float64(expected) / 2))
	case p.MinAvailable != "":
		desired, _ = strconv.Atoi(p.MinAvailable)
	default:
		desired = expected - 1
	}
	p.ExpectedPods, p.CurrentHealthy, p.DesiredHealthy = int32(expected), int32(rdy), int32(desired)
	p.DisruptionsAllowed = int32(max(0, rdy-desired))
	t := g.ago(g.dur(time.Hour, 5*day))
	if p.DisruptionsAllowed > 0 {
		p.Conditions = []snapshot.Condition{cond("DisruptionAllowed", "True", "SufficientPods", "", t)}
		return
	}
	since := t
	for _, i := range w.pods {
		if s, ok := g.faultSince[i]; ok && s.After(since) && active(&g.s.Pods[i]) {
			since = s
		}
	}
	p.Conditions = []snapshot.Condition{cond("DisruptionAllowed", "False", "InsufficientPods", "", since)}
	g.tolerate("pdb.disruptions_blocked", snapshot.KindPDB, p.Namespace, p.Name, dn.cause(), "faulted pods left no disruption allowed")
}

// slices writes the EndpointSlices of every Service with a selector, as
// the EndpointSlice controller does: one endpoint per active pod with an
// IP, ready as the pod is, at most 100 per slice.
func (g *gen) slices() {
	type key struct{ ns, k, v string }
	idx := map[key][]int{}
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		if !active(p) {
			continue
		}
		for k, v := range p.Labels {
			switch k {
			case "app", "app.kubernetes.io/name", "k8s-app", "batch.kubernetes.io/controller-uid":
				idx[key{p.Namespace, k, v}] = append(idx[key{p.Namespace, k, v}], i)
			}
		}
	}
	for si := range g.s.Services {
		svc := &g.s.Services[si]
		if len(svc.Selector) == 0 {
			continue
		}
		var cands []int
		found := false
		for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app"} {
			if v, ok := svc.Selector[k]; ok {
				cands, found = idx[key{svc.Namespace, k, v}], true
				break
			}
		}
		if !found {
			for i := range g.s.Pods {
				if p := &g.s.Pods[i]; p.Namespace == svc.Namespace && active(p) {
					cands = append(cands, i)
				}
			}
		}
		var eps []snapshot.Endpoint
		var matched []int
		for _, i := range cands {
			p := &g.s.Pods[i]
			if !snapshot.MatchesMap(svc.Selector, p.Labels) {
				continue
			}
			matched = append(matched, i)
			if p.NodeName == "" {
				continue // no IP yet, no endpoint
			}
			r := ready(p)
			eps = append(eps, snapshot.Endpoint{Address: g.podIP[i], Ready: r, Serving: r, NodeName: p.NodeName,
				Target: &snapshot.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}})
		}
		svcOwner := []snapshot.OwnerRef{{Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: true}}
		labels := map[string]string{"kubernetes.io/service-name": svc.Name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
		base := svc.Name
		if len(base) > 57 {
			base = base[:57]
		}
		for start := 0; start == 0 || start < len(eps); start += 100 {
			end := min(start+100, len(eps))
			m := g.meta(svc.Namespace, base+"-"+g.suffix(5), svc.CreationTimestamp.Add(time.Second), labels)
			m.Owners = svcOwner
			es := snapshot.EndpointSlice{Meta: m, ServiceName: svc.Name, AddressType: "IPv4"}
			if end > start {
				es.Endpoints = eps[start:end:end]
			}
			g.s.EndpointSlices = append(g.s.EndpointSlices, es)
		}
		g.serviceExpectation(svc, matched)
		g.svcDown[svc.Namespace+"/"+svc.Name] = g.downCause(matched)
	}
	g.dependents()
}

// downCause returns the fault that left the matched pods without a ready
// one ("" when one is ready or none is selected).
func (g *gen) downCause(matched []int) FaultKind {
	var kind FaultKind
	for _, i := range matched {
		if ready(&g.s.Pods[i]) {
			return ""
		}
		if k, ok := g.podFault[i]; ok {
			kind = k
		} else if kind == "" {
			kind = g.badNode[g.nodeIndex(g.s.Pods[i].NodeName)]
		}
	}
	return kind
}

// dependents makes what calls a Service through the API server follow its
// endpoints: an aggregated APIService whose Service has no ready endpoint
// turns Available=False, and an admission webhook calling it is tolerated
// as unavailable.
func (g *gen) dependents() {
	for i := range g.s.APIServices {
		a := &g.s.APIServices[i]
		if a.Service == nil {
			continue
		}
		k := g.svcDown[a.Service.Namespace+"/"+a.Service.Name]
		if k == "" {
			continue
		}
		since := g.ago(g.dur(10*time.Second, time.Minute))
		a.Conditions = []snapshot.Condition{cond("Available", "False", "MissingEndpoints",
			fmt.Sprintf("endpoints for service/%s in %q have no addresses with port name \"https\"", a.Service.Name, a.Service.Namespace), since)}
		g.tolerate("apiservice.unavailable", snapshot.KindAPIService, "", a.Name, k, "its Service has no ready endpoint")
	}
	for i := range g.s.WebhookConfigs {
		w := &g.s.WebhookConfigs[i]
		for _, h := range w.Webhooks {
			if h.Service == nil {
				continue
			}
			if k := g.svcDown[h.Service.Namespace+"/"+h.Service.Name]; k != "" {
				g.tolerate("webhook.service_unavailable", w.Kind, "", w.Name, k, "its Service has no ready endpoint")
			}
		}
	}
}

// serviceExpectation records service.no_endpoints for a Service whose
// selected pods are all unready because of faults.
func (g *gen) serviceExpectation(svc *snapshot.Service, matched []int) {
	if len(matched) == 0 {
		return // an orphan Service is expected by the fault itself
	}
	var last time.Time
	byPod := false
	var kind FaultKind
	for _, i := range matched {
		if ready(&g.s.Pods[i]) {
			return
		}
		if k, ok := g.podFault[i]; ok {
			byPod, kind = true, k
		} else if kind == "" {
			kind = g.badNode[g.nodeIndex(g.s.Pods[i].NodeName)]
		}
		if s := g.faultSince[i]; s.After(last) {
			last = s
		}
	}
	// Pods faulted as Pending with no node have no endpoint; a Service
	// whose only pods are unscheduled has no endpoints either.
	note := "every selected pod is not ready"
	if byPod && last.Before(g.at.Add(-grace)) {
		g.expect("service.no_endpoints", snapshot.KindService, svc.Namespace, svc.Name, kind, note+" because of pod faults, for 15m or more")
	} else {
		g.tolerate("service.no_endpoints", snapshot.KindService, svc.Namespace, svc.Name, kind, note)
	}
}

// quotas writes the ResourceQuotas of the namespaces that have them, with
// usage computed from the pods and hard limits comfortably above it.
func (g *gen) quotas() {
	type use struct{ cpu, mem, memLim, pods, svcs, pvcs int64 }
	usage := map[string]*use{}
	for _, ns := range g.quotaNS {
		usage[ns] = &use{}
	}
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		u := usage[p.Namespace]
		if u == nil || !active(p) {
			continue
		}
		u.pods++
		var cpu, mem, lim int64
		for _, c := range p.Containers {
			cpu += c.Requests["cpu"]
			mem += c.Requests["memory"]
			lim += c.Limits["memory"]
		}
		for _, c := range p.InitContainers {
			cpu = max(cpu, c.Requests["cpu"])
			mem = max(mem, c.Requests["memory"])
			lim = max(lim, c.Limits["memory"])
		}
		u.cpu += cpu
		u.mem += mem
		u.memLim += lim
	}
	for i := range g.s.Services {
		if u := usage[g.s.Services[i].Namespace]; u != nil {
			u.svcs++
		}
	}
	for i := range g.s.PVCs {
		if u := usage[g.s.PVCs[i].Namespace]; u != nil {
			u.pvcs++
		}
	}
	roundUp := func(v, step int64) int64 { return (v/step + 1) * step }
	for _, ns := range g.quotaNS {
		u := usage[ns]
		head := func(v int64) int64 { return int64(float64(v) / (0.35 + 0.3*g.float())) }
		created := g.ago(g.dur(10*day, 300*day))
		g.s.ResourceQuotas = append(g.s.ResourceQuotas, snapshot.ResourceQuota{
			Meta: g.meta(ns, "compute-resources", created, nil),
			Hard: snapshot.Resources{"requests.cpu": roundUp(head(u.cpu), 1000), "requests.memory": roundUp(head(u.mem), gi),
				"limits.memory": roundUp(head(u.memLim), gi), "pods": roundUp(head(u.pods), 10)},
			Used: snapshot.Resources{"requests.cpu": u.cpu, "requests.memory": u.mem, "limits.memory": u.memLim, "pods": u.pods},
		})
		if g.chance(0.4) {
			g.s.ResourceQuotas = append(g.s.ResourceQuotas, snapshot.ResourceQuota{
				Meta: g.meta(ns, "object-counts", created, nil),
				Hard: snapshot.Resources{"services": roundUp(head(u.svcs), 10), "persistentvolumeclaims": roundUp(head(u.pvcs), 10),
					"services.loadbalancers": 2},
				Used: snapshot.Resources{"services": u.svcs, "persistentvolumeclaims": u.pvcs, "services.loadbalancers": 0},
			})
		}
	}
}

// normalEvents records the Normal events of the last hour's routine work:
// pods started, rollouts, CronJob runs.
func (g *gen) normalEvents() {
	recent := g.at.Add(-time.Hour)
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		if p.CreationTimestamp.Before(recent) || !ready(p) || len(p.Containers) == 0 || p.Containers[0].State.StartedAt == nil {
			continue
		}
		if _, faulted := g.podFault[i]; faulted {
			continue
		}
		ref := podRef(p)
		c := &p.Containers[0]
		t := p.CreationTimestamp
		st := *c.State.StartedAt
		g.event(p.Namespace, ref, "Normal", "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.Namespace, p.Name, p.NodeName), "default-scheduler", 1, t, t)
		g.event(p.Namespace, ref, "Normal", "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image), "kubelet", 1, st, st)
		g.event(p.Namespace, ref, "Normal", "Created", "Created container "+c.Name, "kubelet", 1, st, st)
		g.event(p.Namespace, ref, "Normal", "Started", "Started container "+c.Name, "kubelet", 1, st, st)
	}
	for _, w := range g.ws {
		switch w.kind {
		case snapshot.KindDeployment:
			rs := &g.s.ReplicaSets[w.rs]
			if rs.CreationTimestamp.Before(recent) {
				continue
			}
			d := &g.s.Deployments[w.idx]
			t := rs.CreationTimestamp
			g.event(w.ns, snapshot.ObjectRef{Kind: "Deployment", Namespace: w.ns, Name: w.name, UID: d.UID}, "Normal", "ScalingReplicaSet",
				fmt.Sprintf("Scaled up replica set %s to %d", rs.Name, w.replicas), "deployment-controller", 1, t, t)
		case snapshot.KindJob:
			j := &g.s.Jobs[w.idx]
			ref := snapshot.ObjectRef{Kind: "Job", Namespace: w.ns, Name: j.Name, UID: j.UID}
			t := *j.StartTime
			g.event(w.ns, ref, "Normal", "SuccessfulCreate", "Created pod: "+g.s.Pods[w.pods[0]].Name, "job-controller", 1, t, t)
			if j.CompletionTime != nil {
				g.event(w.ns, ref, "Normal", "Completed", "Job completed", "job-controller", 1, *j.CompletionTime, *j.CompletionTime)
			}
			if o, ok := j.Controller(); ok && o.Kind == "CronJob" {
				cj := snapshot.ObjectRef{Kind: "CronJob", Namespace: w.ns, Name: o.Name, UID: o.UID}
				g.event(w.ns, cj, "Normal", "SuccessfulCreate", "Created job "+j.Name, "cronjob-controller", 1, t, t)
				if j.CompletionTime != nil {
					g.event(w.ns, cj, "Normal", "SawCompletedJob", "Saw completed job: "+j.Name+", condition: Complete", "cronjob-controller", 1, *j.CompletionTime, *j.CompletionTime)
				}
			}
		}
	}
}

// finish orders every list as the API server returns it (by namespace,
// then name).
func (g *gen) finish() {
	sortMeta(g.s.Namespaces, func(x *snapshot.Namespace) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Nodes, func(x *snapshot.Node) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Pods, func(x *snapshot.Pod) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Deployments, func(x *snapshot.Deployment) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.ReplicaSets, func(x *snapshot.ReplicaSet) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.StatefulSets, func(x *snapshot.StatefulSet) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.DaemonSets, func(x *snapshot.DaemonSet) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Jobs, func(x *snapshot.Job) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.CronJobs, func(x *snapshot.CronJob) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.HPAs, func(x *snapshot.HPA) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.PDBs, func(x *snapshot.PDB) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.PVCs, func(x *snapshot.PVC) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.PVs, func(x *snapshot.PV) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.StorageClasses, func(x *snapshot.StorageClass) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Services, func(x *snapshot.Service) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.EndpointSlices, func(x *snapshot.EndpointSlice) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.ResourceQuotas, func(x *snapshot.ResourceQuota) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.Leases, func(x *snapshot.Lease) *snapshot.Meta { return &x.Meta })
	sortMeta(g.s.APIServices, func(x *snapshot.APIService) *snapshot.Meta { return &x.Meta })
	sort.SliceStable(g.s.WebhookConfigs, func(a, b int) bool {
		x, y := &g.s.WebhookConfigs[a], &g.s.WebhookConfigs[b]
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		return x.Name < y.Name
	})
	sort.SliceStable(g.s.Events, func(a, b int) bool {
		x, y := &g.s.Events[a], &g.s.Events[b]
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		return x.Name < y.Name
	})
}

func sortMeta[T any](xs []T, m func(*T) *snapshot.Meta) {
	// Sort an index, then permute once: the objects are large and a
	// stable sort of the values would move each many times.
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := m(&xs[idx[a]]), m(&xs[idx[b]])
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		if x.Name != y.Name {
			return x.Name < y.Name
		}
		return idx[a] < idx[b]
	})
	out := make([]T, len(xs))
	for i, j := range idx {
		out[i] = xs[j]
	}
	copy(xs, out)
}
