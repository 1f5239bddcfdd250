package analysis

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// An incident is a set of findings that one fault explains: a NotReady node
// and the pods, Deployments and Services that failed with it; a missing
// ConfigMap and every workload that cannot start without it; an admission
// webhook whose backend is down and every controller whose creates it
// rejects. Incidents are built by Incidents, a pure function of a snapshot
// and its firing findings: links follow real topology (a pod's node, its
// controller chain, a Service's selector, a webhook's backend Service) or a
// cause that the findings' own evidence names (the ConfigMap in "configmap
// "app-config" not found", the quota in "exceeded quota: compute").
//
// Every link is one of the rules below, each with a fixed confidence that
// says how sure the link is (docs/report.md#incidents lists them):
//
//	rule           links                                                confidence
//	same-object    another finding on the root finding's object          1.0
//	root           a finding on the object of a cause in the chain       1.0
//	node           a pod to the NotReady/unreachable node it is bound to  0.95 (NetworkUnavailable 0.8)
//	node-pressure  an evicted pod to the node under pressure that evicted it 0.85
//	config         a pod to the ConfigMap/Secret its error names          0.95
//	registry       a pod to the image registry failing for several workloads 0.8
//	pvc            a pod to the Pending claim it mounts                   0.9
//	storageclass   a Pending claim to its failing StorageClass            0.85
//	quota          a controller to the ResourceQuota its FailedCreate names 0.95
//	webhook        a controller to the webhook its FailedCreate names     0.95
//	backend        a webhook, APIService or DNS to the pods serving it     0.9
//	apiservice     a namespace or HPA to the APIService it cannot reach   0.9 / 0.8
//	dns            a pod whose errors name DNS to an unavailable CoreDNS   0.85 (started after DNS failed, no DNS text: 0.5)
//	controlplane   a controller or scheduler symptom to its control-plane component 0.8
//	workload       a pod to its controller (Deployment, StatefulSet, …)   0.9
//	service, pdb, hpa  a Service, PDB or HPA to the cause of the pods it selects or scales 0.85 × share
//	events         a Warning-event burst to the cause of the object most events are about 0.5
//
// A controller finding (a Deployment's unavailable replicas) follows the
// cause of the majority of its unready pods, with the link's confidence
// multiplied by that majority's share.
//
// Causes may chain: CoreDNS pods on a NotReady node make the node the root
// and DNS an intermediate cause. A member's confidence is the product of
// the links from it to the root; the incident's is the mean over its
// members. An incident needs at least two findings on two objects: a lone
// finding stays a finding.

// The link rules.
const (
	RuleSameObject   = "same-object"
	RuleNode         = "node"
	RuleNodePressure = "node-pressure"
	RuleConfig       = "config"
	RuleRegistry     = "registry"
	RulePVC          = "pvc"
	RuleStorageClass = "storageclass"
	RuleQuota        = "quota"
	RuleWebhook      = "webhook"
	RuleBackend      = "backend"
	RuleAPIService   = "apiservice"
	RuleDNS          = "dns"
	RuleControlPlane = "controlplane"
	RuleWorkload     = "workload"
	RuleService      = "service"
	RulePDB          = "pdb"
	RuleHPA          = "hpa"
	RuleEvents       = "events"
	// RuleRoot marks a finding on the cause's own object.
	RuleRoot = "root"
)

