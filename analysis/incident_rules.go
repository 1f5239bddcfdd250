package analysis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// This file holds the link rules: which cause explains each finding.

// Base confidences of the rules (see the table in incident.go).
const (
	confSameObject   = 1.0
	confNode         = 0.95
	confNodeNetwork  = 0.8
	confNodeGone     = 0.9
	confNodePressure = 0.85
	confConfig       = 0.95
	confRegistry     = 0.8
	confPVC          = 0.9
	confStorageClass = 0.85
	confQuota        = 0.95
	confWebhook      = 0.95
	confBackend      = 0.9
	confAPIService   = 0.9
	confHPAMetrics   = 0.8
	confDNSText      = 0.85
	confDNSTime      = 0.5
	confControlPlane = 0.8
	confCPComponent  = 0.9
	confWorkload     = 0.9
	confSelector     = 0.85
	confEvents       = 0.5
)

// attribution is the cause one finding (or pod) is linked to.
type attribution struct {
	cause string // cause key; "" for none
	rule  string
	conf  float64
	ev    []checks.Evidence
}

// cause is one fault that may explain findings.
type cause struct {
	key, rule string
	object    checks.ObjectRef
	headline  string
	summary   string
	evidence  []checks.Evidence
	// down: a node cause whose node is NotReady, unreachable or gone.
	down bool
	// parent is the cause below this one (DNS → the node its pods run on).
	parent     *cause
	parentRule string
	parentConf float64
	parentEv   []checks.Evidence
}

type nodeFault struct {
	cond snapshot.Condition
	conf float64
	word string // NotReady, unreachable, network unavailable, gone
}

type grouper struct {
	s  *snapshot.Snapshot
	ix *checks.Index
	fs []checks.Finding

	attr       []attribution
	causes     map[string]*cause
	causeOrder []string
	members    map[string][]int

	pods         map[nsName]*snapshot.Pod
	namespaces   map[string]*snapshot.Namespace
	byObj        map[string][]int
	wlPods       map[string][]*snapshot.Pod // memo of podsOf
	downByNS     map[string][]*snapshot.Pod // unready pods per namespace, built on first use
	children     map[string][]string        // controller UID -> child UIDs
	rsDeployment map[string]string
	podMemo      map[*snapshot.Pod]attribution
	podBusy      map[*snapshot.Pod]bool

	downNodes     map[string]nodeFault
	pressureNodes map[string][]string
	dnsKey        string
	dnsSince      time.Time
	dnsBackend    map[*snapshot.Pod]bool
	cpKey         string
	cmDown        bool
	schedDown     bool
	webhookByName map[string]string
	apiByGV       map[string]string
	registryOK    map[string]bool // hosts failing for several workloads

	// causeByObj finds the non-workload cause whose object is a key.
	causeByObj map[checks.ObjectRef]string
	// wlMeta and wlLost index controllers by kind/namespace/name.
	wlMeta map[string]*snapshot.Meta
	wlLost map[string]int
}

func newGrouper(s *snapshot.Snapshot, all []checks.Finding) *grouper {
	g := &grouper{
		s: s, ix: checks.NewIndex(s),
		causes: map[string]*cause{}, members: map[string][]int{},
		pods: make(map[nsName]*snapshot.Pod, len(s.Pods)), namespaces: map[string]*snapshot.Namespace{},
		byObj: map[string][]int{}, wlPods: map[string][]*snapshot.Pod{}, rsDeployment: map[string]string{},
		podMemo: map[*snapshot.Pod]attribution{}, podBusy: map[*snapshot.Pod]bool{},
		downNodes: map[string]nodeFault{}, pressureNodes: map[string][]string{}, dnsBackend: map[*snapshot.Pod]bool{},
		webhookByName: map[string]string{}, apiByGV: map[string]string{}, registryOK: map[string]bool{},
		causeByObj: map[checks.ObjectRef]string{},
	}
	for _, f := range all {
		if f.Status == checks.Firing {
			g.fs = append(g.fs, f)
		}
	}
	g.attr = make([]attribution, len(g.fs))
	for i := range g.fs {
		k := g.fs[i].Object.String()
		g.byObj[k] = append(g.byObj[k], i)
	}
	for i := range s.Namespaces {
		g.namespaces[s.Namespaces[i].Name] = &s.Namespaces[i]
	}
	for i := range s.ReplicaSets {
		rs := &s.ReplicaSets[i]
		if o, ok := rs.Controller(); ok && o.Kind == "Deployment" {
			g.rsDeployment[rs.Namespace+"/"+rs.Name] = o.Name
		}
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		g.pods[nsName{p.Namespace, p.Name}] = p
	}
	return g
}

type nsName struct{ ns, name string }

// pod finds a pod by namespace and name.
func (g *grouper) pod(ns, name string) *snapshot.Pod { return g.pods[nsName{ns, name}] }

// podsOf returns a controller's pods, walking owner UIDs down (a
// Deployment's ReplicaSets, a CronJob's Jobs).
func (g *grouper) podsOf(kind, ns, name string) []*snapshot.Pod {
	key := workloadKey(kind, ns, name)
	if ps, ok := g.wlPods[key]; ok {
		return ps
	}
	g.indexWorkloads()
	var out []*snapshot.Pod
	m := g.wlMeta[checks.ObjectRef{Kind: kind, Namespace: ns, Name: name}.String()]
	if m != nil && m.UID != "" {
		switch kind {
		case "Deployment", "CronJob":
			for _, uid := range g.childUIDs()[m.UID] {
				out = append(out, g.ix.PodsByOwnerUID[uid]...)
			}
		default:
			out = g.ix.PodsByOwnerUID[m.UID]
		}
	} else {
		// No UIDs (some recordings): match by owner names.
		for _, p := range g.ix.PodsByNamespace[ns] {
			if w, ok := g.workloadOf(p); ok && w.Kind == kind && w.Name == name {
				out = append(out, p)
			}
		}
	}
	g.wlPods[key] = out
	return out
}

// childUIDs maps a Deployment's UID to its ReplicaSets' and a CronJob's to
// its Jobs', built once.
func (g *grouper) childUIDs() map[string][]string {
	if g.children == nil {
		g.children = map[string][]string{}
		for i := range g.s.ReplicaSets {
			if o, ok := g.s.ReplicaSets[i].Controller(); ok && o.UID != "" {
				g.children[o.UID] = append(g.children[o.UID], g.s.ReplicaSets[i].UID)
			}
		}
		for i := range g.s.Jobs {
			if o, ok := g.s.Jobs[i].Controller(); ok && o.UID != "" {
				g.children[o.UID] = append(g.children[o.UID], g.s.Jobs[i].UID)
			}
		}
	}
	return g.children
}

