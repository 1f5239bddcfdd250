package pod

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Unschedulable fires when the scheduler cannot place a pod on any node.
var Unschedulable = checks.New(checks.Meta{
	ID:    "pod.unschedulable",
	Title: "Pod unschedulable",
	Description: "The scheduler cannot place the pod on any node (PodScheduled=False, reason Unschedulable or SchedulerError): not enough free CPU or memory, " +
		"taints the pod does not tolerate, a node selector or affinity no node matches, or a PersistentVolumeClaim that cannot bind. The scheduler's message counts the nodes rejected for each reason.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "2m",
			Description: "how long the pod must have been unschedulable before the check fires"},
		{Name: "scaleUpGrace", Type: checks.Duration, Default: "10m",
			Description: "the longer wait when the cluster autoscaler reported TriggeredScaleUp for the pod (new nodes take minutes to join)"},
	},
	Remedy: "Read the scheduler's reasons (kubectl describe pod POD -n NS, Events: FailedScheduling); lower the pod's requests or add capacity for Insufficient cpu/memory, " +
		"add a toleration or remove the taint, fix nodeSelector/affinity, or fix the PersistentVolumeClaim that cannot bind.",
	Priority: 70,
}, runUnschedulable)

func runUnschedulable(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	grace := env.Params.Duration("scaleUpGrace")
	taints := &nodeTaints{}
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) || p.Phase != phasePending || p.NodeName != "" {
			continue
		}
		cond, hasCond := snapshot.FindCondition(p.Conditions, "PodScheduled")
		event := latestPodEvent(env, p, nil, "FailedScheduling")
		switch {
		case hasCond && cond.Status == "False" && (cond.Reason == "Unschedulable" || cond.Reason == "SchedulerError"):
		case !hasCond && event != nil:
		default:
			continue
		}

		since := p.CreationTimestamp
		if hasCond && !cond.LastTransitionTime.IsZero() {
			since = cond.LastTransitionTime
		} else if event != nil && !event.FirstTime.IsZero() && event.FirstTime.After(since) {
			since = event.FirstTime
		}
		need := wait
		scaleUp := latestPodEvent(env, p, nil, "TriggeredScaleUp")
		if scaleUp != nil && grace > need {
			need = grace
		}
		age := env.Age(since)
		if age < need {
			continue
		}

		msg := cond.Message
		if msg == "" && event != nil {
			msg = event.Message
		}
		var b strings.Builder
		fmt.Fprintf(&b, "pod cannot be scheduled for %s: %s", round(age), firstNonEmpty(strings.TrimSpace(msg), "no scheduler message"))

		var ev []checks.Evidence
		if hasCond {
			ev = append(ev, conditionEvidence(cond))
		}
		if event != nil {
			ev = append(ev, eventEvidence(event))
		}
		hints, extra := schedulingHints(env, taints, p, msg)
		ev = append(ev, hints...)
		if extra != "" {
			b.WriteString(" " + extra)
		}
		if scaleUp != nil {
			ev = append(ev, eventEvidence(scaleUp))
		}
		if nts := latestPodEvent(env, p, nil, "NotTriggerScaleUp"); nts != nil {
			ev = append(ev, eventEvidence(nts))
		}
		ev = append(ev, thresholdEvidence("for", durText(need), "unschedulable pods are reported after this long"))

		f := env.Finding(ref(p), "FailedScheduling", b.String(), ev...)
		t := since
		f.Since = &t
		out = append(out, f)
	}
	return out
}