// Incident is one fault and the findings it explains.
type Incident struct {
	// ID is a stable hash of the root cause ("inc-" and 10 hex digits):
	// the same fault keeps its ID across sweeps while its members change.
	ID    string `json:"id"`
	Title string `json:"title"`
	// Rule is the rule of the cause that explains most members (node,
	// config, registry, pvc, storageclass, quota, webhook, apiservice, dns,
	// controlplane, workload).
	Rule     string          `json:"rule"`
	Severity checks.Severity `json:"severity"`
	// Since is the earliest start among the root cause's findings.
	Since     *time.Time `json:"since,omitempty"`
	RootCause RootCause  `json:"rootCause"`
	// Members are the findings the root cause explains, nearest first.
	Members []Member `json:"members"`
	// Chain lists the links between intermediate causes and the root
	// (DNS → its node), when the incident has more than one cause.
	Chain []ChainLink `json:"chain,omitempty"`
	// Confidence (0–1) is the mean over members of the product of the
	// link confidences from the member to the root; ConfidenceBasis says
	// which links it rests on.
	Confidence      float64 `json:"confidence"`
	ConfidenceBasis string  `json:"confidenceBasis"`
	Impact          Impact  `json:"impact"`
	// NextStep is the root cause check's remedy, with the placeholders
	// (NODE, NS, POD, NAME) filled in for the root object.
	NextStep NextStep `json:"nextStep"`
	// Mitigation is the remedy of the headline cause when it differs from
	// the root (set failurePolicy: Ignore on a webhook whose backend
	// crashes while the backend is being fixed).
	Mitigation *NextStep `json:"mitigation,omitempty"`
}

// RootCause is the fault at the bottom of an incident.
type RootCause struct {
	// Object is the object at fault. It may be absent from the cluster
	// (a ConfigMap that was never created) or not an API object at all
	// (kind Registry, name the registry host).
	Object checks.ObjectRef `json:"object"`
	// Check, Reason and Message are the finding that shows the fault; for
	// a cause without a finding of its own (a missing ConfigMap) they are
	// the representative member's, and FindingObject names its object.
	Check         string            `json:"check"`
	Severity      checks.Severity   `json:"severity"`
	Reason        string            `json:"reason"`
	Message       string            `json:"message"`
	FindingObject *checks.ObjectRef `json:"findingObject,omitempty"`
	// Summary is one line for people: "ConfigMap shop/app-config does not exist".
	Summary  string            `json:"summary"`
	Evidence []checks.Evidence `json:"evidence,omitempty"`
}

// Member is one finding an incident explains.
type Member struct {
	Check    string           `json:"check"`
	Severity checks.Severity  `json:"severity"`
	Object   checks.ObjectRef `json:"object"`
	Reason   string           `json:"reason"`
	Message  string           `json:"message"`
	Link     Link             `json:"link"`
}

// Link says why a member belongs to its incident.
type Link struct {
	Rule string `json:"rule"`
	// Cause is the object that explains the member directly (the node, the
	// ConfigMap, the webhook configuration, the controller).
	Cause checks.ObjectRef `json:"cause"`
	// Confidence is the product of the link confidences to the root.
	Confidence float64           `json:"confidence"`
	Evidence   []checks.Evidence `json:"evidence,omitempty"`
}

// ChainLink connects an intermediate cause to the cause below it.
type ChainLink struct {
	From       checks.ObjectRef  `json:"from"`
	To         checks.ObjectRef  `json:"to"`
	Rule       string            `json:"rule"`
	Confidence float64           `json:"confidence"`
	Evidence   []checks.Evidence `json:"evidence,omitempty"`
}

// Impact is what an incident costs.
type Impact struct {
	Findings int `json:"findings"`
	// Pods counts the distinct pods that are down because of it: pods with
	// findings, unready pods of affected workloads and pods on a down node.
	Pods int `json:"pods"`
	// ReplicasLost sums, over affected workloads, desired minus available
	// replicas.
	ReplicasLost int `json:"replicasLost"`
	// Workloads lists the affected controllers (Deployments, StatefulSets,
	// DaemonSets, Jobs, CronJobs), critical ones first.
	Workloads []checks.ObjectRef `json:"workloads,omitempty"`
	// Critical lists the affected workloads in kube-system or annotated
	// kubepatrol.io/critical=true (on the workload or its namespace).
	Critical   []checks.ObjectRef `json:"critical,omitempty"`
	Namespaces []string           `json:"namespaces,omitempty"`
}

// NextStep is a safe first action.
type NextStep struct {
	Check  string `json:"check"`
	Action string `json:"action"`
}

