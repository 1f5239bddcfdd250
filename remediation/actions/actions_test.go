package actions

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation"
)

const testRecord = "01JTESTRECORD0000000000000"

func node(name string, unschedulable bool) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "100"},
		Spec: corev1.NodeSpec{Unschedulable: unschedulable}}
}

func pod(ns, name, nodeName string, labels map[string]string, owner string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "200", Labels: labels},
		Spec:       corev1.PodSpec{NodeName: nodeName},
	}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("uid-" + owner), Controller: ptrTo(true)}}
	}
	return p
}

func deployment(ns, name string, replicas int32, paused bool) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "300"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptrTo(replicas), Paused: paused},
	}
}

func statefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "400"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptrTo(replicas)},
	}
}

func fixtures() []runtime.Object {
	stuck := pod("default", "stuck", "gone-node", nil, "web-rs")
	stuck.DeletionTimestamp = &metav1.Time{Time: testNow.Add(-time.Hour)}
	stuck.Finalizers = nil
	return []runtime.Object{
		node("n1", false), node("n2", true),
		pod("default", "web-0", "n1", map[string]string{"app": "web"}, "web-rs"),
		stuck,
		deployment("default", "api", 3, false),
		deployment("default", "frozen", 1, true),
		statefulSet("default", "db", 2),
	}
}

func request(kind, ns, name string, params map[string]string) remediation.Request {
	return remediation.Request{
		Target: checks.ObjectRef{Kind: kind, Namespace: ns, Name: name}, Params: params,
		RecordID: testRecord, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Playbook: "pb-test", Step: "s1",
	}
}

type ctor func(kubernetes.Interface, Options) remediation.Action

func cordonA(k kubernetes.Interface, o Options) remediation.Action    { return NewCordon(k, o) }
func uncordonA(k kubernetes.Interface, o Options) remediation.Action  { return NewUncordon(k, o) }
func restartA(k kubernetes.Interface, o Options) remediation.Action   { return NewRestart(k, o) }
func deletePodA(k kubernetes.Interface, o Options) remediation.Action { return NewDeletePod(k, o) }
func scaleA(k kubernetes.Interface, o Options) remediation.Action     { return NewScale(k, o) }
func annotateA(k kubernetes.Interface, o Options) remediation.Action  { return NewAnnotate(k, o) }

type actionCase struct {
	name   string
	action ctor
	req    remediation.Request
	// wantErr is a substring of the error ("" for success).
	wantErr   string
	retryable bool
	// writes are the fake's mutating requests, in order.
	writes []string
	// reason is the Event's reason ("" for no Event).
	reason string
	// annotated: the target carries the record annotation afterwards.
	annotated bool
	// doneBefore is Done before Do; after a successful Do, Done is true.
	doneBefore bool
	// check inspects the cluster afterwards.
	check func(t *testing.T, c *fakeCluster)
}

