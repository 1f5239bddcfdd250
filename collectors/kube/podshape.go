package kube

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	goruntime "runtime"
	"sort"
	"sync"
	"time"
	"weak"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// podShape is what a group of pods shares: a template with every field but
// the per-pod ones (name, UID, resourceVersion, node, labels, restart
// counts and times), which of the pod-level times each pod sets, and the
// shapes of its conditions and containers, shared in turn by other groups
// (every healthy pod has the same conditions but for their times).
type podShape struct {
	id    uint64
	tmpl  snapshot.Pod // no labels, conditions or containers
	flags uint8        // shapeDeletion, shapeStart
	conds *condsShape
	ctrs  *ctrsShape
	ptrs  int // pod-level times behind pointers
}

// condsShape is a list of conditions without their times, and which times
// each sets (condTransition, condHeartbeat, condUpdate).
type condsShape struct {
	id    uint64
	conds []snapshot.Condition
	bits  []uint8
}

// ctrsShape is a pod's init and main containers without restart counts
// and times, and which times each sets (ctrStarted...), init containers
// first.
type ctrsShape struct {
	id         uint64
	init, main []snapshot.Container
	bits       []uint8
	ptrs       int
}

const (
	shapeDeletion uint8 = 1 << iota
	shapeStart
)

const (
	condTransition uint8 = 1 << iota
	condHeartbeat
	condUpdate
)

const (
	ctrStarted uint8 = 1 << iota
	ctrFinished
	ctrLastStarted
	ctrLastFinished
)

// podShapes holds the three tables of shapes.
type podShapes struct {
	pods  *canon[podShape]
	conds *canon[condsShape]
	ctrs  *canon[ctrsShape]
	bufs  sync.Pool
}

func newPodShapes() *podShapes {
	return &podShapes{
		pods: newCanon(func(s *podShape, b []byte) []byte { return podKey(b, &s.tmpl, s.flags, s.conds, s.ctrs) }),
		conds: newCanon(func(s *condsShape, b []byte) []byte {
			return condsKey(b, s.conds, func(i int) uint8 { return s.bits[i] })
		}),
		ctrs: newCanon(func(s *ctrsShape, b []byte) []byte {
			return ctrsKey(b, s.init, s.main, func(i int) uint8 { return s.bits[i] })
		}),
		bufs: sync.Pool{New: func() any { return new([]byte) }},
	}
}

// len reports how many pod shapes are tabled (live or awaiting cleanup).
func (t *podShapes) len() int { return t.pods.len() }

// podShape returns the shape of p, making it (and its condition and
// container shapes) if no live pod has it yet.
func (in *interner) podShape(p *snapshot.Pod) *podShape {
	t := in.shapes
	buf := t.bufs.Get().(*[]byte)
	defer t.bufs.Put(buf)

	*buf = condsKey((*buf)[:0], p.Conditions, func(i int) uint8 { return condBits(&p.Conditions[i]) })
	conds := t.conds.get(*buf, func(id uint64) *condsShape { return in.newCondsShape(id, p.Conditions) })

	ctrBitsOf := func(i int) uint8 {
		if i < len(p.InitContainers) {
			return ctrBits(&p.InitContainers[i])
		}
		return ctrBits(&p.Containers[i-len(p.InitContainers)])
	}
	*buf = ctrsKey((*buf)[:0], p.InitContainers, p.Containers, ctrBitsOf)
	ctrs := t.ctrs.get(*buf, func(id uint64) *ctrsShape { return in.newCtrsShape(id, p.InitContainers, p.Containers) })

	var flags uint8
	if p.DeletionTimestamp != nil {
		flags |= shapeDeletion
	}
	if p.StartTime != nil {
		flags |= shapeStart
	}
	*buf = podKey((*buf)[:0], p, flags, conds, ctrs)
	return t.pods.get(*buf, func(id uint64) *podShape { return in.newPodShape(id, p, flags, conds, ctrs) })
}

func condBits(c *snapshot.Condition) uint8 {
	var bits uint8
	if !c.LastTransitionTime.IsZero() {
		bits |= condTransition
	}
	if !c.LastHeartbeatTime.IsZero() {
		bits |= condHeartbeat
	}
	if !c.LastUpdateTime.IsZero() {
		bits |= condUpdate
	}
	return bits
}

