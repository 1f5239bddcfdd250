package actions

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Cordon marks a Node unschedulable (kubectl cordon).
type Cordon struct{ schedule }

// Uncordon marks a Node schedulable again (kubectl uncordon).
type Uncordon struct{ schedule }

// NewCordon returns the cordon action.
func NewCordon(kube kubernetes.Interface, opt Options) *Cordon {
	return &Cordon{schedule{kube: kube, opt: opt.withDefaults(), name: "cordon", unschedulable: true, reason: "PatrolCordon"}}
}

// NewUncordon returns the uncordon action.
func NewUncordon(kube kubernetes.Interface, opt Options) *Uncordon {
	return &Uncordon{schedule{kube: kube, opt: opt.withDefaults(), name: "uncordon", unschedulable: false, reason: "PatrolUncordon"}}
}

// schedule sets spec.unschedulable of a Node.
type schedule struct {
	kube          kubernetes.Interface
	opt           Options
	name          string
	unschedulable bool
	reason        string
}

// Name is "cordon" or "uncordon".
func (s *schedule) Name() string { return s.name }

// Do reads the Node and, unless spec.unschedulable already has the wanted
// value, merge-patches it together with the record annotation, then emits
// an Event.
func (s *schedule) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(s.kube, s.opt, req)
	subject := s.name + " " + req.Target.String()
	api, err := checkTarget(s.kube, req.Target, "Node")
	if err == nil {
		err = checkRequest(req)
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	obj, err := api.get(ctx, "", req.Target.Name)
	r.read(ledger.Call{Verb: "get", Resource: api.resource, Name: req.Target.Name, ResourceVersionBefore: rvOf(obj)}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	node := obj.(*corev1.Node)
	if node.Spec.Unschedulable == s.unschedulable {
		return r.result(fmt.Sprintf("node %s already has spec.unschedulable=%t; nothing changed", node.Name, s.unschedulable)), nil
	}
	if _, err := setUnschedulable(ctx, r, api, node, s.unschedulable); err != nil {
		return r.result(""), classify(err, subject)
	}
	what := fmt.Sprintf("set spec.unschedulable: %t → %t", node.Spec.Unschedulable, s.unschedulable)
	r.event(ctx, api, node, corev1.EventTypeNormal, s.reason, what)
	return r.result(outcome(req, what)), nil
}

// Done reports whether the Node's spec.unschedulable has the wanted value.
func (s *schedule) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := s.name + " " + req.Target.String()
	if _, err := checkTarget(s.kube, req.Target, "Node"); err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	node, err := s.kube.CoreV1().Nodes().Get(ctx, req.Target.Name, metav1.GetOptions{})
	if err != nil {
		return false, "", classify(err, subject)
	}
	done := node.Spec.Unschedulable == s.unschedulable
	return done, fmt.Sprintf("node %s has spec.unschedulable=%t", node.Name, node.Spec.Unschedulable), nil
}

// setUnschedulable merge-patches spec.unschedulable and the record
// annotation onto node and records the call. It returns the patched node
// (node itself in a dry run).
func setUnschedulable(ctx context.Context, r *run, api objectAPI, node *corev1.Node, want bool) (*corev1.Node, error) {
	patch, err := mergePatch(r.req.RecordID, "", nil, map[string]any{"unschedulable": want})
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("spec.unschedulable: %t → %t; metadata.annotations[%s] = %s",
		node.Spec.Unschedulable, want, remediation.AnnotationRecord, r.req.RecordID)
	out, err := api.patch(ctx, "", node.Name, patch, r.patchOptions())
	r.write(ledger.Call{Verb: "patch", Resource: api.resource, Name: node.Name,
		ResourceVersionBefore: node.ResourceVersion, ResourceVersionAfter: r.rvAfter(out),
		Detail: detail}, err)
	if err != nil {
		return nil, err
	}
	r.logWrite(ctx, "patch", detail)
	if r.req.DryRun {
		return node, nil
	}
	return out.(*corev1.Node), nil
}