// downPods returns the unready pods of a namespace.
func (g *grouper) downPods(ns string) []*snapshot.Pod {
	if g.downByNS == nil {
		g.downByNS = map[string][]*snapshot.Pod{}
		for i := range g.s.Pods {
			if p := &g.s.Pods[i]; g.podDown(p) {
				g.downByNS[p.Namespace] = append(g.downByNS[p.Namespace], p)
			}
		}
	}
	return g.downByNS[ns]
}

func workloadKey(kind, ns, name string) string { return "workload/" + kind + "/" + ns + "/" + name }

// workloadOf returns a pod's top-level controller (a Deployment for a
// ReplicaSet's pod, a CronJob for a Job's). Static pods (owned by their
// Node) have none.
func (g *grouper) workloadOf(p *snapshot.Pod) (checks.ObjectRef, bool) {
	kind, name, ok := g.ix.WorkloadOf(p)
	if !ok || kind == "Node" {
		return checks.ObjectRef{}, false
	}
	if kind == "ReplicaSet" {
		if d := g.rsDeployment[p.Namespace+"/"+name]; d != "" {
			kind, name = "Deployment", d
		}
	}
	return checks.ObjectRef{Kind: kind, Namespace: p.Namespace, Name: name}, true
}

func (g *grouper) deploymentOfRS(ns, name string) string { return g.rsDeployment[ns+"/"+name] }