// IncidentOptions tunes Incidents.
type IncidentOptions struct {
	// Checks describes the catalogue by check ID: its Remedy becomes the
	// incident's next step. Checks not in it give no next step.
	Checks map[string]checks.Meta
}

// CriticalAnnotation marks a workload or namespace whose outage ranks
// first.
const CriticalAnnotation = "kubepatrol.io/critical"

// Incidents groups the firing findings of s into incidents, ranked by
// impact: control-plane faults first, then incidents touching critical
// workloads, then by severity, replicas lost, workloads and pods affected.
// Findings that nothing links stay out of every incident.
func Incidents(s *snapshot.Snapshot, fs []checks.Finding, opt IncidentOptions) []Incident {
	if s == nil {
		s = &snapshot.Snapshot{}
	}
	g := newGrouper(s, fs)
	g.attribute()
	out := g.build(opt)
	sort.SliceStable(out, func(i, j int) bool { return incidentLess(&out[i], &out[j]) })
	return out
}

// IncidentOf maps each finding key (checks.Finding.Key) to the ID of the
// incident that holds it, as root or member.
func IncidentOf(incs []Incident) map[string]string {
	m := map[string]string{}
	for _, in := range incs {
		if in.RootCause.Check != "" {
			obj := in.RootCause.Object
			if in.RootCause.FindingObject != nil {
				obj = *in.RootCause.FindingObject
			}
			m[in.RootCause.Check+"|"+obj.String()] = in.ID
		}
		for _, mb := range in.Members {
			m[mb.Check+"|"+mb.Object.String()] = in.ID
		}
	}
	return m
}

func incidentLess(a, b *Incident) bool {
	ac, bc := a.Rule == RuleControlPlane, b.Rule == RuleControlPlane
	if ac != bc {
		return ac
	}
	if len(a.Impact.Critical) != len(b.Impact.Critical) {
		return len(a.Impact.Critical) > len(b.Impact.Critical)
	}
	if a.Severity.Rank() != b.Severity.Rank() {
		return a.Severity.Rank() > b.Severity.Rank()
	}
	if a.Impact.ReplicasLost != b.Impact.ReplicasLost {
		return a.Impact.ReplicasLost > b.Impact.ReplicasLost
	}
	if len(a.Impact.Workloads) != len(b.Impact.Workloads) {
		return len(a.Impact.Workloads) > len(b.Impact.Workloads)
	}
	if a.Impact.Pods != b.Impact.Pods {
		return a.Impact.Pods > b.Impact.Pods
	}
	if a.Impact.Findings != b.Impact.Findings {
		return a.Impact.Findings > b.Impact.Findings
	}
	return a.ID < b.ID
}

// incidentID hashes a cause key.
func incidentID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "inc-" + hex.EncodeToString(h[:5])
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// causeRank orders rules for choosing an incident's headline and for ties:
// a broader cause first.
var causeRank = map[string]int{
	RuleControlPlane: 10, RuleNode: 9, RuleNodePressure: 8, RuleDNS: 7, RuleWebhook: 6, RuleAPIService: 6,
	RuleQuota: 5, RuleConfig: 5, RuleStorageClass: 5, RuleRegistry: 4, RulePVC: 4, RuleWorkload: 1,
}

// build turns the attributed causes into incidents.
func (g *grouper) build(opt IncidentOptions) []Incident {
	// Children of each top cause.
	tops := map[string][]*cause{}
	var topKeys []string
	for _, k := range g.causeOrder {
		c := g.causes[k]
		if c == nil {
			continue
		}
		t := g.top(c)
		if _, ok := tops[t.key]; !ok {
			topKeys = append(topKeys, t.key)
		}
		tops[t.key] = append(tops[t.key], c)
	}
	var out []Incident
	for _, tk := range topKeys {
		if in, ok := g.incident(g.causes[tk], tops[tk], opt); ok {
			out = append(out, in)
		}
	}
	return out
}