// schedulingHints reads the scheduler's message and adds what the pod asks
// for under each reason it names: the requests for Insufficient resources,
// the node selector for affinity mismatches, the claims for volume binding.
func schedulingHints(env *checks.Env, taints *nodeTaints, p *snapshot.Pod, msg string) ([]checks.Evidence, string) {
	var ev []checks.Evidence
	var extra []string
	m := strings.ToLower(msg)
	if strings.Contains(m, "insufficient ") || strings.Contains(m, "too many pods") {
		if r := podRequests(p); len(r) > 0 {
			ev = append(ev, fieldEvidence("spec.containers[*].resources.requests", renderResources(r),
				"the pod's total requests the scheduler must fit on one node", nil))
			var parts []string
			for _, name := range insufficient(msg) {
				if v, ok := r[name]; ok {
					parts = append(parts, name+" "+quantity(name, v))
				}
			}
			if len(parts) > 0 {
				extra = append(extra, "(the pod requests "+strings.Join(parts, ", ")+")")
			}
		}
	}
	if strings.Contains(m, "node affinity/selector") || strings.Contains(m, "node selector") || strings.Contains(m, "node affinity") {
		if len(p.NodeSelector) > 0 {
			keys := make([]string, 0, len(p.NodeSelector))
			for k := range p.NodeSelector {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+p.NodeSelector[k])
			}
			ev = append(ev, fieldEvidence("spec.nodeSelector", strings.Join(kv, ", "), "labels every candidate node must carry", nil))
			extra = append(extra, "(nodeSelector "+strings.Join(kv, ", ")+")")
		}
	}
	if h, e := taintHints(env, taints, msg); h != "" {
		extra = append(extra, "("+h+")")
		ev = append(ev, e...)
	}
	if strings.Contains(m, "volume") || strings.Contains(m, "persistentvolumeclaim") || strings.Contains(m, "bind") {
		for _, claim := range p.Claims {
			e := claimEvidence(env, p.Namespace, claim)
			ev = append(ev, e)
			if e.Value != "" && !strings.Contains(e.Message, " is Bound") && !strings.Contains(e.Message, "not in the snapshot") {
				extra = append(extra, "("+e.Message+")")
			}
		}
	}
	return ev, strings.Join(extra, " ")
}

