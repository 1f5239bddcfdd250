package synth

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func isNodeFault(k FaultKind) bool {
	return k == NodeNotReady || k == NodeUnknown || k == NodeDiskPressure
}

func isPodFault(k FaultKind) bool {
	switch k {
	case PodCrashLoop, PodOOMKilled, PodImagePull, PodConfigError, PodUnschedulable, PodEvicted:
		return true
	}
	return false
}

func count(rate float64, n, atLeast int) int {
	return max(atLeast, int(math.Round(rate*float64(n))))
}

// injectFaults breaks objects at the configured rate and records the
// findings they must produce.
func (g *gen) injectFaults() {
	rate := g.opt.FaultRate
	if rate <= 0 {
		return
	}
	want := map[FaultKind]bool{}
	for _, k := range g.opt.Faults {
		want[k] = true
	}
	var nodeKinds, podKinds []FaultKind
	for _, k := range AllFaults {
		switch {
		case !want[k]:
		case isNodeFault(k):
			nodeKinds = append(nodeKinds, k)
		case isPodFault(k):
			podKinds = append(podKinds, k)
		}
	}

	if len(nodeKinds) > 0 && len(g.workers) > 1 {
		n := min(count(rate, len(g.s.Nodes), len(nodeKinds)), max(1, len(g.workers)/4))
		victims := append([]int(nil), g.workers...)
		g.r.Shuffle(len(victims), func(a, b int) { victims[a], victims[b] = victims[b], victims[a] })
		for i := 0; i < n; i++ {
			g.faultNode(victims[i], nodeKinds[i%len(nodeKinds)])
		}
		g.markPodsOnBadNodes()
	}

	if len(podKinds) > 0 {
		var cands []*workload
		for _, w := range g.ws {
			if w.kind == snapshot.KindDeployment && !w.system {
				cands = append(cands, w)
			}
		}
		g.r.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
		n := count(rate, len(g.s.Pods), len(podKinds))
		for i, k := 0, 0; i < n && k < len(cands); k++ {
			w := cands[k]
			p := g.victimPod(w)
			if p < 0 {
				continue
			}
			g.faultPod(w, p, podKinds[i%len(podKinds)])
			i++
		}
	}
	if want[PVCPending] {
		for i, n := 0, count(rate, len(g.s.PVCs), 1); i < n; i++ {
			g.pendingPVC()
		}
	}
	if want[ServiceNoEndpoints] {
		for i, n := 0, count(rate, len(g.s.Services), 1); i < n; i++ {
			g.orphanService()
		}
	}
	if want[JobFailed] {
		for i, n := 0, count(rate, len(g.s.Jobs), 1); i < n; i++ {
			g.failedJob()
		}
	}
	if len(g.expected) > 0 {
		g.tolerate("events.warning_burst", "", "", "", "", "every Warning event in the fleet comes from an injected fault")
	}
}

func (g *gen) nodeIndex(name string) int {
	if g.nodeIdx == nil {
		g.nodeIdx = make(map[string]int, len(g.s.Nodes))
		for i := range g.s.Nodes {
			g.nodeIdx[g.s.Nodes[i].Name] = i
		}
	}
	if i, ok := g.nodeIdx[name]; ok {
		return i
	}
	return -1
}

// workerOlderThan places a pod on the next worker that existed at t.
func (g *gen) workerOlderThan(t time.Time) int {
	for range g.order {
		if n := g.nextWorker(); g.nodeCreated[n].Before(t) {
			return n
		}
	}
	return g.nextWorker()
}

// victimPod picks a running pod of w on a healthy node old enough for the
// fault to have lasted its full duration.
func (g *gen) victimPod(w *workload) int {
	var ok []int
	for _, p := range w.pods {
		pod := &g.s.Pods[p]
		if pod.Phase != "Running" || pod.NodeName == "" {
			continue
		}
		if _, bad := g.podFault[p]; bad {
			continue
		}
		if _, bad := g.faultSince[p]; bad {
			continue
		}
		ni := g.nodeIndex(pod.NodeName)
		if ni < 0 || g.nodeCreated[ni].After(g.ago(7*time.Hour)) || hasTaint(&g.s.Nodes[ni], "node.kubernetes.io/disk-pressure") {
			continue
		}
		ok = append(ok, p)
	}
	if len(ok) == 0 {
		return -1
	}
	return ok[g.intn(len(ok))]
}