func terminalPod(p *snapshot.Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// podDown reports whether a pod is not serving: not finished and not
// ready, or stuck past its deletion.
func (g *grouper) podDown(p *snapshot.Pod) bool {
	if terminalPod(p) {
		return false
	}
	if p.DeletionTimestamp != nil {
		return g.s.CollectedAt.Sub(*p.DeletionTimestamp) > 5*time.Minute
	}
	c, ok := snapshot.FindCondition(p.Conditions, "Ready")
	return !ok || c.Status != "True"
}

func (g *grouper) unreadyPods(kind, ns, name string) []*snapshot.Pod {
	var out []*snapshot.Pod
	for _, p := range g.podsOf(kind, ns, name) {
		if g.podDown(p) {
			out = append(out, p)
		}
	}
	return out
}

// addCause registers a cause once and returns it.
func (g *grouper) addCause(c *cause) *cause {
	if old, ok := g.causes[c.key]; ok {
		return old
	}
	g.causes[c.key] = c
	g.causeOrder = append(g.causeOrder, c.key)
	if c.rule != RuleWorkload && c.rule != RuleControlPlane {
		if _, taken := g.causeByObj[c.object]; !taken {
			g.causeByObj[c.object] = c.key
		}
	}
	return c
}

// setParent links c to the cause below it unless that makes a loop.
func (g *grouper) setParent(c, p *cause, rule string, conf float64, ev []checks.Evidence) {
	if c == nil || p == nil || c == p || c.parent != nil {
		return
	}
	for x := p; x != nil; x = x.parent {
		if x == c {
			return
		}
	}
	c.parent, c.parentRule, c.parentConf, c.parentEv = p, rule, conf, ev
}

// top follows parents to the root cause.
func (g *grouper) top(c *cause) *cause {
	for c.parent != nil {
		c = c.parent
	}
	return c
}

// chainConf multiplies the confidences of the links from c to the root.
func (g *grouper) chainConf(c *cause) float64 {
	v := 1.0
	for ; c.parent != nil; c = c.parent {
		v *= c.parentConf
	}
	return v
}

func (g *grouper) membersOf(c *cause) []int { return g.members[c.key] }

// attribute decides the cause of every finding.
func (g *grouper) attribute() {
	g.detectCauses()
	g.detectRegistries()
	for i := range g.fs {
		if a := g.attributeFinding(i); a.cause != "" {
			g.attr[i] = a
		}
	}
	// A secondary finding that no rule placed follows its primary.
	for i := range g.fs {
		f := &g.fs[i]
		if g.attr[i].cause != "" || f.ExplainedBy == "" {
			continue
		}
		for _, j := range g.byObj[f.Object.String()] {
			if g.fs[j].Check == f.ExplainedBy && g.attr[j].cause != "" {
				g.attr[i] = attribution{cause: g.attr[j].cause, rule: g.attr[j].rule, conf: g.attr[j].conf, ev: g.attr[j].ev}
				break
			}
		}
	}
	// A finding on its cause's own object is that cause's root.
	for i := range g.fs {
		a := &g.attr[i]
		if a.cause == "" {
			continue
		}
		if c := g.causes[a.cause]; c != nil && c.object == stripUID(g.fs[i].Object) && a.rule != RuleRoot {
			a.rule, a.conf, a.ev = RuleRoot, confSameObject, nil
		}
		g.members[a.cause] = append(g.members[a.cause], i)
	}
	g.linkCauses()
}

func stripUID(o checks.ObjectRef) checks.ObjectRef {
	o.UID = ""
	return o
}

// detectCauses registers the causes that findings show directly: nodes,
// the control plane, DNS, webhooks, APIServices, quotas and claims.
func (g *grouper) detectCauses() {
	for i := range g.fs {
		f := &g.fs[i]
		obj := stripUID(f.Object)
		switch {
		case f.Object.Kind == "Node":
			c := g.addCause(&cause{key: "node/" + f.Object.Name, rule: RuleNode, object: obj,
				headline: "Node " + f.Object.Name + " " + f.Reason})
			cond := g.nodeReady(f.Object.Name)
			switch f.Check {
			case "node.not_ready", "node.unreachable", "node.heartbeat_stale":
				if f.Check == "node.heartbeat_stale" && (cond.Status == "True" || cond.Status == "") {
					break
				}
				word := "NotReady"
				if cond.Status == "Unknown" || f.Check == "node.unreachable" {
					word = "unreachable"
				}
				g.downNodes[f.Object.Name] = nodeFault{cond: cond, conf: confNode, word: word}
				c.down, c.headline = true, "Node "+f.Object.Name+" "+word
				c.summary = c.headline
				if cond.Message != "" {
					c.summary += ": " + oneLine(cond.Message, 140)
				}
			case "node.network_unavailable":
				if _, ok := g.downNodes[f.Object.Name]; !ok {
					g.downNodes[f.Object.Name] = nodeFault{cond: cond, conf: confNodeNetwork, word: "network unavailable"}
					c.down, c.headline = true, "Node "+f.Object.Name+" network unavailable"
				}
			case "node.memory_pressure", "node.disk_pressure", "node.pid_pressure":
				g.pressureNodes[f.Object.Name] = append(g.pressureNodes[f.Object.Name], f.Reason)
				if !c.down {
					c.headline = "Node " + f.Object.Name + " under " + f.Reason
				}
			}
		case controlPlaneCheck(f.Check):
			g.cpKey = "controlplane"
			if f.Check == "controlplane.leader_lease_stale" {
				switch {
				case strings.Contains(f.Object.Name, "controller-manager"):
					g.cmDown = true
				case strings.Contains(f.Object.Name, "scheduler"):
					g.schedDown = true
				}
			}
		case f.Check == "dns.coredns_unavailable" || f.Check == "service.no_endpoints" && f.Object.Namespace == "kube-system" && f.Object.Name == "kube-dns" && g.dnsKey == "":
			key := "dns"
			if f.Object.Kind == "Deployment" || f.Object.Kind == "DaemonSet" {
				key = workloadKey(f.Object.Kind, f.Object.Namespace, f.Object.Name)
			}
			if g.dnsKey != "" && g.dnsKey != key {
				// a Service finding registered first; the Deployment is the better object
				if old := g.causes[g.dnsKey]; old != nil && g.causeByObj[old.object] == g.dnsKey {
					delete(g.causeByObj, old.object)
				}
				delete(g.causes, g.dnsKey)
				g.causeOrder = without(g.causeOrder, g.dnsKey)
			}
			g.dnsKey = key
			c := g.addCause(&cause{key: key, rule: RuleDNS, object: obj, headline: "Cluster DNS unavailable",
				summary: "cluster DNS (" + refName(obj) + ") has no ready replica: in-cluster name resolution fails"})
			if c.rule != RuleDNS || c.object != obj {
				c.rule, c.object = RuleDNS, obj
				g.causeByObj[obj] = key
			}
			if f.Since != nil && (g.dnsSince.IsZero() || f.Since.Before(g.dnsSince)) {
				g.dnsSince = *f.Since
			}
		case f.Check == "webhook.service_unavailable":
			key := "webhook/" + f.Object.Kind + "/" + f.Object.Name
			g.addCause(&cause{key: key, rule: RuleWebhook, object: obj,
				headline: f.Object.Kind + " " + f.Object.Name + " unavailable"})
			for _, wc := range g.s.WebhookConfigs {
				if string(wc.Kind) == f.Object.Kind && wc.Name == f.Object.Name {
					for _, w := range wc.Webhooks {
						g.webhookByName[w.Name] = key
					}
				}
			}
		case f.Check == "apiservice.unavailable":
			key := "apiservice/" + f.Object.Name
			g.addCause(&cause{key: key, rule: RuleAPIService, object: obj, headline: "APIService " + f.Object.Name + " unavailable"})
			gv := apiServiceGV(g.s, f.Object.Name)
			g.apiByGV[gv] = key
		case f.Check == "quota.exceeded":
			g.addCause(&cause{key: "quota/" + f.Object.Namespace + "/" + f.Object.Name, rule: RuleQuota, object: obj,
				headline: "ResourceQuota " + refName(obj) + " exhausted"})
		case f.Check == "pvc.pending":
			g.addCause(&cause{key: "pvc/" + f.Object.Namespace + "/" + f.Object.Name, rule: RulePVC, object: obj,
				headline: "PVC " + refName(obj) + " Pending (" + f.Reason + ")"})
		}
	}
	if g.cpKey != "" {
		obj, f := g.cpRoot()
		h := "Control plane degraded"
		switch {
		case f == nil:
		case f.Check == "controlplane.leader_lease_stale":
			h = "Control plane: " + obj.Name + " not leading (lease stale)"
		default:
			h = "Control plane: " + f.Reason
		}
		g.addCause(&cause{key: g.cpKey, rule: RuleControlPlane, object: obj, headline: h})
	}
	if g.dnsKey != "" {
		g.markDNSBackends()
	}
	g.detectStorageClasses()
}

func without(ss []string, s string) []string {
	out := ss[:0]
	for _, x := range ss {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// cpOrder ranks control-plane checks from the deepest cause up: etcd below
// the API server below the controllers.
var cpOrder = []string{
	"controlplane.etcd_no_leader", "controlplane.etcd_slow_disk", "controlplane.etcd_db_size", "controlplane.etcd_leader_changes",
	"controlplane.apiserver_unhealthy", "controlplane.apiserver_errors", "controlplane.apiserver_throttling",
	"controlplane.apiserver_latency", "controlplane.leader_lease_stale", "controlplane.scheduler_backlog",
	"controlplane.workqueue_backlog",
}

// controlPlaneCheck reports whether a check judges the control plane's
// availability (certificate expiry is not an outage and stays apart).
func controlPlaneCheck(id string) bool {
	for _, c := range cpOrder {
		if c == id {
			return true
		}
	}
	return false
}

// cpRoot picks the control-plane finding deepest in cpOrder.
func (g *grouper) cpRoot() (checks.ObjectRef, *checks.Finding) {
	for _, id := range cpOrder {
		best := -1
		for i := range g.fs {
			if g.fs[i].Check == id && (best < 0 || better(&g.fs[i], &g.fs[best])) {
				best = i
			}
		}
		if best >= 0 {
			return stripUID(g.fs[best].Object), &g.fs[best]
		}
	}
	return checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: g.s.Cluster}, nil
}

func (g *grouper) nodeReady(name string) snapshot.Condition {
	if n := g.ix.Nodes[name]; n != nil {
		if c, ok := snapshot.FindCondition(n.Conditions, "Ready"); ok {
			return c
		}
	}
	return snapshot.Condition{}
}

// apiServiceGV returns "group/version" of an APIService by name
// (v1beta1.metrics.k8s.io → metrics.k8s.io/v1beta1).
func apiServiceGV(s *snapshot.Snapshot, name string) string {
	for _, a := range s.APIServices {
		if a.Name == name && a.Group != "" {
			return a.Group + "/" + a.Version
		}
	}
	if v, grp, ok := strings.Cut(name, "."); ok {
		return grp + "/" + v
	}
	return name
}

// markDNSBackends records the pods that serve cluster DNS: they do not
// fail because of DNS.
func (g *grouper) markDNSBackends() {
	if sv := g.ix.Services[checks.NN("kube-system", "kube-dns")]; sv != nil {
		for _, p := range g.ix.PodsByNamespace["kube-system"] {
			if snapshot.MatchesMap(sv.Selector, p.Labels) {
				g.dnsBackend[p] = true
			}
		}
	}
	if c := g.causes[g.dnsKey]; c != nil && strings.HasPrefix(c.key, "workload/") {
		for _, p := range g.podsOf(c.object.Kind, c.object.Namespace, c.object.Name) {
			g.dnsBackend[p] = true
		}
	}
}

// detectStorageClasses adds a StorageClass cause when several Pending
// claims wait on the same failing class.
func (g *grouper) detectStorageClasses() {
	byClass := map[string][]*cause{}
	reason := map[string]string{}
	for _, k := range g.causeOrder {
		c := g.causes[k]
		if c.rule != RulePVC {
			continue
		}
		var f *checks.Finding
		for _, i := range g.byObj[c.object.String()] {
			if g.fs[i].Check == "pvc.pending" {
				f = &g.fs[i]
			}
		}
		if f == nil {
			continue
		}
		switch f.Reason {
		case "StorageClassNotFound", "ProvisioningFailed", "ProvisionerNotRunning", "NoProvisioner", "ExternalProvisioning":
		default:
			continue
		}
		class := ""
		for i := range g.s.PVCs {
			pvc := &g.s.PVCs[i]
			if pvc.Namespace == c.object.Namespace && pvc.Name == c.object.Name && pvc.StorageClassName != nil {
				class = *pvc.StorageClassName
			}
		}
		if class == "" {
			if m := reStorageClass.FindStringSubmatch(f.Message); m != nil {
				class = m[1]
			}
		}
		if class == "" {
			continue
		}
		byClass[class] = append(byClass[class], c)
		reason[class] = f.Reason
	}
	var classes []string
	for k := range byClass {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for _, class := range classes {
		cs := byClass[class]
		if len(cs) < 2 {
			continue
		}
		h := `StorageClass "` + class + `" cannot provision`
		if reason[class] == "StorageClassNotFound" {
			h = `StorageClass "` + class + `" does not exist`
		}
		sc := g.addCause(&cause{key: "storageclass/" + class, rule: RuleStorageClass,
			object: checks.ObjectRef{Kind: string(snapshot.KindStorageClass), Name: class}, headline: h, summary: h})
		for _, c := range cs {
			g.setParent(c, sc, RuleStorageClass, confStorageClass, []checks.Evidence{{Type: checks.EvRelation,
				Path: "spec.storageClassName", Value: class, Message: fmt.Sprintf("%d Pending claims use this class", len(cs))}})
		}
	}
}

// detectRegistries finds image registries that fail pulls for at least two
// workloads with a registry-wide error (network, TLS, credentials, rate
// limit). A tag that does not exist is the workload's fault, not the
// registry's.
func (g *grouper) detectRegistries() {
	users := map[string]map[string]bool{}
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		if !pullWaiting(p) || !g.podDown(p) {
			continue
		}
		host, _, class := g.imageTrouble(p)
		if host == "" || !hostWide(class) {
			continue
		}
		who := "pod/" + p.Namespace + "/" + p.Name
		if w, ok := g.workloadOf(p); ok {
			who = w.String()
		}
		if users[host] == nil {
			users[host] = map[string]bool{}
		}
		users[host][who] = true
	}
	for h, u := range users {
		if len(u) >= 2 {
			g.registryOK[h] = true
		}
	}
}

// pullWaiting reports whether a container of p waits on its image.
func pullWaiting(p *snapshot.Pod) bool {
	for _, cs := range [][]snapshot.Container{p.InitContainers, p.Containers} {
		for i := range cs {
			if cs[i].State.State == snapshot.StateWaiting && imageReasons[cs[i].State.Reason] {
				return true
			}
		}
	}
	return false
}

// imageTrouble returns the registry host, image and error class of a pod
// whose container cannot pull its image.
func (g *grouper) imageTrouble(p *snapshot.Pod) (host, image, class string) {
	for _, cs := range [][]snapshot.Container{p.InitContainers, p.Containers} {
		for i := range cs {
			c := &cs[i]
			if c.State.State != snapshot.StateWaiting || !imageReasons[c.State.Reason] {
				continue
			}
			texts := []string{c.State.Message}
			for _, e := range g.ix.EventsFor(snapshot.KindPod, p.Namespace, p.Name) {
				if strings.Contains(e.Message, c.Image) || e.Reason == "Failed" || e.Reason == "ErrImagePull" {
					texts = append(texts, e.Message)
				}
			}
			for _, fi := range g.byObj[checks.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}.String()] {
				if g.fs[fi].Check == "pod.image_pull_failing" {
					texts = append(texts, g.fs[fi].Message)
					for _, e := range g.fs[fi].Evidence {
						texts = append(texts, e.Message)
					}
				}
			}
			return ImageHost(c.Image), c.Image, pullErrorClass(strings.Join(texts, "\n"))
		}
	}
	return "", "", ""
}

// attributeFinding decides the cause of finding i.
func (g *grouper) attributeFinding(i int) attribution {
	f := &g.fs[i]
	obj := stripUID(f.Object)
	// A finding on a cause's own object is its root.
	if k, ok := g.causeByObj[obj]; ok && g.causes[k] != nil {
		return attribution{cause: k, rule: RuleRoot, conf: confSameObject}
	}
	if g.cpKey != "" {
		if controlPlaneCheck(f.Check) {
			if g.causes[g.cpKey].object == obj {
				return attribution{cause: g.cpKey, rule: RuleRoot, conf: confSameObject}
			}
			return attribution{cause: g.cpKey, rule: RuleControlPlane, conf: confControlPlane,
				ev: []checks.Evidence{{Type: checks.EvRelation, Path: "controlplane", Value: f.Check, Message: "control-plane findings share one cause"}}}
		}
		if g.cmDown && strings.HasSuffix(f.Check, ".generation_mismatch") {
			return attribution{cause: g.cpKey, rule: RuleControlPlane, conf: confControlPlane,
				ev: []checks.Evidence{{Type: checks.EvRelation, Path: "lease(kube-system/kube-controller-manager)", Value: "stale",
					Message: "no kube-controller-manager is leading, so no controller observes the new spec"}}}
		}
	}
	switch f.Object.Kind {
	case "Pod":
		p := g.pod(f.Object.Namespace, f.Object.Name)
		if p == nil {
			if nf, ok := g.downNodes[f.Node]; ok {
				return g.nodeAttribution(f.Node, nf)
			}
			return attribution{}
		}
		if g.schedDown && g.cpKey != "" && p.NodeName == "" && (f.Check == "pod.pending_too_long" || f.Check == "pod.unschedulable") {
			return attribution{cause: g.cpKey, rule: RuleControlPlane, conf: confControlPlane,
				ev: []checks.Evidence{{Type: checks.EvRelation, Path: "lease(kube-system/kube-scheduler)", Value: "stale",
					Message: "no kube-scheduler is leading, so pods are not bound to nodes"}}}
		}
		return g.podCause(p)
	case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet":
		return g.workloadFinding(f)
	case "HorizontalPodAutoscaler":
		return g.hpaFinding(f)
	case "PodDisruptionBudget":
		return g.selectorFinding(f, RulePDB)
	case "Service":
		return g.serviceFinding(f)
	case "PersistentVolume":
		for i := range g.s.PVs {
			pv := &g.s.PVs[i]
			if pv.Name == f.Object.Name && pv.ClaimRef != nil {
				if k := "pvc/" + pv.ClaimRef.Namespace + "/" + pv.ClaimRef.Name; g.causes[k] != nil {
					return attribution{cause: k, rule: RulePVC, conf: confPVC,
						ev: []checks.Evidence{{Type: checks.EvRelation, Path: "spec.claimRef", Value: pv.ClaimRef.Namespace + "/" + pv.ClaimRef.Name}}}
				}
			}
		}
	case "Namespace":
		return g.namespaceFinding(f)
	}
	return attribution{}
}

func (g *grouper) nodeAttribution(node string, nf nodeFault) attribution {
	msg := "node " + node + " is " + nf.word
	if nf.cond.Status != "" {
		msg += fmt.Sprintf(" (Ready=%s", nf.cond.Status)
		if r := checks.JoinNonEmpty(nf.cond.Reason, nf.cond.Message); r != "" {
			msg += " " + oneLine(r, 140)
		}
		msg += ")"
	}
	ev := checks.Evidence{Type: checks.EvRelation, Path: "spec.nodeName", Value: node, Message: msg}
	if !nf.cond.LastTransitionTime.IsZero() {
		t := nf.cond.LastTransitionTime
		ev.Time = &t
	}
	return attribution{cause: "node/" + node, rule: RuleNode, conf: nf.conf, ev: []checks.Evidence{ev}}
}

// podCause decides why a pod is down, deepest shared cause first.
func (g *grouper) podCause(p *snapshot.Pod) attribution {
	if a, ok := g.podMemo[p]; ok {
		return a
	}
	if g.podBusy[p] {
		return attribution{}
	}
	g.podBusy[p] = true
	a := g.podCause1(p)
	g.podMemo[p] = a
	return a
}

func (g *grouper) podCause1(p *snapshot.Pod) attribution {
	// 1. The node it is bound to is down.
	if nf, ok := g.downNodes[p.NodeName]; ok && p.NodeName != "" {
		return g.nodeAttribution(p.NodeName, nf)
	}
	// 2. Terminating on a node that no longer exists.
	if p.DeletionTimestamp != nil && p.NodeName != "" && g.ix.Nodes[p.NodeName] == nil && len(g.s.Nodes) > 0 {
		if _, gap := g.s.Gap(snapshot.KindNode); !gap {
			key := "node/" + p.NodeName
			c := g.addCause(&cause{key: key, rule: RuleNode, object: checks.ObjectRef{Kind: "Node", Name: p.NodeName},
				headline: "Node " + p.NodeName + " no longer exists", down: true})
			c.summary = c.headline + ": pods bound to it cannot be confirmed stopped"
			return attribution{cause: key, rule: RuleNode, conf: confNodeGone, ev: []checks.Evidence{{Type: checks.EvRelation,
				Path: "spec.nodeName", Value: p.NodeName, Message: "node " + p.NodeName + " is not in the cluster's Node list"}}}
		}
	}
	// 3. Evicted by a node under pressure.
	if p.Reason == "Evicted" && len(g.pressureNodes[p.NodeName]) > 0 {
		return attribution{cause: "node/" + p.NodeName, rule: RuleNodePressure, conf: confNodePressure,
			ev: []checks.Evidence{{Type: checks.EvRelation, Path: "status.reason", Value: "Evicted",
				Message: "evicted by node " + p.NodeName + " under " + strings.Join(g.pressureNodes[p.NodeName], ", ") + ": " + oneLine(p.Message, 160)}}}
	}
	if !g.podDown(p) && !g.hasFinding(p) {
		return g.ownWorkload(p)
	}
	// 4. A ConfigMap or Secret it needs is missing.
	if ref, text, ok := g.missingRef(p); ok {
		key := "config/" + ref.Namespace + "/" + ref.Kind + "/" + ref.Name
		h := ref.Kind + " " + ref.Namespace + "/" + ref.Name + " does not exist"
		if ref.Key != "" {
			key += "#" + ref.Key
			h = ref.Kind + " " + ref.Namespace + "/" + ref.Name + ` has no key "` + ref.Key + `"`
		}
		g.addCause(&cause{key: key, rule: RuleConfig, object: checks.ObjectRef{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name},
			headline: h, summary: h})
		ev := []checks.Evidence{{Type: checks.EvRelation, Path: "configRef", Value: ref.Kind + "/" + ref.Name, Message: oneLine(text, 200)}}
		for _, r := range p.ConfigRefs {
			if r.Kind == ref.Kind && r.Name == ref.Name {
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "spec (configRefs)", Value: r.Kind + "/" + r.Name,
					Message: "the pod spec references it"})
			}
		}
		return attribution{cause: key, rule: RuleConfig, conf: confConfig, ev: ev}
	}
	// 5. A claim it mounts is Pending.
	for _, claim := range p.Claims {
		if k := "pvc/" + p.Namespace + "/" + claim; g.causes[k] != nil {
			return attribution{cause: k, rule: RulePVC, conf: confPVC, ev: []checks.Evidence{{Type: checks.EvRelation,
				Path: "spec.volumes[].persistentVolumeClaim", Value: claim, Message: "the pod mounts the Pending claim " + claim}}}
		}
	}
	// 6. Its image registry fails for several workloads.
	if host, image, class := g.imageTrouble(p); host != "" && g.registryOK[host] && hostWide(class) {
		key := "registry/" + host
		g.addCause(&cause{key: key, rule: RuleRegistry, object: checks.ObjectRef{Kind: "Registry", Name: host},
			headline: "Registry " + host + " failing pulls (" + class + ")",
			summary:  "image pulls from " + host + " fail for several workloads (" + class + ")"})
		return attribution{cause: key, rule: RuleRegistry, conf: confRegistry, ev: []checks.Evidence{{Type: checks.EvRelation,
			Path: "spec.containers[].image", Value: image, Message: "pull fails with a " + class + " error, as for other workloads on " + host}}}
	}
	// 7. A control-plane component's own pod.
	if g.cpKey != "" && p.Namespace == "kube-system" && isControlPlanePod(p) {
		return attribution{cause: g.cpKey, rule: RuleControlPlane, conf: confCPComponent, ev: []checks.Evidence{{Type: checks.EvRelation,
			Path: "metadata.labels[component]", Value: p.Labels["component"], Message: "a control-plane component's pod"}}}
	}
	// 8. Cluster DNS is down and the pod's errors say so.
	if g.dnsKey != "" && !g.dnsBackend[p] {
		if text, ok := g.dnsText(p); ok {
			return attribution{cause: g.dnsKey, rule: RuleDNS, conf: confDNSText, ev: []checks.Evidence{{Type: checks.EvRelation,
				Path: "dns", Value: "name resolution", Message: oneLine(text, 200)}}}
		}
		if since, ok := g.notReadySince(p); ok && !g.dnsSince.IsZero() && !since.Before(g.dnsSince) && since.Sub(g.dnsSince) < 30*time.Minute {
			return attribution{cause: g.dnsKey, rule: RuleDNS, conf: confDNSTime, ev: []checks.Evidence{{Type: checks.EvRelation,
				Path: "dns", Value: "timing", Time: &since,
				Message: "became unready " + since.Sub(g.dnsSince).Round(time.Second).String() + " after cluster DNS failed; no other cause found"}}}
		}
	}
	return g.ownWorkload(p)
}

