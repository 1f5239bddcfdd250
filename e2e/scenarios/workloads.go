package scenarios

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// DeploymentRolloutStuck: a healthy Deployment gets a new version whose
// pods no node can take (a node pool that was retired). The real deployment
// controller marks Progressing=False/ProgressDeadlineExceeded after
// progressDeadlineSeconds (15 s); the old pods keep serving.
func DeploymentRolloutStuck() *Scenario {
	s := &Scenario{Name: "deployment-rollout-stuck", Description: "new version unschedulable: ProgressDeadlineExceeded after 15s", Timeout: 2 * time.Minute}
	ns, name := s.Namespace(), "checkout"
	s.Expect = []Expectation{{Check: "deployment.rollout_stuck", Kind: "Deployment", Namespace: ns, Name: name, Severity: "critical"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			d := deployment(s.Name, ns, name, 2, "registry.example/shop/checkout:4.1.0")
			d.Spec.ProgressDeadlineSeconds = ptrTo[int32](15)
			if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create deployment %s/%s: %w", ns, name, err)
			}
			if err := waitDeployment(ctx, c, ns, name, func(d *appsv1.Deployment) bool {
				return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2
			}); err != nil {
				return err
			}
			patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/shop/checkout:4.2.0"}],` +
				`"nodeSelector":{"type":"kwok","cloud.example/pool":"n1-retired"}}}}}`)
			if _, err := c.Kube.AppsV1().Deployments(ns).Patch(ctx, name, strategicPatch, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("roll out deployment %s/%s: %w", ns, name, err)
			}
			return nil
		})
	}
	s.Visible = deploymentCondition(ns, name, appsv1.DeploymentProgressing, "False", "ProgressDeadlineExceeded")
	return s
}

// DeploymentReplicasUnavailable: every pod of a Deployment crash-loops (as
// a kubelet would report it), so none is available. The check's default
// threshold is 15 minutes (kubernetes-mixin's), which a test cannot wait for:
// this scenario lowers it to 30s.
func DeploymentReplicasUnavailable() *Scenario {
	s := &Scenario{
		Name: "deployment-replicas-unavailable", Description: "all 3 pods of a Deployment crash-loop: no replica available",
		Timeout: 2 * time.Minute,
		Config:  map[string]map[string]string{"deployment.replicas_unavailable": {"for": "30s"}},
	}
	ns, name := s.Namespace(), "inventory"
	s.Expect = []Expectation{
		{Check: "deployment.replicas_unavailable", Kind: "Deployment", Namespace: ns, Name: name, Severity: "critical"},
		{Check: "pod.crash_looping", Kind: "Pod", Namespace: ns, Name: name + "-*", Severity: "critical"},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			d := deployment(s.Name, ns, name, 3, "registry.example/shop/inventory:2.0.3")
			// kwok leaves these pods' status alone: this step writes it.
			d.Spec.Template.Annotations = map[string]string{KwokStatusAnnotation: "custom"}
			if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create deployment %s/%s: %w", ns, name, err)
			}
			pods, err := waitPods(ctx, c.Kube, ns, "app="+name, 3)
			if err != nil {
				return err
			}
			for i := range pods {
				if err := writePodStatus(ctx, c.Kube, &pods[i], crashLoop("registry.example/shop/inventory:2.0.3",
					"Error: failed to load config: open /etc/inventory/config.yaml: no such file or directory")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionFalse {
				return d.Status.AvailableReplicas == 0 && time.Since(cond.LastTransitionTime.Time) > 35*time.Second, nil
			}
		}
		return false, nil
	}
	return s
}

// crashLoop is the status of a pod whose container exits 1 at every start.
func crashLoop(image, message string) statusFunc {
	return func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
		uidRef := fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
		cs := &st.ContainerStatuses[0]
		cs.RestartCount = 5
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container=app pod=" + uidRef}}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", Message: message,
			StartedAt: ago(50 * time.Second), FinishedAt: ago(49 * time.Second), ContainerID: containerID()}}
		notReady(st, "containers with unready status: [app]")
		return []kubeletEvent{
			{corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app in pod " + uidRef, 20, 10 * time.Minute},
		}
	}
}

// JobFailed: a Job with backoffLimit 0 whose only pod exits 2. The real Job
// controller marks it Failed/BackoffLimitExceeded.
func JobFailed() *Scenario {
	s := &Scenario{Name: "job-failed", Description: "backoffLimit 0, the pod exits 2: BackoffLimitExceeded", Timeout: time.Minute}
	ns, name := s.Namespace(), "nightly-report"
	s.Expect = []Expectation{{Check: "job.failed", Kind: "Job", Namespace: ns, Name: name, Severity: "warning"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			pod := podSpec(s.Name, ns, name, "registry.example/analytics/report:2025.11")
			pod.Spec.RestartPolicy = corev1.RestartPolicyNever
			j := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(s.Name)},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptrTo[int32](0),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels(s.Name, "app", name),
							Annotations: map[string]string{KwokStatusAnnotation: "custom"}},
						Spec: pod.Spec,
					},
				},
			}
			if _, err := c.Kube.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create job %s/%s: %w", ns, name, err)
			}
			pods, err := waitPods(ctx, c.Kube, ns, "app="+name, 1)
			if err != nil {
				return err
			}
			return writePodStatus(ctx, c.Kube, &pods[0], func(p *corev1.Pod, st *corev1.PodStatus) []kubeletEvent {
				st.Phase = corev1.PodFailed
				st.PodIP, st.PodIPs = "", nil
				for i := range st.Conditions {
					if t := st.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady || t == corev1.PodReadyToStartContainers {
						st.Conditions[i].Status = corev1.ConditionFalse
						st.Conditions[i].Reason = "PodFailed"
					}
				}
				cs := &st.ContainerStatuses[0]
				cs.Ready, cs.Started = false, ptrTo(false)
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 2, Reason: "Error", Message: "report: query failed: relation \"orders_2025\" does not exist",
					StartedAt: ago(3 * time.Minute), FinishedAt: ago(10 * time.Second), ContainerID: cs.ContainerID}}
				return nil
			})
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		j, err := c.Kube.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}
	return s
}

// deployment is a plain Deployment on kwok nodes.
func deployment(scenario, ns, name string, replicas int32, image string) *appsv1.Deployment {
	pod := podSpec(scenario, ns, name, image)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(scenario, "app", name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(scenario, "app", name)},
				Spec:       pod.Spec,
			},
		},
	}
}

func waitDeployment(ctx context.Context, c Clients, ns, name string, ok func(*appsv1.Deployment) bool) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return ok(d), nil
	})
	if err != nil {
		return fmt.Errorf("wait for deployment %s/%s: %w", ns, name, err)
	}
	return nil
}

func deploymentCondition(ns, name string, typ appsv1.DeploymentConditionType, status, reason string) func(context.Context, Clients) (bool, error) {
	return func(ctx context.Context, c Clients) (bool, error) {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == typ {
				return string(cond.Status) == status && cond.Reason == reason, nil
			}
		}
		return false, nil
	}
}
