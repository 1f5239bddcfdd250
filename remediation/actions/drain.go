package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// DefaultDrainTimeout bounds a drain when the step sets no timeout.
const DefaultDrainTimeout = 5 * time.Minute

// Drain cordons a Node and evicts its pods through the Eviction API with
// k8s.io/kubectl/pkg/drain, so PodDisruptionBudgets are honoured. DaemonSet
// pods and mirror pods stay.
//
// Params: timeout (default 5m), grace_period (seconds or a duration; -1,
// the default, uses each pod's own),
// delete_emptydir_data (default false), force (evict pods no controller
// manages; default false), skip_wait_for_delete_timeout (ignore pods
// deleted longer ago than this; default 0, off).
type Drain struct {
	kube kubernetes.Interface
	opt  Options
}

// NewDrain returns the drain action.
func NewDrain(kube kubernetes.Interface, opt Options) *Drain {
	return &Drain{kube: kube, opt: opt.withDefaults()}
}

// Name is "drain".
func (a *Drain) Name() string { return "drain" }

type drainParams struct {
	timeout        time.Duration
	gracePeriod    int // seconds; -1: each pod's own
	deleteEmptyDir bool
	force          bool
	skipWait       time.Duration
}

func parseDrainParams(p map[string]string) (drainParams, error) {
	out := drainParams{gracePeriod: -1}
	var errs []error
	var err error
	out.timeout, err = durationParam(p, "timeout", DefaultDrainTimeout)
	errs = append(errs, err)
	if err == nil && out.timeout == 0 {
		errs = append(errs, fmt.Errorf("param timeout: must be positive"))
	}
	if g, ok, err := intParam(p, "grace_period"); err == nil && ok {
		if g < -1 {
			errs = append(errs, fmt.Errorf("param grace_period: %d is below -1", g))
		}
		out.gracePeriod = int(g)
	} else if _, present := p["grace_period"]; present {
		d, err := durationParam(p, "grace_period", 0)
		errs = append(errs, err)
		out.gracePeriod = int(d / time.Second)
	}
	out.deleteEmptyDir, err = boolParam(p, "delete_emptydir_data", false)
	errs = append(errs, err)
	out.force, err = boolParam(p, "force", false)
	errs = append(errs, err)
	out.skipWait, err = durationParam(p, "skip_wait_for_delete_timeout", 0)
	errs = append(errs, err)
	return out, errors.Join(errs...)
}

// helper builds the kubectl drainer over kube.
func (a *Drain) helper(ctx context.Context, p drainParams, kube kubernetes.Interface, node string) *drain.Helper {
	log := a.opt.Logger.With("action", "drain", "node", node)
	return &drain.Helper{
		Ctx:                             ctx,
		Client:                          kube,
		Force:                           p.force,
		GracePeriodSeconds:              p.gracePeriod,
		IgnoreAllDaemonSets:             true,
		Timeout:                         p.timeout,
		DeleteEmptyDirData:              p.deleteEmptyDir,
		SkipWaitForDeleteTimeoutSeconds: int(p.skipWait / time.Second),
		Out:                             logWriter{log: log, level: slog.LevelDebug},
		ErrOut:                          logWriter{log: log, level: slog.LevelInfo},
	}
}

