package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func tp(t time.Time) *time.Time { return &t }

func envFor(s *snapshot.Snapshot) *checks.Env {
	s.CollectedAt = now
	return &checks.Env{Snap: s, Index: checks.NewIndex(s), Now: now}
}

func TestBackoffSpan(t *testing.T) {
	for _, tc := range []struct {
		n    int32
		want time.Duration
	}{
		{0, 0},
		{1, 10 * time.Second},
		{5, 310 * time.Second},
		{6, 610 * time.Second},
		{7, 910 * time.Second},
	} {
		if got := backoffSpan(tc.n); got != tc.want {
			t.Errorf("backoffSpan(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestPodTrouble(t *testing.T) {
	ready := []snapshot.Condition{{Type: "Ready", Status: "True", LastTransitionTime: ago(time.Hour)}}
	notReady := []snapshot.Condition{{Type: "Ready", Status: "False", LastTransitionTime: ago(30 * time.Minute)}}
	node := func(name, status string) snapshot.Node {
		return snapshot.Node{Meta: snapshot.Meta{Name: name}, Conditions: []snapshot.Condition{
			{Type: "Ready", Status: status, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: ago(20 * time.Minute)}}}
	}
	pod := func(name string, mut func(p *snapshot.Pod)) snapshot.Pod {
		p := snapshot.Pod{Meta: snapshot.Meta{Namespace: "ns", Name: name, CreationTimestamp: ago(2 * time.Hour)},
			NodeName: "n1", Phase: "Running", Conditions: notReady,
			Containers: []snapshot.Container{{Name: "app", Image: "app:1", HasStatus: true}}}
		mut(&p)
		return p
	}
	s := &snapshot.Snapshot{
		Nodes: []snapshot.Node{node("n1", "True"), node("dead", "Unknown")},
		Pods: []snapshot.Pod{
			pod("ready", func(p *snapshot.Pod) {
				p.Conditions = ready
				p.Containers[0].Ready = true
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateRunning}
			}),
			pod("done", func(p *snapshot.Pod) { p.Phase = "Succeeded" }),
			pod("evicted", func(p *snapshot.Pod) {
				p.Phase, p.Reason = "Failed", "Evicted"
				p.Message = "The node was low on resource: memory."
			}),
			pod("leaving", func(p *snapshot.Pod) { p.DeletionTimestamp = tp(ago(time.Minute)) }),
			pod("stuck", func(p *snapshot.Pod) { p.DeletionTimestamp = tp(ago(time.Hour)); p.NodeName = "dead" }),
			pod("unsched", func(p *snapshot.Pod) {
				p.Phase, p.NodeName = "Pending", ""
				p.Conditions = []snapshot.Condition{{Type: "PodScheduled", Status: "False", Reason: "Unschedulable",
					Message: "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: db}.", LastTransitionTime: ago(time.Hour)}}
			}),
			pod("oom", func(p *snapshot.Pod) {
				p.Containers[0].RestartCount = 9
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "CrashLoopBackOff"}
				p.Containers[0].LastState = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "OOMKilled", ExitCode: 137}
			}),
			pod("pull", func(p *snapshot.Pod) {
				p.Phase = "Pending"
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "ImagePullBackOff", Message: `Back-off pulling image "app:1"`}
			}),
			pod("config", func(p *snapshot.Pod) {
				p.Phase = "Pending"
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "CreateContainerConfigError",
					Message: "couldn't find key DB_HOST in ConfigMap ns/app-config"}
			}),
			pod("init", func(p *snapshot.Pod) {
				p.Phase = "Pending"
				p.InitContainers = []snapshot.Container{{Name: "migrate", HasStatus: true, RestartCount: 3,
					State:     snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "CrashLoopBackOff"},
					LastState: snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Error", ExitCode: 2}}}
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "PodInitializing"}
			}),
			pod("probe", func(p *snapshot.Pod) {
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateRunning}
			}),
			pod("orphaned", func(p *snapshot.Pod) {
				p.NodeName = "dead"
				p.Containers[0].State = snapshot.ContainerState{State: snapshot.StateRunning}
			}),
		},
		Events: []snapshot.Event{
			{Namespace: "ns", Involved: snapshot.ObjectRef{Kind: "Pod", Namespace: "ns", Name: "pull"}, Reason: "Failed",
				Message: `Failed to pull image "app:1": rpc error: code = NotFound desc = app:1: not found`, LastTime: ago(2 * time.Minute)},
			{Namespace: "ns", Involved: snapshot.ObjectRef{Kind: "Pod", Namespace: "ns", Name: "pull"}, Reason: "Failed",
				Message: "Error: ImagePullBackOff", LastTime: ago(time.Minute)},
			{Namespace: "ns", Involved: snapshot.ObjectRef{Kind: "Pod", Namespace: "ns", Name: "probe"}, Reason: "Unhealthy",
				Message: "Readiness probe failed: HTTP probe failed with statuscode: 503", LastTime: ago(time.Minute)},
		},
	}
	env := envFor(s)
	for _, tc := range []struct {
		pod    string
		ok     bool
		reason string
		detail string
	}{
		{"ready", false, "", ""},
		{"done", false, "", ""},
		{"evicted", false, "", ""},
		{"leaving", false, "", ""},
		{"stuck", true, "Terminating", "on node dead, which is unreachable"},
		{"unsched", true, "Unschedulable", "untolerated taint"},
		{"oom", true, "CrashLoopBackOff", "was OOMKilled (exit code 137), restarted 9 times"},
		{"pull", true, "ImagePullBackOff", "app:1: not found"},
		{"config", true, "CreateContainerConfigError", "couldn't find key DB_HOST"},
		{"init", true, "CrashLoopBackOff", "init container migrate last ended with exit code 2 (Error)"},
		{"probe", true, "Unhealthy", "Readiness probe failed"},
		{"orphaned", true, "NodeUnreachable", "its node dead is unreachable"},
	} {
		t.Run(tc.pod, func(t *testing.T) {
			var p *snapshot.Pod
			for i := range s.Pods {
				if s.Pods[i].Name == tc.pod {
					p = &s.Pods[i]
				}
			}
			tr, ok := podTrouble(env, p)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, tr)
			}
			if !ok {
				return
			}
			if tr.reason != tc.reason || !strings.Contains(tr.detail, tc.detail) {
				t.Errorf("got %s: %q, want %s containing %q", tr.reason, tr.detail, tc.reason, tc.detail)
			}
			if strings.Contains(tr.detail, "\n") {
				t.Errorf("detail is not one line: %q", tr.detail)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	p := func(n string) *snapshot.Pod { return &snapshot.Pod{Meta: snapshot.Meta{Name: n}} }
	ts := []trouble{
		{pod: p("a"), reason: "CrashLoopBackOff", detail: "container app was OOMKilled"},
		{pod: p("b"), reason: "CrashLoopBackOff", detail: "x"},
		{pod: p("c"), reason: "Unschedulable", detail: "y"},
	}
	want := "pod a CrashLoopBackOff: container app was OOMKilled (and 2 more pods: 1 CrashLoopBackOff, 1 Unschedulable)"
	if got := summarize(ts); got != want {
		t.Errorf("summarize = %q, want %q", got, want)
	}
}

func TestZeroBudget(t *testing.T) {
	for _, tc := range []struct {
		min, max string
		n        int32
		want     bool
	}{
		{"3", "", 3, true},
		{"2", "", 3, false},
		{"100%", "", 3, true},
		{"80%", "", 3, false}, // rounds up to 3, but the spec alone does not say so
		{"", "0", 3, true},
		{"", "0%", 3, true},
		{"", "1", 3, false},
		{"", "10%", 3, false},
	} {
		b := &snapshot.PDB{MinAvailable: tc.min, MaxUnavailable: tc.max}
		if got := zeroBudget(b, tc.n); got != tc.want {
			t.Errorf("zeroBudget(min=%q max=%q, %d) = %v, want %v", tc.min, tc.max, tc.n, got, tc.want)
		}
	}
}

func TestMissingOrdinals(t *testing.T) {
	s := &snapshot.StatefulSet{Meta: snapshot.Meta{Name: "web"}, Replicas: 3}
	pods := func(names ...string) []*snapshot.Pod {
		var out []*snapshot.Pod
		for _, n := range names {
			out = append(out, &snapshot.Pod{Meta: snapshot.Meta{Name: n}})
		}
		return out
	}
	if got := strings.Join(missingOrdinals(s, pods("web-0", "web-1")), ","); got != "web-2" {
		t.Errorf("missing = %q, want web-2", got)
	}
	if got := missingOrdinals(s, pods("web-5", "web-6")); got != nil {
		t.Errorf("custom ordinals: missing = %v, want none", got)
	}
	if got := strings.Join(missingOrdinals(s, pods("web-canary", "web-1")), ","); got != "web-0,web-2" {
		t.Errorf("missing = %q, want web-0,web-2", got)
	}
	started := &snapshot.StatefulSet{Meta: snapshot.Meta{Name: "web"}, Replicas: 3, OrdinalsStart: 5}
	if got := strings.Join(missingOrdinals(started, pods("web-5", "web-6")), ","); got != "web-7" {
		t.Errorf("ordinals.start 5: missing = %q, want web-7", got)
	}
	if got := missingOrdinals(started, pods("web-0", "web-6")); got != nil {
		t.Errorf("pod outside ordinals.start range: missing = %v, want none", got)
	}
}

func TestPartitioned(t *testing.T) {
	for _, tc := range []struct {
		strategy              string
		replicas, part, start int32
		want                  int32
		below, above          string
	}{
		{"RollingUpdate", 3, 0, 0, 0, "", "db-0"},
		{"RollingUpdate", 3, 2, 0, 2, "db-1", "db-2"},
		{"RollingUpdate", 3, 5, 0, 3, "db-2", ""},
		{"OnDelete", 3, 2, 0, 0, "", "db-0"},
		{"RollingUpdate", 3, 2, 1, 1, "db-1", "db-2"},
		{"RollingUpdate", 3, 1, 1, 0, "", "db-1"},
	} {
		s := &snapshot.StatefulSet{Meta: snapshot.Meta{Name: "db"}, UpdateStrategy: tc.strategy, Replicas: tc.replicas, Partition: tc.part, OrdinalsStart: tc.start}
		if got := partitioned(s); got != tc.want {
			t.Errorf("%s partition %d start %d: partitioned = %d, want %d", tc.strategy, tc.part, tc.start, got, tc.want)
		}
		if tc.below != "" && !belowPartition(s, tc.below) {
			t.Errorf("%s partition %d: %s should be below the partition", tc.strategy, tc.part, tc.below)
		}
		if tc.above != "" && belowPartition(s, tc.above) {
			t.Errorf("%s partition %d: %s should not be below the partition", tc.strategy, tc.part, tc.above)
		}
	}
}

func TestNewestReplicaSet(t *testing.T) {
	rs := func(name, rev string, created time.Time) *snapshot.ReplicaSet {
		return &snapshot.ReplicaSet{Meta: snapshot.Meta{Name: name, CreationTimestamp: created,
			Annotations: map[string]string{"deployment.kubernetes.io/revision": rev}}}
	}
	got := newestReplicaSet([]*snapshot.ReplicaSet{rs("a", "9", ago(time.Hour)), rs("b", "10", ago(2*time.Hour)), rs("c", "2", ago(time.Minute))})
	if got.Name != "b" {
		t.Errorf("newest = %s, want b (revision 10 beats 9 numerically)", got.Name)
	}
}

func TestMetricsHint(t *testing.T) {
	for msg, want := range map[string]string{
		"failed to get cpu utilization: missing request for cpu in container app of Pod x":                                                            "no request",
		"unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource": "metrics-server",
		"unable to get external metric default/queue_depth/nil: unable to fetch metrics from external metrics API: external.metrics.k8s.io":           "external metrics adapter",
		"something else": "",
	} {
		got := metricsHint(msg)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("metricsHint(%q) = %q, want containing %q", msg, got, want)
		}
	}
}

