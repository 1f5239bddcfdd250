package actions

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Annotate sets one annotation on an object (any of AnnotatableKinds()).
//
// Params: key (a qualified annotation name, required) and value (may be
// empty).
type Annotate struct {
	kube kubernetes.Interface
	opt  Options
}

// NewAnnotate returns the annotate action.
func NewAnnotate(kube kubernetes.Interface, opt Options) *Annotate {
	return &Annotate{kube: kube, opt: opt.withDefaults()}
}

// Name is "annotate".
func (a *Annotate) Name() string { return "annotate" }

func annotateParams(p map[string]string) (key, value string, err error) {
	key = strings.TrimSpace(p["key"])
	if key == "" {
		return "", "", fmt.Errorf("param key is required")
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "", "", fmt.Errorf("param key: %q is not a valid annotation name: %s", key, strings.Join(errs, "; "))
	}
	if key == remediation.AnnotationRecord {
		return "", "", fmt.Errorf("param key: %s is kubepatrol's own annotation", key)
	}
	return key, p["value"], nil
}

// Do reads the object and, unless the annotation already has the value,
// merge-patches it together with the record annotation.
func (a *Annotate) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(a.kube, a.opt, req)
	subject := "annotate " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, AnnotatableKinds()...)
	if err == nil {
		err = checkRequest(req)
	}
	key, value, perr := annotateParams(req.Params)
	if err == nil {
		err = perr
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	ns, name := api.ns(req.Target), req.Target.Name
	obj, err := api.get(ctx, ns, name)
	r.read(ledger.Call{Verb: "get", Resource: api.resource, Namespace: ns, Name: name, ResourceVersionBefore: rvOf(obj)}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	old, had := obj.GetAnnotations()[key]
	if had && old == value {
		return r.result(fmt.Sprintf("%s already has %s=%q; nothing changed", req.Target, key, value)), nil
	}
	patch, err := mergePatch(req.RecordID, "", map[string]string{key: value}, nil)
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	prev := "<unset>"
	if had {
		prev = fmt.Sprintf("%q", old)
	}
	detail := fmt.Sprintf("metadata.annotations[%s]: %s → %q; metadata.annotations[%s] = %s",
		key, prev, value, remediation.AnnotationRecord, req.RecordID)
	out, err := api.patch(ctx, ns, name, patch, r.patchOptions())
	r.write(ledger.Call{Verb: "patch", Resource: api.resource, Namespace: ns, Name: name,
		ResourceVersionBefore: obj.GetResourceVersion(), ResourceVersionAfter: r.rvAfter(out), Detail: detail}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	r.logWrite(ctx, a.Name(), detail)
	what := fmt.Sprintf("annotate %s: %s=%q", req.Target, key, value)
	r.event(ctx, api, obj, corev1.EventTypeNormal, "PatrolAnnotate", what)
	return r.result(outcome(req, what)), nil
}

// Done reports whether the annotation has the value.
func (a *Annotate) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := "annotate " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, AnnotatableKinds()...)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	key, value, err := annotateParams(req.Params)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	obj, err := api.get(ctx, api.ns(req.Target), req.Target.Name)
	if err != nil {
		return false, "", classify(err, subject)
	}
	got, ok := obj.GetAnnotations()[key]
	if !ok {
		return false, fmt.Sprintf("%s has no annotation %s", req.Target, key), nil
	}
	return got == value, fmt.Sprintf("%s has %s=%q", req.Target, key, got), nil
}
