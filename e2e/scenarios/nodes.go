package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

const (
	nodeLeaseNamespace = "kube-node-lease"
	// KwokNodeAnnotation makes kwok manage a node (heartbeats, Ready).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// FaultNodeLabel marks the nodes the scenarios create.
	FaultNodeLabel  = "kubepatrol.io/fault-node"
	mergePatch      = types.MergePatchType
	strategicPatch  = types.StrategicMergePatchType
	leaseRenewEvery = 5 * time.Second
)

// NodeNotReady: a node whose kubelet is alive (it renews its Lease) but
// reports Ready=False, as when the container runtime or the CNI is down.
func NodeNotReady() *Scenario {
	const node = "fault-node-not-ready"
	s := &Scenario{
		Name:        "node-not-ready",
		Description: "kubelet alive but reports Ready=False (CNI plugin not initialized) for 10 minutes",
		Timeout:     30 * time.Second,
		Expect:      []Expectation{{Check: "node.not_ready", Kind: "Node", Name: node, Severity: "critical"}},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c,
			createNode(s.Name, node, false, nil),
			nodeLease(node, time.Now(), true),
			nodeStatus(node, map[string]condition{
				"Ready": {"False", "KubeletNotReady",
					"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
					10 * time.Minute},
			}, time.Now()))
	}
	s.Visible = nodeConditionIs(node, "Ready", "False", 0)
	return s
}

// NodeUnreachable: a node whose kubelet died two minutes ago. Nobody renews
// its Lease, so the node lifecycle controller marks it Unknown after its
// grace period (50 s), and the check's own 1m threshold passes after that.
func NodeUnreachable() *Scenario {
	const node = "fault-node-unreachable"
	s := &Scenario{
		Name:        "node-unreachable",
		Description: "kubelet stopped: no lease renewal, the node lifecycle controller sets Ready=Unknown",
		Timeout:     4 * time.Minute,
		Expect: []Expectation{
			{Check: "node.unreachable", Kind: "Node", Name: node, Severity: "critical"},
			{Check: "node.heartbeat_stale", Kind: "Node", Name: node, Severity: "warning"},
		},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		died := time.Now().Add(-2 * time.Minute)
		return applyAll(ctx, c,
			createNode(s.Name, node, false, nil),
			nodeLease(node, died, false),
			nodeStatus(node, nil, died))
	}
	// Unknown for over a minute: node.unreachable's default "for".
	s.Visible = nodeConditionIs(node, "Ready", "Unknown", 65*time.Second)
	return s
}

// NodePressure: a Ready node whose kubelet reports MemoryPressure and
// DiskPressure for 15 minutes.
func NodePressure() *Scenario {
	const node = "fault-node-pressure"
	s := &Scenario{
		Name:        "node-pressure",
		Description: "Ready node with MemoryPressure=True and DiskPressure=True for 15 minutes",
		Timeout:     30 * time.Second,
		Expect: []Expectation{
			{Check: "node.memory_pressure", Kind: "Node", Name: node, Severity: "warning"},
			{Check: "node.disk_pressure", Kind: "Node", Name: node, Severity: "warning"},
		},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c,
			createNode(s.Name, node, false, nil),
			nodeLease(node, time.Now(), true),
			nodeStatus(node, map[string]condition{
				"MemoryPressure": {"True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", 15 * time.Minute},
				"DiskPressure":   {"True", "KubeletHasDiskPressure", "kubelet has disk pressure", 15 * time.Minute},
			}, time.Now()))
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		for _, t := range []string{"MemoryPressure", "DiskPressure", "Ready"} {
			want := "True"
			if ok, err := nodeConditionIs(node, t, want, 0)(ctx, c); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return s
}

// NodeCordoned: a healthy kwok node cordoned ten days ago and forgotten.
// The node.kubernetes.io/unschedulable taint carries the time it was added,
// which is what the check reads.
func NodeCordoned() *Scenario {
	const node = "fault-node-cordoned"
	added := metav1.NewTime(time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second))
	s := &Scenario{
		Name:        "node-cordoned",
		Description: "kwok node cordoned (spec.unschedulable) ten days ago",
		Timeout:     30 * time.Second,
		// Older than the check's warn_after (7d): a warning, not info.
		Expect: []Expectation{{Check: "node.cordoned", Kind: "Node", Name: node, Severity: "warning"}},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, createNode(s.Name, node, true, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule, TimeAdded: &added}}
		}))
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !n.Spec.Unschedulable || !conditionStatus(n, "Ready", "True") {
			return false, nil
		}
		for _, t := range n.Spec.Taints {
			if t.Key == "node.kubernetes.io/unschedulable" && t.TimeAdded != nil && t.TimeAdded.Equal(&added) {
				return true, nil
			}
		}
		return false, fmt.Errorf("node %s: the unschedulable taint lost its timeAdded %s: %v", node, added, n.Spec.Taints)
	}
	return s
}

// condition is a node condition to set: status, reason, message and how
// long ago it last changed.
type condition struct {
	status, reason, message string
	age                     time.Duration
}

