package synth

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var domains = []string{
	"checkout", "payments", "orders", "inventory", "catalog", "search", "recommendations", "pricing", "shipping",
	"billing", "accounts", "auth", "notifications", "email", "reviews", "media", "analytics", "ingest", "reporting",
	"ledger", "fraud", "risk", "profile", "sessions", "gateway", "graphql", "backoffice", "support", "chat", "feed",
	"geo", "routing", "dispatch", "tracking", "telemetry", "audit", "feature-flags", "experiments", "loyalty",
	"promotions", "wishlist", "subscriptions", "invoices", "tax", "currency", "exports", "imports", "webhooks",
	"workflow", "documents", "translations", "content", "assets", "storefront", "mobile-bff", "partner-api",
	"warehouse", "returns", "refunds", "quotes", "contracts", "identity", "consent", "messaging", "scheduling",
}

var (
	roles       = []string{"api", "worker", "web", "consumer", "grpc", "service", "frontend", "processor", "indexer", "sync", "gateway", "scheduler"}
	roleWeights = []float64{30, 18, 10, 10, 7, 6, 5, 4, 3, 3, 2, 2}
	// Replica counts and their weights: mostly small Deployments, a long tail.
	replicaChoices = [][2]int{{1, 1}, {2, 2}, {3, 3}, {4, 6}, {8, 16}, {20, 60}}
	replicaWeights = []float64{25, 30, 22, 12, 8, 3}
	cpuChoices     = []int64{50, 100, 100, 150, 200, 250, 250, 500, 1000}
	memChoices     = []int64{128, 256, 256, 384, 512, 512, 768, 1024, 2048}
)

// hasService reports whether a role serves traffic behind a Service.
func hasService(role string) bool {
	switch role {
	case "api", "web", "grpc", "service", "frontend", "gateway":
		return true
	}
	return false
}

func nsNames(n int) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		d := domains[i%len(domains)]
		if k := i / len(domains); k > 0 {
			d += "-" + strconv.Itoa(k+1)
		}
		out = append(out, d)
	}
	return out
}

type nsState struct {
	name  string
	used  map[string]bool
	mesh  bool
	quota bool
}

// apps fills the application namespaces with workloads until the pod budget
// is spent.
func (g *gen) apps() {
	names := nsNames(g.opt.Namespaces)
	weights := make([]float64, len(names))
	var total float64
	for i := range names {
		weights[i] = 1 / math.Pow(float64(i+1), 0.6)
		total += weights[i]
	}
	remaining := g.appBudget
	for i, name := range names {
		budget := int(math.Round(float64(g.appBudget) * weights[i] / total))
		if i == len(names)-1 || budget > remaining {
			budget = remaining
		}
		remaining -= budget
		st := &nsState{name: name, used: map[string]bool{}, mesh: g.chance(0.3), quota: g.chance(0.5)}
		extra := map[string]string{"team": domains[g.intn(len(domains))]}
		if st.mesh {
			extra["istio-injection"] = "enabled"
		}
		g.namespace(name, g.ago(g.dur(30*day, 500*day)), extra)
		g.appNS = append(g.appNS, name)
		g.nsMesh[name] = st.mesh
		if st.quota {
			g.quotaNS = append(g.quotaNS, name)
		}
		g.fillNamespace(st, budget)
	}
}

func (g *gen) appName(st *nsState, role string) string {
	base := st.name
	if g.chance(0.5) {
		base = domains[g.intn(len(domains))]
	}
	name := base + "-" + role
	for k := 2; st.used[name]; k++ {
		name = fmt.Sprintf("%s-%s-%d", base, role, k)
	}
	st.used[name] = true
	return name
}

func (g *gen) fillNamespace(st *nsState, budget int) {
	for budget > 0 {
		x := g.float()
		role := roles[g.weighted(roleWeights)]
		switch {
		case x < 0.07 && budget >= 3:
			a := g.appSpec(st, g.appName(st, "db"), "database", min(budget, pick(g.rng, []int{1, 3, 3})))
			a.tmpl.restart = "Always"
			w := g.statefulSet(a, int64(pick(g.rng, []int{10, 20, 50, 100, 200}))*gi, pick(g.rng, []string{"gp3", "gp3", "io2-retain"}))
			if w.replicas >= 3 {
				g.pdb(w, a.objLabels)
			}
			budget -= a.replicas
		case x < 0.16 && budget >= 3:
			a := g.appSpec(st, g.appName(st, pick(g.rng, []string{"cleanup", "report", "sync", "backup", "digest", "reindex"})), "batch", 1)
			a.tmpl.restart = pick(g.rng, []string{"Never", "OnFailure"})
			if g.chance(0.05) {
				a.replicas = 0 // suspended
			}
			budget -= g.cronJob(a)
		case x < 0.18:
			a := g.appSpec(st, g.appName(st, "migrate"), "migration", 1)
			a.tmpl.restart = "Never"
			start := g.ago(g.dur(time.Hour, 20*day))
			g.job(a, a.name+"-"+g.suffix(5), nil, start, g.dur(10*time.Second, 5*time.Minute), true)
			budget--
		default:
			rc := replicaChoices[g.weighted(replicaWeights)]
			r := min(budget, g.between(rc[0], rc[1]))
			a := g.appSpec(st, g.appName(st, role), role, r)
			w := g.deployment(a)
			budget -= r
			if hasService(role) {
				w.svcs = append(w.svcs, g.service(st.name, a.name, a.sel, httpPorts(), "ClusterIP", "", a.objLabels, a.created))
			}
			if r >= 2 && g.chance(0.35) {
				g.pdb(w, a.objLabels)
			}
			if r >= 2 && hasService(role) && g.chance(0.25) {
				g.hpa(w, a.objLabels)
			}
		}
		if g.chance(0.01) {
			// An ExternalName Service: no selector, no endpoints, healthy.
			g.service(st.name, g.appName(st, "external-db"), nil, nil, "ExternalName", "", nil, g.ago(g.dur(10*day, 300*day)))
			g.s.Services[len(g.s.Services)-1].ExternalName = st.name + "-db.cluster-c9x7vq2b1k3m." + region + ".rds.amazonaws.com"
			g.s.Services[len(g.s.Services)-1].ClusterIP = ""
		}
	}
}

