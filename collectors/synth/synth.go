// Package synth generates realistic synthetic fleets: a whole cluster's
// snapshot (nodes, control plane, system add-ons, application workloads
// with their owner chains, Services and EndpointSlices, storage, autoscalers,
// budgets, quotas, leases and events) built directly as a
// *snapshot.Snapshot, without an API server.
//
// Everything is healthy unless a fault is injected. Faults are injected at
// a known rate and each one comes with the finding it must produce, so the
// check catalogue can be measured on a known answer: every expected
// finding must fire, and every finding that fires must be explained by an
// injected fault. The same fleets drive the engine benchmarks.
//
// Generation is deterministic: one Options value (Seed included) always
// yields the same snapshot, byte for byte once written.
package synth

import (
	"sort"
	"sync"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// FaultKind is one kind of fault the generator can inject.
type FaultKind string

// The supported faults. Each maps to the check that must report it (see
// FaultKind.Check).
const (
	// NodeNotReady: the kubelet reports Ready=False (CNI not initialised,
	// PLEG unhealthy, runtime down) for a few minutes.
	NodeNotReady FaultKind = "NodeNotReady"
	// NodeUnknown: the kubelet stopped posting status; the node controller
	// set every condition to Unknown and tainted the node unreachable.
	NodeUnknown FaultKind = "NodeUnknown"
	// NodeDiskPressure: DiskPressure=True with the disk-pressure taint.
	NodeDiskPressure FaultKind = "NodeDiskPressure"
	// PodCrashLoop: a container in CrashLoopBackOff, restarted many times,
	// last terminated with exit code 1.
	PodCrashLoop FaultKind = "CrashLoopBackOff"
	// PodOOMKilled: a container restarted after an OOM kill (lastState
	// terminated, reason OOMKilled, exit code 137) and runs again.
	PodOOMKilled FaultKind = "OOMKilled"
	// PodImagePull: a container waiting in ImagePullBackOff on a tag that
	// does not exist.
	PodImagePull FaultKind = "ImagePullBackOff"
	// PodConfigError: a container waiting in CreateContainerConfigError
	// because a referenced ConfigMap does not exist.
	PodConfigError FaultKind = "CreateContainerConfigError"
	// PodUnschedulable: a Pending pod with PodScheduled=False,
	// reason Unschedulable and the scheduler's message.
	PodUnschedulable FaultKind = "Unschedulable"
	// PodEvicted: a Failed pod evicted by the kubelet under memory or
	// ephemeral-storage pressure (its replacement runs elsewhere).
	PodEvicted FaultKind = "Evicted"
	// PVCPending: a claim Pending on a StorageClass that does not exist.
	PVCPending FaultKind = "PVCPending"
	// ServiceNoEndpoints: a Service whose selector matches no pod.
	ServiceNoEndpoints FaultKind = "ServiceNoEndpoints"
	// JobFailed: a Job failed with BackoffLimitExceeded.
	JobFailed FaultKind = "JobFailed"
)

// AllFaults lists every supported fault kind.
var AllFaults = []FaultKind{
	NodeNotReady, NodeUnknown, NodeDiskPressure,
	PodCrashLoop, PodOOMKilled, PodImagePull, PodConfigError, PodUnschedulable, PodEvicted,
	PVCPending, ServiceNoEndpoints, JobFailed,
}

var faultChecks = map[FaultKind]string{
	NodeNotReady:       "node.not_ready",
	NodeUnknown:        "node.unreachable",
	NodeDiskPressure:   "node.disk_pressure",
	PodCrashLoop:       "pod.crash_looping",
	PodOOMKilled:       "pod.oom_killed",
	PodImagePull:       "pod.image_pull_failing",
	PodConfigError:     "pod.config_error",
	PodUnschedulable:   "pod.unschedulable",
	PodEvicted:         "pod.evicted",
	PVCPending:         "pvc.pending",
	ServiceNoEndpoints: "service.no_endpoints",
	JobFailed:          "job.failed",
}

// Check returns the ID of the check that must report the fault.
func (k FaultKind) Check() string { return faultChecks[k] }

// Options shape a generated fleet. Zero values take the defaults noted.
type Options struct {
	// Nodes is the number of nodes, control-plane nodes included
	// (default 10; 3 control-plane nodes from 20 nodes up, 1 below).
	Nodes int
	// Pods is the total number of pods; when 0, PodsPerNode × Nodes
	// (PodsPerNode defaults to 30). DaemonSet, static and Job pods count.
	Pods        int
	PodsPerNode int
	// Namespaces is the number of application namespaces (default: one per
	// ~250 pods, at least 4, at most 400).
	Namespaces int
	// Seed makes the fleet reproducible.
	Seed int64
	// At is the snapshot time (default 2026-05-09T12:00:00Z).
	At time.Time
	// FaultRate is the fraction of objects of each fault's kind that are
	// faulted (0 = a healthy fleet). Each selected fault kind gets at
	// least one instance when FaultRate > 0.
	FaultRate float64
	// Faults selects the fault kinds to inject (default: AllFaults).
	Faults []FaultKind
	// Cluster names the cluster (default "synth").
	Cluster string
}

// DefaultAt is the snapshot time used when Options.At is zero.
var DefaultAt = time.Date(2026, 5, 9, 12, 0, 0, 0, time.UTC)

func (o Options) withDefaults() Options {
	if o.Nodes <= 0 {
		o.Nodes = 10
	}
	if o.PodsPerNode <= 0 {
		o.PodsPerNode = 30
	}
	if o.Pods <= 0 {
		o.Pods = o.PodsPerNode * o.Nodes
	}
	if o.Namespaces <= 0 {
		o.Namespaces = min(max(o.Pods/250, 4), 400)
	}
	if o.At.IsZero() {
		o.At = DefaultAt
	}
	o.At = o.At.UTC().Truncate(time.Second)
	if o.Faults == nil {
		o.Faults = AllFaults
	}
	if o.Cluster == "" {
		o.Cluster = "synth"
	}
	return o
}

// Expect is one finding the fleet must (Generated.Expected) or may
// (Generated.Tolerated) produce. In Tolerated entries an empty Kind,
// Namespace or Name matches any.
type Expect struct {
	Check     string `json:"check"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Fault is the injected fault that explains the finding.
	Fault FaultKind `json:"fault"`
	// Note says why a derived finding is expected.
	Note string `json:"note,omitempty"`
}

// Matches reports whether a finding about (check, kind, namespace, name)
// is the one described; empty fields of e match anything.
func (e Expect) Matches(check, kind, namespace, name string) bool {
	return e.Check == check &&
		(e.Kind == "" || e.Kind == kind) &&
		(e.Namespace == "" || e.Namespace == namespace) &&
		(e.Name == "" || e.Name == name)
}

// Key renders check|Kind/namespace/name, the form checks.Finding.Key uses.
func (e Expect) Key() string {
	if e.Namespace == "" {
		return e.Check + "|" + e.Kind + "/" + e.Name
	}
	return e.Check + "|" + e.Kind + "/" + e.Namespace + "/" + e.Name
}

// Generated is a fleet and its known answer.
type Generated struct {
	Snapshot *snapshot.Snapshot
	// Expected lists the findings that must fire: one per injected fault
	// (the fault's own check), plus the derived findings that follow with
	// certainty:
	//   - deployment.replicas_unavailable for a Deployment whose faulted
	//     pods made its Available condition False for 15 minutes or more;
	//   - service.no_endpoints for a Service whose every selected pod is
	//     not ready because of a pod fault for 15 minutes or more.
	Expected []Expect
	// Tolerated lists derived findings that a check may report but need
	// not (symptoms of an injected fault, whose thresholds are a matter of
	// taste): pod.not_ready, pod.container_waiting, pod.restarting and
	// pod.pending_too_long on faulted pods; pod.not_ready on the pods of a
	// NotReady or unreachable node, and the unavailability of every
	// workload those pods belong to (deployment.replicas_unavailable,
	// statefulset.replicas_not_ready, daemonset.unavailable,
	// kubeproxy.unavailable, dns.coredns_unavailable, service.no_endpoints);
	// node.heartbeat_stale on an unreachable node; pdb.disruptions_blocked
	// where faults left a budget with no disruption allowed;
	// deployment.replicas_unavailable while still inside 15 minutes or
	// within maxUnavailable; events.warning_burst anywhere, since every
	// Warning event in the fleet comes from a fault.
	Tolerated []Expect
	// Injected counts the injected faults by kind.
	Injected map[FaultKind]int

	once  sync.Once
	exact map[string]int // Key → index in Expected, or -1-index in Tolerated
	wild  []Expect
}

// Explains returns the Expected or Tolerated entry that accounts for a
// finding, and whether it was an expected one.
func (g *Generated) Explains(check, kind, namespace, name string) (e Expect, expected, ok bool) {
	g.once.Do(func() {
		g.exact = map[string]int{}
		for i, x := range g.Expected {
			g.exact[x.Key()] = i
		}
		for i, x := range g.Tolerated {
			if x.Kind == "" || x.Name == "" {
				g.wild = append(g.wild, x)
			} else if _, dup := g.exact[x.Key()]; !dup {
				g.exact[x.Key()] = -1 - i
			}
		}
	})
	k := Expect{Check: check, Kind: kind, Namespace: namespace, Name: name}.Key()
	if i, found := g.exact[k]; found {
		if i >= 0 {
			return g.Expected[i], true, true
		}
		return g.Tolerated[-1-i], false, true
	}
	for _, x := range g.wild {
		if x.Matches(check, kind, namespace, name) {
			return x, false, true
		}
	}
	return Expect{}, false, false
}

// Generate builds a fleet.
func Generate(opt Options) *Generated {
	opt = opt.withDefaults()
	g := newGen(opt)
	g.cluster()
	g.system()
	g.apps()
	g.injectFaults()
	g.derive()
	g.normalEvents()
	g.finish()
	out := &Generated{Snapshot: g.s, Injected: g.injected}
	out.Expected = dedupe(g.expected)
	out.Tolerated = dedupe(g.tolerated)
	return out
}

func dedupe(es []Expect) []Expect {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Key() < es[j].Key() })
	out := es[:0]
	seen := map[string]bool{}
	for _, e := range es {
		if k := e.Key(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