// Do cordons the node (setting the record annotation in the same patch),
// lists the pods to evict and evicts them, waiting until they are gone or
// the timeout passes. A drain still blocked at the timeout returns a
// *DrainBlockedError naming each pod left and the PodDisruptionBudget that
// holds it; so does a drain refused at once because pods cannot be evicted.
//
// In a dry run the cordon is a server-side dry run, the pods that would be
// evicted are recorded as dry-run eviction calls, and the pods that
// PodDisruptionBudgets block now are reported as Blockers.
func (a *Drain) Do(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	r := newRun(a.kube, a.opt, req)
	subject := "drain " + req.Target.String()
	api, err := checkTarget(a.kube, req.Target, "Node")
	if err == nil {
		err = checkRequest(req)
	}
	p, perr := parseDrainParams(req.Params)
	if err == nil {
		err = perr
	}
	if err != nil {
		return r.result(""), fmt.Errorf("%s: %w", subject, err)
	}
	obj, err := api.get(ctx, "", req.Target.Name)
	r.read(ledger.Call{Verb: "get", Resource: "nodes", Name: req.Target.Name, ResourceVersionBefore: rvOf(obj)}, err)
	if err != nil {
		return r.result(""), classify(err, subject)
	}
	node := obj.(*corev1.Node)
	if _, err := setUnschedulable(ctx, r, api, node, true); err != nil {
		return r.result(""), classify(err, subject)
	}

	evictions := newEvictionLog(a.opt.Now)
	h := a.helper(ctx, p, &evictingClient{Interface: a.kube, log: evictions}, node.Name)
	h.OnPodDeletionOrEvictionFinished = evictions.finished
	list, errs := h.GetPodsForDeletion(node.Name)
	listCall := ledger.Call{Verb: "list", Resource: "pods", Detail: "fieldSelector spec.nodeName=" + node.Name}
	if list == nil {
		err := errors.Join(errs...)
		r.read(listCall, err)
		return r.result(""), classify(err, subject)
	}
	pods := list.Pods()
	listCall.Detail += fmt.Sprintf(": %d pod(s) to evict", len(pods))
	warnings := ""
	if w := list.Warnings(); w != "" {
		warnings = "; " + w
		listCall.Detail += warnings
	}
	r.read(listCall, nil)
	if len(errs) > 0 {
		blocked := &DrainBlockedError{Node: node.Name}
		for _, e := range errs {
			blocked.Blockers = append(blocked.Blockers, Blocker{Reason: e.Error()})
		}
		r.event(ctx, api, node, corev1.EventTypeWarning, "PatrolDrainBlocked", blocked.Error())
		return r.result("", blocked.Strings()...), blocked
	}

	if req.DryRun {
		for _, pod := range pods {
			r.write(ledger.Call{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: pod.Namespace, Name: pod.Name,
				ResourceVersionBefore: pod.ResourceVersion, Detail: "evict pod " + pod.Namespace + "/" + pod.Name}, nil)
		}
		blockers, err := pdbBlockers(ctx, a.kube, pods, r)
		if err != nil {
			a.opt.Logger.Warn("drain dry run: PodDisruptionBudgets not read", "node", node.Name, "err", err)
		}
		what := fmt.Sprintf("drain node %s: cordon, evict %d pod(s)%s", node.Name, len(pods), warnings)
		r.event(ctx, api, node, corev1.EventTypeNormal, "PatrolDrain", what)
		msg := outcome(req, what)
		if len(blockers) > 0 {
			msg += fmt.Sprintf("; %d PodDisruptionBudget blocker(s) now, the drain would wait for them up to %s", len(blockers), p.timeout)
		}
		return r.result(msg, blockerStrings(blockers)...), nil
	}

	a.opt.Logger.Info("drain: evicting", "node", node.Name, "pods", len(pods), "timeout", p.timeout, "record", req.RecordID)
	err = h.DeleteOrEvictPods(pods)
	evicted := evictions.record(r, pods)
	if err == nil {
		what := fmt.Sprintf("drain node %s: cordoned, evicted %d pod(s)%s", node.Name, evicted, warnings)
		r.logWrite(ctx, a.Name(), what)
		r.event(ctx, api, node, corev1.EventTypeNormal, "PatrolDrain", what)
		return r.result(what), nil
	}
	ferr := a.failure(ctx, r, node.Name, pods, evictions, p, err)
	var blocked *DrainBlockedError
	if errors.As(ferr, &blocked) {
		r.event(ctx, api, node, corev1.EventTypeWarning, "PatrolDrainBlocked", blocked.Error())
		return r.result("", blocked.Strings()...), ferr
	}
	return r.result(""), classify(ferr, subject)
}