func hasTaint(n *snapshot.Node, key string) bool {
	for _, t := range n.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

func nodeCond(n *snapshot.Node, t string) *snapshot.Condition {
	for i := range n.Conditions {
		if n.Conditions[i].Type == t {
			return &n.Conditions[i]
		}
	}
	return nil
}

var notReadyMessages = []string{
	"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
	"PLEG is not healthy: pleg was last seen active 3m12.480127593s ago; threshold is 3m0s",
	"container runtime is down, PLEG is not healthy: pleg was last seen active 4m1.7s ago; threshold is 3m0s",
	"[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]",
}

func (g *gen) faultNode(ni int, kind FaultKind) {
	n := &g.s.Nodes[ni]
	ref := snapshot.ObjectRef{Kind: "Node", Name: n.Name, UID: n.UID}
	switch kind {
	case NodeNotReady:
		since := g.ago(g.dur(90*time.Second, 4*time.Minute))
		hb := g.ago(g.dur(time.Second, 10*time.Second))
		for i := range n.Conditions {
			if n.Conditions[i].Type != "NetworkUnavailable" {
				n.Conditions[i].LastHeartbeatTime = hb
			}
		}
		*nodeCond(n, "Ready") = snapshot.Condition{Type: "Ready", Status: "False", Reason: "KubeletNotReady",
			Message: pick(g.rng, notReadyMessages), LastTransitionTime: since, LastHeartbeatTime: hb}
		n.Taints = append(n.Taints,
			snapshot.Taint{Key: "node.kubernetes.io/not-ready", Effect: "NoSchedule", TimeAdded: tp(since.Add(time.Second))},
			snapshot.Taint{Key: "node.kubernetes.io/not-ready", Effect: "NoExecute", TimeAdded: tp(since.Add(time.Second))})
		g.event("default", ref, "Normal", "NodeNotReady", "Node "+n.Name+" status is now: NodeNotReady", "kubelet", 1, since, since)
		g.badNode[ni] = kind
		g.nodeSince[ni] = since
	case NodeUnknown:
		since := g.ago(g.dur(90*time.Second, 4*time.Minute))
		lost := since.Add(-40 * time.Second)
		hb := lost.Add(-g.dur(0, 4*time.Minute))
		for _, t := range []string{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"} {
			*nodeCond(n, t) = snapshot.Condition{Type: t, Status: "Unknown", Reason: "NodeStatusUnknown",
				Message: "Kubelet stopped posting node status.", LastTransitionTime: since, LastHeartbeatTime: hb}
		}
		n.Taints = append(n.Taints,
			snapshot.Taint{Key: "node.kubernetes.io/unreachable", Effect: "NoSchedule", TimeAdded: tp(since)},
			snapshot.Taint{Key: "node.kubernetes.io/unreachable", Effect: "NoExecute", TimeAdded: tp(since.Add(time.Second))})
		g.s.Leases[ni].RenewTime = tp(lost.Add(-g.durMicro(0, 10*time.Second)))
		g.event("default", ref, "Normal", "NodeNotReady", "Node "+n.Name+" status is now: NodeNotReady", "node-controller", 1, since, since)
		g.tolerate("node.heartbeat_stale", snapshot.KindNode, "", n.Name, kind, "an unreachable node's kubelet stopped posting status")
		g.badNode[ni] = kind
		g.nodeSince[ni] = since
	case NodeDiskPressure:
		since := g.ago(g.dur(10*time.Minute, 3*time.Hour))
		c := nodeCond(n, "DiskPressure")
		*c = snapshot.Condition{Type: "DiskPressure", Status: "True", Reason: "KubeletHasDiskPressure",
			Message: "kubelet has disk pressure", LastTransitionTime: since, LastHeartbeatTime: c.LastHeartbeatTime}
		n.Taints = append(n.Taints, snapshot.Taint{Key: "node.kubernetes.io/disk-pressure", Effect: "NoSchedule", TimeAdded: tp(since.Add(time.Second))})
		g.event("default", ref, "Normal", "NodeHasDiskPressure", "Node "+n.Name+" status is now: NodeHasDiskPressure", "kubelet", 1, since, since)
		g.event("default", ref, "Warning", "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", "kubelet",
			int32(g.between(3, 40)), since, g.ago(g.dur(0, 5*time.Minute)))
		g.tolerate("node.pods_near_capacity", snapshot.KindNode, "", n.Name, kind, "")
	}
	g.expect(kind.Check(), snapshot.KindNode, "", n.Name, kind, "")
	g.injected[kind]++
}

// markPodsOnBadNodes does what the node lifecycle controller does when a
// node stops being Ready: it sets Ready=False on every pod there (the
// container statuses keep their stale ready: true), and records a
// NodeNotReady event per pod.
func (g *gen) markPodsOnBadNodes() {
	bad := map[string]int{}
	for ni := range g.badNode {
		bad[g.s.Nodes[ni].Name] = ni
	}
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		ni, ok := bad[p.NodeName]
		if !ok || p.Phase != "Running" {
			continue
		}
		since := g.nodeSince[ni].Add(g.dur(time.Second, 5*time.Second))
		for k := range p.Conditions {
			if p.Conditions[k].Type == "Ready" {
				p.Conditions[k].Status = "False"
				p.Conditions[k].LastTransitionTime = since
			}
		}
		g.faultSince[i] = since
		g.event(p.Namespace, podRef(p), "Warning", "NodeNotReady", "Node is not ready", "node-controller", 1, since, since)
		g.tolerate("pod.not_ready", snapshot.KindPod, p.Namespace, p.Name, g.badNode[ni], "its node "+p.NodeName+" is not ready")
	}
}