func actionCases() []actionCase {
	return []actionCase{
		{name: "cordon", action: cordonA, req: request("Node", "", "n1", nil),
			writes: []string{"patch nodes", "create events"}, reason: "PatrolCordon", annotated: true,
			check: func(t *testing.T, c *fakeCluster) {
				if n := getNode(t, c, "n1"); !n.Spec.Unschedulable {
					t.Error("n1 still schedulable")
				}
			}},
		{name: "cordon already cordoned", action: cordonA, req: request("Node", "", "n2", nil), doneBefore: true},
		{name: "cordon missing node", action: cordonA, req: request("Node", "", "nope", nil), wantErr: "target not found"},
		{name: "cordon wrong kind", action: cordonA, req: request("Pod", "default", "web-0", nil), wantErr: "kind must be one of [Node]"},
		{name: "uncordon", action: uncordonA, req: request("Node", "", "n2", nil),
			writes: []string{"patch nodes", "create events"}, reason: "PatrolUncordon", annotated: true,
			check: func(t *testing.T, c *fakeCluster) {
				if n := getNode(t, c, "n2"); n.Spec.Unschedulable {
					t.Error("n2 still unschedulable")
				}
			}},
		{name: "restart deployment", action: restartA, req: request("Deployment", "default", "api", nil),
			writes: []string{"patch deployments", "create events"}, reason: "PatrolRestart", annotated: true,
			check: func(t *testing.T, c *fakeCluster) {
				d, _ := c.AppsV1().Deployments("default").Get(context.Background(), "api", metav1.GetOptions{})
				if got := d.Spec.Template.Annotations[AnnotationRestartedAt]; got != "2026-03-14T09:26:53Z" {
					t.Errorf("restartedAt = %q", got)
				}
			}},
		{name: "restart paused deployment", action: restartA, req: request("Deployment", "default", "frozen", nil), wantErr: "is paused"},
		{name: "delete stuck pod, node gone", action: deletePodA,
			req:    request("Pod", "default", "stuck", map[string]string{"force": "true", "only_if_node_gone": "true"}),
			writes: []string{"delete pods", "create events"}, reason: "PatrolDeletePod",
			check: func(t *testing.T, c *fakeCluster) {
				if _, err := c.CoreV1().Pods("default").Get(context.Background(), "stuck", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("pod still there: %v", err)
				}
				for _, a := range c.Actions() {
					if d, ok := a.(k8stesting.DeleteActionImpl); ok {
						if g := d.DeleteOptions.GracePeriodSeconds; g == nil || *g != 0 {
							t.Errorf("force delete without grace period 0: %v", g)
						}
						if p := d.DeleteOptions.Preconditions; p == nil || p.UID == nil || *p.UID != "uid-stuck" {
							t.Errorf("delete without UID precondition: %+v", p)
						}
					}
				}
			}},
		{name: "delete pod refused, node exists", action: deletePodA,
			req:     request("Pod", "default", "web-0", map[string]string{"only_if_node_gone": "true"}),
			wantErr: "node n1 still exists"},
		{name: "delete pod replaced", action: deletePodA,
			req: func() remediation.Request {
				r := request("Pod", "default", "web-0", nil)
				r.Target.UID = "uid-old"
				return r
			}(), wantErr: "the pod was replaced"},
		{name: "delete pod graceful", action: deletePodA, req: request("Pod", "default", "web-0", nil),
			writes: []string{"delete pods", "create events"}, reason: "PatrolDeletePod"},
		{name: "scale replicas", action: scaleA, req: request("Deployment", "default", "api", map[string]string{"replicas": "5"}),
			writes: []string{"patch deployments", "update deployments/scale", "create events"}, reason: "PatrolScale", annotated: true,
			check: wantReplicas("api", 5)},
		{name: "scale delta", action: scaleA, req: request("StatefulSet", "default", "db", map[string]string{"delta": "-1"}),
			writes: []string{"patch statefulsets", "update statefulsets/scale", "create events"}, reason: "PatrolScale", annotated: true,
			check: func(t *testing.T, c *fakeCluster) {
				s, _ := c.AppsV1().StatefulSets("default").Get(context.Background(), "db", metav1.GetOptions{})
				if *s.Spec.Replicas != 1 || s.Annotations[AnnotationReplicas] != "1" {
					t.Errorf("replicas %d, annotation %q", *s.Spec.Replicas, s.Annotations[AnnotationReplicas])
				}
			}},
		{name: "scale delta clamped to max", action: scaleA, req: request("Deployment", "default", "api", map[string]string{"delta": "+10", "max": "5"}),
			writes: []string{"patch deployments", "update deployments/scale", "create events"}, reason: "PatrolScale", annotated: true,
			check: wantReplicas("api", 5)},
		{name: "scale replicas clamped to min", action: scaleA, req: request("Deployment", "default", "api", map[string]string{"replicas": "0", "min": "2"}),
			writes: []string{"patch deployments", "update deployments/scale", "create events"}, reason: "PatrolScale", annotated: true,
			check: wantReplicas("api", 2)},
		{name: "scale at max bound", action: scaleA, req: request("Deployment", "default", "api", map[string]string{"delta": "+1", "max": "3"}), doneBefore: true},
		{name: "scale needs replicas or delta", action: scaleA, req: request("Deployment", "default", "api", map[string]string{"replicas": "2", "delta": "+1"}),
			wantErr: "exactly one of replicas and delta"},
		{name: "annotate", action: annotateA, req: request("Deployment", "default", "api", map[string]string{"key": "example.com/owner", "value": "sre"}),
			writes: []string{"patch deployments", "create events"}, reason: "PatrolAnnotate", annotated: true,
			check: func(t *testing.T, c *fakeCluster) {
				d, _ := c.AppsV1().Deployments("default").Get(context.Background(), "api", metav1.GetOptions{})
				if d.Annotations["example.com/owner"] != "sre" {
					t.Errorf("annotations %v", d.Annotations)
				}
			}},
		{name: "annotate node", action: annotateA, req: request("Node", "", "n1", map[string]string{"key": "example.com/quarantine", "value": "true"}),
			writes: []string{"patch nodes", "create events"}, reason: "PatrolAnnotate", annotated: true},
		{name: "annotate bad key", action: annotateA, req: request("Deployment", "default", "api", map[string]string{"key": "not a key!"}),
			wantErr: "not a valid annotation name"},
		{name: "no record ID", action: cordonA, req: func() remediation.Request {
			r := request("Node", "", "n1", nil)
			r.RecordID = ""
			return r
		}(), wantErr: "no record ID"},
	}
}