// incident builds one incident from a top cause and every cause under it
// (the top included); ok is false when they hold fewer than two findings
// on two objects.
func (g *grouper) incident(root *cause, all []*cause, opt IncidentOptions) (Incident, bool) {
	type held struct {
		f    int
		c    *cause
		link attribution
	}
	var hs []held
	objs := map[string]bool{}
	for _, c := range all {
		for _, fi := range g.membersOf(c) {
			hs = append(hs, held{fi, c, g.attr[fi]})
			objs[g.fs[fi].Object.String()] = true
		}
	}
	if len(hs) < 2 || len(objs) < 2 {
		return Incident{}, false
	}

	// The root finding: the most severe primary finding on the root
	// cause's object; else its representative member.
	rootF := -1
	for _, h := range hs {
		if h.c != root || h.link.rule != RuleRoot {
			continue
		}
		if rootF < 0 || better(&g.fs[h.f], &g.fs[rootF]) {
			rootF = h.f
		}
	}
	if rootF < 0 || root.rule == RuleWorkload {
		if p := g.podRepresentative(root); p >= 0 {
			rootF = p
		}
	}
	if rootF < 0 {
		// A cause without findings of its own (a StorageClass behind
		// Pending claims): the best finding of the causes right above it.
		for _, h := range hs {
			if h.c.parent != root || h.link.rule != RuleRoot {
				continue
			}
			if rootF < 0 || better(&g.fs[h.f], &g.fs[rootF]) {
				rootF = h.f
			}
		}
	}
	if rootF < 0 {
		rootF = g.representative(root)
	}
	if rootF < 0 {
		rootF = hs[0].f
	}
	in := Incident{ID: incidentID(root.rule + "|" + root.key)}
	rf := &g.fs[rootF]
	in.RootCause = RootCause{
		Object: root.object, Check: rf.Check, Severity: rf.Severity, Reason: rf.Reason, Message: rf.Message,
		Summary: root.summary, Evidence: root.evidence,
	}
	if stripUID(rf.Object) != root.object {
		o := rf.Object
		in.RootCause.FindingObject = &o
	}
	if in.RootCause.Summary == "" {
		in.RootCause.Summary = root.headline
	}
	if in.RootCause.Summary == "" {
		in.RootCause.Summary = oneLine(rf.Message, 160)
	}
	in.Severity = rf.Severity
	for _, h := range hs {
		if g.fs[h.f].Severity.Rank() > in.Severity.Rank() {
			in.Severity = g.fs[h.f].Severity
		}
		if h.c == root && h.link.rule == RuleRoot {
			if f := &g.fs[h.f]; f.Since != nil && (in.Since == nil || f.Since.Before(*in.Since)) {
				t := *f.Since
				in.Since = &t
			}
		}
	}

	// Members with the product of confidences to the root.
	var confSum float64
	basis := map[string][]float64{}
	for _, h := range hs {
		if h.f == rootF {
			continue
		}
		f := &g.fs[h.f]
		conf := h.link.conf * g.chainConf(h.c)
		m := Member{Check: f.Check, Severity: f.Severity, Object: f.Object, Reason: f.Reason, Message: f.Message,
			Link: Link{Rule: h.link.rule, Cause: h.c.object, Confidence: round2(conf), Evidence: h.link.ev}}
		if h.link.rule == RuleRoot {
			m.Link.Rule = RuleRoot
			if stripUID(f.Object) == stripUID(rf.Object) {
				m.Link.Rule = RuleSameObject
			}
			m.Link.Confidence = round2(g.chainConf(h.c))
			conf = g.chainConf(h.c)
		}
		in.Members = append(in.Members, m)
		confSum += conf
		basis[m.Link.Rule] = append(basis[m.Link.Rule], conf)
	}
	depth := func(m *Member) int {
		switch m.Link.Rule {
		case RuleSameObject:
			return 0
		case RuleRoot:
			return 1
		}
		return 2
	}
	sort.SliceStable(in.Members, func(i, j int) bool {
		a, b := &in.Members[i], &in.Members[j]
		if depth(a) != depth(b) {
			return depth(a) < depth(b)
		}
		if a.Link.Confidence != b.Link.Confidence {
			return a.Link.Confidence > b.Link.Confidence
		}
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Object.String() != b.Object.String() {
			return a.Object.String() < b.Object.String()
		}
		return a.Check < b.Check
	})
	if n := len(in.Members); n > 0 {
		in.Confidence = round2(confSum / float64(n))
	}
	in.ConfidenceBasis = confidenceBasis(basis, len(in.Members))

	// Chain links between causes, root first.
	for _, c := range all {
		if c == root || c.parent == nil {
			continue
		}
		in.Chain = append(in.Chain, ChainLink{From: c.object, To: c.parent.object, Rule: c.parentRule,
			Confidence: round2(c.parentConf), Evidence: c.parentEv})
	}
	sort.SliceStable(in.Chain, func(i, j int) bool { return in.Chain[i].From.String() < in.Chain[j].From.String() })

	// Headline: the rule whose causes hold most members, broader rules on
	// ties; several causes of one rule are named together ("3 PVCs").
	byRule := map[string][]*cause{}
	count := map[string]int{}
	for _, h := range hs {
		count[h.c.rule]++
	}
	for _, c := range all {
		byRule[c.rule] = append(byRule[c.rule], c)
	}
	headRule := root.rule
	for r := range byRule {
		if count[r] > count[headRule] || count[r] == count[headRule] && causeRank[r] > causeRank[headRule] {
			headRule = r
		}
	}
	head := root
	headline := ""
	if headRule != root.rule {
		hc := byRule[headRule]
		sort.Slice(hc, func(i, j int) bool { return hc[i].key < hc[j].key })
		head = hc[0]
		headline = head.headline
		if len(hc) > 1 {
			headline = groupHeadline(headRule, len(hc))
		}
	}
	in.Rule = headRule
	if root.rule != RuleWorkload && causeRank[root.rule] >= causeRank[headRule] {
		in.Rule = root.rule
	}

	var idx []int
	for _, h := range hs {
		idx = append(idx, h.f)
	}
	in.Impact = g.impact(all, idx)
	in.Title = g.title(root, headline, &in)
	in.NextStep = nextStep(opt, rf.Check, root, rf)
	if head != root {
		hf := g.headFinding(head)
		if hf >= 0 && g.fs[hf].Check != rf.Check {
			ns := nextStep(opt, g.fs[hf].Check, head, &g.fs[hf])
			if ns.Action != "" {
				in.Mitigation = &ns
			}
		}
	}
	return in, true
}

