package synth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/collectors/synth"
)

func write(t testing.TB, s *snapshot.Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := snapshot.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	opt := synth.Options{Nodes: 40, Pods: 1200, Seed: 7, FaultRate: 0.05}
	a, b := synth.Generate(opt), synth.Generate(opt)
	if !bytes.Equal(write(t, a.Snapshot), write(t, b.Snapshot)) {
		t.Fatal("two fleets from one seed differ")
	}
	if !reflect.DeepEqual(a.Expected, b.Expected) || !reflect.DeepEqual(a.Tolerated, b.Tolerated) {
		t.Fatal("two answers from one seed differ")
	}
	opt.Seed = 8
	if bytes.Equal(write(t, a.Snapshot), write(t, synth.Generate(opt).Snapshot)) {
		t.Fatal("different seeds gave the same fleet")
	}
}

func TestShape(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 200, Pods: 6000, Seed: 1})
	s := g.Snapshot
	if len(g.Expected) != 0 {
		t.Errorf("a healthy fleet expects %d findings", len(g.Expected))
	}
	if n := len(s.Nodes); n != 200 {
		t.Errorf("nodes: %d", n)
	}
	if n := len(s.Pods); n < 5900 || n > 6100 {
		t.Errorf("pods: %d, want about 6000", n)
	}
	// Owner chains resolve: every pod's controller exists with that UID.
	uids := map[string]bool{}
	for i := range s.ReplicaSets {
		uids[s.ReplicaSets[i].UID] = true
	}
	for i := range s.DaemonSets {
		uids[s.DaemonSets[i].UID] = true
	}
	for i := range s.StatefulSets {
		uids[s.StatefulSets[i].UID] = true
	}
	for i := range s.Jobs {
		uids[s.Jobs[i].UID] = true
	}
	for i := range s.Nodes {
		uids[s.Nodes[i].UID] = true
	}
	nodes := map[string]bool{}
	for i := range s.Nodes {
		nodes[s.Nodes[i].Name] = true
	}
	perNode := map[string]int{}
	for i := range s.Pods {
		p := &s.Pods[i]
		o, ok := p.Controller()
		if !ok || !uids[o.UID] {
			t.Fatalf("pod %s/%s: controller %+v not in the fleet", p.Namespace, p.Name, o)
		}
		if p.NodeName != "" && !nodes[p.NodeName] {
			t.Fatalf("pod %s/%s on unknown node %s", p.Namespace, p.Name, p.NodeName)
		}
		if o.Kind == "ReplicaSet" && !strings.HasPrefix(p.Name, o.Name+"-") {
			t.Fatalf("pod %s is not named after its ReplicaSet %s", p.Name, o.Name)
		}
		perNode[p.NodeName]++
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if got, max := perNode[n.Name], n.Allocatable["pods"]; int64(got) > max*8/10 {
			t.Errorf("node %s runs %d pods of %d allocatable", n.Name, got, max)
		}
	}
	// Every DaemonSet runs one pod per node.
	for i := range s.DaemonSets {
		d := &s.DaemonSets[i]
		if d.DesiredNumberScheduled != 200 || d.NumberReady != 200 {
			t.Errorf("DaemonSet %s: desired %d ready %d", d.Name, d.DesiredNumberScheduled, d.NumberReady)
		}
	}
	// Every node has a fresh lease.
	leases := map[string]bool{}
	for i := range s.Leases {
		l := &s.Leases[i]
		if l.Namespace == "kube-node-lease" && s.CollectedAt.Sub(*l.RenewTime) < 40*time.Second {
			leases[l.Name] = true
		}
	}
	if len(leases) != 200 {
		t.Errorf("%d fresh node leases, want 200", len(leases))
	}
	for _, k := range []snapshot.Kind{snapshot.KindDeployment, snapshot.KindStatefulSet, snapshot.KindJob, snapshot.KindCronJob,
		snapshot.KindHPA, snapshot.KindPDB, snapshot.KindPVC, snapshot.KindPV, snapshot.KindService, snapshot.KindEndpointSlice,
		snapshot.KindResourceQuota, snapshot.KindEvent, snapshot.KindValidatingWebhook, snapshot.KindMutatingWebhook, snapshot.KindAPIService} {
		if s.Count(k) == 0 {
			t.Errorf("no %s in the fleet", k)
		}
	}
}

