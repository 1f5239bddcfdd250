package actions

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// DeletePod deletes one Pod, with a UID precondition so that a pod
// recreated under the same name (a StatefulSet's) is never deleted by
// mistake.
//
// Params: force ("true": grace period 0, the pod is removed from the API
// at once, even if its kubelet never confirms) and only_if_node_gone
// ("true": refuse unless the Node named by the pod's spec.nodeName no
// longer exists, the stuck-terminating case).
type DeletePod struct {
	kube kubernetes.Interface
	opt  Options
}

// NewDeletePod returns the delete_pod action.
func NewDeletePod(kube kubernetes.Interface, opt Options) *DeletePod {
	return &DeletePod{kube: kube, opt: opt.withDefaults()}
}

// Name is "delete_pod".
func (a *DeletePod) Name() string { return "delete_pod" }

// Do reads the pod (and with only_if_node_gone its node), deletes it and
// emits an Event on it. A deleted pod cannot carry the record annotation;
// the Event, which outlives the pod, names the record instead.
func (a *DeletePod) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(a.kube, a.opt, req)
	subject := "delete_pod " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, "Pod")
	if err == nil {
		err = checkRequest(req)
	}
	force, ferr := boolParam(req.Params, "force", false)
	onlyIfNodeGone, gerr := boolParam(req.Params, "only_if_node_gone", false)
	if err == nil {
		err = firstErr(ferr, gerr)
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	ns := req.Target.Namespace
	pods := a.kube.CoreV1().Pods(ns)
	pod, err := pods.Get(ctx, req.Target.Name, metav1.GetOptions{})
	if err != nil {
		r.read(ledger.Call{Verb: "get", Resource: "pods", Namespace: ns, Name: req.Target.Name}, err)
		return r.result(""), classify(err, subject)
	}
	r.read(ledger.Call{Verb: "get", Resource: "pods", Namespace: ns, Name: pod.Name, ResourceVersionBefore: pod.ResourceVersion}, nil)
	if req.Target.UID != "" && string(pod.UID) != req.Target.UID {
		return r.result(""), fmt.Errorf("%s: the pod was replaced (uid %s, the decision was about uid %s); refusing to delete the new pod", subject, pod.UID, req.Target.UID)
	}
	if onlyIfNodeGone {
		if err := a.nodeGone(ctx, r, pod); err != nil {
			return r.result(""), fmt.Errorf("%s: %w", subject, err)
		}
	}
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptrTo(pod.UID)}}
	grace := "the pod's own grace period"
	if force {
		opts.GracePeriodSeconds = ptrTo(int64(0))
		grace = "grace period 0 (force)"
	}
	if req.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	what := fmt.Sprintf("delete pod %s/%s (uid %s, node %s) with %s", ns, pod.Name, pod.UID, orUnset(pod.Spec.NodeName), grace)
	err = pods.Delete(ctx, pod.Name, opts)
	r.write(ledger.Call{Verb: "delete", Resource: "pods", Namespace: ns, Name: pod.Name,
		ResourceVersionBefore: pod.ResourceVersion, Detail: what}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	r.logWrite(ctx, a.Name(), what)
	r.event(ctx, api, pod, corev1.EventTypeNormal, "PatrolDeletePod", what)
	return r.result(outcome(req, what)), nil
}

// nodeGone returns nil when the pod's node does not exist, and an error
// saying why the step is refused otherwise.
func (a *DeletePod) nodeGone(ctx context.Context, r *run, pod *corev1.Pod) error {
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("only_if_node_gone: the pod is not bound to a node; refusing")
	}
	node, err := a.kube.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.read(ledger.Call{Verb: "get", Resource: "nodes", Name: pod.Spec.NodeName,
			Detail: fmt.Sprintf("node %s does not exist (only_if_node_gone holds)", pod.Spec.NodeName)}, nil)
		return nil
	case err != nil:
		r.read(ledger.Call{Verb: "get", Resource: "nodes", Name: pod.Spec.NodeName}, err)
		return classify(err, "only_if_node_gone: reading node "+pod.Spec.NodeName)
	}
	r.read(ledger.Call{Verb: "get", Resource: "nodes", Name: node.Name, ResourceVersionBefore: node.ResourceVersion,
		Detail: fmt.Sprintf("node %s exists (only_if_node_gone fails)", node.Name)}, nil)
	return fmt.Errorf("only_if_node_gone: node %s still exists; refusing to delete the pod", node.Name)
}

// Done reports whether the pod is gone: not found, or replaced by a pod
// with another UID than the target's.
func (a *DeletePod) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := "delete_pod " + req.Target.String()
	if _, err := checkTarget(a.kube, req.Target, "Pod"); err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	pod, err := a.kube.CoreV1().Pods(req.Target.Namespace).Get(ctx, req.Target.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, fmt.Sprintf("pod %s/%s is gone", req.Target.Namespace, req.Target.Name), nil
	case err != nil:
		return false, "", classify(err, subject)
	case req.Target.UID != "" && string(pod.UID) != req.Target.UID:
		return true, fmt.Sprintf("pod %s/%s was replaced (uid %s, target uid %s)", pod.Namespace, pod.Name, pod.UID, req.Target.UID), nil
	case pod.DeletionTimestamp != nil:
		return false, fmt.Sprintf("pod %s/%s is terminating since %s", pod.Namespace, pod.Name, pod.DeletionTimestamp.UTC().Format("2006-01-02T15:04:05Z")), nil
	}
	return false, fmt.Sprintf("pod %s/%s still exists", pod.Namespace, pod.Name), nil
}

func ptrTo[T any](v T) *T { return &v }

// firstErr is the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
