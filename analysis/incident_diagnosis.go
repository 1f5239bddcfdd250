package analysis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/analysis/logs"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// A diagnosis is everything about one object an on-call engineer needs on
// one screen: its findings and the incident they belong to, its conditions,
// the events of the object and everything around it merged into one
// timeline, its owners, children and node, related objects (Services and
// their endpoints, claims, ConfigMaps and Secrets by name), its containers'
// recent logs summarised into templates, metric anomalies, the likely root
// cause and what to do next. Diagnose is pure: logs are fetched by the
// caller and passed in.

// DiagnosisSchema names the JSON form of a diagnosis.
const DiagnosisSchema = "kubepatrol.io/diagnosis/v1"

// Diagnosis is one object's diagnosis.
type Diagnosis struct {
	Schema      string           `json:"schema"`
	Cluster     string           `json:"cluster"`
	CollectedAt time.Time        `json:"collectedAt"`
	Source      string           `json:"source"`
	Object      checks.ObjectRef `json:"object"`
	// Status is one line: "Running, 0/1 containers ready, 7 restarts".
	Status     string               `json:"status"`
	Node       string               `json:"node,omitempty"`
	Conditions []snapshot.Condition `json:"conditions,omitempty"`
	// LikelyCause is the diagnosis in one sentence; Healthy is true when
	// nothing is wrong with the object or anything around it.
	LikelyCause string `json:"likelyCause"`
	Healthy     bool   `json:"healthy"`
	// Findings are the firing findings on the object and the objects
	// around it, the object's own first.
	Findings []checks.Finding `json:"findings"`
	// Incident is the incident that holds the object's findings.
	Incident *Incident      `json:"incident,omitempty"`
	Events   []TimelineItem `json:"events,omitempty"`
	Owners   []Related      `json:"owners,omitempty"`
	Children []Related      `json:"children,omitempty"`
	Related  []Related      `json:"related,omitempty"`
	Logs     []LogSummary   `json:"logs,omitempty"`
	// LogsNote says why there are no logs (a recorded snapshot, --no-logs).
	LogsNote  string          `json:"logsNote,omitempty"`
	Anomalies []MetricAnomaly `json:"anomalies,omitempty"`
	// NextSteps are the remedies of the findings, filled in for their
	// objects, the root cause's first.
	NextSteps []NextStep `json:"nextSteps,omitempty"`
	// Runbooks are the runbook steps that apply, with commands filled in
	// for this object (added by the caller, which reads the runbooks).
	Runbooks []RunbookSteps `json:"runbooks,omitempty"`
}

// TimelineItem is one event in the merged timeline.
type TimelineItem struct {
	First   time.Time        `json:"first,omitzero"`
	Last    time.Time        `json:"last"`
	Count   int32            `json:"count,omitempty"`
	Type    string           `json:"type"`
	Reason  string           `json:"reason"`
	Object  checks.ObjectRef `json:"object"`
	Source  string           `json:"source,omitempty"`
	Message string           `json:"message"`
}

// Related is an object next to the diagnosed one.
type Related struct {
	Relation string           `json:"relation"`
	Object   checks.ObjectRef `json:"object"`
	Status   string           `json:"status,omitempty"`
	// Problem is set when the object itself is at fault (a missing
	// ConfigMap, a Service without endpoints).
	Problem string `json:"problem,omitempty"`
}

// ContainerLogs are the log lines of one container, fetched by the caller.
type ContainerLogs struct {
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Previous  bool     `json:"previous,omitempty"`
	Lines     []string `json:"-"`
	Truncated bool     `json:"truncated,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// LogSummary is one container's logs mined into templates.
type LogSummary struct {
	Pod       string       `json:"pod"`
	Container string       `json:"container"`
	Previous  bool         `json:"previous,omitempty"`
	Truncated bool         `json:"truncated,omitempty"`
	Error     string       `json:"error,omitempty"`
	Summary   logs.Summary `json:"summary"`
}

// MetricAnomaly is a metric series about the object that the anomaly
// detector flags.
type MetricAnomaly struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels,omitempty"`
	Last   float64           `json:"last"`
	Score  float64           `json:"score"`
	At     time.Time         `json:"at"`
}

