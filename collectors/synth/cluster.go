package synth

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

const (
	day          = 24 * time.Hour
	region       = "eu-west-1"
	dsPerNode    = 5 // kube-proxy, calico-node, ebs-csi-node, node-exporter, fluent-bit
	staticPerCP  = 4 // kube-apiserver, etcd, kube-controller-manager, kube-scheduler
	nodeLeaseDur = 40
)

var zones = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}

type nodePool struct {
	name, instance string
	cpu            int64 // millicores
	mem            int64 // bytes
	weight         float64
}

var (
	cpPool      = nodePool{"control-plane", "m5.xlarge", 4000, 16 * gi, 0}
	workerPools = []nodePool{
		{"general", "m5.4xlarge", 16000, 64 * gi, 0.6},
		{"compute", "c5.4xlarge", 16000, 32 * gi, 0.25},
		{"memory", "r5.2xlarge", 8000, 64 * gi, 0.15},
	}
)

// systemDeploymentPods estimates the pods of the system add-ons, to size
// the application budget.
func (g *gen) systemDeploymentPods() int {
	return g.corednsReplicas() + 1 /*metrics-server*/ + 3 /*cert-manager*/ + 3 /*ingress*/ +
		2 /*operator, ksm*/ + 2 /*prometheus*/ + 3 /*alertmanager*/ + 2 /*istiod*/
}

func (g *gen) corednsReplicas() int { return min(max(2, g.opt.Nodes/64), 32) }

func (g *gen) namespace(name string, created time.Time, extra map[string]string) {
	labels := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range extra {
		labels[k] = v
	}
	g.s.Namespaces = append(g.s.Namespaces, snapshot.Namespace{Meta: g.meta("", name, created, labels), Phase: "Active"})
}

// cluster builds the nodes, their leases, the control plane (static pods,
// leader leases, the kubernetes Service, APIServices, /readyz) and the
// storage classes.
func (g *gen) cluster() {
	born := g.ago(g.dur(300*day, 600*day))
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		g.namespace(ns, born, nil)
	}

	n := g.opt.Nodes
	cp := 0
	switch {
	case n >= 20:
		cp = 3
	case n >= 2:
		cp = 1
	}
	workers := n - cp
	g.appBudget = g.opt.Pods - n*dsPerNode - cp*staticPerCP - g.systemDeploymentPods()
	if g.appBudget < 0 {
		g.appBudget = 0
	}
	perWorker := float64(g.appBudget+g.systemDeploymentPods())/float64(max(workers, 1)) + dsPerNode
	switch {
	case perWorker*1.25 <= 0.8*110:
		g.maxPods = 110
	case perWorker*1.25 <= 0.8*250:
		g.maxPods = 250
	default:
		g.maxPods = int(perWorker * 1.6)
	}

	g.nodeCreated = make([]time.Time, 0, n)
	g.nodeSeq = make([]int, 0, n)
	for i := 0; i < n; i++ {
		isCP := i < cp
		pool := cpPool
		if !isCP {
			pool = workerPools[g.weighted([]float64{0.6, 0.25, 0.15})]
		}
		var created time.Time
		switch {
		case isCP:
			created = born.Add(g.dur(0, 30*day))
		case g.chance(0.05):
			created = g.ago(g.dur(25*time.Minute, 3*time.Hour))
		default:
			created = g.ago(g.dur(3*time.Hour, 120*day))
		}
		g.node(i, pool, isCP, created)
		if isCP {
			g.cps = append(g.cps, i)
		} else {
			g.workers = append(g.workers, i)
		}
	}
	g.order = append([]int(nil), g.workers...)
	g.r.Shuffle(len(g.order), func(a, b int) { g.order[a], g.order[b] = g.order[b], g.order[a] })

	g.controlPlane(born)
	g.storageClasses(born)
	g.apiServices(born)
}