func wantReplicas(name string, want int32) func(t *testing.T, c *fakeCluster) {
	return func(t *testing.T, c *fakeCluster) {
		t.Helper()
		d, err := c.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != want {
			t.Errorf("replicas = %d, want %d", *d.Spec.Replicas, want)
		}
		if d.Annotations[AnnotationReplicas] != strconv.Itoa(int(want)) {
			t.Errorf("%s = %q, want %d", AnnotationReplicas, d.Annotations[AnnotationReplicas], want)
		}
	}
}

func getNode(t *testing.T, c *fakeCluster, name string) *corev1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestActions(t *testing.T) {
	for _, tc := range actionCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			c := newFakeCluster(t, fixtures()...)
			a := tc.action(c, testOptions())
			if tc.wantErr == "" {
				done, msg, err := a.Done(ctx, tc.req)
				if err != nil || done != tc.doneBefore {
					t.Fatalf("Done before = %t, %q, %v; want %t", done, msg, err, tc.doneBefore)
				}
			}
			c.ClearActions()
			res, err := a.Do(ctx, tc.req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if remediation.IsRetryable(err) != tc.retryable {
					t.Errorf("retryable = %t, want %t", remediation.IsRetryable(err), tc.retryable)
				}
				if w := c.writes(); len(w) > 0 {
					t.Errorf("a failed step wrote %v", w)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if diff := cmp.Diff(tc.writes, c.writes()); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			checkCalls(t, res, false)
			if tc.reason != "" {
				checkEvent(t, c, tc.reason, tc.req)
			} else if ev := c.events(t); len(ev) > 0 {
				t.Errorf("no-op wrote events %v", ev)
			}
			if tc.annotated {
				api, _ := objectFor(c, tc.req.Target.Kind)
				obj, err := api.get(ctx, api.ns(tc.req.Target), tc.req.Target.Name)
				if err != nil {
					t.Fatal(err)
				}
				if got := obj.GetAnnotations()[remediation.AnnotationRecord]; got != testRecord {
					t.Errorf("record annotation = %q", got)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			done, msg, err := a.Done(ctx, tc.req)
			if err != nil || !done {
				t.Errorf("Done after = %t, %q, %v; want true", done, msg, err)
			}
		})
	}
}

// TestActionsDryRun runs every writing case as a dry run: the writes must
// all be server-side dry runs, no Event may be created, nothing may change,
// and the calls must be marked DryRun.
func TestActionsDryRun(t *testing.T) {
	for _, tc := range actionCases() {
		if tc.wantErr != "" || len(tc.writes) == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			c := newFakeCluster(t, fixtures()...)
			before := snapshotObjects(t, c)
			a := tc.action(c, testOptions())
			req := tc.req
			req.DryRun = true
			c.ClearActions()
			res, err := a.Do(ctx, req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			var want []string
			for _, w := range tc.writes {
				if w != "create events" {
					want = append(want, w+" (dry run)")
				}
			}
			if diff := cmp.Diff(want, c.writes()); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, snapshotObjects(t, c)); diff != "" {
				t.Errorf("dry run changed the cluster (-before +after):\n%s", diff)
			}
			if !strings.HasPrefix(res.Message, "dry run") {
				t.Errorf("message %q does not say dry run", res.Message)
			}
			checkCalls(t, res, true)
			if done, msg, _ := a.Done(ctx, req); done != tc.doneBefore {
				t.Errorf("Done after dry run = %t (%s)", done, msg)
			}
		})
	}
}