// RunbookSteps are one runbook's diagnosis commands for this object.
type RunbookSteps struct {
	Alert    string   `json:"alert"`
	File     string   `json:"file"`
	Matched  []string `json:"matched"`
	Commands []string `json:"commands"`
}

// DiagnosisInput is what Diagnose needs.
type DiagnosisInput struct {
	Snapshot  *snapshot.Snapshot
	Findings  []checks.Finding
	Incidents []Incident
	Target    checks.ObjectRef
	Logs      []ContainerLogs
	// LogsNote explains missing logs.
	LogsNote string
	// Checks describes the catalogue: remedies become next steps.
	Checks map[string]checks.Meta
	// MaxEvents bounds the timeline (default 25, newest kept).
	MaxEvents int
}

// kindAliases maps what people type (kubectl's names and short names) to
// kinds Diagnose knows.
var kindAliases = map[string]snapshot.Kind{
	"pod": snapshot.KindPod, "pods": snapshot.KindPod, "po": snapshot.KindPod,
	"deployment": snapshot.KindDeployment, "deployments": snapshot.KindDeployment, "deploy": snapshot.KindDeployment,
	"statefulset": snapshot.KindStatefulSet, "statefulsets": snapshot.KindStatefulSet, "sts": snapshot.KindStatefulSet,
	"daemonset": snapshot.KindDaemonSet, "daemonsets": snapshot.KindDaemonSet, "ds": snapshot.KindDaemonSet,
	"replicaset": snapshot.KindReplicaSet, "replicasets": snapshot.KindReplicaSet, "rs": snapshot.KindReplicaSet,
	"job": snapshot.KindJob, "jobs": snapshot.KindJob,
	"cronjob": snapshot.KindCronJob, "cronjobs": snapshot.KindCronJob, "cj": snapshot.KindCronJob,
	"node": snapshot.KindNode, "nodes": snapshot.KindNode, "no": snapshot.KindNode,
	"service": snapshot.KindService, "services": snapshot.KindService, "svc": snapshot.KindService,
	"persistentvolumeclaim": snapshot.KindPVC, "persistentvolumeclaims": snapshot.KindPVC, "pvc": snapshot.KindPVC,
	"horizontalpodautoscaler": snapshot.KindHPA, "horizontalpodautoscalers": snapshot.KindHPA, "hpa": snapshot.KindHPA,
	"poddisruptionbudget": snapshot.KindPDB, "poddisruptionbudgets": snapshot.KindPDB, "pdb": snapshot.KindPDB,
}

// DiagnosableKinds lists the kinds diagnose accepts, as kubectl spells them
// (for shell completion).
var DiagnosableKinds = []string{
	"pod", "deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob", "node", "service",
	"persistentvolumeclaim", "horizontalpodautoscaler", "poddisruptionbudget",
}

// ParseTarget reads KIND/NAME (kubectl's kind names and short names, any
// case) and returns the object reference; ns applies to namespaced kinds.
func ParseTarget(arg, ns string) (checks.ObjectRef, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok || name == "" || kind == "" {
		return checks.ObjectRef{}, fmt.Errorf("want KIND/NAME (e.g. deployment/web, pod/web-7d9c-1, node/worker-1), got %q", arg)
	}
	k, ok := kindAliases[strings.ToLower(strings.SplitN(kind, ".", 2)[0])]
	if !ok {
		return checks.ObjectRef{}, fmt.Errorf("cannot diagnose kind %q (want one of %s)", kind, strings.Join(DiagnosableKinds, ", "))
	}
	ref := checks.ObjectRef{Kind: string(k), Name: name}
	if k != snapshot.KindNode {
		if ns == "" {
			ns = "default"
		}
		ref.Namespace = ns
	}
	return ref, nil
}