// createNode creates a node, managed by kwok or not, and registers its
// deletion (with its Lease).
func createNode(scenario, name string, kwok bool, mutate func(*corev1.Node)) step {
	return func(ctx context.Context, c Clients, cs *cleanups) error {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: labels(scenario, FaultNodeLabel, "true", "kubernetes.io/hostname", name,
					"kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64"),
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
			},
			Status: corev1.NodeStatus{
				Capacity:    nodeResources(),
				Allocatable: nodeResources(),
				NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.32.2", OperatingSystem: "linux", Architecture: "amd64"},
			},
		}
		if kwok {
			n.Annotations[KwokNodeAnnotation] = "fake"
		}
		if mutate != nil {
			mutate(n)
		}
		if _, err := c.Kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
		cs.add(func(ctx context.Context) error {
			err := c.Kube.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete node %s: %w", name, err)
			}
			err = c.Kube.CoordinationV1().Leases(nodeLeaseNamespace).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete lease %s/%s: %w", nodeLeaseNamespace, name, err)
			}
			return nil
		})
		return nil
	}
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

// nodeStatus sets the conditions a kubelet would post: the four standard
// ones healthy since an hour ago, overridden by faults, with heartbeat at
// the given time.
func nodeStatus(name string, faults map[string]condition, heartbeat time.Time) step {
	return func(ctx context.Context, c Clients, cs *cleanups) error {
		healthy := []struct{ typ, status, reason, message string }{
			{"MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
			{"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
			{"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
			{"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
		}
		boot := time.Now().Add(-time.Hour)
		var conds []corev1.NodeCondition
		for _, h := range healthy {
			nc := corev1.NodeCondition{Type: corev1.NodeConditionType(h.typ), Status: corev1.ConditionStatus(h.status),
				Reason: h.reason, Message: h.message,
				LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(boot)}
			if f, ok := faults[h.typ]; ok {
				nc.Status, nc.Reason, nc.Message = corev1.ConditionStatus(f.status), f.reason, f.message
				nc.LastTransitionTime = metav1.NewTime(time.Now().Add(-f.age))
			}
			conds = append(conds, nc)
		}
		patch, err := json.Marshal(map[string]any{"status": map[string]any{
			"conditions": conds,
			"addresses": []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "10.2.0.10"}, {Type: corev1.NodeHostName, Address: name}},
			"daemonEndpoints": corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		}})
		if err != nil {
			return err
		}
		_, err = c.Kube.CoreV1().Nodes().Patch(ctx, name, strategicPatch, patch, metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("patch status of node %s: %w", name, err)
		}
		return nil
	}
}

// nodeLease creates the node's Lease in kube-node-lease, last renewed at
// renewed; if renew is set, a goroutine renews it every 5 s, as a kubelet
// does, until cleanup.
func nodeLease(node string, renewed time.Time, renew bool) step {
	return func(ctx context.Context, c Clients, cs *cleanups) error {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", node, err)
		}
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: nodeLeaseNamespace,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: n.UID}}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptrTo(node),
				LeaseDurationSeconds: ptrTo[int32](40),
				RenewTime:            &metav1.MicroTime{Time: renewed},
			},
		}
		if _, err := c.Kube.CoordinationV1().Leases(nodeLeaseNamespace).Create(ctx, l, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease %s/%s: %w", nodeLeaseNamespace, node, err)
		}
		if renew {
			stop := RenewLease(c.Kube, nodeLeaseNamespace, node, leaseRenewEvery)
			cs.add(func(context.Context) error { stop(); return nil })
		}
		return nil
	}
}

// RenewLease renews the Lease ns/name every interval in a goroutine, until
// the returned function is called (which waits for the goroutine to end).
// Errors are retried at the next tick.
func RenewLease(kube kubernetes.Interface, ns, name string, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, interval)
			now := metav1.NewMicroTime(time.Now())
			patch := []byte(fmt.Sprintf(`{"spec":{"renewTime":%q}}`, now.Format(metav1.RFC3339Micro)))
			_, _ = kube.CoordinationV1().Leases(ns).Patch(rctx, name, mergePatch, patch, metav1.PatchOptions{})
			rcancel()
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// nodeConditionIs polls for a node condition with the given status, which
// changed at least minAge ago.
func nodeConditionIs(node, typ, status string, minAge time.Duration) func(context.Context, Clients) (bool, error) {
	return func(ctx context.Context, c Clients) (bool, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if string(cond.Type) == typ && string(cond.Status) == status {
				return time.Since(cond.LastTransitionTime.Time) >= minAge, nil
			}
		}
		return false, nil
	}
}

func conditionStatus(n *corev1.Node, typ, status string) bool {
	for _, c := range n.Status.Conditions {
		if string(c.Type) == typ {
			return string(c.Status) == status
		}
	}
	return false
}

// KwokNode returns the name of a Ready, schedulable node that kwok
// manages, to bind simulated pods to. The choice depends only on key, so
// that the scenarios' pods spread over the fleet the same way every run.
func KwokNode(ctx context.Context, kube kubernetes.Interface, key string) (string, error) {
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return "", fmt.Errorf("list kwok nodes: %w", err)
	}
	var ready []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Annotations[KwokNodeAnnotation] == "fake" && !n.Spec.Unschedulable && conditionStatus(n, "Ready", "True") {
			ready = append(ready, n.Name)
		}
	}
	if len(ready) == 0 {
		return "", fmt.Errorf("no Ready kwok node (label type=kwok) found: start the cluster with NODES>0")
	}
	sort.Strings(ready)
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return ready[int(h.Sum32()%uint32(len(ready)))], nil
}
