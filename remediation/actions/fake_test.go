package actions

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster is client-go's fake clientset made a little more like an API
// server where the actions depend on it: writes bump resourceVersions,
// server-side dry runs change nothing, a merge patch's
// metadata.resourceVersion and a delete's UID precondition are checked
// (409 on mismatch), the scale subresource reads and writes spec.replicas,
// pod lists honour the spec.nodeName field selector, and an eviction
// deletes the pod (or fails with the error set for it).
type fakeCluster struct {
	*fake.Clientset
	mu       sync.Mutex
	rv       int
	evictErr map[string]error // "ns/name" → error returned by its evictions
}

var (
	gvrPods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	appsGVR = map[string]schema.GroupVersionResource{
		"deployments":  {Group: "apps", Version: "v1", Resource: "deployments"},
		"statefulsets": {Group: "apps", Version: "v1", Resource: "statefulsets"},
		"replicasets":  {Group: "apps", Version: "v1", Resource: "replicasets"},
	}
)

func newFakeCluster(t *testing.T, objs ...runtime.Object) *fakeCluster {
	t.Helper()
	c := &fakeCluster{Clientset: fake.NewClientset(objs...), rv: 1000, evictErr: map[string]error{}}
	c.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Kind: "Pod", Namespaced: true},
		{Name: "pods/eviction", Kind: "Eviction", Group: "policy", Version: "v1", Namespaced: true},
	}}}
	base := k8stesting.ObjectReaction(c.Tracker())
	c.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return c.react(base, a)
	})
	return c
}

func (c *fakeCluster) nextRV() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rv++
	return strconv.Itoa(c.rv)
}

func (c *fakeCluster) react(base k8stesting.ReactionFunc, a k8stesting.Action) (bool, runtime.Object, error) {
	gvr, ns := a.GetResource(), a.GetNamespace()
	switch act := a.(type) {
	case k8stesting.ListActionImpl:
		if gvr.Resource != "pods" {
			return false, nil, nil
		}
		node, ok := act.GetListRestrictions().Fields.RequiresExactMatch("spec.nodeName")
		if !ok {
			return false, nil, nil
		}
		_, obj, err := base(a)
		if err != nil {
			return true, nil, err
		}
		list := obj.(*corev1.PodList)
		var kept []corev1.Pod
		for _, p := range list.Items {
			if p.Spec.NodeName == node {
				kept = append(kept, p)
			}
		}
		list.Items = kept
		return true, list, nil

	case k8stesting.GetActionImpl:
		if act.GetSubresource() == "scale" {
			obj, err := c.Tracker().Get(gvr, ns, act.GetName())
			if err != nil {
				return true, nil, err
			}
			return true, toScale(obj), nil
		}

	case k8stesting.CreateActionImpl:
		if act.GetSubresource() == "eviction" {
			ev := act.GetObject().(*policyv1.Eviction)
			if err := c.evictErr[ev.Namespace+"/"+ev.Name]; err != nil {
				return true, nil, err
			}
			return true, nil, c.Tracker().Delete(gvrPods, ev.Namespace, ev.Name)
		}
		if isDryRun(act.CreateOptions.DryRun) {
			return true, act.GetObject(), nil
		}
		m, _ := meta.Accessor(act.GetObject())
		m.SetResourceVersion(c.nextRV())
		return false, nil, nil

	case k8stesting.UpdateActionImpl:
		if act.GetSubresource() == "scale" {
			return c.updateScale(gvr, ns, act.GetObject().(*autoscalingv1.Scale), isDryRun(act.UpdateOptions.DryRun))
		}
		cur, err := c.Tracker().Get(gvr, ns, mustName(act.GetObject()))
		if err != nil {
			return true, nil, err
		}
		if isDryRun(act.UpdateOptions.DryRun) {
			return true, cur, nil
		}
		return c.bump(base, a, gvr, ns)

	case k8stesting.PatchActionImpl:
		cur, err := c.Tracker().Get(gvr, ns, act.GetName())
		if err != nil {
			return true, nil, err
		}
		var p struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(act.GetPatch(), &p)
		curMeta, _ := meta.Accessor(cur)
		if p.Metadata.ResourceVersion != "" && p.Metadata.ResourceVersion != curMeta.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), act.GetName(),
				fmt.Errorf("the object has been modified; resourceVersion %s, patch wants %s", curMeta.GetResourceVersion(), p.Metadata.ResourceVersion))
		}
		if isDryRun(act.PatchOptions.DryRun) {
			return true, cur, nil
		}
		return c.bump(base, a, gvr, ns)

	case k8stesting.DeleteActionImpl:
		cur, err := c.Tracker().Get(gvr, ns, act.GetName())
		if err != nil {
			return true, nil, err
		}
		if pre := act.DeleteOptions.Preconditions; pre != nil && pre.UID != nil {
			m, _ := meta.Accessor(cur)
			if m.GetUID() != *pre.UID {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), act.GetName(), fmt.Errorf("UID precondition failed"))
			}
		}
		if isDryRun(act.DeleteOptions.DryRun) {
			return true, nil, nil
		}
	}
	return false, nil, nil
}

