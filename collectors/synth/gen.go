package synth

import (
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// gen holds the state of one generation run.
type gen struct {
	*rng
	opt Options
	at  time.Time
	s   *snapshot.Snapshot

	// Parallel to s.Nodes.
	nodeCreated []time.Time
	nodeSeq     []int // pods placed, for pod IPs
	workers     []int // worker node indices
	cps         []int // control-plane node indices
	order       []int // worker placement order
	rr          int
	maxPods     int

	// Parallel to s.Pods.
	podIP []string

	ws         []*workload
	byNS       map[string][]*workload
	appNS      []string
	quotaNS    []string
	appBudget  int
	nsMesh     map[string]bool
	registry   string
	kubeVer    string
	podCIDRs   int
	badNode    map[int]FaultKind // NotReady or Unknown nodes
	podFault   map[int]FaultKind // by pod index
	faultSince map[int]time.Time // by pod index: when the pod stopped being ready
	nodeSince  map[int]time.Time // by node index: when a bad node went bad
	nodeIdx    map[string]int
	svcDown    map[string]FaultKind // by namespace/name: why a Service has no ready endpoint

	expected  []Expect
	tolerated []Expect
	injected  map[FaultKind]int
}

// workload is an owner of pods: a Deployment (with its current
// ReplicaSet), StatefulSet, DaemonSet or Job.
type workload struct {
	kind     snapshot.Kind
	ns, name string
	idx      int // in the kind's slice
	rs       int // current ReplicaSet (Deployments), else -1
	replicas int
	pods     []int
	sel      map[string]string // the selector's matchLabels
	tmpl     *podTemplate
	system   bool
	role     string
	svcs     []int
	pdb      int
	hpa      int
	faulted  bool
}

type container struct {
	name, image string
	req, lim    snapshot.Resources
	sidecar     bool
}

type podTemplate struct {
	labels       map[string]string
	containers   []container
	inits        []container
	sa, priority string
	refs         []snapshot.ConfigRef
	restart      string
	grace        int64
	nodeSelector map[string]string
}

func newGen(opt Options) *gen {
	g := &gen{
		rng:        newRNG(opt.Seed),
		opt:        opt,
		at:         opt.At,
		byNS:       map[string][]*workload{},
		nsMesh:     map[string]bool{},
		badNode:    map[int]FaultKind{},
		podFault:   map[int]FaultKind{},
		faultSince: map[int]time.Time{},
		nodeSince:  map[int]time.Time{},
		svcDown:    map[string]FaultKind{},
		injected:   map[FaultKind]int{},
		registry:   "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
		kubeVer:    "v1.31.4",
	}
	g.podIP = make([]string, 0, opt.Pods+opt.Pods/20+64)
	g.s = &snapshot.Snapshot{
		Pods:        make([]snapshot.Pod, 0, opt.Pods+opt.Pods/20+64),
		Schema:      snapshot.SchemaVersion,
		ID:          fmt.Sprintf("synth-%d-%dn-%dp-%g", opt.Seed, opt.Nodes, opt.Pods, opt.FaultRate),
		Cluster:     opt.Cluster,
		Source:      snapshot.SourceLive,
		Version:     g.kubeVer,
		CollectedAt: opt.At,
	}
	return g
}

func (g *gen) ago(d time.Duration) time.Time { return g.at.Add(-d) }

func tp(t time.Time) *time.Time { return &t }

func (g *gen) meta(ns, name string, created time.Time, labels map[string]string) snapshot.Meta {
	return snapshot.Meta{
		Namespace: ns, Name: name, UID: g.uid(), ResourceVersion: g.resourceVersion(),
		CreationTimestamp: created, Labels: labels,
	}
}

func owner(kind snapshot.Kind, m *snapshot.Meta) []snapshot.OwnerRef {
	return []snapshot.OwnerRef{{Kind: string(kind), Name: m.Name, UID: m.UID, Controller: true}}
}

func cond(t, status, reason, msg string, at time.Time) snapshot.Condition {
	return snapshot.Condition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: at}
}

