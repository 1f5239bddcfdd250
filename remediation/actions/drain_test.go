package actions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepatrol/patrol/remediation"
)

func pdb(ns, name string, selector *metav1.LabelSelector, allowed, current, desired int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: selector, MinAvailable: ptrTo(intstr.FromInt32(desired))},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed, CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: current},
	}
}

func appSelector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// drainFixtures: node n1 runs web-0 (ReplicaSet), api-1 (ReplicaSet) and a
// DaemonSet pod; n2 runs other-0. web-0 is covered by a PDB allowing no
// disruption.
func drainFixtures(extra ...runtime.Object) []runtime.Object {
	ds := pod("kube-system", "agent-x", "n1", nil, "")
	ds.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "uid-agent", Controller: ptrTo(true)}}
	objs := []runtime.Object{
		node("n1", false), node("n2", false),
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent", UID: "uid-agent"}},
		pod("default", "web-0", "n1", map[string]string{"app": "web"}, "web-rs"),
		pod("default", "api-1", "n1", map[string]string{"app": "api"}, "api-rs"),
		ds,
		pod("default", "other-0", "n2", map[string]string{"app": "web"}, "web-rs"),
		pdb("default", "web-pdb", appSelector("web"), 0, 1, 1),
	}
	return append(objs, extra...)
}

func drainRequest(params map[string]string) remediation.Request {
	return request("Node", "", "n1", params)
}