// headFinding returns the finding on c's own object, else its
// representative.
func (g *grouper) headFinding(c *cause) int {
	best := -1
	for _, fi := range g.membersOf(c) {
		if g.attr[fi].rule != RuleRoot {
			continue
		}
		if best < 0 || better(&g.fs[fi], &g.fs[best]) {
			best = fi
		}
	}
	if best < 0 {
		best = g.representative(c)
	}
	return best
}

// podRepresentative picks the most severe primary pod finding of a
// workload cause: the pods' own words name what is wrong.
func (g *grouper) podRepresentative(c *cause) int {
	best := -1
	for _, fi := range g.membersOf(c) {
		if g.fs[fi].Object.Kind != "Pod" {
			continue
		}
		if best < 0 || better(&g.fs[fi], &g.fs[best]) {
			best = fi
		}
	}
	return best
}

// representative picks the finding that stands for a cause without a
// finding of its own: the most severe, highest-confidence member.
func (g *grouper) representative(c *cause) int {
	best := -1
	for _, fi := range g.membersOf(c) {
		if best < 0 {
			best = fi
			continue
		}
		a, b := &g.fs[fi], &g.fs[best]
		// Prefer the pod-level finding that names the cause.
		if pa, pb := a.Object.Kind == "Pod", b.Object.Kind == "Pod"; pa != pb && c.rule != RuleWorkload {
			if pa {
				best = fi
			}
			continue
		}
		if g.attr[fi].conf != g.attr[best].conf {
			if g.attr[fi].conf > g.attr[best].conf {
				best = fi
			}
			continue
		}
		if better(a, b) {
			best = fi
		}
	}
	return best
}