func (g *grouper) hasFinding(p *snapshot.Pod) bool {
	return len(g.byObj[checks.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}.String()]) > 0
}

// ownWorkload attributes a pod to its controller, or to itself.
func (g *grouper) ownWorkload(p *snapshot.Pod) attribution {
	w, ok := g.workloadOf(p)
	if !ok {
		key := "pod/" + p.Namespace + "/" + p.Name
		g.addCause(&cause{key: key, rule: RuleWorkload, object: checks.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
		return attribution{cause: key, rule: RuleRoot, conf: confSameObject}
	}
	key := workloadKey(w.Kind, w.Namespace, w.Name)
	g.addCause(&cause{key: key, rule: RuleWorkload, object: w})
	return attribution{cause: key, rule: RuleWorkload, conf: confWorkload, ev: []checks.Evidence{{Type: checks.EvRelation,
		Path: "metadata.ownerReferences", Value: w.Kind + "/" + w.Name, Message: "the pod belongs to " + w.Kind + " " + w.Name}}}
}

func isControlPlanePod(p *snapshot.Pod) bool {
	switch p.Labels["component"] {
	case "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "cloud-controller-manager":
		return true
	}
	return false
}

func (g *grouper) notReadySince(p *snapshot.Pod) (time.Time, bool) {
	for _, fi := range g.byObj[checks.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}.String()] {
		if f := &g.fs[fi]; f.Check == "pod.not_ready" && f.Since != nil {
			return *f.Since, true
		}
	}
	return time.Time{}, false
}

// podTexts gathers what a pod's containers, events and findings say.
func (g *grouper) podTexts(p *snapshot.Pod, configOnly bool) []string {
	var out []string
	for _, cs := range [][]snapshot.Container{p.InitContainers, p.Containers} {
		for _, c := range cs {
			if c.State.State == snapshot.StateWaiting && (!configOnly || configReasons[c.State.Reason] || c.State.Reason == "ContainerCreating") {
				out = append(out, c.State.Message)
			}
			if !configOnly {
				out = append(out, c.LastState.Message)
			}
		}
	}
	for _, e := range g.ix.EventsFor(snapshot.KindPod, p.Namespace, p.Name) {
		if e.Type != "Warning" {
			continue
		}
		if configOnly && e.Reason != "Failed" && e.Reason != "FailedMount" {
			continue
		}
		out = append(out, e.Message)
	}
	for _, fi := range g.byObj[checks.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}.String()] {
		f := &g.fs[fi]
		if configOnly && f.Check != "pod.config_error" && f.Check != "pod.container_waiting" && f.Check != "pod.init_failing" {
			continue
		}
		out = append(out, f.Message)
		for _, e := range f.Evidence {
			out = append(out, e.Message)
		}
	}
	return out
}