func podNames(t *testing.T, c *fakeCluster) []string {
	t.Helper()
	list, err := c.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

func TestDrain(t *testing.T) {
	ctx := t.Context()
	c := newFakeCluster(t, drainFixtures()...)
	a := NewDrain(c, testOptions())
	req := drainRequest(map[string]string{"timeout": "30s", "grace_period": "10"})
	if done, msg, err := a.Done(ctx, req); err != nil || done {
		t.Fatalf("Done before = %t %q %v", done, msg, err)
	}
	c.ClearActions()
	res, err := a.Do(ctx, req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	want := []string{"patch nodes", "create pods/eviction", "create pods/eviction", "create events"}
	if diff := cmp.Diff(want, c.writes()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"default/other-0", "kube-system/agent-x"}, podNames(t, c)); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
	n := getNode(t, c, "n1")
	if !n.Spec.Unschedulable || n.Annotations[remediation.AnnotationRecord] != testRecord {
		t.Errorf("node not cordoned with the record annotation: %v %v", n.Spec.Unschedulable, n.Annotations)
	}
	evictions := 0
	for _, call := range res.Calls {
		if call.Subresource == "eviction" {
			evictions++
			if call.ResourceVersionBefore != "200" || !strings.HasPrefix(call.Detail, "evicted, pod gone") || call.Error != "" {
				t.Errorf("eviction call %+v", call)
			}
		}
	}
	if evictions != 2 {
		t.Errorf("%d eviction calls recorded, want 2", evictions)
	}
	checkEvent(t, c, "PatrolDrain", req)
	if !strings.Contains(res.Message, "evicted 2 pod(s)") || !strings.Contains(res.Message, "ignoring DaemonSet-managed Pods") {
		t.Errorf("message %q", res.Message)
	}
	if done, msg, err := a.Done(ctx, req); err != nil || !done {
		t.Errorf("Done after = %t %q %v", done, msg, err)
	}
}

func TestDrainDryRun(t *testing.T) {
	ctx := t.Context()
	c := newFakeCluster(t, drainFixtures()...)
	before := snapshotObjects(t, c)
	req := drainRequest(nil)
	req.DryRun = true
	c.ClearActions()
	res, err := NewDrain(c, testOptions()).Do(ctx, req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if diff := cmp.Diff([]string{"patch nodes (dry run)"}, c.writes()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, snapshotObjects(t, c)); diff != "" {
		t.Errorf("dry run changed the cluster:\n%s", diff)
	}
	var planned []string
	for _, call := range res.Calls {
		if call.Subresource == "eviction" {
			if !call.DryRun {
				t.Errorf("planned eviction not marked dry run: %+v", call)
			}
			planned = append(planned, call.Namespace+"/"+call.Name)
		}
	}
	if diff := cmp.Diff([]string{"default/api-1", "default/web-0"}, planned); diff != "" {
		t.Errorf("planned evictions (-want +got):\n%s", diff)
	}
	wantBlockers := []string{"pod default/web-0: PodDisruptionBudget default/web-pdb allows 0 disruptions (currentHealthy 1, desiredHealthy 1)"}
	if diff := cmp.Diff(wantBlockers, res.Blockers); diff != "" {
		t.Errorf("blockers (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(res.Message, "dry run") || !strings.Contains(res.Message, "evict 2 pod(s)") {
		t.Errorf("message %q", res.Message)
	}
	checkCalls(t, res, true)
}

// TestDrainRefused: a pod no controller manages cannot be evicted without
// force; the drain is refused before any eviction, terminally, naming it.
func TestDrainRefused(t *testing.T) {
	c := newFakeCluster(t, drainFixtures(pod("default", "bare", "n1", nil, ""))...)
	c.ClearActions()
	res, err := NewDrain(c, testOptions()).Do(t.Context(), drainRequest(nil))
	var blocked *DrainBlockedError
	if !errors.As(err, &blocked) || remediation.IsRetryable(err) {
		t.Fatalf("err = %v, want a terminal *DrainBlockedError", err)
	}
	if !strings.Contains(err.Error(), "default/bare") || !strings.Contains(err.Error(), "declare no controller") {
		t.Errorf("error %q does not name the pod and why", err)
	}
	if len(res.Blockers) != 1 {
		t.Errorf("blockers %v", res.Blockers)
	}
	for _, w := range c.writes() {
		if strings.Contains(w, "eviction") {
			t.Errorf("refused drain evicted: %v", c.writes())
		}
	}
	evs := c.events(t)
	if len(evs) != 1 || evs[0].Reason != "PatrolDrainBlocked" || evs[0].Type != corev1.EventTypeWarning {
		t.Errorf("events %v", evs)
	}

	// force evicts it.
	c = newFakeCluster(t, drainFixtures(pod("default", "bare", "n1", nil, ""))...)
	if _, err := NewDrain(c, testOptions()).Do(t.Context(), drainRequest(map[string]string{"force": "true"})); err != nil {
		t.Fatalf("force drain: %v", err)
	}
}

// TestDrainEvictionForbidden: an eviction refused for another reason than
// a PDB fails at once with the API error's class.
func TestDrainEvictionForbidden(t *testing.T) {
	c := newFakeCluster(t, drainFixtures()...)
	c.evictErr["default/api-1"] = apierrors.NewForbidden(gvrPods.GroupResource(), "api-1", errors.New("no eviction for you"))
	res, err := NewDrain(c, testOptions()).Do(t.Context(), drainRequest(nil))
	if err == nil || remediation.IsRetryable(err) || !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want terminal Forbidden", err)
	}
	var failed bool
	for _, call := range res.Calls {
		if call.Subresource == "eviction" && call.Name == "api-1" {
			failed = call.Error != "" && strings.Contains(call.Detail, "no eviction for you")
		}
	}
	if !failed {
		t.Errorf("refused eviction not recorded: %+v", res.Calls)
	}
}

// tooManyRequests is the API server's answer to an eviction a PDB refuses.
func tooManyRequests(pdbName string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: policyv1.DisruptionBudgetCause, Message: "The disruption budget " + pdbName + " needs 1 healthy pods and has 1 currently"})
	return err
}

