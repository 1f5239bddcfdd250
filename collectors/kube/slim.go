package kube

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// metaView presents slim metadata as metav1.Object, read-only, so that
// client-go's stores can key slim objects. Setters do nothing.
type metaView snapshot.Meta

func (m *metaView) GetNamespace() string                          { return m.Namespace }
func (m *metaView) SetNamespace(string)                           {}
func (m *metaView) GetName() string                               { return m.Name }
func (m *metaView) SetName(string)                                {}
func (m *metaView) GetGenerateName() string                       { return "" }
func (m *metaView) SetGenerateName(string)                        {}
func (m *metaView) GetUID() types.UID                             { return types.UID(m.UID) }
func (m *metaView) SetUID(types.UID)                              {}
func (m *metaView) GetResourceVersion() string                    { return m.ResourceVersion }
func (m *metaView) SetResourceVersion(string)                     {}
func (m *metaView) GetGeneration() int64                          { return m.Generation }
func (m *metaView) SetGeneration(int64)                           {}
func (m *metaView) GetSelfLink() string                           { return "" }
func (m *metaView) SetSelfLink(string)                            {}
func (m *metaView) GetCreationTimestamp() metav1.Time             { return metav1.NewTime(m.CreationTimestamp) }
func (m *metaView) SetCreationTimestamp(metav1.Time)              {}
func (m *metaView) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *metaView) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *metaView) GetLabels() map[string]string                  { return m.Labels }
func (m *metaView) SetLabels(map[string]string)                   {}
func (m *metaView) GetAnnotations() map[string]string             { return m.Annotations }
func (m *metaView) SetAnnotations(map[string]string)              {}
func (m *metaView) GetFinalizers() []string                       { return m.Finalizers }
func (m *metaView) SetFinalizers([]string)                        {}
func (m *metaView) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *metaView) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *metaView) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *metaView) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
func (m *metaView) SetDeletionTimestamp(*metav1.Time)             {}
func (m *metaView) GetDeletionTimestamp() *metav1.Time {
	if m.DeletionTimestamp == nil {
		return nil
	}
	t := metav1.NewTime(*m.DeletionTimestamp)
	return &t
}

// objectMetaStub implements the rest of metav1.Object for a cached type
// that provides only GetNamespace and GetName (what client-go's key
// functions read): every other getter returns the zero value, setters do
// nothing.
type objectMetaStub struct{}

func (objectMetaStub) GetGenerateName() string                       { return "" }
func (objectMetaStub) SetGenerateName(string)                        {}
func (objectMetaStub) SetNamespace(string)                           {}
func (objectMetaStub) SetName(string)                                {}
func (objectMetaStub) GetUID() types.UID                             { return "" }
func (objectMetaStub) SetUID(types.UID)                              {}
func (objectMetaStub) GetResourceVersion() string                    { return "" }
func (objectMetaStub) SetResourceVersion(string)                     {}
func (objectMetaStub) GetGeneration() int64                          { return 0 }
func (objectMetaStub) SetGeneration(int64)                           {}
func (objectMetaStub) GetSelfLink() string                           { return "" }
func (objectMetaStub) SetSelfLink(string)                            {}
func (objectMetaStub) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (objectMetaStub) SetCreationTimestamp(metav1.Time)              {}
func (objectMetaStub) GetDeletionTimestamp() *metav1.Time            { return nil }
func (objectMetaStub) SetDeletionTimestamp(*metav1.Time)             {}
func (objectMetaStub) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (objectMetaStub) SetDeletionGracePeriodSeconds(*int64)          {}
func (objectMetaStub) GetLabels() map[string]string                  { return nil }
func (objectMetaStub) SetLabels(map[string]string)                   {}
func (objectMetaStub) GetAnnotations() map[string]string             { return nil }
func (objectMetaStub) SetAnnotations(map[string]string)              {}
func (objectMetaStub) GetFinalizers() []string                       { return nil }
func (objectMetaStub) SetFinalizers([]string)                        {}
func (objectMetaStub) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (objectMetaStub) SetOwnerReferences([]metav1.OwnerReference)    {}
func (objectMetaStub) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (objectMetaStub) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// interner shares what many cached objects repeat: strings (namespaces,
// node names, images, label keys and values, condition types and reasons),
// identical maps and small slices (the labels, requests and limits of a
// ReplicaSet's pods) through content keyed tables, and what sibling pods
// have in common (podShapes). Shared values are read-only, as every
// snapshot value is.
type interner struct {
	shapes *podShapes

	mu   sync.Mutex
	strs map[string]string
	maps map[string]map[string]string
	res  map[string]snapshot.Resources
	refs map[string][]snapshot.ConfigRef
	own  map[string][]snapshot.OwnerRef
}

