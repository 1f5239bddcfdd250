package kube

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kubepatrol/patrol/collectors/convert"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestPodRecRoundTrip checks that the pod cache gives back, field for
// field, the projection it was handed, for pods as the API server serves
// them.
func TestPodRecRoundTrip(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(s) * time.Second)) }
	tests := []struct {
		name   string
		pod    func() corev1.Pod
		packed bool
	}{
		{"fleet pod", func() corev1.Pod { return benchPod(7) }, true},
		{"crash looping with init containers and a sidecar", func() corev1.Pod {
			p := benchPod(8)
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "migrate:1"},
				{Name: "proxy", Image: "proxy:2", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "Completed", StartedAt: at(-50), FinishedAt: metav1.NewTime(now.Add(-40*time.Second + 123456789))}}},
				{Name: "proxy", Started: ptr.To(false), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(-39)}}},
			}
			p.Status.ContainerStatuses[0].RestartCount = 41
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=app pod=" + p.Name}}
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Signal: 9, Reason: "OOMKilled", StartedAt: at(-400), FinishedAt: at(-300)}}
			p.Status.Conditions[2] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
				Message: "containers with unready status: [app]", LastTransitionTime: at(-300), LastProbeTime: at(-1)}
			return p
		}, true},
		{"terminating, evicted, no start time", func() corev1.Pod {
			p := benchPod(9)
			p.DeletionTimestamp = ptr.To(at(-5))
			p.Finalizers = []string{"example.com/drain"}
			p.Status.StartTime = nil
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: "TerminationByKubelet", LastTransitionTime: at(-6)})
			return p
		}, true},
		{"pending, unscheduled, bare", func() corev1.Pod {
			return corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "u"},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"disk": "ssd"}, PriorityClassName: "high",
					Containers: []corev1.Container{{Name: "app"}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}},
				},
				Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}},
			}
		}, true},
		{"cluster-scoped name, zero creation time", func() corev1.Pod {
			return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}}
		}, true},
		{"name too long to pack", func() corev1.Pod {
			p := benchPod(10)
			p.Name = strings.Repeat("x", 70000)
			return p
		}, false},
	}
	in := newInterner()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.pod()
			want := newInterner().pod(convert.Pod(&o))
			c := in.compactPod(convert.Pod(&o))
			r, packed := c.(*podRec)
			if packed != tt.packed {
				t.Fatalf("packed %v, want %v (%T)", packed, tt.packed, c)
			}
			got := pods([]any{c}, nil)[0]
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
			}
			if ns, name := c.nsName(); ns != o.Namespace || name != o.Name {
				t.Errorf("nsName %q %q", ns, name)
			}
			if !packed {
				return
			}
			// The cache key is client-go's, and it is the record's own
			// string, not a copy.
			key, err := cache.MetaNamespaceKeyFunc(r)
			if want, _ := cache.MetaNamespaceKeyFunc(&o); err != nil || key != want {
				t.Errorf("key %q (%v), want %q", key, err, want)
			}
			if unsafe.StringData(key) != unsafe.StringData(r.data) {
				t.Error("the cache key is a copy")
			}
			if n := testing.AllocsPerRun(10, func() { _, _ = cache.MetaNamespaceKeyFunc(r) }); n != 0 {
				t.Errorf("keying a record allocates %v times", n)
			}
		})
	}
}

// TestPodRecEveryField fills every field of snapshot.Pod, then changes one
// field at a time, or clears it (a nil pointer, an unset time, an empty
// list), and checks that each variant still comes back whole: a field the
// shape keys forgot (two pods sharing a shape they differ in), or one added
// to snapshot.Pod that the record drops, fails here.
func TestPodRecEveryField(t *testing.T) {
	base, leaves := filledPod(-1, false)
	_, nodes := filledPod(-1, true)
	if leaves < 60 || nodes <= leaves {
		t.Fatalf("only %d leaves, %d nodes filled", leaves, nodes)
	}
	in := newInterner()
	keep := []cached{in.compactPod(base)}
	if got := keep[0].(*podRec).pod(); !reflect.DeepEqual(got, base) {
		t.Fatalf("filled pod differs:\n got %+v\nwant %+v", got, base)
	}
	for _, clear := range []bool{false, true} {
		n := leaves
		if clear {
			n = nodes
		}
		for i := range n {
			p, _ := filledPod(i, clear)
			if reflect.DeepEqual(p, base) {
				t.Fatalf("variant %d (clear %v) equals the base", i, clear)
			}
			c := in.compactPod(p)
			keep = append(keep, c)
			r, ok := c.(*podRec)
			if !ok {
				t.Fatalf("variant %d (clear %v): not packed", i, clear)
			}
			if got := r.pod(); !reflect.DeepEqual(got, p) {
				t.Errorf("variant %d (clear %v): round trip differs:\n got %+v\nwant %+v", i, clear, got, p)
			}
		}
	}
	// The base still expands to itself after its variants were added.
	if got := keep[0].(*podRec).pod(); !reflect.DeepEqual(got, base) {
		t.Error("the base pod changed once its variants were cached")
	}
	runtime.KeepAlive(keep)
}