// insufficient lists the resource names after "Insufficient " in a
// scheduler message, in order of appearance.
func insufficient(msg string) []string {
	var out []string
	seen := map[string]bool{}
	rest := msg
	for {
		i := strings.Index(rest, "Insufficient ")
		if i < 0 {
			break
		}
		rest = rest[i+len("Insufficient "):]
		j := strings.IndexAny(rest, ", ")
		name := rest
		if j >= 0 {
			name = rest[:j]
		}
		name = strings.TrimSuffix(name, ".")
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func claimEvidence(env *checks.Env, ns, claim string) checks.Evidence {
	ev := checks.Evidence{Type: checks.EvRelation, Path: "spec.volumes[*].persistentVolumeClaim", Value: claim}
	if _, gap := env.Snap.Gap(snapshot.KindPVC); gap {
		ev.Message = "PersistentVolumeClaim " + claim + " (not in the snapshot)"
		return ev
	}
	for i := range env.Snap.PVCs {
		c := &env.Snap.PVCs[i]
		if c.Namespace == ns && c.Name == claim {
			sc := "default class"
			if c.StorageClassName != nil {
				sc = "storageClassName " + *c.StorageClassName
				if *c.StorageClassName == "" {
					sc = "no storage class (static binding)"
				}
			}
			ev.Message = fmt.Sprintf("PersistentVolumeClaim %s is %s (%s)", claim, firstNonEmpty(c.Phase, "without phase"), sc)
			if c.Phase == "Pending" {
				if e := env.Index.LatestEvent(snapshot.KindPVC, ns, claim); e != nil {
					ev.Message += "; latest event " + e.Reason + ": " + firstLine(e.Message, 200)
					t := e.LastTime
					ev.Time = &t
				}
			}
			return ev
		}
	}
	ev.Message = "PersistentVolumeClaim " + claim + " does not exist"
	return ev
}

// reTaint finds the taint keys a scheduler message names: "had untolerated
// taint {node.kubernetes.io/disk-pressure: }" (1.25+) and "had taint
// {dedicated: db}, that the pod didn't tolerate" (older).
var reTaint = regexp.MustCompile(`taints? \{([^:{}]+):`)

// conditionTaints maps the taints the node lifecycle controller and the
// kubelet put on nodes to the node condition behind them.
var conditionTaints = map[string]string{
	"node.kubernetes.io/disk-pressure":       "DiskPressure",
	"node.kubernetes.io/memory-pressure":     "MemoryPressure",
	"node.kubernetes.io/pid-pressure":        "PIDPressure",
	"node.kubernetes.io/not-ready":           "Ready",
	"node.kubernetes.io/unreachable":         "Ready",
	"node.kubernetes.io/network-unavailable": "NetworkUnavailable",
}

// taintHints names the nodes that carry the taints a scheduler message
// blames, and for taints that mirror a node condition, the condition: the
// pod is not the problem, the nodes are.
func taintHints(env *checks.Env, taints *nodeTaints, msg string) (string, []checks.Evidence) {
	if len(env.Snap.Nodes) == 0 {
		return "", nil
	}
	// Pods waiting on the same nodes get the same scheduler message.
	if h, ok := taints.hints[msg]; ok {
		return h.text, h.ev
	}
	text, ev := readTaints(env, taints, msg)
	if taints.hints == nil {
		taints.hints = map[string]taintHint{}
	}
	taints.hints[msg] = taintHint{text, ev}
	return text, ev
}

// readTaints computes taintHints for one message.
func readTaints(env *checks.Env, taints *nodeTaints, msg string) (string, []checks.Evidence) {
	var parts []string
	var ev []checks.Evidence
	seen := map[string]bool{}
	for _, m := range reTaint.FindAllStringSubmatch(msg, -1) {
		key := strings.TrimSpace(m[1])
		if seen[key] {
			continue
		}
		seen[key] = true
		var nodes []string
		var why string
		for _, nt := range taints.with(env.Snap, key) {
			n := nt.node
			nodes = append(nodes, n.Name)
			if cond, ok := conditionTaints[key]; ok && why == "" {
				if c, ok := snapshot.FindCondition(n.Conditions, cond); ok {
					why = cond + "=" + c.Status
					if c.Reason != "" {
						why += " (" + c.Reason + ")"
					}
				}
			}
			if len(nodes) <= 3 {
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "node/" + n.Name + "/spec.taints[" + key + "]",
					Value: nt.effect, Message: "taint named by the scheduler"})
			}
		}
		if len(nodes) == 0 || key == "node-role.kubernetes.io/control-plane" || key == "node-role.kubernetes.io/master" {
			continue
		}
		what := "taint " + key + " is on " + plural(len(nodes), "node", "nodes") + " " + strings.Join(firstN(nodes, 3), ", ")
		if why != "" {
			what += ", whose " + why
		}
		parts = append(parts, what)
	}
	return strings.Join(parts, "; "), ev
}

// nodeTaints indexes the nodes by the keys of their NoSchedule and
// NoExecute taints, in node order, when first asked, and remembers the
// hints read from each scheduler message.
type nodeTaints struct {
	byKey map[string][]taintedNode
	hints map[string]taintHint
}

type taintHint struct {
	text string
	ev   []checks.Evidence
}

type taintedNode struct {
	node   *snapshot.Node
	effect string // of the node's first such taint with the key
}

func (nt *nodeTaints) with(s *snapshot.Snapshot, key string) []taintedNode {
	if nt.byKey == nil {
		nt.byKey = map[string][]taintedNode{}
		for i := range s.Nodes {
			n := &s.Nodes[i]
			for j, t := range n.Taints {
				if t.Effect != "NoSchedule" && t.Effect != "NoExecute" || seenTaintKey(n.Taints[:j], t.Key) {
					continue
				}
				nt.byKey[t.Key] = append(nt.byKey[t.Key], taintedNode{node: n, effect: t.Effect})
			}
		}
	}
	return nt.byKey[key]
}

// seenTaintKey reports whether a NoSchedule or NoExecute taint with key is
// among ts.
func seenTaintKey(ts []snapshot.Taint, key string) bool {
	for _, t := range ts {
		if t.Key == key && (t.Effect == "NoSchedule" || t.Effect == "NoExecute") {
			return true
		}
	}
	return false
}

func firstN(ss []string, n int) []string {
	if len(ss) <= n {
		return ss
	}
	return append(append([]string{}, ss[:n]...), "…")
}
