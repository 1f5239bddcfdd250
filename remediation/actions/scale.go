package actions

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// AnnotationReplicas is the annotation scale writes next to the record
// annotation: the replica count it set, so that Done can tell after a crash
// whether a relative step ("delta") already happened.
const AnnotationReplicas = "kubepatrol.io/remediation-replicas"

// Scale sets the replicas of a Deployment, StatefulSet or ReplicaSet
// through the scale subresource.
//
// Params: replicas (an absolute count) or delta ("+1", "-2", relative to
// the current spec.replicas), bounded by min (default 0) and max (default
// none).
type Scale struct {
	kube kubernetes.Interface
	opt  Options
}

// NewScale returns the scale action.
func NewScale(kube kubernetes.Interface, opt Options) *Scale {
	return &Scale{kube: kube, opt: opt.withDefaults()}
}

// Name is "scale".
func (a *Scale) Name() string { return "scale" }

var scaleKinds = []string{"Deployment", "StatefulSet", "ReplicaSet"}

// scaleParams are scale's parsed params.
type scaleParams struct {
	replicas, delta int32
	absolute        bool
	min, max        int32 // max < 0: unbounded
}

func parseScaleParams(p map[string]string) (scaleParams, error) {
	out := scaleParams{max: -1}
	replicas, hasReplicas, err := intParam(p, "replicas")
	if err != nil {
		return out, err
	}
	var delta int64
	hasDelta := strings.TrimSpace(p["delta"]) != ""
	if hasDelta {
		delta, err = strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(p["delta"]), "+"), 10, 32)
		if err != nil {
			return out, fmt.Errorf("param delta: %q is not a signed integer such as +1 or -1", p["delta"])
		}
	}
	switch {
	case hasReplicas == hasDelta:
		return out, fmt.Errorf("params: set exactly one of replicas and delta")
	case hasReplicas && replicas < 0:
		return out, fmt.Errorf("param replicas: %d is negative", replicas)
	}
	mn, _, err := intParam(p, "min")
	if err != nil {
		return out, err
	}
	mx, hasMax, err := intParam(p, "max")
	if err != nil {
		return out, err
	}
	if mn < 0 || (hasMax && mx < mn) {
		return out, fmt.Errorf("params: bounds min=%d max=%d are not 0 <= min <= max", mn, mx)
	}
	out.replicas, out.delta, out.absolute, out.min = int32(replicas), int32(delta), hasReplicas, int32(mn)
	if hasMax {
		out.max = int32(mx)
	}
	return out, nil
}

// target is the replica count wanted from current, within the bounds, and
// a note when a bound applied.
func (p scaleParams) target(current int32) (int32, string) {
	want := p.replicas
	if !p.absolute {
		want = current + p.delta
	}
	switch {
	case want < p.min:
		return p.min, fmt.Sprintf(" (clamped from %d to min %d)", want, p.min)
	case p.max >= 0 && want > p.max:
		return p.max, fmt.Sprintf(" (clamped from %d to max %d)", want, p.max)
	}
	return want, ""
}