func copyLabels(m map[string]string, extra ...string) map[string]string {
	out := make(map[string]string, len(m)+len(extra)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

func res(cpu int64, mem int64) snapshot.Resources {
	r := snapshot.Resources{}
	if cpu > 0 {
		r["cpu"] = cpu
	}
	if mem > 0 {
		r["memory"] = mem
	}
	if len(r) == 0 {
		return nil
	}
	return r
}

// nextWorker places a pod on the next worker node in a shuffled
// round-robin, which spreads replicas as the scheduler's default spreading
// does.
func (g *gen) nextWorker() int {
	if len(g.order) == 0 {
		if len(g.cps) > 0 {
			return g.cps[0]
		}
		return -1
	}
	n := g.order[g.rr%len(g.order)]
	g.rr++
	return n
}

// addPod appends a healthy running pod built from t on node and returns
// its index.
func (g *gen) addPod(t *podTemplate, ns, name string, labels map[string]string, owners []snapshot.OwnerRef, node int, created time.Time) int {
	if node >= 0 && created.Before(g.nodeCreated[node].Add(90*time.Second)) {
		created = g.nodeCreated[node].Add(g.dur(90*time.Second, 5*time.Minute))
	}
	if created.After(g.at.Add(-30 * time.Second)) {
		created = g.at.Add(-30 * time.Second)
	}
	m := g.meta(ns, name, created, labels)
	m.Owners = owners
	grace := t.grace
	p := snapshot.Pod{
		Meta:              m,
		SchedulerName:     "default-scheduler",
		PriorityClassName: t.priority,
		ServiceAccount:    t.sa,
		NodeSelector:      t.nodeSelector,
		RestartPolicy:     t.restart,
		GracePeriod:       &grace,
		Phase:             "Running",
		QOSClass:          qos(t),
		ConfigRefs:        t.refs,
	}
	ip := ""
	if node >= 0 {
		n := &g.s.Nodes[node]
		p.NodeName = n.Name
		g.nodeSeq[node]++
		ip = fmt.Sprintf("100.%d.%d.%d", 64+node>>8, node&255, 2+g.nodeSeq[node]%250)
	}
	start := created.Add(time.Second)
	p.StartTime = tp(start)
	t0 := start.Add(g.dur(time.Second, 4*time.Second))
	for _, c := range t.inits {
		fin := t0.Add(g.dur(time.Second, 20*time.Second))
		st := snapshot.Container{
			Name: c.name, Image: c.image, Requests: c.req, Limits: c.lim, HasStatus: true,
			State: snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Completed",
				StartedAt: tp(t0), FinishedAt: tp(fin)},
		}
		p.InitContainers = append(p.InitContainers, st)
		t0 = fin.Add(time.Second)
	}
	initialized := t0
	running := t0.Add(g.dur(2*time.Second, 40*time.Second))
	yes := true
	for _, c := range t.containers {
		p.Containers = append(p.Containers, snapshot.Container{
			Name: c.name, Image: c.image, Requests: c.req, Limits: c.lim, Ready: true, Started: &yes, HasStatus: true,
			State: snapshot.ContainerState{State: snapshot.StateRunning, StartedAt: tp(running)},
		})
	}
	// A few long-running pods carry an old restart: a node reboot (Unknown,
	// 255) or a liveness-probe kill days ago. Healthy all the same.
	if ageOf := g.at.Sub(created); ageOf > 72*time.Hour && g.chance(0.03) {
		c := &p.Containers[0]
		fin := created.Add(g.dur(time.Hour, ageOf-48*time.Hour))
		c.RestartCount = 1
		if g.chance(0.7) {
			c.LastState = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Unknown", ExitCode: 255,
				StartedAt: tp(running), FinishedAt: tp(fin)}
		} else {
			c.LastState = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Error", ExitCode: 137,
				StartedAt: tp(running), FinishedAt: tp(fin)}
		}
		running = fin.Add(g.dur(2*time.Second, 30*time.Second))
		for i := range p.Containers {
			p.Containers[i].State.StartedAt = tp(running)
		}
	}
	ready := running.Add(g.dur(2*time.Second, 30*time.Second))
	p.Conditions = []snapshot.Condition{
		cond("PodReadyToStartContainers", "True", "", "", created.Add(2*time.Second)),
		cond("Initialized", "True", "", "", initialized),
		cond("Ready", "True", "", "", ready),
		cond("ContainersReady", "True", "", "", ready),
		cond("PodScheduled", "True", "", "", created),
	}
	g.s.Pods = append(g.s.Pods, p)
	g.podIP = append(g.podIP, ip)
	return len(g.s.Pods) - 1
}