// missingRef finds the ConfigMap or Secret a pod's start failure names.
func (g *grouper) missingRef(p *snapshot.Pod) (MissingRef, string, bool) {
	for _, t := range g.podTexts(p, true) {
		if r, ok := ParseMissingRef(t, p.Namespace); ok {
			return r, t, true
		}
	}
	return MissingRef{}, "", false
}

func (g *grouper) dnsText(p *snapshot.Pod) (string, bool) {
	for _, t := range g.podTexts(p, false) {
		if reDNS.MatchString(t) {
			return t, true
		}
	}
	return "", false
}

// majority attributes a set of pods to the cause most of them share,
// counted at the root of each pod's cause (three claims of one missing
// StorageClass count as one cause).
func (g *grouper) majority(pods []*snapshot.Pod) (attribution, int, int) {
	counts := map[string]int{}
	first := map[string]attribution{}
	for _, p := range pods {
		a := g.podCause(p)
		if a.cause == "" {
			continue
		}
		k := a.cause
		if c := g.causes[k]; c != nil && c.parent != nil {
			top := g.top(c)
			a = attribution{cause: top.key, rule: a.rule, conf: a.conf * g.chainConf(c), ev: a.ev}
			k = top.key
		}
		counts[k]++
		if _, ok := first[k]; !ok {
			first[k] = a
		}
	}
	best := ""
	for k, n := range counts {
		if best == "" || n > counts[best] || n == counts[best] && (causeRank[first[k].rule] > causeRank[first[best].rule] ||
			causeRank[first[k].rule] == causeRank[first[best].rule] && k < best) {
			best = k
		}
	}
	if best == "" {
		return attribution{}, 0, len(pods)
	}
	return first[best], counts[best], len(pods)
}