// Do reads the scale subresource, computes the target, and, unless the
// workload is already there, writes the record and target annotations with
// a resourceVersion precondition and then updates the scale with the
// resourceVersion that patch returned: nothing can change the workload in
// between unnoticed (a 409 is retryable and the retry recomputes).
func (a *Scale) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(a.kube, a.opt, req)
	subject := "scale " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, scaleKinds...)
	if err == nil {
		err = checkRequest(req)
	}
	p, perr := parseScaleParams(req.Params)
	if err == nil {
		err = perr
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	ns, name := req.Target.Namespace, req.Target.Name
	sc, err := a.getScale(ctx, req.Target.Kind, ns, name)
	if err != nil {
		r.read(ledger.Call{Verb: "get", Resource: api.resource, Subresource: "scale", Namespace: ns, Name: name}, err)
		return r.result(""), classify(err, subject)
	}
	r.read(ledger.Call{Verb: "get", Resource: api.resource, Subresource: "scale", Namespace: ns, Name: name,
		ResourceVersionBefore: sc.ResourceVersion, Detail: fmt.Sprintf("spec.replicas = %d", sc.Spec.Replicas)}, nil)
	current := sc.Spec.Replicas
	want, note := p.target(current)
	if want == current {
		return r.result(fmt.Sprintf("%s already has %d replicas%s; nothing changed", req.Target, current, note)), nil
	}

	patch, err := mergePatch(req.RecordID, sc.ResourceVersion, map[string]string{AnnotationReplicas: strconv.Itoa(int(want))}, nil)
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	detail := fmt.Sprintf("metadata.annotations[%s] = %s, [%s] = %d (precondition resourceVersion %s)",
		remediation.AnnotationRecord, req.RecordID, AnnotationReplicas, want, sc.ResourceVersion)
	obj, err := api.patch(ctx, ns, name, patch, r.patchOptions())
	r.write(ledger.Call{Verb: "patch", Resource: api.resource, Namespace: ns, Name: name,
		ResourceVersionBefore: sc.ResourceVersion, ResourceVersionAfter: r.rvAfter(obj), Detail: detail}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	rv := sc.ResourceVersion
	if !req.DryRun {
		rv = obj.GetResourceVersion()
	}

	what := fmt.Sprintf("scale %s: spec.replicas: %d → %d%s", req.Target, current, want, note)
	upd := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: rv},
		Spec:       autoscalingv1.ScaleSpec{Replicas: want},
	}
	call := ledger.Call{Verb: "update", Resource: api.resource, Subresource: "scale", Namespace: ns, Name: name,
		ResourceVersionBefore: rv, Detail: fmt.Sprintf("spec.replicas: %d → %d%s", current, want, note)}
	out, err := a.updateScale(ctx, req.Target.Kind, ns, name, upd, r.updateOptions())
	if err == nil {
		call.ResourceVersionAfter = r.rvAfter(out)
	}
	r.write(call, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	r.logWrite(ctx, a.Name(), what)
	r.event(ctx, api, obj, corev1.EventTypeNormal, "PatrolScale", what)
	return r.result(outcome(req, what)), nil
}

// Done reports whether the workload has the replicas this step set: for
// replicas, spec.replicas equals the bounded count; for delta, the record
// annotation names this record and spec.replicas equals the count it wrote,
// or the workload already sits at the bound the delta moves towards (Do
// would change nothing).
func (a *Scale) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := "scale " + req.Target.String()
	_, err := checkTarget(a.kube, req.Target, scaleKinds...)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	p, err := parseScaleParams(req.Params)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	api, _ := objectFor(a.kube, req.Target.Kind)
	obj, err := api.get(ctx, req.Target.Namespace, req.Target.Name)
	if err != nil {
		return false, "", classify(err, subject)
	}
	replicas := specReplicas(obj)
	if p.absolute {
		want, _ := p.target(replicas)
		return replicas == want, fmt.Sprintf("%s has %d replicas, the step wants %d", req.Target, replicas, want), nil
	}
	if want, _ := p.target(replicas); want == replicas {
		return true, fmt.Sprintf("%s has %d replicas, at the step's bound", req.Target, replicas), nil
	}
	rec, wrote := annotation(obj, remediation.AnnotationRecord), annotation(obj, AnnotationReplicas)
	if rec != req.RecordID {
		return false, fmt.Sprintf("%s carries record %s, not %s", req.Target, orUnset(rec), req.RecordID), nil
	}
	done := wrote == strconv.Itoa(int(replicas))
	return done, fmt.Sprintf("%s has %d replicas; this record set %s", req.Target, replicas, orUnset(wrote)), nil
}

func (a *Scale) getScale(ctx context.Context, kind, ns, name string) (*autoscalingv1.Scale, error) {
	apps := a.kube.AppsV1()
	switch kind {
	case "Deployment":
		return apps.Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	case "StatefulSet":
		return apps.StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
	}
	return apps.ReplicaSets(ns).GetScale(ctx, name, metav1.GetOptions{})
}

func (a *Scale) updateScale(ctx context.Context, kind, ns, name string, sc *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	apps := a.kube.AppsV1()
	var out *autoscalingv1.Scale
	var err error
	switch kind {
	case "Deployment":
		out, err = apps.Deployments(ns).UpdateScale(ctx, name, sc, opts)
	case "StatefulSet":
		out, err = apps.StatefulSets(ns).UpdateScale(ctx, name, sc, opts)
	default:
		out, err = apps.ReplicaSets(ns).UpdateScale(ctx, name, sc, opts)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// specReplicas is spec.replicas of a scalable workload (1 when unset, the
// API default).
func specReplicas(obj metav1.Object) int32 {
	var p *int32
	switch o := obj.(type) {
	case *deploymentT:
		p = o.Spec.Replicas
	case *statefulSetT:
		p = o.Spec.Replicas
	case *replicaSetT:
		p = o.Spec.Replicas
	}
	if p == nil {
		return 1
	}
	return *p
}