// Diagnose builds the diagnosis of in.Target.
func Diagnose(in DiagnosisInput) (*Diagnosis, error) {
	s := in.Snapshot
	if s == nil {
		return nil, fmt.Errorf("no snapshot")
	}
	g := newGrouper(s, in.Findings)
	d := &Diagnosis{Schema: DiagnosisSchema, Cluster: s.Cluster, CollectedAt: s.CollectedAt, Source: string(s.Source),
		Object: in.Target, Findings: []checks.Finding{}, LogsNote: in.LogsNote}
	v := &view{g: g, d: d, objects: map[string]bool{in.Target.String(): true}}
	if !v.describe(in.Target) {
		if gap, ok := s.Gap(snapshot.Kind(in.Target.Kind)); ok {
			return nil, fmt.Errorf("%s: could not read %s (%s: %s)", in.Target, in.Target.Kind, gap.Reason, gap.Message)
		}
		return nil, fmt.Errorf("%s not found in the snapshot of cluster %s", in.Target, s.Cluster)
	}

	// Findings on the object first, then on everything around it.
	own, near := []checks.Finding{}, []checks.Finding{}
	for _, f := range g.fs {
		switch {
		case stripUID(f.Object) == in.Target:
			own = append(own, f)
		case v.objects[stripUID(f.Object).String()]:
			near = append(near, f)
		}
	}
	checks.Sort(own)
	checks.Sort(near)
	d.Findings = append(own, near...)

	// The incident: the one holding the object's own findings, else its
	// children's.
	ids := IncidentOf(in.Incidents)
	for _, group := range [][]checks.Finding{own, near} {
		for _, f := range group {
			if id, ok := ids[f.Key()]; ok && d.Incident == nil {
				for i := range in.Incidents {
					if in.Incidents[i].ID == id {
						inc := in.Incidents[i]
						d.Incident = &inc
					}
				}
			}
		}
	}

	d.Events = v.timeline(in.MaxEvents)
	for _, cl := range in.Logs {
		ls := LogSummary{Pod: cl.Pod, Container: cl.Container, Previous: cl.Previous, Truncated: cl.Truncated, Error: cl.Error}
		if cl.Error == "" {
			ls.Summary = logs.Summarize(cl.Lines, 5, logs.Options{})
		}
		d.Logs = append(d.Logs, ls)
	}
	d.Anomalies = v.anomalies()
	d.likelyCause()
	d.nextSteps(in.Checks)
	return d, nil
}

// view collects what surrounds the diagnosed object.
type view struct {
	g       *grouper
	d       *Diagnosis
	objects map[string]bool // object keys whose findings and events belong here
	pods    []*snapshot.Pod
}

func (v *view) add(rel string, obj checks.ObjectRef, status, problem string, list *[]Related) {
	v.objects[obj.String()] = true
	*list = append(*list, Related{Relation: rel, Object: obj, Status: status, Problem: problem})
}

func podRef(p *snapshot.Pod) checks.ObjectRef {
	return checks.ObjectRef{Kind: string(snapshot.KindPod), Namespace: p.Namespace, Name: p.Name}
}

