package pod

import (
	"context"
	"fmt"
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
		hints, extra := schedulingHints(env, p, msg)
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
func schedulingHints(env *checks.Env, p *snapshot.Pod, msg string) ([]checks.Evidence, string) {
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