// better orders findings: primary before secondary, then severity, then
// check and object for determinism.
func better(a, b *checks.Finding) bool {
	if (a.ExplainedBy == "") != (b.ExplainedBy == "") {
		return a.ExplainedBy == ""
	}
	if a.Severity.Rank() != b.Severity.Rank() {
		return a.Severity.Rank() > b.Severity.Rank()
	}
	if a.Object.String() != b.Object.String() {
		return a.Object.String() < b.Object.String()
	}
	return a.Check < b.Check
}

func confidenceBasis(basis map[string][]float64, n int) string {
	if n == 0 {
		return ""
	}
	var rules []string
	for r := range basis {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if len(basis[rules[i]]) != len(basis[rules[j]]) {
			return len(basis[rules[i]]) > len(basis[rules[j]])
		}
		return rules[i] < rules[j]
	})
	var parts []string
	for _, r := range rules {
		var sum float64
		for _, v := range basis[r] {
			sum += v
		}
		parts = append(parts, fmt.Sprintf("%d %s (%.2f)", len(basis[r]), r, sum/float64(len(basis[r]))))
	}
	return fmt.Sprintf("mean over %d %s of the link confidence to the root: %s", n, pluralS(n, "member", "members"), strings.Join(parts, ", "))
}

func pluralS(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// nextStep fills the root check's remedy for the finding's object.
func nextStep(opt IncidentOptions, check string, _ *cause, f *checks.Finding) NextStep {
	m, ok := opt.Checks[check]
	if !ok || m.Remedy == "" {
		return NextStep{Check: check}
	}
	return NextStep{Check: check, Action: FillPlaceholders(m.Remedy, PlaceholdersFor(f))}
}

// Placeholders are the values that replace the upper-case words remedies
// use for "this object": NS and NAMESPACE, POD, NODE, NAME, CONTAINER and
// INIT_CONTAINER (or INIT).
type Placeholders struct {
	Namespace, Pod, Node, Name, Container, InitContainer string
}

// PlaceholdersFor derives the placeholders of a finding: its object, its
// node, and the container its evidence names.
func PlaceholdersFor(f *checks.Finding) Placeholders {
	p := Placeholders{Namespace: f.Object.Namespace, Node: f.Node}
	switch f.Object.Kind {
	case "Pod":
		p.Pod = f.Object.Name
	case "Node":
		p.Node = f.Object.Name
	default:
		p.Name = f.Object.Name
	}
	for _, e := range f.Evidence {
		if p.Namespace == "" && strings.HasPrefix(e.Path, "service(") {
			if ns, _, ok := strings.Cut(strings.TrimPrefix(e.Path, "service("), "/"); ok {
				p.Namespace = ns
			}
		}
		if p.Container == "" {
			p.Container = bracketAfter(e.Path, "containerStatuses[")
		}
		if p.InitContainer == "" {
			p.InitContainer = bracketAfter(e.Path, "initContainerStatuses[")
		}
	}
	return p
}

func bracketAfter(path, prefix string) string {
	i := strings.Index(path, prefix)
	if i < 0 || i > 0 && path[i-1] != '.' && !strings.HasPrefix(prefix, "init") {
		return ""
	}
	if prefix == "containerStatuses[" && i >= 4 && strings.HasSuffix(strings.ToLower(path[:i]), "init") {
		return ""
	}
	rest := path[i+len(prefix):]
	if j := strings.IndexByte(rest, ']'); j > 0 {
		return rest[:j]
	}
	return ""
}

// FillPlaceholders replaces the placeholder words of a remedy with v's
// values; words without a value stay as they are.
func FillPlaceholders(s string, v Placeholders) string {
	repl := map[string]string{}
	set := func(val string, words ...string) {
		if val == "" {
			return
		}
		for _, w := range words {
			repl[w] = val
		}
	}
	set(v.Namespace, "NS", "NAMESPACE")
	set(v.Pod, "POD")
	set(v.Node, "NODE")
	set(v.Name, "NAME")
	set(v.Container, "CONTAINER")
	set(v.InitContainer, "INIT_CONTAINER", "INIT")
	var b strings.Builder
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] == '_' && j > i) {
			j++
		}
		if j > i {
			word := s[i:j]
			boundaryL := i == 0 || !isWordByte(s[i-1])
			boundaryR := j == len(s) || !isWordByte(s[j])
			if val, ok := repl[word]; ok && boundaryL && boundaryR {
				b.WriteString(val)
			} else {
				b.WriteString(word)
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// impact measures what the findings idx and the causes all cost.
func (g *grouper) impact(all []*cause, idx []int) Impact {
	im := Impact{Findings: len(idx)}
	pods := map[string]bool{}
	workloads := map[string]checks.ObjectRef{}
	nss := map[string]bool{}
	addPod := func(p *snapshot.Pod) {
		pods[p.Namespace+"/"+p.Name] = true
		nss[p.Namespace] = true
		if w, ok := g.workloadOf(p); ok {
			workloads[w.String()] = w
		}
	}
	for _, fi := range idx {
		f := &g.fs[fi]
		if f.Object.Namespace != "" {
			nss[f.Object.Namespace] = true
		}
		switch f.Object.Kind {
		case "Pod":
			if p := g.pod(f.Object.Namespace, f.Object.Name); p != nil && !terminalPod(p) {
				addPod(p)
			} else if p == nil {
				pods[f.Object.Namespace+"/"+f.Object.Name] = true
			}
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob":
			workloads[f.Object.String()] = checks.ObjectRef{Kind: f.Object.Kind, Namespace: f.Object.Namespace, Name: f.Object.Name}
			for _, p := range g.unreadyPods(f.Object.Kind, f.Object.Namespace, f.Object.Name) {
				addPod(p)
			}
		case "ReplicaSet":
			if d := g.deploymentOfRS(f.Object.Namespace, f.Object.Name); d != "" {
				w := checks.ObjectRef{Kind: "Deployment", Namespace: f.Object.Namespace, Name: d}
				workloads[w.String()] = w
			}
		}
	}
	for _, c := range all {
		if c.rule == RuleNode && c.down {
			for _, p := range g.ix.PodsByNode[c.object.Name] {
				if !terminalPod(p) {
					addPod(p)
				}
			}
		}
	}
	im.Pods = len(pods)
	for _, w := range workloads {
		im.ReplicasLost += g.replicasLost(w)
		if g.critical(w) {
			im.Critical = append(im.Critical, w)
		}
		im.Workloads = append(im.Workloads, w)
	}
	sortRefs(im.Critical)
	sort.Slice(im.Workloads, func(i, j int) bool {
		a, b := g.critical(im.Workloads[i]), g.critical(im.Workloads[j])
		if a != b {
			return a
		}
		return im.Workloads[i].String() < im.Workloads[j].String()
	})
	for ns := range nss {
		im.Namespaces = append(im.Namespaces, ns)
	}
	sort.Strings(im.Namespaces)
	return im
}

func sortRefs(rs []checks.ObjectRef) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].String() < rs[j].String() })
}

