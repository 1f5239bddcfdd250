package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepatrol/patrol/collectors/convert"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func pod(ns, name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels,
			Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...huge...}"},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Apply"}},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
		},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "shop/app:1.2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-50 * time.Minute))},
		}},
	}
}

func event(name string, last time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "shop", Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-1"},
		Type:           "Warning", Reason: "BackOff", Message: "Back-off restarting failed container",
		LastTimestamp: metav1.NewTime(last), Count: 3,
	}
}

// run starts informers over cs and waits until they settle.
func run(t *testing.T, cs *fake.Clientset, opt InformerOptions) (*Informers, context.CancelFunc) {
	t.Helper()
	if opt.Now == nil {
		opt.Now = func() time.Time { return now }
	}
	inf := NewInformersForClients(cs, nil, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := inf.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !inf.WaitSettled(wctx) {
		cancel()
		t.Fatal("informers did not settle")
	}
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return inf, stop
}

func TestInformersSnapshot(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		pod("shop", "web-2", "n1", map[string]string{"app": "web"}),
		pod("shop", "web-1", "n1", map[string]string{"app": "web"}),
		event("recent", now.Add(-10*time.Minute)),
		event("old", now.Add(-2*time.Hour)),
	)
	inf, _ := run(t, cs, InformerOptions{Cluster: "test"})
	s := inf.Snapshot(context.Background())
	if s.Cluster != "test" || s.Source != snapshot.SourceLive || !s.CollectedAt.Equal(now) || s.ID == "" {
		t.Errorf("header: %+v", s)
	}
	if len(s.Pods) != 2 || s.Pods[0].Name != "web-1" || s.Pods[1].Name != "web-2" {
		t.Fatalf("pods not sorted or missing: %+v", s.Pods)
	}
	p := s.Pods[0]
	if p.NodeName != "n1" || p.Phase != "Running" || len(p.Containers) != 1 || p.Containers[0].Image != "shop/app:1.2" {
		t.Errorf("pod projection: %+v", p)
	}
	// The compact pod cache gives back the projection exactly.
	if want := convert.Pod(pod("shop", "web-1", "n1", map[string]string{"app": "web"})); !reflect.DeepEqual(p, want) {
		t.Errorf("snapshot pod differs from the projection:\n got %+v\nwant %+v", p, want)
	}
	if len(p.Annotations) != 0 {
		t.Errorf("annotations kept: %v", p.Annotations)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "recent" {
		t.Errorf("events outside the last hour kept: %+v", s.Events)
	}
	if len(s.Namespaces) != 1 || len(s.Nodes) != 1 {
		t.Errorf("namespaces %d nodes %d", len(s.Namespaces), len(s.Nodes))
	}
	// Only APIServices (no dynamic client) and the control plane (no real
	// API server) are missing, and say so.
	if len(s.Coverage) != 2 || s.Coverage[0].Kind != snapshot.KindAPIService || s.Coverage[0].Reason != snapshot.NotCollected ||
		s.Coverage[1].Kind != snapshot.KindControlPlane {
		t.Errorf("coverage %+v", s.Coverage)
	}
	// The caches hold slim objects only.
	for _, k := range inf.kinds {
		for _, o := range k.informer.GetStore().List() {
			if _, ok := o.(cached); !ok {
				t.Fatalf("%s cache holds %T", k.kind, o)
			}
			if _, ok := o.(*podRec); k.kind == snapshot.KindPod && !ok {
				t.Fatalf("pod cache holds %T, not compact records", o)
			}
		}
	}

	// Watch: an update, a create and a delete arrive without a new list.
	ctx := context.Background()
	upd := pod("shop", "web-1", "n1", map[string]string{"app": "web"})
	upd.Status.Phase = corev1.PodFailed
	if _, err := cs.CoreV1().Pods("shop").Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, pod("shop", "web-3", "n1", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("shop").Delete(ctx, "web-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		s := inf.Snapshot(ctx)
		return len(s.Pods) == 2 && s.Pods[0].Phase == "Failed" && s.Pods[1].Name == "web-3"
	})
}

func TestInformersShareRepeatedValues(t *testing.T) {
	labels := map[string]string{"app": "web", "pod-template-hash": "5d8f"}
	cs := fake.NewClientset(pod("shop", "web-1", "n1", labels), pod("shop", "web-2", "n1", labels))
	inf, _ := run(t, cs, InformerOptions{})
	s := inf.Snapshot(context.Background())
	a, b := s.Pods[0].Labels, s.Pods[1].Labels
	a2 := fmt.Sprintf("%p", a)
	if a2 != fmt.Sprintf("%p", b) {
		t.Errorf("identical label maps are not shared")
	}
	if a["app"] != "web" || len(a) != 2 {
		t.Errorf("labels %v", a)
	}
}

func TestInformersCoverage(t *testing.T) {
	cs := fake.NewClientset(pod("shop", "web-1", "n1", nil))
	gr := schema.GroupResource{Resource: "pods"}
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(gr, "", errors.New(`User "patrol" cannot list resource "pods"`))
	})
	cs.PrependReactor("list", "horizontalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "")
	})
	var mu sync.Mutex
	reported := map[snapshot.Kind]snapshot.CoverageReason{}
	inf, _ := run(t, cs, InformerOptions{OnError: func(k snapshot.Kind, r snapshot.CoverageReason, _ error) {
		mu.Lock()
		reported[k] = r
		mu.Unlock()
	}})
	s := inf.Snapshot(context.Background())
	got := map[snapshot.Kind]snapshot.CoverageReason{}
	for _, c := range s.Coverage {
		got[c.Kind] = c.Reason
	}
	if got[snapshot.KindPod] != snapshot.Forbidden || got[snapshot.KindHPA] != snapshot.NotServed {
		t.Errorf("coverage %+v", s.Coverage)
	}
	if len(s.Pods) != 0 {
		t.Errorf("pods from a forbidden kind: %d", len(s.Pods))
	}
	mu.Lock()
	defer mu.Unlock()
	if reported[snapshot.KindPod] != snapshot.Forbidden {
		t.Errorf("OnError reports %v", reported)
	}
}