// via turns a pod-level attribution into one for an object that owns or
// selects the pods: the same cause, its confidence scaled by the share of
// pods it explains.
func (g *grouper) via(a attribution, n, total int, rule string, base float64, what string) attribution {
	c := g.causes[a.cause]
	share := float64(n) / float64(total)
	if rule == "" {
		rule = a.rule
		base = a.conf
	}
	msg := fmt.Sprintf("%d of %d %s explained by %s %s", n, total, what, c.object.Kind, refName(c.object))
	ev := []checks.Evidence{{Type: checks.EvRelation, Path: "pods", Value: fmt.Sprintf("%d/%d", n, total), Message: msg}}
	return attribution{cause: a.cause, rule: rule, conf: base * share, ev: append(ev, a.ev...)}
}

// workloadFinding attributes a controller's finding: a creation failure
// naming a quota or webhook, else the cause of most of its unready pods.
func (g *grouper) workloadFinding(f *checks.Finding) attribution {
	if a, ok := g.creationCause(f); ok {
		return a
	}
	kind, name := f.Object.Kind, f.Object.Name
	if kind == "ReplicaSet" {
		if d := g.deploymentOfRS(f.Object.Namespace, name); d != "" {
			kind, name = "Deployment", d
		}
	}
	wkey := workloadKey(kind, f.Object.Namespace, name)
	self := checks.ObjectRef{Kind: kind, Namespace: f.Object.Namespace, Name: name}
	pods := g.unreadyPods(kind, f.Object.Namespace, name)
	if len(pods) > 0 {
		a, n, total := g.majority(pods)
		if a.cause != "" && a.cause != wkey {
			return g.via(a, n, total, "", 0, "unready pods")
		}
	}
	g.addCause(&cause{key: wkey, rule: RuleWorkload, object: self})
	if self == stripUID(f.Object) {
		return attribution{cause: wkey, rule: RuleRoot, conf: confSameObject}
	}
	return attribution{cause: wkey, rule: RuleWorkload, conf: confWorkload, ev: []checks.Evidence{{Type: checks.EvRelation,
		Path: "metadata.ownerReferences", Value: kind + "/" + name}}}
}

