package checks

import (
	"sort"

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
}

// NN joins a namespace and a name.
func NN(ns, name string) string { return ns + "/" + name }

// ObjKey is the key of Index.Events.
func ObjKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// NewIndex builds the index for s.
func NewIndex(s *snapshot.Snapshot) *Index {
	ix := &Index{
		Nodes:           make(map[string]*snapshot.Node, len(s.Nodes)),
		PodsByNode:      make(map[string][]*snapshot.Pod, len(s.Nodes)),
		PodsByOwnerUID:  make(map[string][]*snapshot.Pod),
		PodsByNamespace: make(map[string][]*snapshot.Pod),
		ReplicaSets:     make(map[string]*snapshot.ReplicaSet, len(s.ReplicaSets)),
		Deployments:     make(map[string]*snapshot.Deployment, len(s.Deployments)),
		Services:        make(map[string]*snapshot.Service, len(s.Services)),
		SlicesByService: make(map[string][]*snapshot.EndpointSlice, len(s.EndpointSlices)),
		Leases:          make(map[string]*snapshot.Lease, len(s.Leases)),
		StorageClasses:  make(map[string]*snapshot.StorageClass, len(s.StorageClasses)),
		Events:          make(map[string][]*snapshot.Event),
		Jobs:            make(map[string]*snapshot.Job, len(s.Jobs)),
	}
	for i := range s.Nodes {
		ix.Nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.NodeName != "" {
			ix.PodsByNode[p.NodeName] = append(ix.PodsByNode[p.NodeName], p)
		}
		if o, ok := p.Controller(); ok && o.UID != "" {
			ix.PodsByOwnerUID[o.UID] = append(ix.PodsByOwnerUID[o.UID], p)
		}
		ix.PodsByNamespace[p.Namespace] = append(ix.PodsByNamespace[p.Namespace], p)
	}
	for i := range s.ReplicaSets {
		ix.ReplicaSets[s.ReplicaSets[i].UID] = &s.ReplicaSets[i]
	}
	for i := range s.Deployments {
		ix.Deployments[s.Deployments[i].UID] = &s.Deployments[i]
	}
	for i := range s.Services {
		sv := &s.Services[i]
		ix.Services[NN(sv.Namespace, sv.Name)] = sv
	}
	for i := range s.EndpointSlices {
		es := &s.EndpointSlices[i]
		if es.ServiceName != "" {
			k := NN(es.Namespace, es.ServiceName)
			ix.SlicesByService[k] = append(ix.SlicesByService[k], es)
		}
	}
	for i := range s.Leases {
		l := &s.Leases[i]
		ix.Leases[NN(l.Namespace, l.Name)] = l
	}
	for i := range s.StorageClasses {
		ix.StorageClasses[s.StorageClasses[i].Name] = &s.StorageClasses[i]
	}
	for i := range s.Jobs {
		ix.Jobs[s.Jobs[i].UID] = &s.Jobs[i]
	}
	for i := range s.Events {
		e := &s.Events[i]
		k := ObjKey(e.Involved.Kind, e.Involved.Namespace, e.Involved.Name)
		ix.Events[k] = append(ix.Events[k], e)
	}
	for _, evs := range ix.Events {
		sort.SliceStable(evs, func(a, b int) bool { return evs[a].LastTime.Before(evs[b].LastTime) })
	}
	return ix
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