func ctrBits(c *snapshot.Container) uint8 {
	var bits uint8
	for i, t := range [4]*time.Time{c.State.StartedAt, c.State.FinishedAt, c.LastState.StartedAt, c.LastState.FinishedAt} {
		if t != nil {
			bits |= 1 << i
		}
	}
	return bits
}

// newPodShape makes the shape of p: p with its per-pod values, conditions
// and containers cleared and the rest interned.
func (in *interner) newPodShape(id uint64, p *snapshot.Pod, flags uint8, conds *condsShape, ctrs *ctrsShape) *podShape {
	t := *p
	t.Name, t.UID, t.ResourceVersion, t.NodeName, t.Labels = "", "", "", "", nil
	t.CreationTimestamp, t.DeletionTimestamp, t.StartTime = time.Time{}, nil, nil
	t.Conditions, t.InitContainers, t.Containers = nil, nil, nil
	in.meta(&t.Meta)
	t.SchedulerName, t.PriorityClassName, t.ServiceAccount = in.str(t.SchedulerName), in.str(t.PriorityClassName), in.str(t.ServiceAccount)
	t.NodeSelector = in.strMap(t.NodeSelector)
	t.RestartPolicy, t.Phase, t.Reason, t.QOSClass = in.str(t.RestartPolicy), in.str(t.Phase), in.str(t.Reason), in.str(t.QOSClass)
	t.Message = in.str(t.Message)
	if t.GracePeriod != nil {
		t.GracePeriod = new(*t.GracePeriod)
	}
	if len(p.ConfigRefs) > 0 {
		t.ConfigRefs = make([]snapshot.ConfigRef, len(p.ConfigRefs))
		for i, r := range p.ConfigRefs {
			t.ConfigRefs[i] = snapshot.ConfigRef{Kind: in.str(r.Kind), Name: in.str(r.Name), Optional: r.Optional}
		}
	}
	t.Claims = nil
	for _, c := range p.Claims {
		t.Claims = append(t.Claims, in.str(c))
	}
	sh := &podShape{id: id, tmpl: t, flags: flags, conds: conds, ctrs: ctrs}
	for _, set := range []bool{p.DeletionTimestamp != nil, p.StartTime != nil} {
		if set {
			sh.ptrs++
		}
	}
	return sh
}

func (in *interner) newCondsShape(id uint64, cs []snapshot.Condition) *condsShape {
	s := &condsShape{id: id, conds: in.conditions(cs)}
	for i := range s.conds {
		c := &s.conds[i]
		s.bits = append(s.bits, condBits(c))
		c.LastTransitionTime, c.LastHeartbeatTime, c.LastUpdateTime = time.Time{}, time.Time{}, time.Time{}
		c.Message = in.str(c.Message)
	}
	return s
}

func (in *interner) newCtrsShape(id uint64, init, main []snapshot.Container) *ctrsShape {
	s := &ctrsShape{id: id, init: in.containers(init), main: in.containers(main)}
	for _, cs := range [2][]snapshot.Container{s.init, s.main} {
		for i := range cs {
			c := &cs[i]
			bits := ctrBits(c)
			s.bits = append(s.bits, bits)
			for j := range 4 {
				if bits&(1<<j) != 0 {
					s.ptrs++
				}
			}
			c.State.StartedAt, c.State.FinishedAt, c.LastState.StartedAt, c.LastState.FinishedAt = nil, nil, nil, nil
			c.State.Message, c.LastState.Message = in.str(c.State.Message), in.str(c.LastState.Message)
			if c.Started != nil {
				c.Started = new(*c.Started)
			}
			c.RestartCount = 0
		}
	}
	return s
}

// podKey encodes everything a podShape holds of p (a pod, or a shape's
// template): two pods with the same key expand from the same shape.
func podKey(b []byte, p *snapshot.Pod, flags uint8, conds *condsShape, ctrs *ctrsShape) []byte {
	w := keyWriter{b}
	w.num(int64(conds.id))
	w.num(int64(ctrs.id))
	w.num(int64(flags))
	w.str(p.Namespace)
	w.num(p.Generation)
	w.strMap(p.Annotations)
	w.num(int64(len(p.Owners)))
	for _, o := range p.Owners {
		w.str(o.Kind)
		w.str(o.Name)
		w.str(o.UID)
		w.flag(o.Controller)
	}
	w.strs(p.Finalizers)
	w.str(p.SchedulerName)
	w.str(p.PriorityClassName)
	w.str(p.ServiceAccount)
	w.strMap(p.NodeSelector)
	w.str(p.RestartPolicy)
	w.flag(p.GracePeriod != nil)
	if p.GracePeriod != nil {
		w.num(*p.GracePeriod)
	}
	w.str(p.Phase)
	w.str(p.Reason)
	w.str(p.Message)
	w.str(p.QOSClass)
	w.num(int64(len(p.ConfigRefs)))
	for _, r := range p.ConfigRefs {
		w.str(r.Kind)
		w.str(r.Name)
		w.flag(r.Optional)
	}
	w.strs(p.Claims)
	return w.b
}

