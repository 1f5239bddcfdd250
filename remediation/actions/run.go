package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// AnnotationTrace is the annotation on kubepatrol's Events holding the
// decision's trace ID.
const AnnotationTrace = "kubepatrol.io/trace-id"

// run is one Do or Done: it records the API calls made (or, in a dry run,
// that would be made) in order.
type run struct {
	kube  kubernetes.Interface
	opt   Options
	req   remediation.Request
	calls []ledger.Call
}

func newRun(kube kubernetes.Interface, opt Options, req remediation.Request) *run {
	return &run{kube: kube, opt: opt, req: req}
}

// read records a read call.
func (r *run) read(c ledger.Call, err error) {
	r.add(c, err)
}

// write records a write call; in a dry run it is marked DryRun.
func (r *run) write(c ledger.Call, err error) {
	c.DryRun = r.req.DryRun
	r.add(c, err)
}

func (r *run) add(c ledger.Call, err error) {
	c.At = r.opt.Now().UTC()
	if err != nil {
		c.Error = err.Error()
	}
	r.calls = append(r.calls, c)
}

// result bundles the calls with a message.
func (r *run) result(msg string, blockers ...string) remediation.Result {
	return remediation.Result{Calls: r.calls, Message: msg, Blockers: blockers}
}

// patchOptions are the options of every patch and update: kubepatrol's
// field manager and, in a dry run, server-side dry run.
func (r *run) patchOptions() metav1.PatchOptions {
	o := metav1.PatchOptions{FieldManager: r.opt.Component}
	if r.req.DryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

func (r *run) updateOptions() metav1.UpdateOptions {
	o := metav1.UpdateOptions{FieldManager: r.opt.Component}
	if r.req.DryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

// rvAfter is the resourceVersion a write left, or "" in a dry run (where
// nothing changed).
func (r *run) rvAfter(o metav1.Object) string {
	if r.req.DryRun || o == nil {
		return ""
	}
	return o.GetResourceVersion()
}

// checkRequest validates what every cluster action needs from a request.
func checkRequest(req remediation.Request) error {
	if req.RecordID == "" {
		return fmt.Errorf("request for %s has no record ID", req.Target)
	}
	return nil
}

// mergePatch builds a JSON merge patch that sets the record annotation
// (plus any extra annotations), optionally pins the resourceVersion (a
// precondition: the API server answers 409 when the object changed since
// it was read) and merges spec.
func mergePatch(recordID, resourceVersion string, annotations map[string]string, spec map[string]any) ([]byte, error) {
	ann := map[string]any{remediation.AnnotationRecord: recordID}
	for k, v := range annotations {
		ann[k] = v
	}
	meta := map[string]any{"annotations": ann}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	p := map[string]any{"metadata": meta}
	if spec != nil {
		p["spec"] = spec
	}
	return json.Marshal(p)
}

// event emits a Kubernetes Event on the target, naming the playbook, step,
// record and trace. It never fails the step: a failure is logged and
// recorded. In a dry run the Event is only recorded.
func (r *run) event(ctx context.Context, api objectAPI, obj metav1.Object, eventType, reason, what string) {
	now := metav1.NewTime(r.opt.Now())
	ns := obj.GetNamespace()
	if !api.namespaced {
		ns = metav1.NamespaceDefault
	}
	msg := fmt.Sprintf("%s (playbook %s, step %s, record %s)", what, orDash(r.req.Playbook), orDash(r.req.Step), r.req.RecordID)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s.%x", obj.GetName(), now.UnixNano()),
			Namespace:   ns,
			Annotations: map[string]string{remediation.AnnotationRecord: r.req.RecordID},
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: api.kind, APIVersion: api.apiVersion,
			Namespace: obj.GetNamespace(), Name: obj.GetName(),
			UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion(),
		},
		Reason:              reason,
		Message:             truncate(msg, 1024),
		Type:                eventType,
		Source:              corev1.EventSource{Component: r.opt.Component},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: r.opt.Component,
		ReportingInstance:   r.opt.Instance,
		Action:              strings.TrimPrefix(reason, "Patrol"),
	}
	if r.req.TraceID != "" {
		ev.Annotations[AnnotationTrace] = r.req.TraceID
	}
	call := ledger.Call{
		Verb: "create", Resource: "events", Namespace: ns, Name: ev.Name,
		Detail: fmt.Sprintf("Event %s %s on %s/%s: %s", eventType, reason, api.kind, obj.GetName(), what),
	}
	if r.req.DryRun {
		r.write(call, nil)
		return
	}
	created, err := r.kube.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{FieldManager: r.opt.Component})
	if err != nil {
		r.opt.Logger.Warn("event not recorded", "reason", reason, "target", r.req.Target.String(), "record", r.req.RecordID, "err", err)
	} else {
		call.ResourceVersionAfter = created.GetResourceVersion()
	}
	r.write(call, err)
}

// logWrite logs a write at info level (debug in a dry run).
func (r *run) logWrite(ctx context.Context, action, detail string) {
	level := slog.LevelInfo
	if r.req.DryRun {
		level = slog.LevelDebug
	}
	r.opt.Logger.Log(ctx, level, "remediation write",
		"action", action, "target", r.req.Target.String(), "record", r.req.RecordID,
		"dry_run", r.req.DryRun, "detail", detail)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to at most n runes, ending in "…" when cut.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

// annotation reads one annotation of o.
func annotation(o metav1.Object, key string) string {
	return o.GetAnnotations()[key]
}

// orUnset renders an empty value in Details.
func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

// outcome words a step's message: what was done, or in a dry run what
// would have been done.
func outcome(req remediation.Request, what string) string {
	if req.DryRun {
		return "dry run (nothing written): would " + what
	}
	return what
}

// rvOf is o's resourceVersion, "" for nil.
func rvOf(o metav1.Object) string {
	if o == nil {
		return ""
	}
	return o.GetResourceVersion()
}