// rebirth makes pod p a fresh replacement created at created: a new name
// and UID, every timestamp after created, no restarts.
func (g *gen) rebirth(p int, w *workload, created time.Time) {
	pod := &g.s.Pods[p]
	rs := &g.s.ReplicaSets[w.rs]
	pod.Name = rs.Name + "-" + g.suffix(5)
	pod.UID = g.uid()
	pod.CreationTimestamp = created
	pod.Annotations = nil
	start := created.Add(time.Second)
	pod.StartTime = tp(start)
	t0 := start.Add(2 * time.Second)
	for i := range pod.InitContainers {
		fin := t0.Add(g.dur(time.Second, 20*time.Second))
		c := &pod.InitContainers[i]
		c.State = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Completed", StartedAt: tp(t0), FinishedAt: tp(fin)}
		t0 = fin.Add(time.Second)
	}
	running := t0.Add(g.dur(2*time.Second, 30*time.Second))
	for i := range pod.Containers {
		c := &pod.Containers[i]
		c.RestartCount = 0
		c.LastState = snapshot.ContainerState{}
		c.State = snapshot.ContainerState{State: snapshot.StateRunning, StartedAt: tp(running)}
		c.Ready = true
	}
	ready := running.Add(5 * time.Second)
	pod.Conditions = []snapshot.Condition{
		cond("PodReadyToStartContainers", "True", "", "", created.Add(2*time.Second)),
		cond("Initialized", "True", "", "", t0),
		cond("Ready", "True", "", "", ready),
		cond("ContainersReady", "True", "", "", ready),
		cond("PodScheduled", "True", "", "", created),
	}
}

// faultyContainer picks the container that breaks: usually the main one,
// sometimes a sidecar (never the mesh proxy, which is the same everywhere).
func (g *gen) faultyContainer(pod *snapshot.Pod) int {
	var others []int
	for i := 1; i < len(pod.Containers); i++ {
		if pod.Containers[i].Name != "istio-proxy" {
			others = append(others, i)
		}
	}
	if len(others) > 0 && g.chance(0.2) {
		return others[g.intn(len(others))]
	}
	return 0
}

func (g *gen) notReady(pod *snapshot.Pod, cname string, since time.Time) {
	msg := "containers with unready status: [" + cname + "]"
	setCond(pod, "Ready", "False", "ContainersNotReady", msg, since)
	setCond(pod, "ContainersReady", "False", "ContainersNotReady", msg, since)
	reorder(pod)
}

var condOrder = map[string]int{"PodReadyToStartContainers": 0, "Initialized": 1, "Ready": 2, "ContainersReady": 3, "PodScheduled": 4, "DisruptionTarget": 5}

func reorder(pod *snapshot.Pod) {
	sort.SliceStable(pod.Conditions, func(a, b int) bool {
		return condOrder[pod.Conditions[a].Type] < condOrder[pod.Conditions[b].Type]
	})
}