// TestDrainBlockedOutcome checks how a drain that timed out is explained:
// the pods whose evictions a PDB refused are named with the PDB (read
// live, or from the refusal when the PDBs cannot be read), a pod evicted
// but not gone is named as terminating, and the error is terminal.
// (The timeout itself is proved against a real API server in e2e: the
// drainer waits 5 s between refused evictions, too slow for a unit test.)
func TestDrainBlockedOutcome(t *testing.T) {
	web := *pod("default", "web-0", "n1", map[string]string{"app": "web"}, "web-rs")
	api := *pod("default", "api-1", "n1", map[string]string{"app": "api"}, "api-rs")
	gone := *pod("default", "gone-2", "n1", map[string]string{"app": "gone"}, "gone-rs")
	pods := []corev1.Pod{web, api, gone}
	p, _ := parseDrainParams(map[string]string{"timeout": "10s"})
	timeout := errors.New(`error when evicting pods/"web-0" -n "default": global timeout reached: 10s`)

	newLog := func() *evictionLog {
		l := newEvictionLog(testOptions().Now)
		l.observe("default", "web-0", tooManyRequests("web-pdb"))
		l.observe("default", "web-0", tooManyRequests("web-pdb"))
		l.observe("default", "api-1", nil)
		l.observe("default", "gone-2", nil)
		l.finished(&gone, true, nil)
		return l
	}

	tests := []struct {
		name         string
		forbidPDBs   bool
		wantBlockers []string
	}{
		{"PDBs read", false, []string{
			"pod default/web-0: PodDisruptionBudget default/web-pdb allows 0 disruptions (currentHealthy 1, desiredHealthy 1)",
			"pod default/api-1: evicted but still terminating after 10s",
		}},
		{"PDBs not readable", true, []string{
			"pod default/web-0: eviction refused: The disruption budget web-pdb needs 1 healthy pods and has 1 currently",
			"pod default/api-1: evicted but still terminating after 10s",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, drainFixtures()...)
			if tc.forbidPDBs {
				c.PrependReactor("list", "poddisruptionbudgets", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(policyv1.Resource("poddisruptionbudgets"), "", errors.New("rbac"))
				})
			}
			a := NewDrain(c, testOptions())
			l := newLog()
			r := newRun(c, a.opt, drainRequest(nil))
			err := a.failure(t.Context(), r, "n1", pods, l, p, timeout)
			var blocked *DrainBlockedError
			if !errors.As(err, &blocked) || remediation.IsRetryable(err) {
				t.Fatalf("err = %v, want a terminal *DrainBlockedError", err)
			}
			if diff := cmp.Diff(tc.wantBlockers, blocked.Strings()); diff != "" {
				t.Errorf("blockers (-want +got):\n%s", diff)
			}
			if blocked.Evicted != 1 || blocked.Timeout != p.timeout {
				t.Errorf("evicted %d, timeout %s", blocked.Evicted, blocked.Timeout)
			}
			msg := err.Error()
			for _, s := range []string{"drain node n1", "timed out after 10s", "default/web-0", "web-pdb"} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			l.record(r, pods)
			var got []string
			for _, call := range r.calls {
				if call.Subresource == "eviction" {
					got = append(got, call.Name+": "+call.Detail)
				}
			}
			want := []string{
				"web-0: refused 2 time(s): The disruption budget web-pdb needs 1 healthy pods and has 1 currently",
				"api-1: evicted, pod still terminating (1 eviction call(s))",
				"gone-2: evicted, pod gone (1 eviction call(s))",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("eviction calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPDBBlockers(t *testing.T) {
	c := newFakeCluster(t,
		pdb("default", "none", nil, 0, 0, 0),                      // nil selector: selects nothing
		pdb("default", "all", &metav1.LabelSelector{}, 0, 3, 3),   // empty selector: every pod
		pdb("default", "web-ok", appSelector("web"), 1, 3, 2),     // allows one
		pdb("default", "db-zero", appSelector("db"), 0, 2, 2),     // blocks db
		pdb("other", "web-other-ns", appSelector("web"), 0, 1, 1), // other namespace
		pdb("default", "bad", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}, 0, 1, 1),
	)
	pods := []corev1.Pod{
		*pod("default", "web-0", "n1", map[string]string{"app": "web"}, "rs"),
		*pod("default", "db-0", "n1", map[string]string{"app": "db"}, "rs"),
	}
	got, err := PDBBlockers(t.Context(), c, pods)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pod default/db-0: PodDisruptionBudget default/all allows 0 disruptions (currentHealthy 3, desiredHealthy 3)",
		"pod default/db-0: PodDisruptionBudget default/db-zero allows 0 disruptions (currentHealthy 2, desiredHealthy 2)",
		"pod default/web-0: PodDisruptionBudget default/all allows 0 disruptions (currentHealthy 3, desiredHealthy 3)",
	}
	if diff := cmp.Diff(want, blockerStrings(got)); diff != "" {
		t.Errorf("blockers (-want +got):\n%s", diff)
	}
}

func TestBlockerString(t *testing.T) {
	tests := []struct {
		b    Blocker
		want string
	}{
		{Blocker{Pod: "default/web-0", PDB: "default/web-pdb", CurrentHealthy: 1, DesiredHealthy: 1},
			"pod default/web-0: PodDisruptionBudget default/web-pdb allows 0 disruptions (currentHealthy 1, desiredHealthy 1)"},
		{Blocker{Pod: "default/api-1", Reason: "evicted but still terminating after 5m0s"}, "pod default/api-1: evicted but still terminating after 5m0s"},
		{Blocker{Reason: "cannot delete Pods with local storage: default/cache"}, "cannot delete Pods with local storage: default/cache"},
	}
	for _, tc := range tests {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	e := &DrainBlockedError{Node: "n1", Blockers: []Blocker{tests[2].b}}
	if got, want := e.Error(), "drain node n1: refused, pods cannot be evicted: cannot delete Pods with local storage: default/cache"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseDrainParams(t *testing.T) {
	p, err := parseDrainParams(map[string]string{"timeout": "90s", "grace_period": "30", "delete_emptydir_data": "true", "skip_wait_for_delete_timeout": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	want := drainParams{timeout: 90e9, gracePeriod: 30, deleteEmptyDir: true, skipWait: 60e9}
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	if p, _ := parseDrainParams(nil); p.timeout != DefaultDrainTimeout || p.gracePeriod != -1 || p.force {
		t.Errorf("defaults %+v", p)
	}
	for in, want := range map[string]int{"-1": -1, "0": 0, "45s": 45, "2m": 120} {
		if p, err := parseDrainParams(map[string]string{"grace_period": in}); err != nil || p.gracePeriod != want {
			t.Errorf("grace_period %q = %d, %v; want %d", in, p.gracePeriod, err, want)
		}
	}
	if p, err := parseDrainParams(map[string]string{"timeout": "1d12h"}); err != nil || p.timeout != 36*time.Hour {
		t.Errorf("timeout 1d12h = %s, %v", p.timeout, err)
	}
	for _, bad := range []map[string]string{{"timeout": "0"}, {"timeout": "soon"}, {"timeout": "xd"}, {"force": "maybe"}, {"grace_period": "-5"}, {"grace_period": "-5s"}} {
		if _, err := parseDrainParams(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestDrainInterrupted: when the caller's context ends before the drain
// timeout, the error is the context's, and it still names the pods left.
func TestDrainInterrupted(t *testing.T) {
	web := *pod("default", "web-0", "n1", map[string]string{"app": "web"}, "web-rs")
	c := newFakeCluster(t, drainFixtures()...)
	a := NewDrain(c, testOptions())
	l := newEvictionLog(testOptions().Now)
	l.observe("default", "web-0", tooManyRequests("web-pdb"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p, _ := parseDrainParams(nil)
	err := a.failure(ctx, newRun(c, a.opt, drainRequest(nil)), "n1", []corev1.Pod{web}, l, p, errors.New("timeout"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "pod default/web-0: eviction refused: The disruption budget web-pdb") {
		t.Errorf("err = %v", err)
	}
	if err := classify(err, "drain Node/n1"); remediation.IsRetryable(err) {
		t.Errorf("a cancelled drain is retryable: %v", err)
	}
}