// appSpec builds the labels and pod template of an application workload.
func (g *gen) appSpec(st *nsState, name, role string, replicas int) spec {
	version := fmt.Sprintf("%d.%d.%d", g.between(0, 4), g.between(0, 40), g.between(0, 20))
	var sel, pl, ol map[string]string
	if g.chance(0.75) {
		sel = map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
		pl = copyLabels(sel, "app.kubernetes.io/component", role, "app.kubernetes.io/part-of", st.name)
		if g.chance(0.6) {
			pl["app.kubernetes.io/version"] = version
		}
		ol = copyLabels(pl, "app.kubernetes.io/managed-by", "Helm", "helm.sh/chart", name+"-"+fmt.Sprintf("%d.%d.%d", g.between(0, 3), g.between(0, 30), g.between(0, 9)))
	} else {
		sel = map[string]string{"app": name}
		pl = copyLabels(sel, "version", "v"+version, "team", st.name)
		ol = copyLabels(sel)
	}
	image := g.registry + "/" + st.name + "/" + name + ":v" + version
	if g.chance(0.3) {
		image = g.registry + "/" + st.name + "/" + name + ":" + g.hex(7)
	}
	main := container{name: name, image: image}
	switch x := g.float(); {
	case x < 0.2:
		main.name = "app"
	case x < 0.3:
		main.name = "server"
	}
	cpu, mem := pick(g.rng, cpuChoices), pick(g.rng, memChoices)*mi
	main.req = res(cpu, mem)
	switch x := g.float(); {
	case x < 0.1:
		main.lim = res(cpu, mem) // Guaranteed
	case x < 0.35:
		main.lim = res(2*cpu, 2*mem)
	default:
		main.lim = res(0, 2*mem)
	}
	t := &podTemplate{containers: []container{main}, restart: "Always", grace: 30, sa: "default"}
	if g.chance(0.6) {
		t.sa = name
	}
	if g.chance(0.1) {
		t.grace = pick(g.rng, []int64{10, 60, 120})
	}
	if g.chance(0.6) {
		t.refs = append(t.refs, cm(name+"-config"))
	}
	t.refs = append(t.refs, rootCA)
	if g.chance(0.5) {
		t.refs = append(t.refs, secret(name+"-secrets"))
	}
	if g.chance(0.08) {
		t.refs = append(t.refs, snapshot.ConfigRef{Kind: "ConfigMap", Name: name + "-overrides", Optional: true})
	}
	switch x := g.float(); {
	case x < 0.06:
		t.containers = append(t.containers, container{name: "log-shipper", image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
			req: res(20, 32*mi), lim: res(0, 128*mi)})
	case x < 0.12:
		t.containers = append(t.containers, container{name: "cloud-sql-proxy", image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.13.0",
			req: res(50, 64*mi), lim: res(0, 256*mi)})
	case x < 0.16:
		t.containers = append(t.containers, container{name: "otel-agent", image: "otel/opentelemetry-collector-contrib:0.111.0",
			req: res(50, 64*mi), lim: res(200, 256*mi)}, container{name: "log-shipper", image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
			req: res(20, 32*mi), lim: res(0, 128*mi)})
	}
	if g.chance(0.12) {
		t.inits = append(t.inits, container{name: "wait-for-deps", image: "docker.io/library/busybox:1.36.1", req: res(10, 16*mi), lim: res(0, 32*mi)})
	}
	if st.mesh && role != "batch" && role != "migration" {
		t.inits = append(t.inits, container{name: "istio-init", image: "docker.io/istio/proxyv2:1.23.2", req: res(10, 40*mi), lim: res(2000, 1*gi)})
		t.containers = append(t.containers, container{name: "istio-proxy", image: "docker.io/istio/proxyv2:1.23.2",
			req: res(100, 128*mi), lim: res(2000, 1*gi)})
		pl["security.istio.io/tlsMode"] = "istio"
		pl["service.istio.io/canonical-name"] = name
	}
	return spec{ns: st.name, name: name, role: role, replicas: replicas, sel: sel, podLabels: pl, objLabels: ol, tmpl: t,
		created: g.ago(g.dur(2*day, 400*day))}
}
