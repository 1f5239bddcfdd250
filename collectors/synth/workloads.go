package synth

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// spec describes one workload to create.
type spec struct {
	ns, name, role string
	replicas       int
	sel            map[string]string // selector matchLabels
	podLabels      map[string]string // template labels (a superset of sel)
	objLabels      map[string]string // the workload object's own labels
	tmpl           *podTemplate
	system         bool
	created        time.Time
}

func (g *gen) createdAt(a spec) time.Time {
	if !a.created.IsZero() {
		return a.created
	}
	return g.ago(g.dur(2*day, 400*day))
}

// deployment creates a Deployment, its current ReplicaSet with the pods,
// and a few old ReplicaSets scaled to zero (revision history).
func (g *gen) deployment(a spec) *workload {
	created := g.createdAt(a)
	age := g.at.Sub(created)
	rev := 1 + g.intn(min(40, 1+int(age/(3*day))))
	rollout := created
	if rev > 1 {
		rollout = g.ago(g.dur(40*time.Minute, age))
	}
	generation := int64(rev + g.intn(3))
	m := g.meta(a.ns, a.name, created, a.objLabels)
	m.Generation = generation
	m.Annotations = map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(rev)}
	g.s.Deployments = append(g.s.Deployments, snapshot.Deployment{
		Meta: m, Replicas: int32(a.replicas), Selector: &snapshot.Selector{MatchLabels: a.sel},
		ProgressDeadlineSeconds: 600, Strategy: "RollingUpdate", ObservedGeneration: generation,
	})
	di := len(g.s.Deployments) - 1
	owners := owner(snapshot.KindDeployment, &m)

	nOld := min(rev-1, g.between(0, 4))
	for k := 0; k < nOld; k++ {
		hash := g.templateHash()
		when := created.Add(time.Duration(float64(rollout.Sub(created)) * float64(k+1) / float64(nOld+1))).Truncate(time.Second)
		rm := g.meta(a.ns, a.name+"-"+hash, when, copyLabels(a.podLabels, "pod-template-hash", hash))
		rm.Generation = int64(g.between(2, 4))
		rm.Annotations = map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(rev - nOld + k)}
		rm.Owners = owners
		g.s.ReplicaSets = append(g.s.ReplicaSets, snapshot.ReplicaSet{Meta: rm, Replicas: 0, ObservedGeneration: rm.Generation})
	}
	hash := g.templateHash()
	rm := g.meta(a.ns, a.name+"-"+hash, rollout, copyLabels(a.podLabels, "pod-template-hash", hash))
	rm.Generation = int64(g.between(1, 3))
	rm.Annotations = map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(rev)}
	rm.Owners = owners
	g.s.ReplicaSets = append(g.s.ReplicaSets, snapshot.ReplicaSet{Meta: rm, Replicas: int32(a.replicas), ObservedGeneration: rm.Generation})

	w := g.addWorkload(&workload{kind: snapshot.KindDeployment, ns: a.ns, name: a.name, idx: di,
		rs: len(g.s.ReplicaSets) - 1, replicas: a.replicas, sel: a.sel, tmpl: a.tmpl, system: a.system, role: a.role})
	var restarted map[string]string
	if rev > 1 && g.chance(0.1) {
		restarted = map[string]string{"kubectl.kubernetes.io/restartedAt": rollout.Add(-2 * time.Second).Format(time.RFC3339)}
	}
	for i := 0; i < a.replicas; i++ {
		when := rollout.Add(g.dur(time.Second, 90*time.Second))
		if g.chance(0.15) && g.at.Add(-10*time.Minute).After(rollout) {
			when = rollout.Add(g.dur(0, g.at.Add(-10*time.Minute).Sub(rollout)))
		}
		p := g.deploymentPod(w, when, g.nextWorker())
		g.s.Pods[p].Annotations = restarted
	}
	return w
}

// deploymentPod adds one pod of the Deployment's current ReplicaSet.
func (g *gen) deploymentPod(w *workload, created time.Time, node int) int {
	rs := &g.s.ReplicaSets[w.rs]
	p := g.addPod(w.tmpl, w.ns, rs.Name+"-"+g.suffix(5), rs.Labels, owner(snapshot.KindReplicaSet, &rs.Meta), node, created)
	w.pods = append(w.pods, p)
	return p
}