// maxShared bounds each content table, and maxStrings the string table;
// past it a table starts afresh (values already shared stay shared).
const (
	maxShared  = 1 << 16
	maxStrings = 1 << 17
)

func newInterner() *interner {
	in := &interner{shapes: newPodShapes(), strs: map[string]string{}}
	in.reset()
	return in
}

func (in *interner) reset() {
	in.maps = map[string]map[string]string{}
	in.res = map[string]snapshot.Resources{}
	in.refs = map[string][]snapshot.ConfigRef{}
	in.own = map[string][]snapshot.OwnerRef{}
}

// str returns the shared copy of s. The table holds its strings: the
// unique package alone would not do, since it forgets a string at the
// first GC after its last Handle is dropped, and keeping only the string
// (Value) does not keep the Handle.
func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if got, ok := in.strs[s]; ok {
		return got
	}
	if len(in.strs) >= maxStrings {
		in.strs = map[string]string{}
	}
	s = strings.Clone(s)
	in.strs[s] = s
	return s
}

func shared[V any](in *interner, table *map[string]V, key string, v V) V {
	in.mu.Lock()
	defer in.mu.Unlock()
	if got, ok := (*table)[key]; ok {
		return got
	}
	if len(*table) >= maxShared {
		in.reset()
	}
	(*table)[key] = v
	return v
}

func (in *interner) strMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	keys := sortedKeys(m)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	key := b.String()
	in.mu.Lock()
	got, ok := in.maps[key]
	in.mu.Unlock()
	if ok {
		return got
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[in.str(k)] = in.str(v)
	}
	return shared(in, &in.maps, key, out)
}

func (in *interner) resources(r snapshot.Resources) snapshot.Resources {
	if len(r) == 0 {
		return nil
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(r[k], 10))
		b.WriteByte(0)
	}
	key := b.String()
	in.mu.Lock()
	got, ok := in.res[key]
	in.mu.Unlock()
	if ok {
		return got
	}
	out := make(snapshot.Resources, len(r))
	for k, v := range r {
		out[in.str(k)] = v
	}
	return shared(in, &in.res, key, out)
}

func (in *interner) meta(m *snapshot.Meta) {
	m.Namespace = in.str(m.Namespace)
	m.Labels = in.strMap(m.Labels)
	m.Annotations = in.strMap(m.Annotations)
	if len(m.Finalizers) > 0 {
		fs := make([]string, len(m.Finalizers))
		for i, f := range m.Finalizers {
			fs[i] = in.str(f)
		}
		m.Finalizers = fs
	} else {
		m.Finalizers = nil
	}
	if len(m.Owners) > 0 {
		var b strings.Builder
		for _, o := range m.Owners {
			b.WriteString(o.Kind + "\x00" + o.Name + "\x00" + o.UID + "\x00" + strconv.FormatBool(o.Controller) + "\x00")
		}
		key := b.String()
		in.mu.Lock()
		got, ok := in.own[key]
		in.mu.Unlock()
		if ok {
			m.Owners = got
		} else {
			owners := make([]snapshot.OwnerRef, len(m.Owners))
			for i, o := range m.Owners {
				owners[i] = snapshot.OwnerRef{Kind: in.str(o.Kind), Name: in.str(o.Name), UID: in.str(o.UID), Controller: o.Controller}
			}
			m.Owners = shared(in, &in.own, key, owners)
		}
	}
}

func (in *interner) conditions(cs []snapshot.Condition) []snapshot.Condition {
	if len(cs) == 0 {
		return nil
	}
	out := make([]snapshot.Condition, len(cs))
	for i, c := range cs {
		c.Type, c.Status, c.Reason = in.str(c.Type), in.str(c.Status), in.str(c.Reason)
		out[i] = c
	}
	return out
}

