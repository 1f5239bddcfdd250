package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// KwokStatusAnnotation makes kwok leave a pod's status alone, so that a
// scenario can write it as a kubelet would.
const KwokStatusAnnotation = "kwok.x-k8s.io/status"

// PodCrashLooping: a pod whose container exits with code 1 at every start;
// the kubelet is backing off its 8th start.
func PodCrashLooping() *Scenario {
	s := &Scenario{Name: "pod-crash-looping", Description: "container exits 1 on start, CrashLoopBackOff after 7 restarts", Timeout: 30 * time.Second}
	ns, pod := s.Namespace(), "payment-worker"
	s.Expect = []Expectation{{Check: "pod.crash_looping", Kind: "Pod", Namespace: ns, Name: pod, Severity: "critical"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name),
			simulatedPod(s.Name, ns, pod, nil, func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
				uidRef := fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
				cs := &st.ContainerStatuses[0]
				cs.RestartCount = 7
				cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=app pod=" + uidRef}}
				cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", Message: "panic: dial tcp 10.96.0.42:5432: connect: connection refused",
					StartedAt: ago(70 * time.Second), FinishedAt: ago(68 * time.Second), ContainerID: containerID()}}
				notReady(st, "containers with unready status: [app]")
				return []kubeletEvent{
					{corev1.EventTypeNormal, "Pulled", `Container image "registry.example/payments/worker:3.2.0" already present on machine`, 8, 25 * time.Minute},
					{corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app in pod " + uidRef, 97, 24 * time.Minute},
				}
			}))
	}
	s.Visible = podWaiting(ns, pod, "CrashLoopBackOff")
	return s
}

// PodOOMKilled: a container with a 256Mi limit that the kernel OOM-killed
// (exit 137) two minutes ago; it is running again.
func PodOOMKilled() *Scenario {
	s := &Scenario{Name: "pod-oom-killed", Description: "container OOMKilled (exit 137) two minutes ago, running again", Timeout: 30 * time.Second}
	ns, pod := s.Namespace(), "cache-warmer"
	s.Expect = []Expectation{{Check: "pod.oom_killed", Kind: "Pod", Namespace: ns, Name: pod, Severity: "warning"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name),
			simulatedPod(s.Name, ns, pod, func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				}
			}, func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
				cs := &st.ContainerStatuses[0]
				cs.RestartCount = 1
				cs.Ready, cs.Started = true, ptrTo(true)
				cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(2 * time.Minute)}}
				cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled", StartedAt: ago(40 * time.Minute), FinishedAt: ago(2*time.Minute + 2*time.Second),
					ContainerID: containerID()}}
				return []kubeletEvent{
					{corev1.EventTypeNormal, "Pulled", `Container image "registry.example/search/cache-warmer:1.8.0" already present on machine`, 2, 40 * time.Minute},
				}
			}))
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		t := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		return t != nil && t.Reason == "OOMKilled", nil
	}
	return s
}

// PodImagePullFailing: a pod whose image tag does not exist; the kubelet
// backs off pulling it. The check waits 2m (its default) from the pod's
// creation.
func PodImagePullFailing() *Scenario {
	s := &Scenario{Name: "pod-image-pull-failing", Description: "image tag does not exist: ImagePullBackOff", Timeout: 3 * time.Minute}
	ns, pod := s.Namespace(), "search-indexer"
	const image = "registry.example/search/indexer:v2.7.1-rc0"
	s.Expect = []Expectation{{Check: "pod.image_pull_failing", Kind: "Pod", Namespace: ns, Name: pod, Severity: "critical"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name),
			simulatedPod(s.Name, ns, pod, func(p *corev1.Pod) { p.Spec.Containers[0].Image = image },
				func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
					pullErr := fmt.Sprintf(`failed to pull and unpack image "%s": failed to resolve reference "%s": %s: not found`, image, image, image)
					st.Phase = corev1.PodPending
					cs := &st.ContainerStatuses[0]
					cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
						Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", image, pullErr)}}
					notReady(st, "containers with unready status: [app]")
					return []kubeletEvent{
						{corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", image), 4, 3 * time.Minute},
						{corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %s", image, pullErr), 4, 3 * time.Minute},
						{corev1.EventTypeWarning, "Failed", "Error: ErrImagePull", 4, 3 * time.Minute},
						{corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", image), 12, 3 * time.Minute},
						{corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff", 12, 3 * time.Minute},
					}
				}))
	}
	s.Visible = allOf(podWaiting(ns, pod, "ImagePullBackOff"), podOlderThan(ns, pod, 2*time.Minute+5*time.Second))
	return s
}

// PodConfigError: a pod whose envFrom names a ConfigMap that does not
// exist; the kubelet cannot create the container.
func PodConfigError() *Scenario {
	s := &Scenario{Name: "pod-config-error", Description: `envFrom a missing ConfigMap: CreateContainerConfigError`, Timeout: 2 * time.Minute}
	ns, pod := s.Namespace(), "orders-api"
	s.Expect = []Expectation{{Check: "pod.config_error", Kind: "Pod", Namespace: ns, Name: pod, Severity: "critical"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name),
			simulatedPod(s.Name, ns, pod, func(p *corev1.Pod) {
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "missing-config"}}}}
			}, func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
				st.Phase = corev1.PodPending
				cs := &st.ContainerStatuses[0]
				cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CreateContainerConfigError", Message: `configmap "missing-config" not found`}}
				notReady(st, "containers with unready status: [app]")
				return []kubeletEvent{
					{corev1.EventTypeWarning, "Failed", `Error: configmap "missing-config" not found`, 9, 2 * time.Minute},
				}
			}))
	}
	s.Visible = allOf(podWaiting(ns, pod, "CreateContainerConfigError"), podOlderThan(ns, pod, time.Minute+5*time.Second))
	return s
}