// describe fills status, conditions, owners, children and related objects;
// false when the object is not in the snapshot.
func (v *view) describe(t checks.ObjectRef) bool {
	s, d := v.g.s, v.d
	switch snapshot.Kind(t.Kind) {
	case snapshot.KindPod:
		p := v.g.pod(t.Namespace, t.Name)
		if p == nil {
			return false
		}
		d.Status, d.Node, d.Conditions = PodStatus(p), p.NodeName, p.Conditions
		v.pods = []*snapshot.Pod{p}
		v.owners(p.Namespace, &p.Meta)
		v.podSurroundings()
	case snapshot.KindDeployment, snapshot.KindStatefulSet, snapshot.KindDaemonSet, snapshot.KindJob, snapshot.KindCronJob, snapshot.KindReplicaSet:
		m, status, conds := v.workload(t)
		if m == nil {
			return false
		}
		d.Status, d.Conditions = status, conds
		v.owners(t.Namespace, m)
		if t.Kind == string(snapshot.KindReplicaSet) {
			for _, p := range v.g.ix.PodsByOwnerUID[m.UID] {
				v.pods = append(v.pods, p)
			}
		} else {
			if t.Kind == string(snapshot.KindDeployment) {
				for i := range s.ReplicaSets {
					rs := &s.ReplicaSets[i]
					if o, ok := rs.Controller(); ok && o.Kind == "Deployment" && o.Name == t.Name && rs.Namespace == t.Namespace {
						st := fmt.Sprintf("%d/%d ready", rs.ReadyReplicas, rs.Replicas)
						if rev := rs.Annotations["deployment.kubernetes.io/revision"]; rev != "" {
							st = "revision " + rev + ", " + st
						}
						v.add("replicaset", checks.ObjectRef{Kind: string(snapshot.KindReplicaSet), Namespace: rs.Namespace, Name: rs.Name}, st, "", &d.Children)
					}
				}
			}
			if t.Kind == string(snapshot.KindCronJob) {
				for i := range s.Jobs {
					j := &s.Jobs[i]
					if o, ok := j.Controller(); ok && o.Kind == "CronJob" && o.Name == t.Name && j.Namespace == t.Namespace {
						v.add("job", checks.ObjectRef{Kind: string(snapshot.KindJob), Namespace: j.Namespace, Name: j.Name},
							fmt.Sprintf("%d active, %d succeeded, %d failed", j.Active, j.Succeeded, j.Failed), "", &d.Children)
					}
				}
			}
			v.pods = v.g.podsOf(t.Kind, t.Namespace, t.Name)
		}
		v.podSurroundings()
		v.scalers(t)
	case snapshot.KindNode:
		n := v.g.ix.Nodes[t.Name]
		if n == nil {
			return false
		}
		d.Status, d.Conditions = NodeStatus(n), n.Conditions
		v.pods = v.g.ix.PodsByNode[n.Name]
		for _, p := range v.pods {
			v.add("pod", podRef(p), PodStatus(p), "", &d.Children)
		}
	case snapshot.KindService:
		sv := v.g.ix.Services[checks.NN(t.Namespace, t.Name)]
		if sv == nil {
			return false
		}
		ready, total := v.g.ix.ReadyEndpoints(t.Namespace, t.Name)
		d.Status = fmt.Sprintf("%s, %d/%d endpoints ready, selector %s", firstNonEmptyS(sv.Type, "ClusterIP"), ready, total, selectorText(sv.Selector))
		for _, p := range v.g.ix.PodsByNamespace[t.Namespace] {
			if snapshot.MatchesMap(sv.Selector, p.Labels) {
				v.pods = append(v.pods, p)
				v.add("pod", podRef(p), PodStatus(p), "", &d.Children)
				v.owners(p.Namespace, &p.Meta)
			}
		}
		v.dedupeOwners()
	case snapshot.KindPVC:
		var pvc *snapshot.PVC
		for i := range s.PVCs {
			if s.PVCs[i].Namespace == t.Namespace && s.PVCs[i].Name == t.Name {
				pvc = &s.PVCs[i]
			}
		}
		if pvc == nil {
			return false
		}
		class := ""
		if pvc.StorageClassName != nil {
			class = *pvc.StorageClassName
		}
		d.Status, d.Conditions = fmt.Sprintf("%s, class %q, volume %q", pvc.Phase, class, pvc.VolumeName), pvc.Conditions
		if class != "" {
			status, problem := "exists", ""
			if v.g.ix.StorageClasses[class] == nil {
				if _, gap := s.Gap(snapshot.KindStorageClass); !gap {
					status, problem = "", "not found"
				} else {
					status = "not in snapshot"
				}
			}
			v.add("storage class", checks.ObjectRef{Kind: string(snapshot.KindStorageClass), Name: class}, status, problem, &d.Related)
		}
		if pvc.VolumeName != "" {
			v.add("volume", checks.ObjectRef{Kind: string(snapshot.KindPV), Name: pvc.VolumeName}, "", "", &d.Related)
		}
		for _, p := range v.g.ix.PodsByNamespace[t.Namespace] {
			for _, c := range p.Claims {
				if c == t.Name {
					v.pods = append(v.pods, p)
					v.add("consumer", podRef(p), PodStatus(p), "", &d.Children)
				}
			}
		}
	case snapshot.KindHPA, snapshot.KindPDB:
		if !v.policy(t) {
			return false
		}
	default:
		return false
	}
	return true
}