// bump runs the tracker's own reaction, then gives the object a new
// resourceVersion.
func (c *fakeCluster) bump(base k8stesting.ReactionFunc, a k8stesting.Action, gvr schema.GroupVersionResource, ns string) (bool, runtime.Object, error) {
	_, obj, err := base(a)
	if err != nil {
		return true, nil, err
	}
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(c.nextRV())
	if err := c.Tracker().Update(gvr, obj, ns); err != nil {
		return true, nil, err
	}
	return true, obj, nil
}

func (c *fakeCluster) updateScale(gvr schema.GroupVersionResource, ns string, sc *autoscalingv1.Scale, dry bool) (bool, runtime.Object, error) {
	obj, err := c.Tracker().Get(gvr, ns, sc.Name)
	if err != nil {
		return true, nil, err
	}
	m, _ := meta.Accessor(obj)
	if sc.ResourceVersion != "" && sc.ResourceVersion != m.GetResourceVersion() {
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), sc.Name, fmt.Errorf("scale: resourceVersion %s, want %s", m.GetResourceVersion(), sc.ResourceVersion))
	}
	if dry {
		return true, toScale(obj), nil
	}
	r := sc.Spec.Replicas
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &r
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &r
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &r
	}
	m.SetResourceVersion(c.nextRV())
	if err := c.Tracker().Update(gvr, obj, ns); err != nil {
		return true, nil, err
	}
	return true, toScale(obj), nil
}

func toScale(obj runtime.Object) *autoscalingv1.Scale {
	m, _ := meta.Accessor(obj)
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(),
		ResourceVersion: m.GetResourceVersion(), UID: m.GetUID()}}
	sc.Spec.Replicas = specReplicas(m)
	sc.Status.Replicas = sc.Spec.Replicas
	return sc
}

func isDryRun(d []string) bool { return len(d) == 1 && d[0] == metav1.DryRunAll }

func mustName(obj runtime.Object) string {
	m, _ := meta.Accessor(obj)
	return m.GetName()
}

// writes are the mutating actions the fake saw, as "verb resource[/sub]"
// with " (dry run)" for server-side dry runs.
func (c *fakeCluster) writes() []string {
	var out []string
	for _, a := range c.Actions() {
		dry := false
		switch act := a.(type) {
		case k8stesting.CreateActionImpl:
			dry = isDryRun(act.CreateOptions.DryRun)
		case k8stesting.UpdateActionImpl:
			dry = isDryRun(act.UpdateOptions.DryRun)
		case k8stesting.PatchActionImpl:
			dry = isDryRun(act.PatchOptions.DryRun)
		case k8stesting.DeleteActionImpl:
			dry = isDryRun(act.DeleteOptions.DryRun)
		default:
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		if dry {
			s += " (dry run)"
		}
		out = append(out, s)
	}
	return out
}

// events are the Events in the fake cluster.
func (c *fakeCluster) events(t *testing.T) []corev1.Event {
	t.Helper()
	list, err := c.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "events"},
		schema.GroupVersionKind{Version: "v1", Kind: "Event"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return list.(*corev1.EventList).Items
}

// fixed clock for the tests.
var testNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func testOptions() Options {
	return Options{Now: func() time.Time { return testNow }, Instance: "patrold-0"}
}