// statefulSet creates a StatefulSet with its headless Service, pods and
// their claims, bound to provisioned volumes.
func (g *gen) statefulSet(a spec, size int64, class string) *workload {
	created := g.createdAt(a)
	generation := int64(g.between(1, 12))
	revision := a.name + "-" + g.templateHash()
	m := g.meta(a.ns, a.name, created, a.objLabels)
	m.Generation = generation
	headless := a.name + "-headless"
	g.s.StatefulSets = append(g.s.StatefulSets, snapshot.StatefulSet{
		Meta: m, Replicas: int32(a.replicas), Selector: &snapshot.Selector{MatchLabels: a.sel},
		ServiceName: headless, UpdateStrategy: "RollingUpdate", ObservedGeneration: generation,
		CurrentRevision: revision, UpdateRevision: revision,
	})
	w := g.addWorkload(&workload{kind: snapshot.KindStatefulSet, ns: a.ns, name: a.name, idx: len(g.s.StatefulSets) - 1,
		replicas: a.replicas, sel: a.sel, tmpl: a.tmpl, system: a.system, role: a.role})
	svc := g.service(a.ns, headless, a.sel, []snapshot.ServicePort{{Name: "tcp", Protocol: "TCP", Port: 5432, TargetPort: "5432"}},
		"ClusterIP", "None", a.objLabels, created)
	w.svcs = append(w.svcs, svc)
	owners := owner(snapshot.KindStatefulSet, &m)
	updated := g.ago(g.dur(time.Hour, g.at.Sub(created)))
	for i := 0; i < a.replicas; i++ {
		name := fmt.Sprintf("%s-%d", a.name, i)
		node := g.nextWorker()
		labels := copyLabels(a.podLabels, "controller-revision-hash", revision,
			"statefulset.kubernetes.io/pod-name", name, "apps.kubernetes.io/pod-index", strconv.Itoa(i))
		p := g.addPod(a.tmpl, a.ns, name, labels, owners, node, updated.Add(time.Duration(i)*g.dur(20*time.Second, 2*time.Minute)))
		claim := "data-" + name
		g.s.Pods[p].Claims = []string{claim}
		w.pods = append(w.pods, p)
		nodeName := ""
		if node >= 0 {
			nodeName = g.s.Nodes[node].Name
		}
		g.boundClaim(a.ns, claim, a.sel, class, size, nodeName, created.Add(time.Duration(i)*time.Minute))
	}
	return w
}

func (g *gen) boundClaim(ns, name string, labels map[string]string, class string, size int64, node string, created time.Time) {
	cm := g.meta(ns, name, created, labels)
	cm.Annotations = map[string]string{"volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com"}
	if node != "" {
		cm.Annotations["volume.kubernetes.io/selected-node"] = node
	}
	cm.Finalizers = []string{"kubernetes.io/pvc-protection"}
	pvName := "pvc-" + cm.UID
	cls := class
	g.s.PVCs = append(g.s.PVCs, snapshot.PVC{Meta: cm, StorageClassName: &cls, VolumeName: pvName,
		AccessModes: []string{"ReadWriteOnce"}, Request: size, Phase: "Bound", Capacity: size})
	pm := g.meta("", pvName, created.Add(g.dur(2*time.Second, 20*time.Second)), nil)
	pm.Finalizers = []string{"external-provisioner.volume.kubernetes.io/finalizer", "kubernetes.io/pv-protection"}
	g.s.PVs = append(g.s.PVs, snapshot.PV{Meta: pm, StorageClassName: class,
		ClaimRef:      &snapshot.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name, UID: cm.UID},
		ReclaimPolicy: "Delete", Capacity: size, Phase: "Bound"})
}