func TestGenerationMismatchLease(t *testing.T) {
	dep := func(name string, gen, observed int64) snapshot.Deployment {
		return snapshot.Deployment{Meta: snapshot.Meta{Namespace: "ns", Name: name, Generation: gen, CreationTimestamp: ago(48 * time.Hour)},
			ObservedGeneration: observed,
			Conditions:         []snapshot.Condition{{Type: "Progressing", Status: "True", LastUpdateTime: ago(24 * time.Hour)}}}
	}
	for _, tc := range []struct {
		name  string
		renew time.Time
		want  string
	}{
		// A live leader: one unobserved edit is in flight, two are not.
		{"fresh lease", ago(3 * time.Second), "two"},
		// A dead leader: every unobserved edit counts.
		{"stale lease", ago(24 * time.Hour), "one,two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &snapshot.Snapshot{
				Deployments: []snapshot.Deployment{dep("one", 5, 4), dep("two", 6, 4), dep("ok", 3, 3)},
				Leases: []snapshot.Lease{{Meta: snapshot.Meta{Namespace: "kube-system", Name: "kube-controller-manager"},
					HolderIdentity: "cp-1", LeaseDurationSeconds: 15, RenewTime: tp(tc.renew)}},
			}
			env := envFor(s)
			env.Meta = DeploymentGenerationMismatch.Meta()
			p, err := checks.ResolveParams(env.Meta, nil)
			if err != nil {
				t.Fatal(err)
			}
			env.Params = p
			var got []string
			for _, f := range DeploymentGenerationMismatch.Run(t.Context(), env) {
				got = append(got, f.Object.Name)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("fired on %v, want %s", got, tc.want)
			}
		})
	}
}

// TestOneLine checks the flat-string shortcut against the plain rule:
// join the fields, then clip to n runes.
func TestOneLine(t *testing.T) {
	ref := func(s string, n int) string {
		s = strings.Join(strings.Fields(s), " ")
		if r := []rune(s); len(r) > n {
			return string(r[:n-1]) + "…"
		}
		return s
	}
	for _, s := range []string{
		"", " ", "a", "a b", " a", "a ", "a  b", "a\tb", "a\nb", "a\u00a0b", "a\u0085b", "a\u2003b",
		"héllo wörld", "\xff\xfe bad utf8", "Back-off pulling image \"x\"", "0/3 nodes are available: 3 Insufficient memory.",
		"ünïcödé ünïcödé ünïcödé", "line one\nline two\r\n",
	} {
		for _, n := range []int{1, 3, 5, 10, 200} {
			if got, want := oneLine(s, n), ref(s, n); got != want {
				t.Errorf("oneLine(%q, %d) = %q, want %q", s, n, got, want)
			}
		}
	}
}