// workload returns a controller's metadata, status line and conditions.
func (v *view) workload(t checks.ObjectRef) (*snapshot.Meta, string, []snapshot.Condition) {
	s := v.g.s
	switch t.Kind {
	case "Deployment":
		for i := range s.Deployments {
			if x := &s.Deployments[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				st := fmt.Sprintf("%d/%d available, %d ready, %d updated", x.AvailableReplicas, x.Replicas, x.ReadyReplicas, x.UpdatedReplicas)
				if x.Paused {
					st += ", paused"
				}
				return &x.Meta, st, x.Conditions
			}
		}
	case "StatefulSet":
		for i := range s.StatefulSets {
			if x := &s.StatefulSets[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				return &x.Meta, fmt.Sprintf("%d/%d ready, %d updated (revision %s → %s)", x.ReadyReplicas, x.Replicas, x.UpdatedReplicas,
					x.CurrentRevision, x.UpdateRevision), x.Conditions
			}
		}
	case "DaemonSet":
		for i := range s.DaemonSets {
			if x := &s.DaemonSets[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				return &x.Meta, fmt.Sprintf("%d/%d ready, %d scheduled, %d misscheduled, %d unavailable", x.NumberReady, x.DesiredNumberScheduled,
					x.CurrentNumberScheduled, x.NumberMisscheduled, x.NumberUnavailable), x.Conditions
			}
		}
	case "ReplicaSet":
		for i := range s.ReplicaSets {
			if x := &s.ReplicaSets[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				return &x.Meta, fmt.Sprintf("%d/%d ready, %d available", x.ReadyReplicas, x.Replicas, x.AvailableReplicas), x.Conditions
			}
		}
	case "Job":
		for i := range s.Jobs {
			if x := &s.Jobs[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				st := fmt.Sprintf("%d active, %d succeeded, %d failed", x.Active, x.Succeeded, x.Failed)
				if x.Suspend {
					st += ", suspended"
				}
				return &x.Meta, st, x.Conditions
			}
		}
	case "CronJob":
		for i := range s.CronJobs {
			if x := &s.CronJobs[i]; x.Namespace == t.Namespace && x.Name == t.Name {
				st := fmt.Sprintf("schedule %q, %d active", x.Schedule, x.Active)
				if x.LastSuccessfulTime != nil {
					st += ", last success " + x.LastSuccessfulTime.UTC().Format(time.RFC3339)
				}
				if x.Suspend {
					st += ", suspended"
				}
				return &x.Meta, st, nil
			}
		}
	}
	return nil, "", nil
}

// owners walks a controller chain upwards.
func (v *view) owners(ns string, m *snapshot.Meta) {
	for depth := 0; m != nil && depth < 4; depth++ {
		o, ok := m.Controller()
		if !ok {
			return
		}
		ref := checks.ObjectRef{Kind: o.Kind, Namespace: ns, Name: o.Name}
		if o.Kind == "Node" {
			ref.Namespace = ""
		}
		var next *snapshot.Meta
		status := ""
		if meta, st, _ := v.workload(ref); meta != nil {
			next, status = meta, st
		} else if o.Kind == "Node" {
			if n := v.g.ix.Nodes[o.Name]; n != nil {
				status = NodeStatus(n)
			}
		}
		v.add("owner", ref, status, "", &v.d.Owners)
		m = next
	}
}

func (v *view) dedupeOwners() {
	seen := map[string]bool{}
	out := v.d.Owners[:0]
	for _, o := range v.d.Owners {
		if !seen[o.Object.String()] {
			seen[o.Object.String()] = true
			out = append(out, o)
		}
	}
	v.d.Owners = out
}