// critical reports whether a workload is critical: in kube-system, or
// annotated kubepatrol.io/critical=true itself or on its namespace.
func (g *grouper) critical(w checks.ObjectRef) bool {
	if w.Namespace == "kube-system" {
		return true
	}
	if ns := g.namespaces[w.Namespace]; ns != nil && ns.Annotations[CriticalAnnotation] == "true" {
		return true
	}
	if m := g.workloadMeta(w); m != nil && m.Annotations[CriticalAnnotation] == "true" {
		return true
	}
	return false
}

func (g *grouper) workloadMeta(w checks.ObjectRef) *snapshot.Meta {
	g.indexWorkloads()
	return g.wlMeta[w.String()]
}

// indexWorkloads indexes the controllers' metadata and replicas lost by
// kind/namespace/name, once.
func (g *grouper) indexWorkloads() {
	if g.wlMeta != nil {
		return
	}
	s := g.s
	g.wlMeta, g.wlLost = map[string]*snapshot.Meta{}, map[string]int{}
	key := func(kind string, m *snapshot.Meta) string {
		return checks.ObjectRef{Kind: kind, Namespace: m.Namespace, Name: m.Name}.String()
	}
	pos := func(n int32) int {
		if n < 0 {
			return 0
		}
		return int(n)
	}
	for i := range s.Deployments {
		d := &s.Deployments[i]
		k := key("Deployment", &d.Meta)
		g.wlMeta[k], g.wlLost[k] = &d.Meta, pos(d.Replicas-d.AvailableReplicas)
	}
	for i := range s.StatefulSets {
		d := &s.StatefulSets[i]
		k := key("StatefulSet", &d.Meta)
		g.wlMeta[k], g.wlLost[k] = &d.Meta, pos(d.Replicas-d.ReadyReplicas)
	}
	for i := range s.DaemonSets {
		d := &s.DaemonSets[i]
		avail := d.NumberAvailable
		if avail == 0 && d.NumberUnavailable == 0 {
			avail = d.NumberReady
		}
		k := key("DaemonSet", &d.Meta)
		g.wlMeta[k], g.wlLost[k] = &d.Meta, pos(d.DesiredNumberScheduled-avail)
	}
	for i := range s.Jobs {
		g.wlMeta[key("Job", &s.Jobs[i].Meta)] = &s.Jobs[i].Meta
	}
	for i := range s.CronJobs {
		g.wlMeta[key("CronJob", &s.CronJobs[i].Meta)] = &s.CronJobs[i].Meta
	}
}