// PodUnschedulable: a real pod that requests more CPU and memory than any
// node has. The real scheduler sets PodScheduled=False and records
// FailedScheduling events. The check waits 2m (its default).
func PodUnschedulable() *Scenario {
	s := &Scenario{Name: "pod-unschedulable", Description: "requests 64 CPUs and 512Gi, more than any node: the scheduler cannot place it", Timeout: 3 * time.Minute}
	ns, pod := s.Namespace(), "gpu-trainer"
	s.Expect = []Expectation{{Check: "pod.unschedulable", Kind: "Pod", Namespace: ns, Name: pod, Severity: "warning"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			p := podSpec(s.Name, ns, pod, "registry.example/ml/trainer:0.9.1")
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi")}
			_, err := c.Kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return time.Since(cond.LastTransitionTime.Time) > 2*time.Minute+5*time.Second, nil
			}
		}
		return false, nil
	}
	return s
}

// PodStuckTerminating: a pod running on a node whose kubelet died five
// minutes ago is deleted; no kubelet ever confirms, so it stays Terminating
// (the check fires 5m, its default, past the deletion deadline).
func PodStuckTerminating() *Scenario {
	s := &Scenario{Name: "pod-stuck-terminating", Description: "pod deleted on a node whose kubelet is gone: stuck Terminating", Timeout: 7 * time.Minute}
	ns, pod, node := s.Namespace(), "legacy-worker", "fault-node-gone"
	s.Expect = []Expectation{
		{Check: "pod.stuck_terminating", Kind: "Pod", Namespace: ns, Name: pod, Severity: "warning"},
		{Check: "node.heartbeat_stale", Kind: "Node", Name: node, Severity: "warning"},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		died := time.Now().Add(-5 * time.Minute)
		return applyAll(ctx, c,
			createNode(s.Name, node, false, nil),
			nodeLease(node, died, false),
			nodeStatus(node, nil, died),
			namespace(s.Name),
			simulatedPodOn(node, s.Name, ns, pod, nil, func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
				cs := &st.ContainerStatuses[0]
				cs.Ready, cs.Started = true, ptrTo(true)
				cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(3 * time.Hour)}}
				return nil
			}),
			func(ctx context.Context, c Clients, cs *cleanups) error {
				err := c.Kube.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](30)})
				if err != nil {
					return fmt.Errorf("delete pod %s/%s: %w", ns, pod, err)
				}
				return nil
			})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil {
			return false, err
		}
		return time.Since(p.DeletionTimestamp.Time) > 5*time.Minute+5*time.Second, nil
	}
	return s
}

// kubeletEvent is an Event a kubelet would have recorded about a pod: type,
// reason, message, count, and how long ago it was first seen (it was last
// seen just now).
type kubeletEvent struct {
	typ, reason, message string
	count                int32
	first                time.Duration
}

// statusFunc writes the status a kubelet would post for a pod, and returns
// the events it would have recorded. st starts as Running with one
// not-yet-ready container "app" started 30 minutes ago.
type statusFunc func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent

// podSpec is the pod every scenario starts from: one container "app",
// small requests, only on kwok nodes.
func podSpec(scenario, ns, name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(scenario, "app", name)},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: image,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}},
			NodeSelector:                  map[string]string{"type": "kwok"},
			TerminationGracePeriodSeconds: ptrTo[int64](30),
		},
	}
}

// simulatedPod creates a pod bound to a kwok node, with the annotation that
// makes kwok leave its status alone, and writes its status with status.
func simulatedPod(scenario, ns, name string, mutate func(*corev1.Pod), status statusFunc) step {
	return simulatedPodOn("", scenario, ns, name, mutate, status)
}