// failure explains a drain that returned err: the pods left, and for those
// whose eviction was refused (429), the PodDisruptionBudgets holding them.
func (a *Drain) failure(ctx context.Context, r *run, node string, pods []corev1.Pod, ev *evictionLog, p drainParams, err error) error {
	var refused []corev1.Pod
	var other error
	var rest []Blocker
	for _, pod := range pods {
		st := ev.state(pod)
		switch {
		case st.gone:
		case st.lastErr != nil && apierrors.IsTooManyRequests(st.lastErr):
			refused = append(refused, pod)
		case st.lastErr != nil:
			other = cmpOr(other, st.lastErr)
			rest = append(rest, Blocker{Pod: podKey(pod), Reason: "eviction failed: " + refusalMessage(st.lastErr)})
		case st.accepted:
			rest = append(rest, Blocker{Pod: podKey(pod), Reason: fmt.Sprintf("evicted but still terminating after %s", p.timeout)})
		default:
			rest = append(rest, Blocker{Pod: podKey(pod), Reason: "not evicted: " + err.Error()})
		}
	}
	if ctx.Err() != nil {
		// The caller gave up before the drain timeout: say what was left,
		// from what the evictions answered, without more API calls.
		var left []string
		for _, pod := range refused {
			left = append(left, Blocker{Pod: podKey(pod), Reason: "eviction refused: " + refusalMessage(ev.state(pod).lastErr)}.String())
		}
		left = append(left, blockerStrings(rest)...)
		return fmt.Errorf("drain node %s interrupted: %w (left: %s)", node, ctx.Err(), strings.Join(left, "; "))
	}
	if other != nil && len(refused) == 0 {
		return other
	}
	var blockers []Blocker
	if len(refused) > 0 {
		found, lerr := pdbBlockers(ctx, a.kube, refused, r)
		if lerr != nil {
			a.opt.Logger.Warn("drain: PodDisruptionBudgets not read", "node", node, "err", lerr)
		}
		blockers = append(blockers, found...)
		for _, pod := range refused {
			if !hasPod(found, podKey(pod)) {
				blockers = append(blockers, Blocker{Pod: podKey(pod), Reason: "eviction refused: " + refusalMessage(ev.state(pod).lastErr)})
			}
		}
	}
	blockers = append(blockers, rest...)
	if len(blockers) == 0 {
		return err
	}
	left := 0
	for _, pod := range pods {
		if !ev.state(pod).gone {
			left++
		}
	}
	return &DrainBlockedError{Node: node, Timeout: p.timeout, Evicted: len(pods) - left, Blockers: blockers}
}

// Done reports whether the node is unschedulable and has no pod left that
// the drain would evict.
func (a *Drain) Done(ctx context.Context, req remediation.Request) (bool, string, error) {
	subject := "drain " + req.Target.String()
	if _, err := checkTarget(a.kube, req.Target, "Node"); err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	p, err := parseDrainParams(req.Params)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", subject, err)
	}
	node, err := a.kube.CoreV1().Nodes().Get(ctx, req.Target.Name, metav1.GetOptions{})
	if err != nil {
		return false, "", classify(err, subject)
	}
	if !node.Spec.Unschedulable {
		return false, fmt.Sprintf("node %s is schedulable", node.Name), nil
	}
	list, errs := a.helper(ctx, p, a.kube, node.Name).GetPodsForDeletion(node.Name)
	if list == nil {
		return false, "", classify(errors.Join(errs...), subject)
	}
	if len(errs) > 0 {
		return false, fmt.Sprintf("node %s is cordoned but holds pods that cannot be evicted: %v", node.Name, errors.Join(errs...)), nil
	}
	if left := list.Pods(); len(left) > 0 {
		names := make([]string, 0, len(left))
		for _, pod := range left {
			names = append(names, podKey(pod))
		}
		return false, fmt.Sprintf("node %s is cordoned; %d pod(s) left to evict: %s", node.Name, len(left), strings.Join(names, ", ")), nil
	}
	return true, fmt.Sprintf("node %s is cordoned and drained", node.Name), nil
}

func podKey(pod corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func hasPod(bs []Blocker, pod string) bool {
	for _, b := range bs {
		if b.Pod == pod {
			return true
		}
	}
	return false
}

func blockerStrings(bs []Blocker) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return out
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// logWriter turns the drainer's progress lines into log records.
type logWriter struct {
	log   *slog.Logger
	level slog.Level
}

// Write logs each non-empty line of p.
func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.log.Log(context.Background(), w.level, line)
		}
	}
	return len(p), nil
}
