package synth

import (
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var rootCA = snapshot.ConfigRef{Kind: "ConfigMap", Name: "kube-root-ca.crt"}

func cm(name string) snapshot.ConfigRef     { return snapshot.ConfigRef{Kind: "ConfigMap", Name: name} }
func secret(name string) snapshot.ConfigRef { return snapshot.ConfigRef{Kind: "Secret", Name: name} }

// sysSpec is a system add-on's workload spec: its pods carry the selector
// labels plus extra.
func (g *gen) sysSpec(ns, name string, replicas int, sel, extra map[string]string, t *podTemplate) spec {
	pl := copyLabels(sel)
	for k, v := range extra {
		pl[k] = v
	}
	born := g.s.Namespaces[0].CreationTimestamp
	return spec{ns: ns, name: name, role: "system", replicas: replicas, sel: sel, podLabels: pl, objLabels: copyLabels(pl),
		tmpl: t, system: true, created: born.Add(g.dur(time.Hour, 60*day))}
}

func sysTemplate(sa, prio string, refs []snapshot.ConfigRef, cs ...container) *podTemplate {
	if sa != "" {
		refs = append(refs, rootCA)
	}
	return &podTemplate{containers: cs, sa: sa, priority: prio, refs: refs, restart: "Always", grace: 30,
		nodeSelector: map[string]string{"kubernetes.io/os": "linux"}}
}

func (g *gen) leaderLease(ns, name, holder string, dur int32, renewEvery time.Duration) {
	g.s.Leases = append(g.s.Leases, snapshot.Lease{
		Meta:           g.meta(ns, name, g.ago(g.dur(30*day, 200*day)), nil),
		HolderIdentity: holder, LeaseDurationSeconds: dur,
		AcquireTime:      tp(g.ago(g.dur(day, 20*day))),
		RenewTime:        tp(g.at.Add(-g.durMicro(100*time.Millisecond, renewEvery))),
		LeaseTransitions: int32(g.between(0, 9)),
	})
}

// system creates the add-ons every real cluster runs: kube-proxy, the CNI,
// the CSI node plugin, CoreDNS, metrics-server, cert-manager, an ingress
// controller, the monitoring stack, a log shipper and a service mesh
// control plane, with their Services, webhooks, leases and budgets.
func (g *gen) system() {
	born := g.s.Namespaces[0].CreationTimestamp
	for _, ns := range []string{"monitoring", "logging", "cert-manager", "ingress-nginx", "istio-system"} {
		g.namespace(ns, born.Add(g.dur(time.Hour, 10*day)), nil)
	}
	k8s := "registry.k8s.io/"

	// Node agents.
	g.daemonSet(g.sysSpec("kube-system", "kube-proxy", 0, map[string]string{"k8s-app": "kube-proxy"}, nil,
		sysTemplate("kube-proxy", "system-node-critical", []snapshot.ConfigRef{cm("kube-proxy")},
			container{name: "kube-proxy", image: k8s + "kube-proxy:" + g.kubeVer, req: res(100, 0)})))
	calico := sysTemplate("calico-node", "system-node-critical", []snapshot.ConfigRef{cm("calico-config"),
		{Kind: "ConfigMap", Name: "kubernetes-services-endpoint", Optional: true}},
		container{name: "calico-node", image: "docker.io/calico/node:v3.28.2", req: res(250, 0)})
	calico.inits = []container{
		{name: "upgrade-ipam", image: "docker.io/calico/cni:v3.28.2"},
		{name: "install-cni", image: "docker.io/calico/cni:v3.28.2"},
		{name: "mount-bpffs", image: "docker.io/calico/node:v3.28.2"},
	}
	g.daemonSet(g.sysSpec("kube-system", "calico-node", 0, map[string]string{"k8s-app": "calico-node"}, nil, calico))
	ecr := "public.ecr.aws/"
	g.daemonSet(g.sysSpec("kube-system", "ebs-csi-node", 0,
		map[string]string{"app": "ebs-csi-node", "app.kubernetes.io/name": "aws-ebs-csi-driver"},
		map[string]string{"app.kubernetes.io/component": "csi-driver", "app.kubernetes.io/managed-by": "EKS", "app.kubernetes.io/version": "1.35.0"},
		sysTemplate("ebs-csi-node-sa", "system-node-critical", nil,
			container{name: "ebs-plugin", image: ecr + "ebs-csi-driver/aws-ebs-csi-driver:v1.35.0", req: res(10, 40*mi), lim: res(0, 256*mi)},
			container{name: "node-driver-registrar", image: ecr + "eks-distro/kubernetes-csi/node-driver-registrar:v2.11.1-eks-1-31-3", req: res(10, 40*mi), lim: res(0, 256*mi)},
			container{name: "liveness-probe", image: ecr + "eks-distro/kubernetes-csi/livenessprobe:v2.13.1-eks-1-31-3", req: res(10, 40*mi), lim: res(0, 256*mi)})))
	g.daemonSet(g.sysSpec("monitoring", "kube-prometheus-stack-prometheus-node-exporter", 0,
		map[string]string{"app.kubernetes.io/name": "prometheus-node-exporter", "app.kubernetes.io/instance": "kube-prometheus-stack"},
		map[string]string{"app.kubernetes.io/component": "metrics", "app.kubernetes.io/part-of": "prometheus-node-exporter", "app.kubernetes.io/version": "1.8.2", "jobLabel": "node-exporter"},
		sysTemplate("kube-prometheus-stack-prometheus-node-exporter", "", nil,
			container{name: "node-exporter", image: "quay.io/prometheus/node-exporter:v1.8.2", req: res(50, 64*mi), lim: res(0, 256*mi)})))
	g.daemonSet(g.sysSpec("logging", "fluent-bit", 0,
		map[string]string{"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"}, nil,
		sysTemplate("fluent-bit", "system-node-critical", []snapshot.ConfigRef{cm("fluent-bit")},
			container{name: "fluent-bit", image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9", req: res(50, 64*mi), lim: res(0, 256*mi)})))

	// CoreDNS behind kube-dns.
	dns := g.deployment(g.sysSpec("kube-system", "coredns", g.corednsReplicas(), map[string]string{"k8s-app": "kube-dns"}, nil,
		sysTemplate("coredns", "system-cluster-critical", []snapshot.ConfigRef{cm("coredns")},
			container{name: "coredns", image: k8s + "coredns/coredns:v1.11.3", req: res(100, 70*mi), lim: res(0, 170*mi)})))
	dns.svcs = append(dns.svcs, g.service("kube-system", "kube-dns", dns.sel, []snapshot.ServicePort{
		{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: "53"}, {Name: "dns-tcp", Protocol: "TCP", Port: 53, TargetPort: "53"},
		{Name: "metrics", Protocol: "TCP", Port: 9153, TargetPort: "9153"}}, "ClusterIP", "10.96.0.10",
		map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}, born))
	g.pdb(dns, dns.sel)

	ms := g.deployment(g.sysSpec("kube-system", "metrics-server", 1, map[string]string{"k8s-app": "metrics-server"}, nil,
		sysTemplate("metrics-server", "system-cluster-critical", nil,
			container{name: "metrics-server", image: k8s + "metrics-server/metrics-server:v0.7.2", req: res(100, 200*mi)})))
	ms.svcs = append(ms.svcs, g.service("kube-system", "metrics-server", ms.sel,
		[]snapshot.ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: "https"}}, "ClusterIP", "", ms.sel, born))

	// cert-manager and its webhook.
	jet := "quay.io/jetstack/cert-manager-"
	for _, c := range []string{"controller", "cainjector", "webhook"} {
		name := "cert-manager"
		if c != "controller" {
			name += "-" + c
		}
		comp := c
		if c == "controller" {
			comp = "cert-manager"
		}
		w := g.deployment(g.sysSpec("cert-manager", name, 1,
			map[string]string{"app.kubernetes.io/name": comp, "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": c},
			map[string]string{"app": comp, "app.kubernetes.io/version": "v1.16.1"},
			sysTemplate(name, "", nil, container{name: "cert-manager-" + c, image: jet + c + ":v1.16.1", req: res(10, 32*mi)})))
		if c == "webhook" {
			w.svcs = append(w.svcs, g.service("cert-manager", name, w.sel,
				[]snapshot.ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: "https"}}, "ClusterIP", "", w.sel, born))
		}
		if c == "controller" {
			w.svcs = append(w.svcs, g.service("cert-manager", name, w.sel,
				[]snapshot.ServicePort{{Name: "tcp-prometheus-servicemonitor", Protocol: "TCP", Port: 9402, TargetPort: "9402"}}, "ClusterIP", "", w.sel, born))
		}
	}
	cmHook := &snapshot.ServiceRef{Namespace: "cert-manager", Name: "cert-manager-webhook", Port: 443}
	g.s.WebhookConfigs = append(g.s.WebhookConfigs,
		snapshot.WebhookConfiguration{Meta: g.meta("", "cert-manager-webhook", born.Add(day), nil), Kind: snapshot.KindValidatingWebhook,
			Webhooks: []snapshot.Webhook{{Name: "webhook.cert-manager.io", FailurePolicy: "Fail", TimeoutSeconds: 30, Service: cmHook,
				Rules: []string{"CREATE,UPDATE cert-manager.io,acme.cert-manager.io v1 */*"}}}},
		snapshot.WebhookConfiguration{Meta: g.meta("", "cert-manager-webhook", born.Add(day), nil), Kind: snapshot.KindMutatingWebhook,
			Webhooks: []snapshot.Webhook{{Name: "webhook.cert-manager.io", FailurePolicy: "Fail", TimeoutSeconds: 30, Service: cmHook,
				Rules: []string{"CREATE cert-manager.io v1 certificaterequests"}}}})
	g.leaderLease("kube-system", "cert-manager-controller", "cert-manager-"+g.templateHash()+"-"+g.suffix(5)+"-external-cert-manager-controller", 60, 15*time.Second)
	g.leaderLease("kube-system", "cert-manager-cainjector-leader-election", "cert-manager-cainjector-"+g.templateHash()+"-"+g.suffix(5)+"_"+g.uid(), 60, 15*time.Second)

	// Ingress controller with its admission webhook.
	ing := g.deployment(g.sysSpec("ingress-nginx", "ingress-nginx-controller", 3,
		map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/component": "controller"},
		map[string]string{"app.kubernetes.io/part-of": "ingress-nginx", "app.kubernetes.io/version": "1.11.3"},
		sysTemplate("ingress-nginx", "", []snapshot.ConfigRef{secret("ingress-nginx-admission")},
			container{name: "controller", image: k8s + "ingress-nginx/controller:v1.11.3", req: res(100, 90*mi)})))
	ing.svcs = append(ing.svcs,
		g.service("ingress-nginx", "ingress-nginx-controller", ing.sel, []snapshot.ServicePort{
			{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"}, {Name: "https", Protocol: "TCP", Port: 443, TargetPort: "https"}},
			"LoadBalancer", "", ing.sel, born.Add(day)),
		g.service("ingress-nginx", "ingress-nginx-controller-admission", ing.sel, []snapshot.ServicePort{
			{Name: "https-webhook", Protocol: "TCP", Port: 443, TargetPort: "webhook"}}, "ClusterIP", "", ing.sel, born.Add(day)))
	g.pdb(ing, ing.sel)
	g.s.WebhookConfigs = append(g.s.WebhookConfigs, snapshot.WebhookConfiguration{
		Meta: g.meta("", "ingress-nginx-admission", born.Add(day), nil), Kind: snapshot.KindValidatingWebhook,
		Webhooks: []snapshot.Webhook{{Name: "validate.nginx.ingress.kubernetes.io", FailurePolicy: "Fail", TimeoutSeconds: 10,
			Service: &snapshot.ServiceRef{Namespace: "ingress-nginx", Name: "ingress-nginx-controller-admission", Port: 443},
			Rules:   []string{"CREATE,UPDATE networking.k8s.io v1 ingresses"}}}})
	g.leaderLease("ingress-nginx", "ingress-nginx-leader", "ingress-nginx-controller-"+g.templateHash()+"-"+g.suffix(5), 30, 2*time.Second)

	// Monitoring stack.
	kps := map[string]string{"app.kubernetes.io/instance": "kube-prometheus-stack", "app.kubernetes.io/part-of": "kube-prometheus-stack"}
	g.deployment(g.sysSpec("monitoring", "kube-prometheus-stack-operator", 1,
		map[string]string{"app": "kube-prometheus-stack-operator", "release": "kube-prometheus-stack"}, kps,
		sysTemplate("kube-prometheus-stack-operator", "", nil,
			container{name: "kube-prometheus-stack", image: "quay.io/prometheus-operator/prometheus-operator:v0.77.1", req: res(100, 128*mi), lim: res(200, 256*mi)})))
	ksm := g.deployment(g.sysSpec("monitoring", "kube-prometheus-stack-kube-state-metrics", 1,
		map[string]string{"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": "kube-prometheus-stack"}, nil,
		sysTemplate("kube-prometheus-stack-kube-state-metrics", "", nil,
			container{name: "kube-state-metrics", image: k8s + "kube-state-metrics/kube-state-metrics:v2.13.0", req: res(100, 256*mi), lim: res(0, 1*gi)})))
	ksm.svcs = append(ksm.svcs, g.service("monitoring", "kube-prometheus-stack-kube-state-metrics", ksm.sel,
		[]snapshot.ServicePort{{Name: "http", Protocol: "TCP", Port: 8080, TargetPort: "8080"}}, "ClusterIP", "", ksm.sel, born))
	prom := sysTemplate("prometheus-kube-prometheus-stack-prometheus", "", []snapshot.ConfigRef{secret("prometheus-kube-prometheus-stack-prometheus"),
		cm("prometheus-kube-prometheus-stack-prometheus-rulefiles-0")},
		container{name: "prometheus", image: "quay.io/prometheus/prometheus:v2.54.1", req: res(500, 4*gi), lim: res(0, 8*gi)},
		container{name: "config-reloader", image: "quay.io/prometheus-operator/prometheus-config-reloader:v0.77.1", req: res(10, 50*mi), lim: res(10, 50*mi)})
	prom.inits = []container{{name: "init-config-reloader", image: "quay.io/prometheus-operator/prometheus-config-reloader:v0.77.1", req: res(10, 50*mi), lim: res(10, 50*mi)}}
	p := g.statefulSet(g.sysSpec("monitoring", "prometheus-kube-prometheus-stack-prometheus", 2,
		map[string]string{"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "kube-prometheus-stack-prometheus", "prometheus": "kube-prometheus-stack-prometheus"},
		map[string]string{"app.kubernetes.io/managed-by": "prometheus-operator", "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"}, prom), 100*gi, "gp3")
	g.pdb(p, p.sel)
	am := sysTemplate("kube-prometheus-stack-alertmanager", "", []snapshot.ConfigRef{secret("alertmanager-kube-prometheus-stack-alertmanager-generated")},
		container{name: "alertmanager", image: "quay.io/prometheus/alertmanager:v0.27.0", req: res(50, 200*mi), lim: res(0, 512*mi)},
		container{name: "config-reloader", image: "quay.io/prometheus-operator/prometheus-config-reloader:v0.77.1", req: res(10, 50*mi), lim: res(10, 50*mi)})
	a := g.statefulSet(g.sysSpec("monitoring", "alertmanager-kube-prometheus-stack-alertmanager", 3,
		map[string]string{"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/instance": "kube-prometheus-stack-alertmanager", "alertmanager": "kube-prometheus-stack-alertmanager"},
		map[string]string{"app.kubernetes.io/managed-by": "prometheus-operator"}, am), 10*gi, "gp3")
	g.pdb(a, a.sel)

	// Service mesh control plane with its injection and validation hooks.
	istiod := g.deployment(g.sysSpec("istio-system", "istiod", 2, map[string]string{"app": "istiod", "istio": "pilot"},
		map[string]string{"istio.io/rev": "default", "install.operator.istio.io/owning-resource": "unknown", "sidecar.istio.io/inject": "false"},
		sysTemplate("istiod", "", []snapshot.ConfigRef{cm("istio"), {Kind: "Secret", Name: "cacerts", Optional: true}},
			container{name: "discovery", image: "docker.io/istio/pilot:1.23.2", req: res(500, 2*gi)})))
	istiod.svcs = append(istiod.svcs, g.service("istio-system", "istiod", istiod.sel, []snapshot.ServicePort{
		{Name: "grpc-xds", Protocol: "TCP", Port: 15010, TargetPort: "15010"}, {Name: "https-dns", Protocol: "TCP", Port: 15012, TargetPort: "15012"},
		{Name: "https-webhook", Protocol: "TCP", Port: 443, TargetPort: "15017"}}, "ClusterIP", "", istiod.sel, born.Add(2*day)))
	g.pdb(istiod, istiod.sel)
	ist := &snapshot.ServiceRef{Namespace: "istio-system", Name: "istiod", Port: 443}
	g.s.WebhookConfigs = append(g.s.WebhookConfigs,
		snapshot.WebhookConfiguration{Meta: g.meta("", "istio-sidecar-injector", born.Add(2*day), map[string]string{"app": "sidecar-injector"}),
			Kind: snapshot.KindMutatingWebhook, Webhooks: []snapshot.Webhook{
				{Name: "rev.namespace.sidecar-injector.istio.io", FailurePolicy: "Fail", TimeoutSeconds: 10, Service: ist, Rules: []string{"CREATE  v1 pods"}},
				{Name: "namespace.sidecar-injector.istio.io", FailurePolicy: "Fail", TimeoutSeconds: 10, Service: ist, Rules: []string{"CREATE  v1 pods"}},
			}},
		snapshot.WebhookConfiguration{Meta: g.meta("", "istio-validator-istio-system", born.Add(2*day), map[string]string{"app": "istiod"}),
			Kind: snapshot.KindValidatingWebhook, Webhooks: []snapshot.Webhook{
				{Name: "rev.validation.istio.io", FailurePolicy: "Ignore", TimeoutSeconds: 10, Service: ist,
					Rules: []string{"CREATE,UPDATE security.istio.io,networking.istio.io,telemetry.istio.io,extensions.istio.io * *"}},
			}})
}