// podSurroundings adds the pods, their nodes, the Services selecting them,
// their claims and the ConfigMaps and Secrets they reference.
func (v *view) podSurroundings() {
	s, d := v.g.s, v.d
	single := len(v.pods) == 1 && d.Object.Kind == string(snapshot.KindPod)
	nodes := map[string]bool{}
	svcs := map[string]bool{}
	claims := map[string]bool{}
	refs := map[string]snapshot.ConfigRef{}
	missing := map[string]string{}
	for _, p := range v.pods {
		if !single {
			v.add("pod", podRef(p), PodStatus(p), "", &d.Children)
		}
		if p.NodeName != "" {
			nodes[p.NodeName] = true
		}
		for i := range s.Services {
			sv := &s.Services[i]
			if sv.Namespace == p.Namespace && snapshot.MatchesMap(sv.Selector, p.Labels) {
				svcs[sv.Name] = true
			}
		}
		for _, c := range p.Claims {
			claims[c] = true
		}
		for _, r := range p.ConfigRefs {
			refs[r.Kind+"/"+r.Name] = r
		}
		if r, text, ok := v.g.missingRef(p); ok && r.Namespace == p.Namespace {
			missing[r.Kind+"/"+r.Name] = oneLine(text, 160)
			if _, known := refs[r.Kind+"/"+r.Name]; !known {
				refs[r.Kind+"/"+r.Name] = snapshot.ConfigRef{Kind: r.Kind, Name: r.Name}
			}
		}
	}
	ns := d.Object.Namespace
	for _, n := range sortedKeys(nodes) {
		status := "not in the cluster"
		problem := "gone"
		if node := v.g.ix.Nodes[n]; node != nil {
			status, problem = NodeStatus(node), ""
			if nf, down := v.g.nodeFault(n); down {
				problem = nf
			}
		}
		v.add("node", checks.ObjectRef{Kind: string(snapshot.KindNode), Name: n}, status, problem, &d.Related)
	}
	for _, name := range sortedKeys(svcs) {
		ready, total := v.g.ix.ReadyEndpoints(ns, name)
		problem := ""
		if ready == 0 {
			problem = "no ready endpoint"
		}
		v.add("service", checks.ObjectRef{Kind: string(snapshot.KindService), Namespace: ns, Name: name},
			fmt.Sprintf("%d/%d endpoints ready", ready, total), problem, &d.Related)
	}
	for _, c := range sortedKeys(claims) {
		status, problem := "not in snapshot", ""
		for i := range s.PVCs {
			if pvc := &s.PVCs[i]; pvc.Namespace == ns && pvc.Name == c {
				status = pvc.Phase
				if pvc.Phase != "Bound" {
					problem = pvc.Phase
				}
			}
		}
		v.add("claim", checks.ObjectRef{Kind: string(snapshot.KindPVC), Namespace: ns, Name: c}, status, problem, &d.Related)
	}
	keys := make([]string, 0, len(refs))
	for k := range refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := refs[k]
		status := "referenced"
		if r.Optional {
			status = "referenced (optional)"
		}
		// Names only: kubepatrol never reads ConfigMap or Secret data.
		v.add("config", checks.ObjectRef{Kind: r.Kind, Namespace: ns, Name: r.Name}, status, missing[k], &d.Related)
	}
}

// scalers adds the HPAs and PDBs about a workload.
func (v *view) scalers(t checks.ObjectRef) {
	s, d := v.g.s, v.d
	for i := range s.HPAs {
		h := &s.HPAs[i]
		if h.Namespace == t.Namespace && h.TargetKind == t.Kind && h.TargetName == t.Name {
			v.add("autoscaler", checks.ObjectRef{Kind: string(snapshot.KindHPA), Namespace: h.Namespace, Name: h.Name},
				fmt.Sprintf("%d current, %d desired, %d–%d", h.CurrentReplicas, h.DesiredReplicas, h.MinReplicas, h.MaxReplicas), "", &d.Related)
		}
	}
	for i := range s.PDBs {
		pdb := &s.PDBs[i]
		if pdb.Namespace != t.Namespace {
			continue
		}
		for _, p := range v.pods {
			if pdb.Selector.Matches(p.Labels) {
				problem := ""
				if pdb.DisruptionsAllowed == 0 {
					problem = "allows no eviction"
				}
				v.add("disruption budget", checks.ObjectRef{Kind: string(snapshot.KindPDB), Namespace: pdb.Namespace, Name: pdb.Name},
					fmt.Sprintf("%d/%d healthy, %d disruptions allowed", pdb.CurrentHealthy, pdb.DesiredHealthy, pdb.DisruptionsAllowed), problem, &d.Related)
				break
			}
		}
	}
}