func (g *gen) node(i int, pool nodePool, isCP bool, created time.Time) {
	zone := zones[i%len(zones)]
	k := i/len(zones) + 10
	ip := fmt.Sprintf("10.%d.%d.%d", 16+(i%len(zones))*16+k>>16, (k>>8)&255, k&255)
	name := "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
	labels := map[string]string{
		"beta.kubernetes.io/arch":                  "amd64",
		"beta.kubernetes.io/instance-type":         pool.instance,
		"beta.kubernetes.io/os":                    "linux",
		"failure-domain.beta.kubernetes.io/region": region,
		"failure-domain.beta.kubernetes.io/zone":   zone,
		"kubernetes.io/arch":                       "amd64",
		"kubernetes.io/hostname":                   name,
		"kubernetes.io/os":                         "linux",
		"node.kubernetes.io/instance-type":         pool.instance,
		"topology.kubernetes.io/region":            region,
		"topology.kubernetes.io/zone":              zone,
		"topology.ebs.csi.aws.com/zone":            zone,
		"node-pool":                                pool.name,
	}
	m := g.meta("", name, created, labels)
	m.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "0"}
	node := snapshot.Node{
		Meta:             m,
		KubeletVersion:   g.kubeVer,
		ContainerRuntime: "containerd://1.7.24",
		OSImage:          "Ubuntu 22.04.5 LTS",
		InternalIP:       ip,
		ProviderID:       "aws:///" + zone + "/i-0" + g.hex(16),
	}
	if isCP {
		labels["node-role.kubernetes.io/control-plane"] = ""
		labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
		node.Taints = []snapshot.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}}
	} else {
		labels["node-role.kubernetes.io/worker"] = ""
	}
	memKi := pool.mem / 1024 * 985 / 1000
	storKi := int64(104845292)
	node.Capacity = snapshot.Resources{
		"cpu": pool.cpu, "memory": memKi * 1024, "ephemeral-storage": storKi * 1024, "pods": int64(g.maxPods),
		"hugepages-1Gi": 0, "hugepages-2Mi": 0,
	}
	node.Allocatable = snapshot.Resources{
		"cpu": pool.cpu - 90, "memory": (memKi - memKi/16 - 100*1024) * 1024, "ephemeral-storage": storKi * 1024 * 9 / 10,
		"pods": int64(g.maxPods), "hugepages-1Gi": 0, "hugepages-2Mi": 0,
	}
	// The kubelet patches its status every 10s only when something changed
	// and at least every nodeStatusReportFrequency (5m) otherwise, so a
	// healthy node's heartbeat is up to five minutes old; the Lease is the
	// 10s heartbeat. Calico writes NetworkUnavailable once, at start-up.
	booted := created.Add(g.dur(20*time.Second, 60*time.Second))
	if created.Before(g.ago(20*day)) && g.chance(0.2) {
		booted = g.ago(g.dur(day, 20*day)) // a kubelet restart since
	}
	hb := g.ago(g.dur(2*time.Second, 270*time.Second))
	c := func(t, st, reason, msg string) snapshot.Condition {
		return snapshot.Condition{Type: t, Status: st, Reason: reason, Message: msg, LastTransitionTime: booted, LastHeartbeatTime: hb}
	}
	calico := created.Add(g.dur(30*time.Second, 90*time.Second))
	node.Conditions = []snapshot.Condition{
		{Type: "NetworkUnavailable", Status: "False", Reason: "CalicoIsUp", Message: "Calico is running on this node",
			LastTransitionTime: calico, LastHeartbeatTime: calico},
		c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
	}
	g.s.Nodes = append(g.s.Nodes, node)
	g.nodeCreated = append(g.nodeCreated, created)
	g.nodeSeq = append(g.nodeSeq, 0)

	nm := &g.s.Nodes[len(g.s.Nodes)-1].Meta
	lm := g.meta("kube-node-lease", name, created, nil)
	lm.Owners = []snapshot.OwnerRef{{Kind: "Node", Name: name, UID: nm.UID}}
	g.s.Leases = append(g.s.Leases, snapshot.Lease{
		Meta: lm, HolderIdentity: name, LeaseDurationSeconds: nodeLeaseDur,
		RenewTime: tp(g.at.Add(-g.durMicro(50*time.Millisecond, 10*time.Second))),
	})
}

