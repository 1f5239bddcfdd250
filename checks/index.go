package checks

import (
	"sort"
	"sync"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Index holds lookups over a snapshot that many checks share. The Runner
// builds it once per snapshot; checks only read it.
type Index struct {
	Nodes          map[string]*snapshot.Node
	PodsByNode     map[string][]*snapshot.Pod
	PodsByOwnerUID map[string][]*snapshot.Pod
	// PodsByNamespace keeps pods in snapshot order.
	PodsByNamespace map[string][]*snapshot.Pod
	ReplicaSets     map[string]*snapshot.ReplicaSet // by UID
	Deployments     map[string]*snapshot.Deployment // by UID
	Services        map[string]*snapshot.Service    // by namespace/name
	SlicesByService map[string][]*snapshot.EndpointSlice
	Leases          map[string]*snapshot.Lease // by namespace/name
	StorageClasses  map[string]*snapshot.StorageClass
	// Events by involved object (kind/namespace/name), newest last.
	Events map[string][]*snapshot.Event
	Jobs   map[string]*snapshot.Job // by UID

	mu     sync.Mutex
	shared map[any]*sharedValue
}

type sharedValue struct {
	once     sync.Once
	v        any
	panicked any
}

// Shared returns build's value for key, computing it once per Index: the
// checks of a family that need the same derived lookup (ReplicaSets by
// owning Deployment, say) share one computation per snapshot. key should
// be a value of a type private to the caller's package; build must only
// read the snapshot. Concurrent callers with the same key wait for the
// first one's build.
func Shared[T any](ix *Index, key any, build func() T) T {
	ix.mu.Lock()
	if ix.shared == nil {
		ix.shared = map[any]*sharedValue{}
	}
	sv := ix.shared[key]
	if sv == nil {
		sv = &sharedValue{}
		ix.shared[key] = sv
	}
	ix.mu.Unlock()
	sv.once.Do(func() {
		defer func() { sv.panicked = recover() }()
		sv.v = build()
	})
	if sv.panicked != nil {
		panic(sv.panicked)
	}
	v, _ := sv.v.(T)
	return v
}

// NN joins a namespace and a name.
func NN(ns, name string) string { return ns + "/" + name }

// ObjKey is the key of Index.Events.
func ObjKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// NewIndex builds the index for s. The maps are built concurrently (each
// by one goroutine, over the snapshot in order), so that a fleet's index
// does not hold up every check for long.
func NewIndex(s *snapshot.Snapshot) *Index {
	ix := &Index{}
	pod := func(i int) *snapshot.Pod { return &s.Pods[i] }
	var wg sync.WaitGroup
	wg.Go(func() {
		ix.PodsByNode = groupBy(len(s.Pods), len(s.Nodes), func(i int) (string, bool) {
			return s.Pods[i].NodeName, s.Pods[i].NodeName != ""
		}, pod)
	})
	wg.Go(func() {
		owners := len(s.ReplicaSets) + len(s.StatefulSets) + len(s.DaemonSets) + len(s.Jobs)
		ix.PodsByOwnerUID = groupBy(len(s.Pods), owners, func(i int) (string, bool) {
			o, ok := s.Pods[i].Controller()
			return o.UID, ok && o.UID != ""
		}, pod)
	})
	wg.Go(func() {
		ix.PodsByNamespace = groupBy(len(s.Pods), len(s.Namespaces), func(i int) (string, bool) { return s.Pods[i].Namespace, true }, pod)
	})
	wg.Go(func() {
		ix.Events = groupBy(len(s.Events), len(s.Events)/2, func(i int) (string, bool) {
			e := &s.Events[i]
			return ObjKey(e.Involved.Kind, e.Involved.Namespace, e.Involved.Name), true
		}, func(i int) *snapshot.Event { return &s.Events[i] })
		for _, evs := range ix.Events {
			less := func(a, b int) bool { return evs[a].LastTime.Before(evs[b].LastTime) }
			// Events mostly come sorted already; a stable sort leaves a
			// sorted list as it is.
			if !sort.SliceIsSorted(evs, less) {
				sort.SliceStable(evs, less)
			}
		}
	})
	wg.Go(func() {
		ix.Nodes = make(map[string]*snapshot.Node, len(s.Nodes))
		for i := range s.Nodes {
			ix.Nodes[s.Nodes[i].Name] = &s.Nodes[i]
		}
		ix.ReplicaSets = make(map[string]*snapshot.ReplicaSet, len(s.ReplicaSets))
		for i := range s.ReplicaSets {
			ix.ReplicaSets[s.ReplicaSets[i].UID] = &s.ReplicaSets[i]
		}
		ix.Deployments = make(map[string]*snapshot.Deployment, len(s.Deployments))
		for i := range s.Deployments {
			ix.Deployments[s.Deployments[i].UID] = &s.Deployments[i]
		}
		ix.Jobs = make(map[string]*snapshot.Job, len(s.Jobs))
		for i := range s.Jobs {
			ix.Jobs[s.Jobs[i].UID] = &s.Jobs[i]
		}
	})
	wg.Go(func() {
		ix.Services = make(map[string]*snapshot.Service, len(s.Services))
		for i := range s.Services {
			sv := &s.Services[i]
			ix.Services[NN(sv.Namespace, sv.Name)] = sv
		}
		ix.SlicesByService = groupBy(len(s.EndpointSlices), len(s.Services), func(i int) (string, bool) {
			es := &s.EndpointSlices[i]
			return NN(es.Namespace, es.ServiceName), es.ServiceName != ""
		}, func(i int) *snapshot.EndpointSlice { return &s.EndpointSlices[i] })
		ix.Leases = make(map[string]*snapshot.Lease, len(s.Leases))
		for i := range s.Leases {
			l := &s.Leases[i]
			ix.Leases[NN(l.Namespace, l.Name)] = l
		}
		ix.StorageClasses = make(map[string]*snapshot.StorageClass, len(s.StorageClasses))
		for i := range s.StorageClasses {
			ix.StorageClasses[s.StorageClasses[i].Name] = &s.StorageClasses[i]
		}
	})
	wg.Wait()
	return ix
}

// groupBy groups item(i) for i < n by key(i), keeping their order; items
// whose key is not ok are left out, and groups guesses how many groups
// there are. Snapshots list objects sorted by namespace and name, so
// consecutive items often share a key (the pods of one ReplicaSet, of one
// namespace): the previous item's group is tried before the map. The
// groups are counted first and share one backing array, capped so that an
// append to one never overwrites the next.
func groupBy[T any](n, groups int, key func(i int) (string, bool), item func(i int) T) map[string][]T {
	at := make(map[string]int, groups)
	keys := make([]string, 0, groups)
	counts := make([]int, 0, groups)
	of := make([]int32, n) // each item's group, -1 when left out
	last, total := -1, 0
	for i := range n {
		k, ok := key(i)
		if !ok {
			of[i] = -1
			continue
		}
		g := last
		if g < 0 || keys[g] != k {
			if g, ok = at[k]; !ok {
				g = len(keys)
				at[k] = g
				keys = append(keys, k)
				counts = append(counts, 0)
			}
			last = g
		}
		of[i] = int32(g)
		counts[g]++
		total++
	}
	vals := make([][]T, len(keys))
	all := make([]T, total)
	off := 0
	for g, c := range counts {
		vals[g] = all[off : off : off+c]
		off += c
	}
	for i, g := range of {
		if g >= 0 {
			vals[g] = append(vals[g], item(i))
		}
	}
	m := make(map[string][]T, len(keys))
	for g, k := range keys {
		m[k] = vals[g]
	}
	return m
}

// EventsFor returns the events about one object, oldest first.
func (ix *Index) EventsFor(kind snapshot.Kind, ns, name string) []*snapshot.Event {
	return ix.Events[ObjKey(string(kind), ns, name)]
}

// LatestEvent returns the newest event about an object whose reason is one
// of reasons (any reason when none are given).
func (ix *Index) LatestEvent(kind snapshot.Kind, ns, name string, reasons ...string) *snapshot.Event {
	evs := ix.EventsFor(kind, ns, name)
	for i := len(evs) - 1; i >= 0; i-- {
		if len(reasons) == 0 {
			return evs[i]
		}
		for _, r := range reasons {
			if evs[i].Reason == r {
				return evs[i]
			}
		}
	}
	return nil
}

// WorkloadOf walks a pod's controller chain to its top-level workload
// (a ReplicaSet resolves to its Deployment, a Job to its CronJob).
func (ix *Index) WorkloadOf(p *snapshot.Pod) (kind, name string, ok bool) {
	o, ok := p.Controller()
	if !ok {
		return "", "", false
	}
	switch o.Kind {
	case "ReplicaSet":
		if rs := ix.ReplicaSets[o.UID]; rs != nil {
			if d, ok := rs.Controller(); ok && d.Kind == "Deployment" {
				return "Deployment", d.Name, true
			}
		}
	case "Job":
		if j := ix.Jobs[o.UID]; j != nil {
			if c, ok := j.Controller(); ok && c.Kind == "CronJob" {
				return "CronJob", c.Name, true
			}
		}
	}
	return o.Kind, o.Name, true
}

// ReadyEndpoints counts ready endpoints over every slice of a Service.
func (ix *Index) ReadyEndpoints(ns, svc string) (ready, total int) {
	for _, es := range ix.SlicesByService[NN(ns, svc)] {
		for _, e := range es.Endpoints {
			total++
			if e.Ready {
				ready++
			}
		}
	}
	return ready, total
}