func (in *interner) containers(cs []snapshot.Container) []snapshot.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]snapshot.Container, len(cs))
	for i, c := range cs {
		c.Name, c.Image = in.str(c.Name), in.str(c.Image)
		c.Requests, c.Limits = in.resources(c.Requests), in.resources(c.Limits)
		c.State.State, c.State.Reason = in.str(c.State.State), in.str(c.State.Reason)
		c.LastState.State, c.LastState.Reason = in.str(c.LastState.State), in.str(c.LastState.Reason)
		out[i] = c
	}
	return out
}

func (in *interner) pod(p snapshot.Pod) snapshot.Pod {
	in.meta(&p.Meta)
	p.NodeName, p.SchedulerName = in.str(p.NodeName), in.str(p.SchedulerName)
	p.PriorityClassName, p.ServiceAccount = in.str(p.PriorityClassName), in.str(p.ServiceAccount)
	p.NodeSelector = in.strMap(p.NodeSelector)
	p.RestartPolicy, p.Phase, p.Reason, p.QOSClass = in.str(p.RestartPolicy), in.str(p.Phase), in.str(p.Reason), in.str(p.QOSClass)
	p.Conditions = in.conditions(p.Conditions)
	p.InitContainers = in.containers(p.InitContainers)
	p.Containers = in.containers(p.Containers)
	if len(p.ConfigRefs) > 0 {
		var b strings.Builder
		for _, r := range p.ConfigRefs {
			b.WriteString(r.Kind + "\x00" + r.Name + "\x00" + strconv.FormatBool(r.Optional) + "\x00")
		}
		key := b.String()
		in.mu.Lock()
		got, ok := in.refs[key]
		in.mu.Unlock()
		if ok {
			p.ConfigRefs = got
		} else {
			refs := make([]snapshot.ConfigRef, len(p.ConfigRefs))
			for i, r := range p.ConfigRefs {
				refs[i] = snapshot.ConfigRef{Kind: in.str(r.Kind), Name: in.str(r.Name), Optional: r.Optional}
			}
			p.ConfigRefs = shared(in, &in.refs, key, refs)
		}
	}
	return p
}

func (in *interner) node(n snapshot.Node) snapshot.Node {
	in.meta(&n.Meta)
	n.Conditions = in.conditions(n.Conditions)
	n.KubeletVersion, n.ContainerRuntime, n.OSImage = in.str(n.KubeletVersion), in.str(n.ContainerRuntime), in.str(n.OSImage)
	n.Capacity, n.Allocatable = in.resources(n.Capacity), in.resources(n.Allocatable)
	return n
}

func (in *interner) namespace(n snapshot.Namespace) snapshot.Namespace {
	in.meta(&n.Meta)
	n.Phase = in.str(n.Phase)
	return n
}

func (in *interner) event(e snapshot.Event) snapshot.Event {
	e.Namespace, e.Type, e.Reason, e.Source = in.str(e.Namespace), in.str(e.Type), in.str(e.Reason), in.str(e.Source)
	e.Involved.Kind, e.Involved.Namespace = in.str(e.Involved.Kind), in.str(e.Involved.Namespace)
	return e
}

func (in *interner) deployment(d snapshot.Deployment) snapshot.Deployment {
	in.meta(&d.Meta)
	d.Conditions = in.conditions(d.Conditions)
	return d
}

func (in *interner) replicaSet(r snapshot.ReplicaSet) snapshot.ReplicaSet {
	in.meta(&r.Meta)
	r.Conditions = in.conditions(r.Conditions)
	return r
}

func (in *interner) service(s snapshot.Service) snapshot.Service {
	in.meta(&s.Meta)
	s.Selector = in.strMap(s.Selector)
	s.Type = in.str(s.Type)
	return s
}

func (in *interner) endpointSlice(e snapshot.EndpointSlice) snapshot.EndpointSlice {
	in.meta(&e.Meta)
	e.ServiceName, e.AddressType = in.str(e.ServiceName), in.str(e.AddressType)
	for i := range e.Endpoints {
		e.Endpoints[i].NodeName = in.str(e.Endpoints[i].NodeName)
		if t := e.Endpoints[i].Target; t != nil {
			t.Kind, t.Namespace = in.str(t.Kind), in.str(t.Namespace)
		}
	}
	return e
}

func (in *interner) lease(l snapshot.Lease) snapshot.Lease {
	in.meta(&l.Meta)
	l.HolderIdentity = in.str(l.HolderIdentity)
	return l
}