// creationCause reads a quota or webhook from a creation failure.
func (g *grouper) creationCause(f *checks.Finding) (attribution, bool) {
	texts := append([]string{f.Message}, evidenceTexts(f)...)
	for _, t := range texts {
		if !strings.Contains(t, "quota") {
			continue
		}
		if m := reQuota.FindStringSubmatch(t); m != nil {
			q := m[1]
			key := "quota/" + f.Object.Namespace + "/" + q
			g.addCause(&cause{key: key, rule: RuleQuota, object: checks.ObjectRef{Kind: string(snapshot.KindResourceQuota), Namespace: f.Object.Namespace, Name: q},
				headline: "ResourceQuota " + f.Object.Namespace + "/" + q + " exhausted"})
			return attribution{cause: key, rule: RuleQuota, conf: confQuota, ev: []checks.Evidence{{Type: checks.EvEvent,
				Path: "FailedCreate", Value: "quota " + q, Message: oneLine(t, 240)}}}, true
		}
	}
	for _, t := range texts {
		if !strings.Contains(t, "webhook") {
			continue
		}
		if m := reWebhookCall.FindStringSubmatch(t); m != nil {
			w := m[1]
			key, ok := g.webhookByName[w]
			if !ok {
				key = "webhook/" + w
				for _, wc := range g.s.WebhookConfigs {
					for _, h := range wc.Webhooks {
						if h.Name == w {
							key = "webhook/" + string(wc.Kind) + "/" + wc.Name
							g.addCause(&cause{key: key, rule: RuleWebhook, object: checks.ObjectRef{Kind: string(wc.Kind), Name: wc.Name},
								headline: string(wc.Kind) + " " + wc.Name + " unavailable"})
						}
					}
				}
				g.addCause(&cause{key: key, rule: RuleWebhook, object: checks.ObjectRef{Kind: "AdmissionWebhook", Name: w},
					headline: "Admission webhook " + w + " unavailable"})
				g.webhookByName[w] = key
			}
			return attribution{cause: key, rule: RuleWebhook, conf: confWebhook, ev: []checks.Evidence{{Type: checks.EvEvent,
				Path: "FailedCreate", Value: "webhook " + w, Message: oneLine(t, 240)}}}, true
		}
	}
	return attribution{}, false
}

func evidenceTexts(f *checks.Finding) []string {
	var out []string
	for _, e := range f.Evidence {
		if e.Message != "" {
			out = append(out, e.Message)
		}
	}
	return out
}

func (g *grouper) hpaFinding(f *checks.Finding) attribution {
	if a, ok := g.creationCause(f); ok {
		return a
	}
	if f.Check == "hpa.metrics_unavailable" {
		text := strings.Join(append([]string{f.Message}, evidenceTexts(f)...), "\n")
		for _, gv := range []string{"metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"} {
			for k, key := range g.apiByGV {
				if strings.HasPrefix(k, gv+"/") && (strings.Contains(text, gv) || reMetricsAPI.MatchString(text)) &&
					(gv != "metrics.k8s.io" || !strings.Contains(text, "custom.metrics") && !strings.Contains(text, "external.metrics")) {
					return attribution{cause: key, rule: RuleAPIService, conf: confHPAMetrics, ev: []checks.Evidence{{Type: checks.EvRelation,
						Path: "metrics API", Value: k, Message: oneLine(f.Message, 200)}}}
				}
			}
		}
	}
	for i := range g.s.HPAs {
		h := &g.s.HPAs[i]
		if h.Namespace != f.Object.Namespace || h.Name != f.Object.Name {
			continue
		}
		if pods := g.unreadyPods(h.TargetKind, h.Namespace, h.TargetName); len(pods) > 0 {
			if a, n, total := g.majority(pods); a.cause != "" {
				return g.via(a, n, total, RuleHPA, confSelector, "unready pods of its target")
			}
		}
		// Follow a finding on the target.
		target := checks.ObjectRef{Kind: h.TargetKind, Namespace: h.Namespace, Name: h.TargetName}
		for _, fi := range g.byObj[target.String()] {
			if a, ok := g.creationCause(&g.fs[fi]); ok {
				a.rule, a.conf = RuleHPA, confSelector
				return a
			}
		}
	}
	return attribution{}
}

// selectorFinding attributes a PDB's finding to the cause of the unready
// pods it selects.
func (g *grouper) selectorFinding(f *checks.Finding, rule string) attribution {
	var pods []*snapshot.Pod
	for i := range g.s.PDBs {
		d := &g.s.PDBs[i]
		if d.Namespace != f.Object.Namespace || d.Name != f.Object.Name {
			continue
		}
		for _, p := range g.downPods(d.Namespace) {
			if d.Selector.Matches(p.Labels) {
				pods = append(pods, p)
			}
		}
	}
	if len(pods) == 0 {
		return attribution{}
	}
	a, n, total := g.majority(pods)
	if a.cause == "" {
		return attribution{}
	}
	return g.via(a, n, total, rule, confSelector, "unready pods it selects")
}