func (g *gen) controlPlane(born time.Time) {
	holderNode := "ip-172-16-31-7.eu-west-1.compute.internal"
	if len(g.cps) > 0 {
		holderNode = g.s.Nodes[g.cps[0]].Name
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		holder := holderNode
		if len(g.cps) > 0 {
			holder = g.s.Nodes[g.cps[g.intn(len(g.cps))]].Name
		}
		g.s.Leases = append(g.s.Leases, snapshot.Lease{
			Meta:           g.meta("kube-system", name, born, nil),
			HolderIdentity: holder + "_" + g.uid(), LeaseDurationSeconds: 15,
			AcquireTime:      tp(g.ago(g.dur(day, 30*day))),
			RenewTime:        tp(g.at.Add(-g.durMicro(100*time.Millisecond, 2*time.Second))),
			LeaseTransitions: int32(g.between(1, 14)),
		})
	}
	for _, i := range g.cps {
		n := g.s.Nodes[i].Name
		lm := g.meta("kube-system", "apiserver-"+strings.ToLower(g.suffix(26)), g.nodeCreated[i],
			map[string]string{"apiserver.kubernetes.io/identity": "kube-apiserver", "kubernetes.io/hostname": n})
		g.s.Leases = append(g.s.Leases, snapshot.Lease{
			Meta: lm, HolderIdentity: "apiserver-" + g.uid() + "_" + g.uid(), LeaseDurationSeconds: 3600,
			AcquireTime: tp(g.nodeCreated[i].Add(time.Minute)),
			RenewTime:   tp(g.at.Add(-g.durMicro(100*time.Millisecond, 10*time.Second))),
		})
		g.staticPods(i)
	}

	// The kubernetes Service and its slice, written by the API servers.
	g.service("default", "kubernetes", nil, []snapshot.ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: "6443"}},
		"ClusterIP", "10.96.0.1", map[string]string{"component": "apiserver", "provider": "kubernetes"}, born)
	es := snapshot.EndpointSlice{Meta: g.meta("default", "kubernetes", born, map[string]string{"kubernetes.io/service-name": "kubernetes"}),
		ServiceName: "kubernetes", AddressType: "IPv4"}
	for _, i := range g.cps {
		es.Endpoints = append(es.Endpoints, snapshot.Endpoint{Address: g.s.Nodes[i].InternalIP, Ready: true, Serving: true})
	}
	if len(g.cps) == 0 {
		es.Endpoints = []snapshot.Endpoint{{Address: "10.0.141.12", Ready: true, Serving: true}, {Address: "10.0.97.4", Ready: true, Serving: true}}
	}
	g.s.EndpointSlices = append(g.s.EndpointSlices, es)

	cp := &snapshot.ControlPlane{}
	for _, c := range []string{"ping", "log", "etcd", "etcd-readiness", "informer-sync", "poststarthook/start-apiserver-admission-initializer",
		"poststarthook/generic-apiserver-start-informers", "poststarthook/start-apiextensions-controllers",
		"poststarthook/crd-informer-synced", "poststarthook/rbac/bootstrap-roles", "poststarthook/apiservice-registration-controller",
		"poststarthook/apiservice-status-available-controller", "shutdown"} {
		cp.Readyz = append(cp.Readyz, snapshot.HealthCheck{Name: c, OK: true})
	}
	issued := g.ago(g.dur(30*day, 200*day))
	cp.ServingCert = &snapshot.Certificate{Subject: "CN=kube-apiserver", Issuer: "CN=kubernetes",
		DNSNames:  []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", holderNode},
		NotBefore: issued, NotAfter: issued.Add(365 * day), Source: "tls"}
	cp.ClientCert = &snapshot.Certificate{Subject: "CN=kubepatrol,O=kubepatrol:readers", Issuer: "CN=kubernetes",
		NotBefore: issued.Add(day), NotAfter: issued.Add(366 * day), Source: "kubeconfig"}
	g.s.ControlPlane = cp
}