// daemonSet creates a DaemonSet with one pod per node.
func (g *gen) daemonSet(a spec) *workload {
	created := g.createdAt(a)
	generation := int64(g.between(1, 6))
	m := g.meta(a.ns, a.name, created, a.objLabels)
	m.Generation = generation
	g.s.DaemonSets = append(g.s.DaemonSets, snapshot.DaemonSet{
		Meta: m, Selector: &snapshot.Selector{MatchLabels: a.sel}, NodeSelector: a.tmpl.nodeSelector,
		UpdateStrategy: "RollingUpdate", ObservedGeneration: generation,
	})
	w := g.addWorkload(&workload{kind: snapshot.KindDaemonSet, ns: a.ns, name: a.name, idx: len(g.s.DaemonSets) - 1,
		sel: a.sel, tmpl: a.tmpl, system: a.system, role: a.role})
	labels := copyLabels(a.podLabels, "controller-revision-hash", g.templateHash(), "pod-template-generation", strconv.FormatInt(generation, 10))
	owners := owner(snapshot.KindDaemonSet, &m)
	rolled := g.ago(g.dur(2*day, g.at.Sub(created)))
	for n := range g.s.Nodes {
		w.pods = append(w.pods, g.addPod(a.tmpl, a.ns, a.name+"-"+g.suffix(5), labels, owners, n, rolled.Add(g.dur(0, 10*time.Minute))))
	}
	w.replicas = len(g.s.Nodes)
	return w
}

func (g *gen) service(ns, name string, sel map[string]string, ports []snapshot.ServicePort, typ, clusterIP string, labels map[string]string, created time.Time) int {
	if clusterIP == "" {
		k := len(g.s.Services) + 10
		clusterIP = fmt.Sprintf("10.%d.%d.%d", 100+k>>16, (k>>8)&255, k&255)
	}
	g.s.Services = append(g.s.Services, snapshot.Service{
		Meta: g.meta(ns, name, created, labels), Type: typ, ClusterIP: clusterIP, Selector: sel, Ports: ports,
	})
	return len(g.s.Services) - 1
}

func httpPorts() []snapshot.ServicePort {
	return []snapshot.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"}}
}

// pdb adds a PodDisruptionBudget over a workload's pods; its status is
// derived later.
func (g *gen) pdb(w *workload, labels map[string]string) {
	name := w.name
	if g.chance(0.5) {
		name += "-pdb"
	}
	m := g.meta(w.ns, name, g.ago(g.dur(day, 300*day)), labels)
	m.Generation = 1
	p := snapshot.PDB{Meta: m, Selector: &snapshot.Selector{MatchLabels: w.sel}, ObservedGeneration: 1}
	switch {
	case w.replicas >= 4 && g.chance(0.5):
		p.MinAvailable = "50%"
	case g.chance(0.5):
		p.MinAvailable = "1"
	default:
		p.MaxUnavailable = "1"
	}
	g.s.PDBs = append(g.s.PDBs, p)
	w.pdb = len(g.s.PDBs) - 1
}

// hpa adds a HorizontalPodAutoscaler in its steady state over a
// Deployment.
func (g *gen) hpa(w *workload, labels map[string]string) {
	r := w.replicas
	lo := max(1, r-g.intn(r))
	hi := r + g.between(2, 2*r+2)
	m := g.meta(w.ns, w.name, g.ago(g.dur(2*day, 300*day)), labels)
	scaled := g.ago(g.dur(time.Hour, 10*day))
	limited := cond("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range", scaled)
	h := snapshot.HPA{
		Meta: m, TargetKind: "Deployment", TargetName: w.name, MinReplicas: int32(lo), MaxReplicas: int32(hi),
		CurrentReplicas: int32(r), DesiredReplicas: int32(r), LastScaleTime: tp(scaled),
		Conditions: []snapshot.Condition{
			cond("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size", scaled.Add(5*time.Minute)),
			cond("ScalingActive", "True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", m.CreationTimestamp.Add(time.Minute)),
			limited,
		},
	}
	g.s.HPAs = append(g.s.HPAs, h)
	w.hpa = len(g.s.HPAs) - 1
}

// schedule is a cron schedule whose ticks are every period after offset
// past midnight UTC.
type schedule struct {
	expr           string
	period, offset time.Duration
}

var schedules = []schedule{
	{"*/5 * * * *", 5 * time.Minute, 0},
	{"*/15 * * * *", 15 * time.Minute, 0},
	{"0 * * * *", time.Hour, 0},
	{"0 */6 * * *", 6 * time.Hour, 0},
	{"30 2 * * *", day, 2*time.Hour + 30*time.Minute},
	{"15 4 * * *", day, 4*time.Hour + 15*time.Minute},
}