// policy describes an HPA or a PDB and the workload behind it.
func (v *view) policy(t checks.ObjectRef) bool {
	s, d := v.g.s, v.d
	if t.Kind == string(snapshot.KindHPA) {
		for i := range s.HPAs {
			h := &s.HPAs[i]
			if h.Namespace == t.Namespace && h.Name == t.Name {
				d.Status = fmt.Sprintf("%d current, %d desired, min %d, max %d, target %s/%s", h.CurrentReplicas, h.DesiredReplicas,
					h.MinReplicas, h.MaxReplicas, h.TargetKind, h.TargetName)
				d.Conditions = h.Conditions
				target := checks.ObjectRef{Kind: h.TargetKind, Namespace: h.Namespace, Name: h.TargetName}
				status := ""
				if m, st, _ := v.workload(target); m != nil {
					status = st
				}
				v.add("target", target, status, "", &d.Related)
				v.pods = v.g.podsOf(target.Kind, target.Namespace, target.Name)
				v.podSurroundings()
				return true
			}
		}
		return false
	}
	for i := range s.PDBs {
		pdb := &s.PDBs[i]
		if pdb.Namespace == t.Namespace && pdb.Name == t.Name {
			d.Status = fmt.Sprintf("%d/%d healthy (of %d expected), %d disruptions allowed", pdb.CurrentHealthy, pdb.DesiredHealthy,
				pdb.ExpectedPods, pdb.DisruptionsAllowed)
			d.Conditions = pdb.Conditions
			for _, p := range v.g.ix.PodsByNamespace[pdb.Namespace] {
				if pdb.Selector.Matches(p.Labels) {
					v.pods = append(v.pods, p)
				}
			}
			v.podSurroundings()
			return true
		}
	}
	return false
}

func (g *grouper) nodeFault(name string) (string, bool) {
	n := g.ix.Nodes[name]
	if n == nil {
		return "gone", true
	}
	c, ok := snapshot.FindCondition(n.Conditions, "Ready")
	switch {
	case !ok:
		return "", false
	case c.Status == "Unknown":
		return "unreachable", true
	case c.Status != "True":
		return "NotReady", true
	}
	return "", false
}