// serviceFinding attributes a Service without endpoints to the cause of
// its unready pods; a webhook's or APIService's backend without pods
// belongs to that webhook or APIService.
func (g *grouper) serviceFinding(f *checks.Finding) attribution {
	sv := g.ix.Services[checks.NN(f.Object.Namespace, f.Object.Name)]
	if sv != nil {
		var pods []*snapshot.Pod
		for _, p := range g.downPods(sv.Namespace) {
			if snapshot.MatchesMap(sv.Selector, p.Labels) {
				pods = append(pods, p)
			}
		}
		if len(pods) > 0 {
			if a, n, total := g.majority(pods); a.cause != "" {
				return g.via(a, n, total, RuleService, confSelector, "unready pods it selects")
			}
		}
	}
	if k := g.backendOf(f.Object.Namespace, f.Object.Name); k != "" {
		return attribution{cause: k, rule: RuleBackend, conf: confBackend, ev: []checks.Evidence{{Type: checks.EvRelation,
			Path: "service", Value: refName(f.Object), Message: "the Service " + g.causes[k].object.Kind + " " + g.causes[k].object.Name + " calls"}}}
	}
	return attribution{}
}

// backendOf returns the webhook, APIService or DNS cause whose backend is
// the Service ns/name.
func (g *grouper) backendOf(ns, name string) string {
	if ns == "kube-system" && name == "kube-dns" && g.dnsKey != "" {
		return g.dnsKey
	}
	for _, wc := range g.s.WebhookConfigs {
		for _, w := range wc.Webhooks {
			if w.Service != nil && w.Service.Namespace == ns && w.Service.Name == name {
				if k, ok := g.webhookByName[w.Name]; ok && g.causes[k] != nil {
					return k
				}
			}
		}
	}
	for _, a := range g.s.APIServices {
		if a.Service != nil && a.Service.Namespace == ns && a.Service.Name == name {
			if k := "apiservice/" + a.Name; g.causes[k] != nil {
				return k
			}
		}
	}
	return ""
}

func (g *grouper) namespaceFinding(f *checks.Finding) attribution {
	text := strings.Join(append([]string{f.Message}, evidenceTexts(f)...), "\n")
	if f.Check == "namespace.stuck_terminating" {
		for gv, key := range g.apiByGV {
			if strings.Contains(text, gv) {
				return attribution{cause: key, rule: RuleAPIService, conf: confAPIService, ev: []checks.Evidence{{Type: checks.EvRelation,
					Path: "status.conditions[NamespaceDeletionDiscoveryFailure]", Value: gv, Message: oneLine(f.Message, 200)}}}
			}
		}
	}
	if f.Check == "events.warning_burst" {
		if m := reMostAbout.FindStringSubmatch(f.Message); m != nil {
			obj := checks.ObjectRef{Kind: m[1], Namespace: f.Object.Name, Name: m[2]}
			for _, fi := range g.byObj[obj.String()] {
				if a := g.attributeFinding(fi); a.cause != "" {
					return attribution{cause: a.cause, rule: RuleEvents, conf: confEvents, ev: []checks.Evidence{{Type: checks.EvRelation,
						Path: "events", Value: obj.Kind + "/" + obj.Name, Message: "most of the Warning events are about it"}}}
				}
			}
		}
	}
	return attribution{}
}

// linkCauses connects causes to the causes below them: a webhook,
// APIService or DNS to what keeps its backend pods down.
func (g *grouper) linkCauses() {
	for _, k := range append([]string(nil), g.causeOrder...) {
		c := g.causes[k]
		if c == nil {
			continue
		}
		var pods []*snapshot.Pod
		var what string
		switch c.rule {
		case RuleWebhook:
			for _, wc := range g.s.WebhookConfigs {
				if string(wc.Kind) != c.object.Kind || wc.Name != c.object.Name {
					continue
				}
				for _, w := range wc.Webhooks {
					if w.Service != nil {
						pods = append(pods, g.servicePods(w.Service.Namespace, w.Service.Name)...)
						what = "Service " + w.Service.Namespace + "/" + w.Service.Name
					}
				}
			}
		case RuleAPIService:
			for _, a := range g.s.APIServices {
				if a.Name == c.object.Name && a.Service != nil {
					pods = g.servicePods(a.Service.Namespace, a.Service.Name)
					what = "Service " + a.Service.Namespace + "/" + a.Service.Name
				}
			}
		case RuleDNS:
			for p := range g.dnsBackend {
				if g.podDown(p) {
					pods = append(pods, p)
				}
			}
			sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
			what = "cluster DNS"
		default:
			continue
		}
		pods = dedupePods(pods)
		if len(pods) == 0 {
			continue
		}
		a, n, total := g.majority(pods)
		if a.cause == "" || a.cause == c.key {
			continue
		}
		parent := g.causes[a.cause]
		if parent == nil {
			continue
		}
		rule, conf := RuleBackend, confBackend*float64(n)/float64(total)
		if parent.rule != RuleWorkload {
			rule, conf = parent.rule, a.conf*float64(n)/float64(total)
		}
		ev := []checks.Evidence{{Type: checks.EvRelation, Path: "backend", Value: fmt.Sprintf("%d/%d pods down", n, total),
			Message: fmt.Sprintf("%d of %d unready pods behind %s are explained by %s %s", n, total, what, parent.object.Kind, refName(parent.object))}}
		g.setParent(c, parent, rule, conf, append(ev, a.ev...))
	}
	// A workload cause the backend link points at needs a headline.
	for _, k := range g.causeOrder {
		c := g.causes[k]
		if c.rule == RuleWorkload && c.headline == "" {
			c.headline = g.workloadHeadline(c)
		}
	}
}

func dedupePods(ps []*snapshot.Pod) []*snapshot.Pod {
	seen := map[*snapshot.Pod]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func (g *grouper) servicePods(ns, name string) []*snapshot.Pod {
	sv := g.ix.Services[checks.NN(ns, name)]
	if sv == nil {
		return nil
	}
	var out []*snapshot.Pod
	for _, p := range g.downPods(ns) {
		if snapshot.MatchesMap(sv.Selector, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// workloadHeadline names a workload cause by what its pods suffer:
// "Deployment shop/api pods CrashLoopBackOff".
func (g *grouper) workloadHeadline(c *cause) string {
	reasons := map[string]int{}
	for _, fi := range g.members[c.key] {
		if f := &g.fs[fi]; f.Object.Kind == "Pod" && f.ExplainedBy == "" {
			reasons[f.Reason]++
		}
	}
	best := ""
	for r, n := range reasons {
		if best == "" || n > reasons[best] || n == reasons[best] && r < best {
			best = r
		}
	}
	h := c.object.Kind + " " + refName(c.object)
	if best != "" {
		h += " pods " + best
	}
	return h
}