// cronJob creates a CronJob with its last three Jobs (the default
// successfulJobsHistoryLimit) and their pods; the newest may still run.
// It returns the number of pods made.
func (g *gen) cronJob(a spec) int {
	sc := pick(g.rng, schedules)
	created := g.createdAt(a)
	if created.After(g.ago(4 * sc.period)) {
		created = g.ago(4*sc.period + time.Hour)
	}
	m := g.meta(a.ns, a.name, created, a.objLabels)
	m.Generation = int64(g.between(1, 5))
	cj := snapshot.CronJob{Meta: m, Schedule: sc.expr}
	if a.replicas == 0 {
		// Suspended for weeks: no Jobs left, an old last schedule.
		cj.Suspend = true
		cj.LastScheduleTime = tp(g.ago(g.dur(15*day, 40*day)).Truncate(time.Hour))
		cj.LastSuccessfulTime = tp(cj.LastScheduleTime.Add(g.dur(30*time.Second, 3*time.Minute)))
		g.s.CronJobs = append(g.s.CronJobs, cj)
		return 0
	}
	last := g.at.Add(-sc.offset).Truncate(sc.period).Add(sc.offset)
	if last.After(g.at) {
		last = last.Add(-sc.period)
	}
	cjOwner := owner(snapshot.KindCronJob, &m)
	pods := 0
	var lastOK time.Time
	for k := 2; k >= 0; k-- {
		tick := last.Add(-time.Duration(k) * sc.period)
		run := g.dur(20*time.Second, 4*time.Minute)
		start := tick.Add(g.dur(time.Second, 3*time.Second))
		done := start.Add(run).Before(g.at.Add(-5 * time.Second))
		name := a.name + "-" + strconv.FormatInt(tick.Unix()/60, 10)
		g.job(a, name, cjOwner, start, run, done)
		pods++
		if done {
			lastOK = start.Add(run).Add(g.dur(time.Second, 5*time.Second))
		} else {
			cj.Active = 1
		}
	}
	cj.LastScheduleTime = tp(last)
	if !lastOK.IsZero() {
		cj.LastSuccessfulTime = tp(lastOK)
	}
	g.s.CronJobs = append(g.s.CronJobs, cj)
	return pods
}

// job creates a Job with one pod that started at start and, when done,
// succeeded after run.
func (g *gen) job(a spec, name string, owners []snapshot.OwnerRef, start time.Time, run time.Duration, done bool) *workload {
	m := g.meta(a.ns, name, start.Add(-time.Second), nil)
	m.Generation = 1
	m.Owners = owners
	uid := m.UID
	m.Labels = copyLabels(a.podLabels, "batch.kubernetes.io/controller-uid", uid, "batch.kubernetes.io/job-name", name,
		"controller-uid", uid, "job-name", name)
	one, six := int32(1), int32(6)
	j := snapshot.Job{Meta: m, Completions: &one, Parallelism: &one, BackoffLimit: &six, StartTime: tp(start)}
	g.s.Jobs = append(g.s.Jobs, j)
	w := g.addWorkload(&workload{kind: snapshot.KindJob, ns: a.ns, name: name, idx: len(g.s.Jobs) - 1, replicas: 1,
		sel: map[string]string{"batch.kubernetes.io/controller-uid": uid}, tmpl: a.tmpl, system: a.system, role: a.role})
	p := g.addPod(a.tmpl, a.ns, name+"-"+g.suffix(5), m.Labels, owner(snapshot.KindJob, &m), g.nextWorker(), start)
	w.pods = append(w.pods, p)
	jj := &g.s.Jobs[w.idx]
	if done {
		g.complete(p, run)
		fin := *g.s.Pods[p].Containers[0].State.FinishedAt
		finished := fin.Add(g.dur(time.Second, 4*time.Second))
		jj.Succeeded = 1
		jj.CompletionTime = tp(finished)
		jj.Conditions = []snapshot.Condition{
			{Type: "SuccessCriteriaMet", Status: "True", Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: finished, LastHeartbeatTime: finished},
			{Type: "Complete", Status: "True", Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: finished, LastHeartbeatTime: finished},
		}
	} else {
		jj.Active = 1
	}
	return w
}