// replicasLost is desired minus available replicas of a workload.
func (g *grouper) replicasLost(w checks.ObjectRef) int {
	g.indexWorkloads()
	return g.wlLost[w.String()]
}

// title renders an incident's one-line title.
func (g *grouper) title(root *cause, headline string, in *Incident) string {
	var impact []string
	im := in.Impact
	if n := len(im.Workloads); n > 0 {
		w := fmt.Sprintf("%d %s", n, pluralS(n, "workload", "workloads"))
		if n == 1 {
			w = im.Workloads[0].Kind + " " + im.Workloads[0].Namespace + "/" + im.Workloads[0].Name
		}
		if c := len(im.Critical); c > 0 && n > 1 {
			w += fmt.Sprintf(" (%d critical)", c)
		}
		impact = append(impact, w)
	}
	if im.Pods > 0 {
		impact = append(impact, fmt.Sprintf("%d %s", im.Pods, pluralS(im.Pods, "pod", "pods")))
	}
	if im.ReplicasLost > 0 {
		impact = append(impact, fmt.Sprintf("%d %s lost", im.ReplicasLost, pluralS(im.ReplicasLost, "replica", "replicas")))
	}
	t := root.headline
	if t == "" {
		t = root.object.Kind + " " + refName(root.object)
	}
	if headline != "" {
		t += " → " + headline
	}
	if len(impact) > 0 {
		t += ": " + strings.Join(impact, ", ")
	}
	return t
}

// groupHeadline names several causes of one rule.
func groupHeadline(rule string, n int) string {
	switch rule {
	case RulePVC:
		return fmt.Sprintf("%d PVCs Pending", n)
	case RuleWebhook:
		return fmt.Sprintf("%d admission webhooks unavailable", n)
	case RuleAPIService:
		return fmt.Sprintf("%d APIServices unavailable", n)
	case RuleConfig:
		return fmt.Sprintf("%d ConfigMaps/Secrets missing", n)
	case RuleNode:
		return fmt.Sprintf("%d nodes down", n)
	case RuleWorkload:
		return fmt.Sprintf("%d workloads failing", n)
	}
	return fmt.Sprintf("%d %s causes", n, rule)
}

func refName(o checks.ObjectRef) string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