// timeline merges the events of every object in view, newest kept.
func (v *view) timeline(max int) []TimelineItem {
	if max <= 0 {
		max = 25
	}
	var out []TimelineItem
	for i := range v.g.s.Events {
		e := &v.g.s.Events[i]
		ref := checks.ObjectRef{Kind: e.Involved.Kind, Namespace: e.Involved.Namespace, Name: e.Involved.Name}
		if !v.objects[ref.String()] {
			continue
		}
		out = append(out, TimelineItem{First: e.FirstTime, Last: e.LastTime, Count: e.Count, Type: e.Type, Reason: e.Reason,
			Object: ref, Source: e.Source, Message: e.Message})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.Before(out[j].Last)
		}
		return out[i].Object.String() < out[j].Object.String()
	})
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// anomalies runs the anomaly detector over the metric series about the
// object, its pods and its node.
func (v *view) anomalies() []MetricAnomaly {
	m := v.g.s.Metrics
	if m == nil {
		return nil
	}
	pods := map[string]bool{}
	for _, p := range v.pods {
		pods[p.Namespace+"/"+p.Name] = true
	}
	nodes := map[string]bool{}
	if v.d.Object.Kind == string(snapshot.KindNode) {
		nodes[v.d.Object.Name] = true
	}
	if v.d.Node != "" {
		nodes[v.d.Node] = true
	}
	var out []MetricAnomaly
	for i := range m.Series {
		sr := &m.Series[i]
		l := sr.Labels
		about := pods[l["namespace"]+"/"+l["pod"]] || nodes[l["node"]] || nodes[l["instance"]] ||
			l["namespace"] == v.d.Object.Namespace && v.d.Object.Namespace != "" && (l[strings.ToLower(v.d.Object.Kind)] == v.d.Object.Name)
		if !about || len(sr.Samples) < 30 {
			continue
		}
		// The combined detector calibrates on the series' own history and
		// needs a long one; a short series gets the robust z-score with a
		// strict alarm.
		name, alarm := detect.DefaultName, detect.AlarmScore
		if len(sr.Samples) < 1000 {
			name, alarm = "robustz", 0.95
		}
		det, err := detect.New(name, detect.Options{})
		if err != nil {
			return nil
		}
		best, at := 0.0, time.Time{}
		for _, smp := range sr.Samples {
			if sc := det.Update(smp.Time(), smp.V); sc > best {
				best, at = sc, smp.Time()
			}
		}
		if best < alarm {
			continue
		}
		last, _ := sr.Last()
		out = append(out, MetricAnomaly{Metric: sr.Name, Labels: l, Last: last.V, Score: round2(best), At: at})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

// likelyCause states the diagnosis in one sentence.
func (d *Diagnosis) likelyCause() {
	if d.Incident != nil {
		rc := d.Incident.RootCause
		d.LikelyCause = fmt.Sprintf("%s (incident %s: %s)", rc.Summary, d.Incident.ID, d.Incident.Title)
		return
	}
	// The object's own most severe primary finding, else the one around it.
	var best *checks.Finding
	rank := func(f *checks.Finding) int {
		r := f.Severity.Rank() * 2
		if f.ExplainedBy == "" {
			r++
		}
		if stripUID(f.Object) == d.Object {
			r += 10
		}
		return r
	}
	for i := range d.Findings {
		f := &d.Findings[i]
		if f.Status == checks.Firing && (best == nil || rank(f) > rank(best)) {
			best = f
		}
	}
	if best != nil {
		d.LikelyCause = fmt.Sprintf("%s on %s: %s", best.Check, best.Object.String(), oneLine(best.Message, 300))
		return
	}
	for _, l := range d.Logs {
		if l.Summary.LastError != "" {
			d.LikelyCause = fmt.Sprintf("no check fires; the last error in %s/%s's logs: %s", l.Pod, l.Container, oneLine(l.Summary.LastError, 200))
			return
		}
	}
	d.Healthy = true
	d.LikelyCause = "no fault found: no check fires on this object or anything around it"
}

// nextSteps collects the remedies of the findings, root cause first.
func (d *Diagnosis) nextSteps(metas map[string]checks.Meta) {
	seen := map[string]bool{}
	add := func(check string, f *checks.Finding) {
		m, ok := metas[check]
		if !ok || m.Remedy == "" || seen[check] {
			return
		}
		seen[check] = true
		d.NextSteps = append(d.NextSteps, NextStep{Check: check, Action: FillPlaceholders(m.Remedy, PlaceholdersFor(f))})
	}
	if d.Incident != nil {
		if a := d.Incident.NextStep; a.Action != "" {
			seen[a.Check] = true
			d.NextSteps = append(d.NextSteps, a)
		}
		if mt := d.Incident.Mitigation; mt != nil && mt.Action != "" && !seen[mt.Check] {
			seen[mt.Check] = true
			d.NextSteps = append(d.NextSteps, *mt)
		}
	}
	for i := range d.Findings {
		if d.Findings[i].ExplainedBy == "" {
			add(d.Findings[i].Check, &d.Findings[i])
		}
	}
}

// PodStatus renders a pod's state the way kubectl get pods reads:
// "Running, 0/1 ready, 7 restarts (CrashLoopBackOff)".
func PodStatus(p *snapshot.Pod) string {
	ready, total, restarts := 0, 0, int32(0)
	reason := ""
	for _, c := range p.Containers {
		total++
		if c.Ready {
			ready++
		}
		restarts += c.RestartCount
		if c.State.State == snapshot.StateWaiting && reason == "" {
			reason = c.State.Reason
		}
		if c.State.State == snapshot.StateTerminated && reason == "" {
			reason = c.State.Reason
		}
	}
	phase := firstNonEmptyS(p.Reason, p.Phase, "Unknown")
	if p.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	s := fmt.Sprintf("%s, %d/%d ready", phase, ready, total)
	if restarts > 0 {
		s += fmt.Sprintf(", %d restarts", restarts)
	}
	if reason != "" {
		s += " (" + reason + ")"
	}
	if p.NodeName != "" {
		s += " on " + p.NodeName
	}
	return s
}

// NodeStatus renders a node's readiness: "Ready", "NotReady (KubeletNotReady)",
// "Unknown (NodeStatusUnknown), cordoned".
func NodeStatus(n *snapshot.Node) string {
	s := "Ready"
	if c, ok := snapshot.FindCondition(n.Conditions, "Ready"); ok && c.Status != "True" {
		s = "NotReady"
		if c.Status == "Unknown" {
			s = "Unknown"
		}
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
	}
	for _, c := range n.Conditions {
		if c.Type != "Ready" && c.Status == "True" {
			s += ", " + c.Type
		}
	}
	if n.Unschedulable {
		s += ", cordoned"
	}
	return s
}

func selectorText(sel map[string]string) string {
	if len(sel) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range sortedKeys(boolKeys(sel)) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

func boolKeys(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstNonEmptyS(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