// condsKey encodes conditions but for their times, of which bits(i) tells
// which condition i sets.
func condsKey(b []byte, cs []snapshot.Condition, bits func(i int) uint8) []byte {
	w := keyWriter{b}
	w.num(int64(len(cs)))
	for i := range cs {
		c := &cs[i]
		w.str(c.Type)
		w.str(c.Status)
		w.str(c.Reason)
		w.str(c.Message)
		w.num(int64(bits(i)))
	}
	return w.b
}

// ctrsKey encodes containers but for their restart counts and times, of
// which bits(i) tells which container i sets (init containers first).
func ctrsKey(b []byte, init, main []snapshot.Container, bits func(i int) uint8) []byte {
	w := keyWriter{b}
	n := 0
	for _, cs := range [2][]snapshot.Container{init, main} {
		w.num(int64(len(cs)))
		for i := range cs {
			c := &cs[i]
			w.str(c.Name)
			w.str(c.Image)
			w.resources(c.Requests)
			w.resources(c.Limits)
			w.flag(c.Ready)
			switch {
			case c.Started == nil:
				w.num(0)
			case *c.Started:
				w.num(1)
			default:
				w.num(2)
			}
			for _, s := range [2]*snapshot.ContainerState{&c.State, &c.LastState} {
				w.str(s.State)
				w.str(s.Reason)
				w.str(s.Message)
				w.num(int64(s.ExitCode))
				w.num(int64(s.Signal))
			}
			w.flag(c.HasStatus)
			w.flag(c.Sidecar)
			w.num(int64(bits(n)))
			n++
		}
	}
	return w.b
}

// keyWriter encodes values unambiguously: strings with their length.
type keyWriter struct{ b []byte }

func (w *keyWriter) num(n int64) { w.b = binary.AppendVarint(w.b, n) }

func (w *keyWriter) flag(f bool) {
	if f {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *keyWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *keyWriter) strs(ss []string) {
	w.num(int64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

func (w *keyWriter) strMap(m map[string]string) {
	w.num(int64(len(m)))
	for _, k := range sortedKeys(m) {
		w.str(k)
		w.str(m[k])
	}
}

func (w *keyWriter) resources(r snapshot.Resources) {
	w.num(int64(len(r)))
	for _, k := range sortedKeys(r) {
		w.str(k)
		w.num(r[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- canonical values ----

// canon hands out one value per key and holds the values weakly: a value
// nothing uses any more is collected and its entry removed, so churn
// (rollouts, jobs) does not accumulate shapes. It keeps a hash of each key,
// not the key: on a hash match it re-encodes the tabled value to compare
// (keyOf), and a collision gets a value of its own, untabled.
type canon[T any] struct {
	keyOf func(v *T, b []byte) []byte

	mu      sync.Mutex
	seed    maphash.Seed
	m       map[uint64]weak.Pointer[T]
	scratch []byte
	lastID  uint64
}

func newCanon[T any](keyOf func(*T, []byte) []byte) *canon[T] {
	return &canon[T]{keyOf: keyOf, seed: maphash.MakeSeed(), m: map[uint64]weak.Pointer[T]{}}
}

// get returns the live value of key, or makes one (with an ID no other
// value of the table has had) and tables it.
func (c *canon[T]) get(key []byte, make func(id uint64) *T) *T {
	h := maphash.Bytes(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID++
	w, ok := c.m[h]
	if ok {
		if v := w.Value(); v != nil {
			c.scratch = c.keyOf(v, c.scratch[:0])
			if bytes.Equal(c.scratch, key) {
				return v
			}
			return make(c.lastID)
		}
	}
	v := make(c.lastID)
	c.m[h] = weak.Make(v)
	goruntime.AddCleanup(v, c.forget, h)
	return v
}

// forget drops a collected value's entry unless a live value took it over.
func (c *canon[T]) forget(h uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.m[h]; ok && w.Value() == nil {
		delete(c.m, h)
	}
}

func (c *canon[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