func TestSnapshotBeforeRun(t *testing.T) {
	inf := NewInformersForClients(fake.NewClientset(), nil, InformerOptions{})
	s := inf.Snapshot(context.Background())
	if len(s.Coverage) != len(snapshot.ObjectKinds) {
		t.Errorf("a snapshot before Run must cover nothing: %d gaps", len(s.Coverage))
	}
	if inf.Settled() {
		t.Error("settled before Run")
	}
}

// TestPagedList checks the list asks for pages of the latest state and
// projects them page by page.
func TestPagedList(t *testing.T) {
	var calls []metav1.ListOptions
	pages := [][]corev1.Pod{{*pod("a", "p1", "", nil), *pod("a", "p2", "", nil)}, {*pod("a", "p3", "", nil)}}
	sp := typedSpec(snapshot.KindPod, &corev1.Pod{},
		func(_ context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
			calls = append(calls, o)
			i := len(calls) - 1
			l := &corev1.PodList{Items: pages[i], ListMeta: metav1.ListMeta{ResourceVersion: fmt.Sprint(100 + i)}}
			if i == 0 {
				l.Continue = "next"
			}
			return l, nil
		},
		func(context.Context, metav1.ListOptions) (watch.Interface, error) { return watch.NewFake(), nil },
		func(o *corev1.Pod) cached { return wrap(convert0(o), metaOf) })
	okCalled := false
	obj, err := pagedList(context.Background(), sp, metav1.ListOptions{ResourceVersion: "0"}, 2, func() { okCalled = true })
	if err != nil {
		t.Fatal(err)
	}
	l := obj.(*slimList)
	if len(l.Items) != 3 || l.ResourceVersion != "101" || !okCalled {
		t.Errorf("list: %d items rv %q ok %v", len(l.Items), l.ResourceVersion, okCalled)
	}
	if calls[0].ResourceVersion != "" || calls[0].Limit != 2 || calls[1].Continue != "next" {
		t.Errorf("list options %+v", calls)
	}
}

func convert0(o *corev1.Pod) snapshot.Pod {
	return newInterner().pod(snapshot.Pod{Meta: snapshot.Meta{Namespace: o.Namespace, Name: o.Name}})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}
