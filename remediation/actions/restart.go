package actions

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// AnnotationRestartedAt is the pod-template annotation whose change rolls a
// workload's pods (the kubectl rollout restart convention).
const AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"

// Restart is a rollout restart of a Deployment, StatefulSet or DaemonSet:
// it sets the pod template's kubectl.kubernetes.io/restartedAt annotation
// to the current time, which makes the controller replace every pod with
// the workload's own rollout strategy.
type Restart struct {
	kube kubernetes.Interface
	opt  Options
}

// NewRestart returns the restart action.
func NewRestart(kube kubernetes.Interface, opt Options) *Restart {
	return &Restart{kube: kube, opt: opt.withDefaults()}
}

// Name is "restart".
func (a *Restart) Name() string { return "restart" }

var restartKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

// Do reads the workload, refuses a paused Deployment, and merge-patches
// the restartedAt pod-template annotation together with the record
// annotation on the workload.
func (a *Restart) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(a.kube, a.opt, req)
	subject := "restart " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, restartKinds...)
	if err == nil {
		err = checkRequest(req)
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	ns := req.Target.Namespace
	obj, err := api.get(ctx, ns, req.Target.Name)
	r.read(ledger.Call{Verb: "get", Resource: api.resource, Namespace: ns, Name: req.Target.Name, ResourceVersionBefore: rvOf(obj)}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	tmpl, note := podTemplate(obj)
	if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
		return r.result(""), fmt.Errorf("%s: the Deployment is paused; a restart would not roll out (resume it first)", subject)
	}
	at := a.opt.Now().UTC().Format(time.RFC3339)
	patch, err := mergePatch(req.RecordID, "", nil, map[string]any{
		"template": map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationRestartedAt: at}}},
	})
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	detail := fmt.Sprintf("spec.template.metadata.annotations[%s]: %s → %s; metadata.annotations[%s] = %s",
		AnnotationRestartedAt, orUnset(tmpl.Annotations[AnnotationRestartedAt]), at, remediation.AnnotationRecord, req.RecordID)
	out, err := api.patch(ctx, ns, req.Target.Name, patch, r.patchOptions())
	r.write(ledger.Call{Verb: "patch", Resource: api.resource, Namespace: ns, Name: req.Target.Name,
		ResourceVersionBefore: obj.GetResourceVersion(), ResourceVersionAfter: r.rvAfter(out), Detail: detail}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	r.logWrite(ctx, a.Name(), detail)
	what := fmt.Sprintf("restart %s (restartedAt %s)", req.Target, at)
	r.event(ctx, api, obj, corev1.EventTypeNormal, "PatrolRestart", what)
	return r.result(outcome(req, what) + note), nil
}

// Done reports whether the workload carries a restartedAt pod-template
// annotation and this record's annotation, i.e. this restart was written.
func (a *Restart) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := "restart " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, restartKinds...)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	obj, err := api.get(ctx, req.Target.Namespace, req.Target.Name)
	if err != nil {
		return false, "", classify(err, subject)
	}
	tmpl, _ := podTemplate(obj)
	at, rec := tmpl.Annotations[AnnotationRestartedAt], annotation(obj, remediation.AnnotationRecord)
	done := at != "" && rec == req.RecordID
	return done, fmt.Sprintf("%s has restartedAt %s and record %s", req.Target, orUnset(at), orUnset(rec)), nil
}

// podTemplate returns a workload's pod template and a note when its update
// strategy will not roll the pods by itself.
func podTemplate(obj metav1.Object) (corev1.PodTemplateSpec, string) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Template, ""
	case *appsv1.StatefulSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return o.Spec.Template, "; note: updateStrategy OnDelete, pods are replaced only when deleted"
		}
		return o.Spec.Template, ""
	case *appsv1.DaemonSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return o.Spec.Template, "; note: updateStrategy OnDelete, pods are replaced only when deleted"
		}
		return o.Spec.Template, ""
	}
	return corev1.PodTemplateSpec{}, ""
}