// complete turns a running pod into a Succeeded one that ran for d.
func (g *gen) complete(i int, d time.Duration) {
	p := &g.s.Pods[i]
	p.Phase = "Succeeded"
	start := *p.Containers[0].State.StartedAt
	fin := start.Add(d)
	for k := range p.Containers {
		c := &p.Containers[k]
		c.Ready = false
		f := false
		c.Started = &f
		c.State = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Completed", StartedAt: tp(start), FinishedAt: tp(fin)}
	}
	setCond(p, "PodReadyToStartContainers", "False", "", "", fin.Add(time.Second))
	setCond(p, "Ready", "False", "PodCompleted", "", fin)
	setCond(p, "ContainersReady", "False", "PodCompleted", "", fin)
}

func setCond(p *snapshot.Pod, t, status, reason, msg string, at time.Time) {
	for i := range p.Conditions {
		if p.Conditions[i].Type == t {
			p.Conditions[i] = cond(t, status, reason, msg, at)
			return
		}
	}
	p.Conditions = append(p.Conditions, cond(t, status, reason, msg, at))
}

func qos(t *podTemplate) string {
	some, guaranteed := false, true
	for _, c := range append(append([]container{}, t.inits...), t.containers...) {
		if len(c.req) > 0 || len(c.lim) > 0 {
			some = true
		}
		if c.lim["cpu"] == 0 || c.lim["memory"] == 0 || (c.req["cpu"] != 0 && c.req["cpu"] != c.lim["cpu"]) ||
			(c.req["memory"] != 0 && c.req["memory"] != c.lim["memory"]) {
			guaranteed = false
		}
	}
	switch {
	case !some:
		return "BestEffort"
	case guaranteed:
		return "Guaranteed"
	}
	return "Burstable"
}

func (g *gen) addWorkload(w *workload) *workload {
	w.pdb, w.hpa = -1, -1
	if w.rs == 0 && w.kind != snapshot.KindDeployment {
		w.rs = -1
	}
	g.ws = append(g.ws, w)
	g.byNS[w.ns] = append(g.byNS[w.ns], w)
	return w
}

// event records an Event; like the API server (default --event-ttl 1h),
// it keeps none last seen more than an hour before the snapshot.
func (g *gen) event(ns string, inv snapshot.ObjectRef, typ, reason, msg, source string, count int32, first, last time.Time) {
	if last.Before(g.at.Add(-time.Hour)) {
		return
	}
	if first.After(last) {
		first = last
	}
	if ns == "" {
		ns = "default"
	}
	g.s.Events = append(g.s.Events, snapshot.Event{
		Namespace: ns, Name: inv.Name + "." + g.hex(16), Involved: inv, Type: typ, Reason: reason,
		Message: msg, Source: source, Count: count, FirstTime: first, LastTime: last,
	})
}

func podRef(p *snapshot.Pod) snapshot.ObjectRef {
	return snapshot.ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
}

func (g *gen) expect(check string, kind snapshot.Kind, ns, name string, f FaultKind, note string) {
	g.expected = append(g.expected, Expect{Check: check, Kind: string(kind), Namespace: ns, Name: name, Fault: f, Note: note})
}

func (g *gen) tolerate(check string, kind snapshot.Kind, ns, name string, f FaultKind, note string) {
	g.tolerated = append(g.tolerated, Expect{Check: check, Kind: string(kind), Namespace: ns, Name: name, Fault: f, Note: note})
}