// TestSize reports how large the fleet's JSON is per pod. A pod's slim
// projection is 1.5 to 3.5 KB depending on its containers and sidecars
// (about a fifth of it is the zero timestamps the format writes for
// conditions: see the package comment of collectors/snapshot/io.go).
func TestSize(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 200, Pods: 6000, Seed: 1, FaultRate: 0.02})
	s := g.Snapshot
	data := write(t, s)
	var podBytes int
	sizes := make([]int, len(s.Pods))
	for i := range s.Pods {
		b, err := json.Marshal(&s.Pods[i])
		if err != nil {
			t.Fatal(err)
		}
		podBytes += len(b)
		sizes[i] = len(b)
	}
	sort.Ints(sizes)
	perPod := float64(podBytes) / float64(len(s.Pods))
	t.Logf("snapshot %.1f MB for %d pods: %.0f bytes per pod overall; pod objects alone %.0f bytes mean, %d median, %d p90",
		float64(len(data))/1e6, len(s.Pods), float64(len(data))/float64(len(s.Pods)), perPod, sizes[len(sizes)/2], sizes[len(sizes)*9/10])
	if perPod < 1000 || perPod > 4000 {
		t.Errorf("pods average %.0f bytes, outside what slim projections of real pods give", perPod)
	}
}

func TestRoundTrip(t *testing.T) {
	g := synth.Generate(synth.Options{Nodes: 60, Pods: 2000, Seed: 3, FaultRate: 0.05})
	data := write(t, g.Snapshot)
	want, err := json.Marshal(g.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, append(want, '\n')) {
		t.Error("Write differs from encoding/json")
	}
	got, err := snapshot.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g.Snapshot) {
		t.Fatalf("Read(Write(s)) != s:\n%s", cmp.Diff(g.Snapshot, got))
	}
}

// TestKnownAnswer runs the whole catalogue on a faulted fleet: every
// expected finding must fire, and every firing finding must be explained
// by an injected fault (Expected or Tolerated). SYNTH_BIG=1 runs it on the
// 5,000-node, 150,000-pod fleet of the benchmarks instead.
func TestKnownAnswer(t *testing.T) {
	opt := synth.Options{Nodes: 200, Pods: 6000, Seed: 42, FaultRate: 0.02}
	if os.Getenv("SYNTH_BIG") != "" {
		opt = synth.Options{Nodes: 5000, Pods: 150000, Seed: 1, FaultRate: 0.02}
	}
	g := synth.Generate(opt)
	for _, k := range synth.AllFaults {
		if g.Injected[k] == 0 {
			t.Errorf("no %s injected", k)
		}
	}
	r := checks.Runner{Checks: catalog.All()}
	res := r.Run(context.Background(), g.Snapshot)
	for _, run := range res.Runs {
		if run.Result == checks.ResultError || run.Result == checks.ResultTimeout || run.Result == checks.ResultUnknown {
			t.Errorf("%s: %s: %s", run.Check, run.Result, run.Detail)
		}
	}
	known := map[string]bool{}
	for _, c := range catalog.All() {
		known[c.Meta().ID] = true
	}
	fired := map[string]bool{}
	var unexplained []string
	type tally struct{ expected, tolerated int }
	byCheck := map[string]*tally{}
	for _, f := range res.Findings {
		if f.Status != checks.Firing {
			continue
		}
		fired[f.Key()] = true
		_, exp, ok := g.Explains(f.Check, f.Object.Kind, f.Object.Namespace, f.Object.Name)
		if !ok {
			unexplained = append(unexplained, fmt.Sprintf("%s %s: %s: %s", f.Check, f.Object, f.Reason, f.Message))
			continue
		}
		if byCheck[f.Check] == nil {
			byCheck[f.Check] = &tally{}
		}
		if exp {
			byCheck[f.Check].expected++
		} else {
			byCheck[f.Check].tolerated++
		}
	}
	var ids []string
	for id := range byCheck {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Logf("%-32s %5d expected %5d tolerated", id, byCheck[id].expected, byCheck[id].tolerated)
	}
	var missing, notWritten []string
	for _, e := range g.Expected {
		if fired[e.Key()] {
			continue
		}
		line := fmt.Sprintf("%s %s/%s/%s (fault %s) %s", e.Check, e.Kind, e.Namespace, e.Name, e.Fault, e.Note)
		if known[e.Check] {
			missing = append(missing, line)
		} else {
			notWritten = append(notWritten, line)
		}
	}
	t.Logf("%d findings firing, %d expected, %d tolerated patterns, faults injected: %v", len(fired), len(g.Expected), len(g.Tolerated), g.Injected)
	report := func(what string, lines []string) {
		if len(lines) == 0 {
			return
		}
		sort.Strings(lines)
		n := len(lines)
		const show = 40
		more := ""
		if len(lines) > show {
			more = fmt.Sprintf("\n  ... and %d more", len(lines)-show)
			lines = lines[:show]
		}
		t.Errorf("%s (%d):\n  %s%s", what, n, strings.Join(lines, "\n  "), more)
	}
	report("expected findings that did not fire", missing)
	report("expected findings whose check is not in the catalogue", notWritten)
	report("findings not explained by any injected fault (false positives)", unexplained)
}