// simulatedPodOn is simulatedPod on a given node ("" picks a kwok node).
func simulatedPodOn(node, scenario, ns, name string, mutate func(*corev1.Pod), status statusFunc) step {
	return func(ctx context.Context, c Clients, cs *cleanups) error {
		if node == "" {
			var err error
			if node, err = KwokNode(ctx, c.Kube, ns+"/"+name); err != nil {
				return err
			}
		}
		p := podSpec(scenario, ns, name, "registry.example/"+scenario+"/"+name+":1.0")
		p.Annotations = map[string]string{KwokStatusAnnotation: "custom"}
		p.Spec.NodeName = node
		p.Spec.NodeSelector = nil
		if mutate != nil {
			mutate(p)
		}
		created, err := c.Kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create pod %s/%s: %w", ns, name, err)
		}
		return writePodStatus(ctx, c.Kube, created, status)
	}
}

// writePodStatus writes p's status as a kubelet on p's node would, with
// status's changes, and records the events status returns.
func writePodStatus(ctx context.Context, kube kubernetes.Interface, p *corev1.Pod, status statusFunc) error {
	st := p.Status.DeepCopy()
	start := ago(30 * time.Minute)
	st.Phase = corev1.PodRunning
	st.HostIP = "10.1.0.1"
	st.HostIPs = []corev1.HostIP{{IP: "10.1.0.1"}}
	st.PodIP = podIP()
	st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	st.StartTime = &start
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: p.CreationTimestamp},
	}
	var css []corev1.ContainerStatus
	for _, ctr := range p.Spec.Containers {
		css = append(css, corev1.ContainerStatus{Name: ctr.Name, Image: ctr.Image, ImageID: ctr.Image + "@sha256:" + randHex(32),
			ContainerID: containerID(), Ready: true, Started: ptrTo(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}})
	}
	st.ContainerStatuses = css
	events := status(p, st)
	if st.Phase == corev1.PodPending {
		st.PodIP, st.PodIPs = "", nil
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].ContainerID, st.ContainerStatuses[i].ImageID = "", ""
		}
	}
	out := p.DeepCopy()
	out.Status = *st
	if _, err := kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	for _, e := range events {
		if err := recordEvent(ctx, kube, p, e); err != nil {
			return err
		}
	}
	return nil
}

// notReady marks the pod's Ready and ContainersReady conditions False, as
// a kubelet does when a container is not ready.
func notReady(st *corev1.PodStatus, message string) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, "ContainersNotReady", message
			c.LastTransitionTime = ago(25 * time.Minute)
		}
	}
	for i := range st.ContainerStatuses {
		st.ContainerStatuses[i].Ready = false
		st.ContainerStatuses[i].Started = ptrTo(false)
	}
}

// recordEvent records e about pod p, from the kubelet on p's node.
func recordEvent(ctx context.Context, kube kubernetes.Interface, p *corev1.Pod, e kubeletEvent) error {
	now := time.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name + "." + randHex(8), Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID,
			APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Reason: e.reason, Message: e.message, Type: e.typ, Count: max(e.count, 1),
		Source:         corev1.EventSource{Component: "kubelet", Host: p.Spec.NodeName},
		FirstTimestamp: metav1.NewTime(now.Add(-e.first)), LastTimestamp: metav1.NewTime(now),
		ReportingController: "kubelet", ReportingInstance: p.Spec.NodeName,
	}
	if _, err := kube.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("record event %s for pod %s/%s: %w", e.reason, p.Namespace, p.Name, err)
	}
	return nil
}

// podWaiting polls for the pod's first container waiting with reason.
func podWaiting(ns, name, reason string) func(context.Context, Clients) (bool, error) {
	return func(ctx context.Context, c Clients) (bool, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == reason, nil
	}
}

// podOlderThan polls for the pod to be older than age (the checks'
// thresholds count from the pod's creation).
func podOlderThan(ns, name string, age time.Duration) func(context.Context, Clients) (bool, error) {
	return func(ctx context.Context, c Clients) (bool, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return time.Since(p.CreationTimestamp.Time) > age, nil
	}
}

func allOf(fs ...func(context.Context, Clients) (bool, error)) func(context.Context, Clients) (bool, error) {
	return func(ctx context.Context, c Clients) (bool, error) {
		for _, f := range fs {
			if ok, err := f(ctx, c); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
}

// waitPods waits until n pods matching selector exist in ns, all bound to
// a node, and returns them.
func waitPods(ctx context.Context, kube kubernetes.Interface, ns, selector string, n int) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range l.Items {
			if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		return len(pods) >= n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for %d scheduled pods %s in %s: %w", n, selector, ns, err)
	}
	return pods, nil
}

func ago(d time.Duration) metav1.Time {
	return metav1.NewTime(time.Now().Add(-d).Truncate(time.Second))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func containerID() string { return "containerd://" + randHex(64) }

func podIP() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("10.244.%d.%d", b[0], 2+b[1]%250)
}

// ignoreNotFound drops NotFound errors (cleanup of what is already gone).
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