// checkCalls asserts that reads come before writes of the same object,
// that writes carry the resourceVersion before and (unless dry) after, and
// that DryRun marks exactly the writes of a dry run.
func checkCalls(t *testing.T, res remediation.Result, dry bool) {
	t.Helper()
	if len(res.Calls) == 0 {
		t.Fatal("no calls recorded")
	}
	if res.Calls[0].Verb != "get" {
		t.Errorf("first call %s %s; the target must be read first", res.Calls[0].Verb, res.Calls[0].Resource)
	}
	for _, c := range res.Calls {
		write := c.Verb != "get" && c.Verb != "list"
		if c.At.IsZero() || c.Error != "" {
			t.Errorf("call %+v: no time or an error", c)
		}
		if c.DryRun != (write && dry) {
			t.Errorf("call %s %s: DryRun = %t", c.Verb, c.Resource, c.DryRun)
		}
		if !write || c.Resource == "events" {
			continue
		}
		if c.ResourceVersionBefore == "" || c.Detail == "" {
			t.Errorf("write %s %s/%s: resourceVersion before %q, detail %q", c.Verb, c.Resource, c.Subresource, c.ResourceVersionBefore, c.Detail)
		}
		if c.Verb == "delete" {
			continue
		}
		if dry && c.ResourceVersionAfter != "" {
			t.Errorf("dry-run write %s %s has resourceVersion after %q", c.Verb, c.Resource, c.ResourceVersionAfter)
		}
		if !dry && (c.ResourceVersionAfter == "" || c.ResourceVersionAfter == c.ResourceVersionBefore) {
			t.Errorf("write %s %s: resourceVersion %q → %q", c.Verb, c.Resource, c.ResourceVersionBefore, c.ResourceVersionAfter)
		}
	}
}

func checkEvent(t *testing.T, c *fakeCluster, reason string, req remediation.Request) {
	t.Helper()
	evs := c.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Reason != reason || ev.Type != corev1.EventTypeNormal || ev.InvolvedObject.Kind != req.Target.Kind || ev.InvolvedObject.Name != req.Target.Name {
		t.Errorf("event %s %s on %s/%s", ev.Type, ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name)
	}
	for _, s := range []string{req.Playbook, req.Step, req.RecordID} {
		if !strings.Contains(ev.Message, s) {
			t.Errorf("event message %q does not name %q", ev.Message, s)
		}
	}
	if ev.Annotations[remediation.AnnotationRecord] != req.RecordID || ev.Annotations[AnnotationTrace] != req.TraceID {
		t.Errorf("event annotations %v", ev.Annotations)
	}
	wantNS := req.Target.Namespace
	if req.Target.Kind == "Node" {
		wantNS = "default"
	}
	if ev.Namespace != wantNS || ev.Source.Component != DefaultComponent || ev.ReportingInstance != "patrold-0" {
		t.Errorf("event namespace %q, source %q, instance %q", ev.Namespace, ev.Source.Component, ev.ReportingInstance)
	}
}

// snapshotObjects renders the fake's objects of the fixture kinds.
func snapshotObjects(t *testing.T, c *fakeCluster) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, g := range []struct {
		gvr  schema.GroupVersionResource
		kind string
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, "Node"},
		{gvrPods, "Pod"},
		{appsGVR["deployments"], "Deployment"},
		{appsGVR["statefulsets"], "StatefulSet"},
		{schema.GroupVersionResource{Version: "v1", Resource: "events"}, "Event"},
	} {
		list, err := c.Tracker().List(g.gvr, g.gvr.GroupVersion().WithKind(g.kind), "")
		if err != nil {
			t.Fatal(err)
		}
		out[g.kind] = list
	}
	return out
}