func (g *gen) staticPods(node int) {
	n := &g.s.Nodes[node]
	img := func(c string) string { return "registry.k8s.io/" + c + ":" + g.kubeVer }
	for _, sp := range []struct {
		name, image string
		cpu, mem    int64
	}{
		{"etcd", "registry.k8s.io/etcd:3.5.15-0", 100, 100 * mi},
		{"kube-apiserver", img("kube-apiserver"), 250, 0},
		{"kube-controller-manager", img("kube-controller-manager"), 200, 0},
		{"kube-scheduler", img("kube-scheduler"), 100, 0},
	} {
		t := &podTemplate{
			containers: []container{{name: sp.name, image: sp.image, req: res(sp.cpu, sp.mem)}},
			priority:   "system-node-critical", restart: "Always", grace: 30,
		}
		labels := map[string]string{"component": sp.name, "tier": "control-plane"}
		g.addPod(t, "kube-system", sp.name+"-"+n.Name, labels,
			[]snapshot.OwnerRef{{Kind: "Node", Name: n.Name, UID: n.UID, Controller: true}}, node, g.nodeCreated[node].Add(time.Minute))
	}
}

func (g *gen) storageClasses(born time.Time) {
	for _, sc := range []struct {
		name, prov, reclaim string
		def                 bool
	}{
		{"gp3", "ebs.csi.aws.com", "Delete", true},
		{"gp2", "kubernetes.io/aws-ebs", "Delete", false},
		{"io2-retain", "ebs.csi.aws.com", "Retain", false},
	} {
		m := g.meta("", sc.name, born, nil)
		if sc.def {
			m.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		g.s.StorageClasses = append(g.s.StorageClasses, snapshot.StorageClass{Meta: m, Provisioner: sc.prov,
			ReclaimPolicy: sc.reclaim, VolumeBindingMode: "WaitForFirstConsumer"})
	}
}

func (g *gen) apiServices(born time.Time) {
	local := []string{"v1.", "v1.admissionregistration.k8s.io", "v1.apiextensions.k8s.io", "v1.apps", "v1.authentication.k8s.io",
		"v1.authorization.k8s.io", "v1.autoscaling", "v2.autoscaling", "v1.batch", "v1.certificates.k8s.io",
		"v1.coordination.k8s.io", "v1.discovery.k8s.io", "v1.events.k8s.io", "v1.flowcontrol.apiserver.k8s.io",
		"v1.networking.k8s.io", "v1.node.k8s.io", "v1.policy", "v1.rbac.authorization.k8s.io", "v1.scheduling.k8s.io",
		"v1.storage.k8s.io", "v1.cert-manager.io", "v1.acme.cert-manager.io", "v1.monitoring.coreos.com", "v1alpha1.monitoring.coreos.com",
		"v1beta1.networking.istio.io", "v1.security.istio.io"}
	for _, name := range local {
		ver, group, _ := strings.Cut(name, ".")
		a := snapshot.APIService{
			Meta:  g.meta("", name, born, map[string]string{"kube-aggregator.kubernetes.io/automanaged": "onstart"}),
			Group: group, Version: ver,
			Conditions: []snapshot.Condition{cond("Available", "True", "Local", "Local APIServices are always available", born)},
		}
		if strings.Contains(group, "cert-manager") || strings.Contains(group, "coreos") || strings.Contains(group, "istio") {
			a.Labels = map[string]string{"kube-aggregator.kubernetes.io/automanaged": "true"}
		}
		g.s.APIServices = append(g.s.APIServices, a)
	}
	g.s.APIServices = append(g.s.APIServices, snapshot.APIService{
		Meta:  g.meta("", "v1beta1.metrics.k8s.io", born.Add(day), map[string]string{"app.kubernetes.io/name": "metrics-server"}),
		Group: "metrics.k8s.io", Version: "v1beta1",
		Service:    &snapshot.ServiceRef{Namespace: "kube-system", Name: "metrics-server", Port: 443},
		Conditions: []snapshot.Condition{cond("Available", "True", "Passed", "all checks passed", g.ago(g.dur(2*day, 30*day)))},
	})
}
