package kube

import (
	"encoding/binary"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// The pod cache is the one that grows with the cluster: a large fleet has
// tens of pods per node, most of them replicas that differ only in name,
// UID, node, restart counts and timestamps. So the pod informer does not
// keep a snapshot.Pod per pod (about 1.6 KB once its conditions and
// containers are counted) but a podRec: a pointer to a podShape that the
// pod's siblings share (what they have in common, see podshape.go), the
// pod's labels (shared too, but kept apart since StatefulSet pods each
// carry their own), and one packed string of what is the pod's own.
// Snapshot expands each podRec back to the snapshot.Pod the projection
// produced, field for field.

// podRec is one pod in the pod informer's cache.
type podRec struct {
	objectMetaStub
	shape  *podShape
	labels map[string]string
	// data packs the pod's own values: the cache key ("namespace/name"),
	// the UID, the resourceVersion, the node name, then varints: the
	// creation time (seconds, nanoseconds), every other time the shape
	// marks as set (seconds after the creation time, nanoseconds), in the
	// order pod reads them, and each container's restart count.
	data                                   string
	nameAt, keyEnd, uidEnd, rvEnd, nodeEnd uint16
}

// key returns the pod's cache key, "namespace/name", as client-go's
// MetaNamespaceKeyFunc computes it.
func (r *podRec) key() string { return r.data[:r.keyEnd] }

func (r *podRec) nsName() (string, string) {
	if r.nameAt == 0 {
		return "", r.data[:r.keyEnd]
	}
	return r.data[:r.nameAt-1], r.data[r.nameAt:r.keyEnd]
}

// pod expands the record into the snapshot.Pod it was made from. Its
// maps, strings and pointers other than times are shared with the shape and
// the record: read-only, as every snapshot value is.
func (r *podRec) pod() snapshot.Pod {
	sh := r.shape
	p := sh.tmpl
	p.Labels = r.labels
	_, p.Name = r.nsName()
	p.UID, p.ResourceVersion, p.NodeName = r.data[r.keyEnd:r.uidEnd], r.data[r.uidEnd:r.rvEnd], r.data[r.rvEnd:r.nodeEnd]
	d := varints{s: r.data, i: int(r.nodeEnd)}
	base := d.varint()
	p.CreationTimestamp = time.Unix(base, int64(d.uvarint())).UTC()
	var ptrs []time.Time
	if n := sh.ptrs + sh.ctrs.ptrs; n > 0 {
		ptrs = make([]time.Time, 0, n)
	}
	ptr := func() *time.Time {
		ptrs = append(ptrs, d.time(base))
		return &ptrs[len(ptrs)-1]
	}
	if sh.flags&shapeDeletion != 0 {
		p.DeletionTimestamp = ptr()
	}
	if sh.flags&shapeStart != 0 {
		p.StartTime = ptr()
	}
	if cs := sh.conds; len(cs.conds) > 0 {
		p.Conditions = make([]snapshot.Condition, len(cs.conds))
		copy(p.Conditions, cs.conds)
		for i := range p.Conditions {
			c, bits := &p.Conditions[i], cs.bits[i]
			if bits&condTransition != 0 {
				c.LastTransitionTime = d.time(base)
			}
			if bits&condHeartbeat != 0 {
				c.LastHeartbeatTime = d.time(base)
			}
			if bits&condUpdate != 0 {
				c.LastUpdateTime = d.time(base)
			}
		}
	}
	bits := sh.ctrs.bits
	for _, pair := range [2]struct {
		dst *[]snapshot.Container
		src []snapshot.Container
	}{{&p.InitContainers, sh.ctrs.init}, {&p.Containers, sh.ctrs.main}} {
		if len(pair.src) == 0 {
			continue
		}
		out := make([]snapshot.Container, len(pair.src))
		copy(out, pair.src)
		for i := range out {
			c, b := &out[i], bits[0]
			bits = bits[1:]
			c.RestartCount = int32(d.varint())
			if b&ctrStarted != 0 {
				c.State.StartedAt = ptr()
			}
			if b&ctrFinished != 0 {
				c.State.FinishedAt = ptr()
			}
			if b&ctrLastStarted != 0 {
				c.LastState.StartedAt = ptr()
			}
			if b&ctrLastFinished != 0 {
				c.LastState.FinishedAt = ptr()
			}
		}
		*pair.dst = out
	}
	return p
}

// compactPod returns the cache record of p (a projection, as interner.pod
// would keep it), or, when p cannot be packed without loss (a time not in
// UTC, names too long for the offsets), p itself.
func (in *interner) compactPod(p snapshot.Pod) cached {
	if !packable(&p) {
		return wrap(in.pod(p), metaOf)
	}
	sh := in.podShape(&p)
	r := &podRec{shape: sh, labels: in.strMap(p.Labels)}

	n := len(p.Namespace) + 1 + len(p.Name) + len(p.UID) + len(p.ResourceVersion) + len(p.NodeName) +
		8 + 4*(sh.ptrs+sh.ctrs.ptrs+3*len(sh.conds.bits)+len(sh.ctrs.bits))
	b := make([]byte, 0, n)
	if p.Namespace != "" {
		b = append(append(b, p.Namespace...), '/')
		r.nameAt = uint16(len(b))
	}
	b = append(b, p.Name...)
	r.keyEnd = uint16(len(b))
	b = append(b, p.UID...)
	r.uidEnd = uint16(len(b))
	b = append(b, p.ResourceVersion...)
	r.rvEnd = uint16(len(b))
	b = append(b, p.NodeName...)
	r.nodeEnd = uint16(len(b))

	base := p.CreationTimestamp.Unix()
	b = binary.AppendVarint(b, base)
	b = binary.AppendUvarint(b, uint64(p.CreationTimestamp.Nanosecond()))
	if p.DeletionTimestamp != nil {
		b = appendTime(b, *p.DeletionTimestamp, base)
	}
	if p.StartTime != nil {
		b = appendTime(b, *p.StartTime, base)
	}
	for _, c := range p.Conditions {
		for _, t := range [3]time.Time{c.LastTransitionTime, c.LastHeartbeatTime, c.LastUpdateTime} {
			if !t.IsZero() {
				b = appendTime(b, t, base)
			}
		}
	}
	for _, cs := range [2][]snapshot.Container{p.InitContainers, p.Containers} {
		for _, c := range cs {
			b = binary.AppendVarint(b, int64(c.RestartCount))
			for _, t := range [4]*time.Time{c.State.StartedAt, c.State.FinishedAt, c.LastState.StartedAt, c.LastState.FinishedAt} {
				if t != nil {
					b = appendTime(b, *t, base)
				}
			}
		}
	}
	r.data = string(b)
	return r
}

// packable reports whether p round-trips through a podRec: its offsets fit
// and every time is a UTC wall time (as the projection makes them), which
// time.Unix(...).UTC() gives back exactly.
func packable(p *snapshot.Pod) bool {
	if len(p.Namespace)+1+len(p.Name)+len(p.UID)+len(p.ResourceVersion)+len(p.NodeName) > math.MaxUint16 {
		return false
	}
	ok := func(t time.Time) bool { return t.Location() == time.UTC && t == t.Round(0) }
	okp := func(t *time.Time) bool { return t == nil || ok(*t) }
	if !ok(p.CreationTimestamp) || !okp(p.DeletionTimestamp) || !okp(p.StartTime) {
		return false
	}
	for _, c := range p.Conditions {
		if !ok(c.LastTransitionTime) || !ok(c.LastHeartbeatTime) || !ok(c.LastUpdateTime) {
			return false
		}
	}
	for _, cs := range [2][]snapshot.Container{p.InitContainers, p.Containers} {
		for _, c := range cs {
			if !okp(c.State.StartedAt) || !okp(c.State.FinishedAt) || !okp(c.LastState.StartedAt) || !okp(c.LastState.FinishedAt) {
				return false
			}
		}
	}
	return true
}

func appendTime(b []byte, t time.Time, base int64) []byte {
	b = binary.AppendVarint(b, t.Unix()-base)
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// varints reads what binary.AppendVarint and AppendUvarint wrote into a
// string, without copying it.
type varints struct {
	s string
	i int
}

func (d *varints) uvarint() uint64 {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		c := d.s[d.i]
		d.i++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
}

func (d *varints) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *varints) time(base int64) time.Time {
	s := base + d.varint()
	return time.Unix(s, int64(d.uvarint())).UTC()
}

// GetNamespace and GetName key the record in client-go's stores. They
// report the whole key "namespace/name" as the name and no namespace, so
// that the key functions (namespace + "/" + name, or the name alone when
// the namespace is empty) return the record's own string instead of
// allocating one per pod: the key is the same, and the stores hold no
// other copy of it.
func (r *podRec) GetNamespace() string { return "" }

// GetName returns the cache key; see GetNamespace.
func (r *podRec) GetName() string { return r.key() }

// GetObjectKind implements runtime.Object.
func (r *podRec) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns r itself: cached records are never modified.
func (r *podRec) DeepCopyObject() runtime.Object { return r }