// filledPod returns a pod with every leaf field set to a distinct value,
// and how many leaves (or, with clear, how many fields of any kind) it
// counted; the one numbered vary gets another value, or with clear is left
// unset.
func filledPod(vary int, clear bool) (snapshot.Pod, int) {
	var p snapshot.Pod
	f := filler{vary: vary, clear: clear}
	f.fill(reflect.ValueOf(&p).Elem())
	return p, f.n
}

var timeType = reflect.TypeOf(time.Time{})

type filler struct {
	n     int
	vary  int
	clear bool
}

// node numbers a field when clearing and reports whether to leave it unset.
func (f *filler) node() bool {
	if !f.clear {
		return false
	}
	f.n++
	return f.n-1 == f.vary
}

// leaf numbers a leaf when changing and returns its value.
func (f *filler) leaf() int {
	if f.clear {
		return 1
	}
	f.n++
	if f.n-1 == f.vary {
		return f.n + 1000
	}
	return f.n
}

func (f *filler) fill(v reflect.Value) {
	if v.Kind() != reflect.Struct || v.Type() == timeType {
		if f.node() {
			return
		}
	}
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(f.n)*time.Hour + time.Duration(f.leaf()))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.leaf()))
	case reflect.Bool:
		v.SetBool(f.leaf() < 1000)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.leaf()))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			v.SetMapIndex(k, e)
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// TestPodShapesShared checks that sibling pods share one shape, that
// pods of two apps share their conditions' shape, and that shapes no pod
// uses any more leave their tables.
func TestPodShapesShared(t *testing.T) {
	in := newInterner()
	a, b := benchPod(100), benchPod(101) // same app, other node, name, times
	ra, rb := in.compactPod(convert.Pod(&a)).(*podRec), in.compactPod(convert.Pod(&b)).(*podRec)
	if ra.shape != rb.shape {
		t.Error("sibling pods do not share a shape")
	}
	other := benchPod(100 + 50) // the next app
	rc := in.compactPod(convert.Pod(&other)).(*podRec)
	if rc.shape == ra.shape || rc.shape.ctrs == ra.shape.ctrs {
		t.Error("pods of two apps share a shape")
	}
	if rc.shape.conds != ra.shape.conds {
		t.Error("healthy pods of two apps do not share their conditions' shape")
	}
	tables := func() [3]int { return [3]int{in.shapes.pods.len(), in.shapes.conds.len(), in.shapes.ctrs.len()} }
	if got := tables(); got != [3]int{2, 1, 2} {
		t.Errorf("tabled pod, condition, container shapes: %v, want [2 1 2]", got)
	}
	runtime.KeepAlive(ra)
	runtime.KeepAlive(rb)
	runtime.KeepAlive(rc)
	deadline := time.Now().Add(5 * time.Second)
	for tables() != [3]int{} {
		if time.Now().After(deadline) {
			t.Fatalf("shapes still tabled after their pods are gone: %v", tables())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInternerKeepsStrings checks that a string interned before a GC is
// the one handed out after it (the unique package alone forgets strings
// whose Handles are gone, so each GC would start a new copy).
func TestInternerKeepsStrings(t *testing.T) {
	in := newInterner()
	a := in.str(strings.Repeat("node-", 3) + "1")
	runtime.GC()
	runtime.GC()
	b := in.str(strings.Repeat("node-", 3) + "1")
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the same string interned twice across a GC has two copies")
	}
}

// TestCanonCollision checks the canonical table on a hash match whose
// key differs (a collision, simulated by a keyOf that never matches): the
// caller gets a value of its own, and the tabled one stays.
func TestCanonCollision(t *testing.T) {
	mk := func(id uint64) *uint64 { return &id }
	same := newCanon(func(v *uint64, b []byte) []byte { return append(b, "k"...) })
	if a, b := same.get([]byte("k"), mk), same.get([]byte("k"), mk); a != b {
		t.Error("one key, two values")
	}
	clash := newCanon(func(v *uint64, b []byte) []byte { return append(b, "another key"...) })
	a, b := clash.get([]byte("k"), mk), clash.get([]byte("k"), mk)
	if a == b || *a == *b {
		t.Errorf("a collision shares a value: %d %d", *a, *b)
	}
	if got := clash.get([]byte("k"), mk); got == a || clash.len() != 1 {
		t.Errorf("the tabled value was replaced: %d entries", clash.len())
	}
	runtime.KeepAlive(a)
}

// TestPodCacheMemoryBudget holds the pod informer to issue 5's budget, 1 KB
// per pod, on 20,000 fleet pods through the real list and store (the
// benchmark BenchmarkInformerMemory measures 150,000).
func TestPodCacheMemoryBudget(t *testing.T) {
	const n, budget = 20_000, 1024
	before := heapInuse()
	inf := NewInformersForClients(nil, nil, InformerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := inf.newKindInformer(ctx, inf.syntheticPods(n))
	done := make(chan struct{})
	go func() { defer close(done); k.informer.Run(ctx.Done()) }()
	for !k.informer.HasSynced() {
		time.Sleep(10 * time.Millisecond)
	}
	perPod := float64(heapInuse()-before) / n
	if got := len(k.informer.GetStore().ListKeys()); got != n {
		t.Fatalf("cache holds %d pods, want %d", got, n)
	}
	t.Logf("%.0f B/pod", perPod)
	if perPod > budget {
		t.Errorf("the pod cache costs %.0f B/pod, over the %d B budget", perPod, budget)
	}
	cancel()
	<-done
	runtime.KeepAlive(k)
}