func (g *gen) faultPod(w *workload, p int, kind FaultKind) {
	pod := &g.s.Pods[p]
	fp := p // the faulted pod: p, or the evicted pod added beside it
	since := g.ago(g.dur(20*time.Minute, 6*time.Hour))
	no := false
	switch kind {
	case PodCrashLoop:
		ci := g.faultyContainer(pod)
		c := &pod.Containers[ci]
		restarts := int32(g.between(5, 60))
		fin := g.ago(g.dur(10*time.Second, 4*time.Minute))
		c.RestartCount = restarts
		c.Ready, c.Started = false, &no
		c.State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off 5m0s restarting failed container=%s pod=%s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)}
		c.LastState = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Error", ExitCode: 1,
			StartedAt: tp(fin.Add(-g.dur(time.Second, 20*time.Second))), FinishedAt: tp(fin)}
		g.notReady(pod, c.Name, since)
		g.event(pod.Namespace, podRef(pod), "Warning", "BackOff",
			fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID),
			"kubelet", restarts*4, since, g.ago(g.dur(0, 30*time.Second)))
		g.faultSince[p] = since
		g.tolerate("pod.restarting", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.container_waiting", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.not_ready", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	case PodOOMKilled:
		ci := g.faultyContainer(pod)
		c := &pod.Containers[ci]
		fin := g.ago(g.dur(3*time.Minute, 40*time.Minute))
		c.RestartCount = int32(g.between(1, 4))
		c.LastState = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "OOMKilled", ExitCode: 137,
			StartedAt: tp(fin.Add(-g.dur(10*time.Minute, 3*time.Hour))), FinishedAt: tp(fin)}
		c.State = snapshot.ContainerState{State: snapshot.StateRunning, StartedAt: tp(fin.Add(time.Second))}
		ready := fin.Add(g.dur(5*time.Second, 30*time.Second))
		setCond(pod, "Ready", "True", "", "", ready)
		setCond(pod, "ContainersReady", "True", "", "", ready)
		g.event(pod.Namespace, podRef(pod), "Normal", "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image), "kubelet",
			c.RestartCount+1, pod.CreationTimestamp, fin.Add(time.Second))
		g.tolerate("pod.restarting", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	case PodImagePull:
		g.rebirth(p, w, since)
		ci := g.faultyContainer(pod)
		c := &pod.Containers[ci]
		c.Ready, c.Started = false, &no
		c.State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "ImagePullBackOff",
			Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
		pod.Phase = "Pending"
		g.notReady(pod, c.Name, since.Add(5*time.Second))
		var cause string
		if g.chance(0.7) {
			cause = fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", c.Image, c.Image, c.Image)
		} else {
			cause = fmt.Sprintf("rpc error: code = Unknown desc = failed to pull and unpack image %q: failed to resolve reference %q: pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials", c.Image, c.Image)
		}
		n := int32(g.between(5, 60))
		last := g.ago(g.dur(0, 5*time.Minute))
		ref := podRef(pod)
		g.event(pod.Namespace, ref, "Normal", "Pulling", fmt.Sprintf("Pulling image %q", c.Image), "kubelet", n, since, last)
		g.event(pod.Namespace, ref, "Warning", "Failed", fmt.Sprintf("Failed to pull image %q: %s", c.Image, cause), "kubelet", n, since, last)
		g.event(pod.Namespace, ref, "Warning", "Failed", "Error: ErrImagePull", "kubelet", n, since, last)
		g.event(pod.Namespace, ref, "Normal", "BackOff", fmt.Sprintf("Back-off pulling image %q", c.Image), "kubelet", n*4, since, g.ago(g.dur(0, 20*time.Second)))
		g.event(pod.Namespace, ref, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", n*4, since, g.ago(g.dur(0, 20*time.Second)))
		g.faultSince[p] = since
		g.tolerate("pod.container_waiting", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.not_ready", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.pending_too_long", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	case PodConfigError:
		g.rebirth(p, w, since)
		ci := g.faultyContainer(pod)
		c := &pod.Containers[ci]
		c.Ready, c.Started = false, &no
		missing := w.name + "-config"
		has := false
		for _, r := range pod.ConfigRefs {
			if r.Kind == "ConfigMap" && r.Name == missing {
				has = true
			}
		}
		if !has {
			missing = w.name + "-env"
			pod.ConfigRefs = append(append([]snapshot.ConfigRef(nil), pod.ConfigRefs...), cm(missing))
		}
		msg := fmt.Sprintf("configmap %q not found", missing)
		if g.chance(0.25) {
			msg = fmt.Sprintf("couldn't find key DB_HOST in ConfigMap %s/%s", pod.Namespace, missing)
		}
		c.State = snapshot.ContainerState{State: snapshot.StateWaiting, Reason: "CreateContainerConfigError", Message: msg}
		pod.Phase = "Pending"
		g.notReady(pod, c.Name, since.Add(5*time.Second))
		g.event(pod.Namespace, podRef(pod), "Warning", "Failed", "Error: "+msg, "kubelet", int32(g.between(10, 200)), since, g.ago(g.dur(0, 2*time.Minute)))
		g.faultSince[p] = since
		g.tolerate("pod.container_waiting", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.not_ready", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.pending_too_long", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	case PodUnschedulable:
		g.rebirth(p, w, since)
		msg := g.unschedulable(pod)
		pod.NodeName = ""
		pod.StartTime = nil
		for _, cs := range [][]snapshot.Container{pod.InitContainers, pod.Containers} {
			for i := range cs {
				cs[i].Ready, cs[i].Started, cs[i].HasStatus = false, nil, false
				cs[i].State, cs[i].LastState = snapshot.ContainerState{}, snapshot.ContainerState{}
			}
		}
		pod.Phase = "Pending"
		pod.Conditions = []snapshot.Condition{cond("PodScheduled", "False", "Unschedulable", msg, since)}
		g.event(pod.Namespace, podRef(pod), "Warning", "FailedScheduling", msg, "default-scheduler",
			int32(g.between(3, 60)), since, g.ago(g.dur(0, 5*time.Minute)))
		g.faultSince[p] = since
		g.tolerate("pod.pending_too_long", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
		g.tolerate("pod.not_ready", snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	case PodEvicted:
		// The evicted pod stays as a Failed record; its ReplicaSet already
		// replaced it, so p itself stays healthy.
		ni := g.nodeIndex(pod.NodeName)
		evicted := g.ago(g.dur(20*time.Minute, 6*time.Hour))
		created := evicted.Add(-g.dur(2*time.Hour, 20*day))
		if min := g.nodeCreated[ni].Add(2 * time.Minute); created.Before(min) {
			created = min
		}
		q := g.deploymentPod(w, created, ni)
		fp = q
		pod = &g.s.Pods[q]
		c := &pod.Containers[0]
		var msg string
		if g.chance(0.7) {
			msg = fmt.Sprintf("The node was low on resource: memory. Threshold quantity: 100Mi, available: %dKi. Container %s was using %dKi, request is %dMi, has larger consumption of memory. ",
				g.between(60000, 99000), c.Name, c.Requests["memory"]/1024*int64(g.between(2, 4)), c.Requests["memory"]/mi)
		} else {
			msg = fmt.Sprintf("The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: %dKi. Container %s was using %dKi, request is 0, has larger consumption of ephemeral-storage. ",
				g.between(8000000, 10000000), c.Name, g.between(6000000, 30000000))
		}
		pod.Phase, pod.Reason, pod.Message = "Failed", "Evicted", msg
		for i := range pod.Containers {
			c := &pod.Containers[i]
			c.Ready, c.Started = false, &no
			c.State = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "ContainerStatusUnknown", ExitCode: 137,
				Message: "The container could not be located when the pod was terminated"}
		}
		setCond(pod, "PodReadyToStartContainers", "False", "", "", evicted.Add(2*time.Second))
		setCond(pod, "Ready", "False", "PodFailed", "", evicted)
		setCond(pod, "ContainersReady", "False", "PodFailed", "", evicted)
		setCond(pod, "DisruptionTarget", "True", "TerminationByKubelet", msg, evicted)
		reorder(pod)
		g.event(pod.Namespace, podRef(pod), "Warning", "Evicted", msg, "kubelet", 1, evicted, evicted)
		g.event(pod.Namespace, podRef(pod), "Normal", "Killing", "Stopping container "+c.Name, "kubelet", 1, evicted, evicted)
	}
	w.faulted = true
	g.podFault[fp] = kind
	g.expect(kind.Check(), snapshot.KindPod, pod.Namespace, pod.Name, kind, "")
	g.injected[kind]++
}

// unschedulable makes pod impossible to place (too large, or bound to a
// node pool that does not exist) and returns the scheduler's message.
func (g *gen) unschedulable(pod *snapshot.Pod) string {
	taints := map[string]int{}
	fit := 0
	for i := range g.s.Nodes {
		n := &g.s.Nodes[i]
		key := ""
		for _, t := range n.Taints {
			if t.Effect == "NoSchedule" {
				key = t.Key
				break
			}
		}
		if key != "" {
			taints[key]++
		} else {
			fit++
		}
	}
	var parts []string
	keys := make([]string, 0, len(taints))
	for k := range taints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d node(s) had untolerated taint {%s: }", taints[k], k))
	}
	total := len(g.s.Nodes)
	var reason, preempt string
	if g.chance(0.5) {
		c := &pod.Containers[0]
		c.Requests = copyRes(c.Requests)
		c.Requests["memory"] = 96 * gi
		c.Limits = copyRes(c.Limits)
		c.Limits["memory"] = 96 * gi
		reason = fmt.Sprintf("%d Insufficient memory", fit)
		preempt = fmt.Sprintf("%d No preemption victims found for incoming pod", fit)
	} else {
		pod.NodeSelector = map[string]string{"node-pool": "gpu"}
		reason = fmt.Sprintf("%d node(s) didn't match Pod's node affinity/selector", fit)
		preempt = fmt.Sprintf("%d Preemption is not helpful for scheduling", fit)
	}
	parts = append(parts, reason)
	sort.Slice(parts, func(a, b int) bool {
		return strings.TrimLeft(parts[a], "0123456789 ") < strings.TrimLeft(parts[b], "0123456789 ")
	})
	nonfit := total - fit
	pre := preempt
	if nonfit > 0 {
		pre = fmt.Sprintf("%d Preemption is not helpful for scheduling, %s", nonfit, preempt)
	}
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %s.", total, strings.Join(parts, ", "), total, pre)
}

func copyRes(r snapshot.Resources) snapshot.Resources {
	out := make(snapshot.Resources, len(r)+1)
	for k, v := range r {
		out[k] = v
	}
	return out
}

func (g *gen) randomAppNS() string {
	if len(g.appNS) == 0 {
		return "default"
	}
	return g.appNS[g.intn(len(g.appNS))]
}

// pendingPVC adds a claim that waits on a StorageClass nobody created.
func (g *gen) pendingPVC() {
	ns := g.randomAppNS()
	name := pick(g.rng, []string{"uploads", "scratch", "media-cache", "exports", "search-index"}) + "-" + pick(g.rng, domains) + "-" + g.suffix(4)
	class := pick(g.rng, []string{"fast-ssd", "gp3-encrypted", "premium-rwo", "standard-retain"})
	created := g.ago(g.dur(20*time.Minute, 6*time.Hour))
	m := g.meta(ns, name, created, map[string]string{"app.kubernetes.io/name": name})
	m.Finalizers = []string{"kubernetes.io/pvc-protection"}
	cls := class
	g.s.PVCs = append(g.s.PVCs, snapshot.PVC{Meta: m, StorageClassName: &cls, AccessModes: []string{"ReadWriteOnce"},
		Request: int64(pick(g.rng, []int{5, 20, 50, 100})) * gi, Phase: "Pending"})
	g.event(ns, snapshot.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name, UID: m.UID}, "Warning", "ProvisioningFailed",
		fmt.Sprintf("storageclass.storage.k8s.io %q not found", class), "persistentvolume-controller",
		int32(g.between(20, 900)), created, g.ago(g.dur(0, 2*time.Minute)))
	g.expect(PVCPending.Check(), snapshot.KindPVC, ns, name, PVCPending, "")
	g.injected[PVCPending]++
}

// orphanService adds a Service whose selector matches no pod (a canary
// track nobody deployed, or a renamed app label).
func (g *gen) orphanService() {
	var cands []*workload
	for _, w := range g.ws {
		if w.kind == snapshot.KindDeployment && !w.system && len(w.svcs) > 0 {
			cands = append(cands, w)
		}
	}
	if len(cands) == 0 {
		return
	}
	w := cands[g.intn(len(cands))]
	sel := copyLabels(w.sel)
	name := w.name + "-canary"
	if g.chance(0.5) {
		sel["track"] = "canary"
	} else {
		for k, v := range sel {
			if k == "app" || k == "app.kubernetes.io/name" {
				sel[k] = v + "-v2"
			}
		}
		name = w.name + "-v2"
	}
	for _, s := range g.s.Services {
		if s.Namespace == w.ns && s.Name == name {
			name += "-" + g.suffix(3)
			break
		}
	}
	g.service(w.ns, name, sel, httpPorts(), "ClusterIP", "", map[string]string{"app.kubernetes.io/name": name},
		g.ago(g.dur(20*time.Minute, 30*day)))
	g.expect(ServiceNoEndpoints.Check(), snapshot.KindService, w.ns, name, ServiceNoEndpoints, "")
	g.injected[ServiceNoEndpoints]++
}

// failedJob adds a one-off Job whose pods all exited 1 until the backoff
// limit was reached.
func (g *gen) failedJob() {
	ns := g.randomAppNS()
	st := &nsState{name: ns, used: map[string]bool{}}
	a := g.appSpec(st, pick(g.rng, []string{"db-migrate", "backfill", "reindex", "data-export", "report"})+"-"+pick(g.rng, domains), "batch", 1)
	a.tmpl.restart = "Never"
	name := a.name + "-" + g.suffix(5)
	limit := int32(g.between(0, 3))
	start := g.ago(g.dur(20*time.Minute, 6*time.Hour))
	m := g.meta(ns, name, start.Add(-time.Second), nil)
	m.Generation = 1
	m.Labels = copyLabels(a.podLabels, "batch.kubernetes.io/controller-uid", m.UID, "batch.kubernetes.io/job-name", name,
		"controller-uid", m.UID, "job-name", name)
	one := int32(1)
	j := snapshot.Job{Meta: m, Completions: &one, Parallelism: &one, BackoffLimit: &limit, StartTime: tp(start), Failed: limit + 1}
	t := start
	owners := owner(snapshot.KindJob, &m)
	var pods []string
	for k := int32(0); k <= limit; k++ {
		ni := g.workerOlderThan(t.Add(-2 * time.Minute))
		p := g.addPod(a.tmpl, ns, name+"-"+g.suffix(5), m.Labels, owners, ni, t)
		pod := &g.s.Pods[p]
		pods = append(pods, pod.Name)
		started := *pod.Containers[0].State.StartedAt
		fin := started.Add(g.dur(2*time.Second, 90*time.Second))
		no := false
		pod.Phase = "Failed"
		for i := range pod.Containers {
			c := &pod.Containers[i]
			c.Ready, c.Started, c.RestartCount = false, &no, 0
			c.LastState = snapshot.ContainerState{}
			c.State = snapshot.ContainerState{State: snapshot.StateTerminated, Reason: "Error", ExitCode: 1, StartedAt: tp(started), FinishedAt: tp(fin)}
		}
		setCond(pod, "PodReadyToStartContainers", "False", "", "", fin.Add(time.Second))
		setCond(pod, "Ready", "False", "PodFailed", "", fin)
		setCond(pod, "ContainersReady", "False", "PodFailed", "", fin)
		t = fin.Add(time.Duration(10<<k) * time.Second)
	}
	failed := t.Add(-g.dur(0, 5*time.Second))
	if failed.After(g.ago(time.Minute)) {
		failed = g.ago(time.Minute)
	}
	msg := "Job has reached the specified backoff limit"
	j.Conditions = []snapshot.Condition{
		{Type: "FailureTarget", Status: "True", Reason: "BackoffLimitExceeded", Message: msg, LastTransitionTime: failed, LastHeartbeatTime: failed},
		{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", Message: msg, LastTransitionTime: failed, LastHeartbeatTime: failed},
	}
	g.s.Jobs = append(g.s.Jobs, j)
	ref := snapshot.ObjectRef{Kind: "Job", Namespace: ns, Name: name, UID: m.UID}
	for _, pn := range pods {
		g.event(ns, ref, "Normal", "SuccessfulCreate", "Created pod: "+pn, "job-controller", 1, start, start)
	}
	g.event(ns, ref, "Warning", "BackoffLimitExceeded", msg, "job-controller", 1, failed, failed)
	g.expect(JobFailed.Check(), snapshot.KindJob, ns, name, JobFailed, "")
	g.injected[JobFailed]++
}
