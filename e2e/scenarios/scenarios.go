// Package scenarios injects real faults into a Kubernetes cluster, for the
// end-to-end tests and the demo: each Scenario creates the objects (and, where
// a real component would, keeps them alive, like a kubelet renewing its node
// Lease) that make kubepatrol's checks fire, and lists the findings it must
// report.
//
// The faults come from the real control plane wherever it can produce them:
// the scheduler's FailedScheduling, the PV controller's ProvisioningFailed,
// the deployment controller's ProgressDeadlineExceeded, the Job controller's
// BackoffLimitExceeded and the node lifecycle controller's Unknown status.
// Only what a kubelet would write is simulated: node conditions and leases on
// nodes that kwok does not manage, and container statuses on pods annotated
// kwok.x-k8s.io/status=custom (which kwok leaves alone).
//
// Scenarios that create namespaced objects use one namespace each, named
// "fault-<scenario>"; cluster-scoped objects are named "fault-...". Cleanup
// removes everything a scenario created.
package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Label marks every object a scenario creates, with the scenario's name.
const Label = "kubepatrol.io/e2e-scenario"

// Clients is what a scenario needs to talk to the cluster.
type Clients struct {
	Kube kubernetes.Interface
}

// Expectation is one finding kubepatrol must report for a scenario.
type Expectation struct {
	Check     string
	Kind      string
	Namespace string
	// Name is the object's name; a trailing "*" matches any name with that
	// prefix (pods of a Deployment or a Job).
	Name     string
	Severity string
}

// Matches reports whether a finding's check and object match e.
func (e Expectation) Matches(check, kind, namespace, name string) bool {
	if check != e.Check || kind != e.Kind || namespace != e.Namespace {
		return false
	}
	if p, ok := strings.CutSuffix(e.Name, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return name == e.Name
}

func (e Expectation) String() string {
	obj := e.Kind + "/" + e.Name
	if e.Namespace != "" {
		obj = e.Kind + "/" + e.Namespace + "/" + e.Name
	}
	return fmt.Sprintf("%s on %s (%s)", e.Check, obj, e.Severity)
}

// Cleanup removes what Apply created and stops its background work.
type Cleanup func(ctx context.Context) error

// Scenario is one injected fault.
type Scenario struct {
	Name        string
	Description string
	// Apply injects the fault. Background work it starts (lease renewal)
	// runs until cleanup is called, independently of ctx. On error, Apply
	// has already removed what it created.
	Apply func(ctx context.Context, c Clients) (Cleanup, error)
	// Visible reports whether the fault is fully visible through the API:
	// the controllers have reacted, and any time-based threshold of the
	// checks has passed. Callers poll it, bounded by Timeout.
	Visible func(ctx context.Context, c Clients) (bool, error)
	// Timeout bounds how long the fault may take to become visible.
	Timeout time.Duration
	// Config overrides check parameters, for the few thresholds a test
	// cannot wait for (check ID -> parameter -> value). Most scenarios need
	// none.
	Config map[string]map[string]string
	// Expect lists the findings kubepatrol must report.
	Expect []Expectation
}

// Namespace returns the namespace the scenario's namespaced objects live in.
func (s *Scenario) Namespace() string { return "fault-" + s.Name }

// All returns every scenario, in a stable order.
func All() []*Scenario {
	all := []*Scenario{
		NodeNotReady(), NodeUnreachable(), NodePressure(), NodeCordoned(),
		PodCrashLooping(), PodOOMKilled(), PodImagePullFailing(), PodConfigError(),
		PodUnschedulable(), PVCPending(), ServiceNoEndpoints(), WebhookServiceMissing(),
		DeploymentRolloutStuck(), DeploymentReplicasUnavailable(), JobFailed(),
		PodStuckTerminating(), LeaderLeaseStale(),
	}
	return all
}

// ByName returns the scenarios with the given names, in All's order, or an
// error naming the unknown ones.
func ByName(names ...string) ([]*Scenario, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*Scenario
	for _, s := range All() {
		if want[s.Name] {
			out = append(out, s)
			delete(want, s.Name)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for n := range want {
			unknown = append(unknown, n)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown scenarios: %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// WaitVisible applies nothing: it polls s.Visible every second until it
// reports true, ctx ends, or s.Timeout passes.
func WaitVisible(ctx context.Context, s *Scenario, c Clients) error {
	if s.Visible == nil {
		return nil
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := s.Visible(ctx, c)
		if err != nil {
			last = err // transient API errors: keep polling
			return false, nil
		}
		return ok, nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last error: %v)", err, last)
		}
		return fmt.Errorf("scenario %s: fault not visible after %s: %w", s.Name, timeout, err)
	}
	return nil
}

// cleanups runs cleanup functions in reverse order, joining their errors.
type cleanups []Cleanup

func (cs *cleanups) add(c Cleanup) { *cs = append(*cs, c) }

func (cs cleanups) run(ctx context.Context) error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// step is one part of a scenario's Apply; it registers the undoing of what
// it created in cs.
type step func(ctx context.Context, c Clients, cs *cleanups) error

// applyAll runs steps in order; if one fails it undoes the earlier ones. It
// is the body of every scenario's Apply.
func applyAll(ctx context.Context, c Clients, steps ...step) (Cleanup, error) {
	var cs cleanups
	for _, step := range steps {
		if err := step(ctx, c, &cs); err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			return nil, errors.Join(err, cs.run(cctx))
		}
	}
	var once sync.Once
	var err error
	return func(ctx context.Context) error {
		once.Do(func() { err = cs.run(ctx) })
		return err
	}, nil
}

// labels returns the labels every object of scenario name carries.
func labels(name string, extra ...string) map[string]string {
	l := map[string]string{Label: name}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// namespace creates the scenario's namespace and registers its deletion:
// pods are force-deleted first (pods on nodes nobody manages, and pods
// whose status the scenario owns, are never finalized by a kubelet), then
// the namespace, waiting until it is gone so that later inspections do not
// see leftovers.
func namespace(s string) step {
	return func(ctx context.Context, c Clients, cs *cleanups) error {
		ns := "fault-" + s
		_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: labels(s)}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		cs.add(func(ctx context.Context) error { return deleteNamespace(ctx, c.Kube, ns) })
		// Pods need the namespace's default ServiceAccount.
		return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := c.Kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
	}
}

// deleteNamespace force-deletes the namespace's pods, deletes the namespace
// and waits (up to two minutes) until it is gone.
func deleteNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	if err := forceDeletePods(ctx, kube, ns, ""); err != nil {
		return err
	}
	err := kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		// Pods created while the namespace terminates (by a controller)
		// need the same treatment.
		_ = forceDeletePods(ctx, kube, ns, "")
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// forceDeletePods removes the finalizers of, and force-deletes, the pods in
// ns that match selector.
func forceDeletePods(ctx context.Context, kube kubernetes.Interface, ns, selector string) error {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("list pods in %s: %w", ns, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if len(p.Finalizers) > 0 {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if _, err := kube.CoreV1().Pods(ns).Patch(ctx, p.Name, mergePatch, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove finalizers of pod %s/%s: %w", ns, p.Name, err)
			}
		}
		err := kube.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](0)})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s/%s: %w", ns, p.Name, err)
		}
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// Purge removes whatever an earlier run of s left behind (a run killed
// before its cleanup, or kept with E2E_KEEP=1): everything labelled with the
// scenario's name, and its namespace. Apply after Purge starts clean.
func Purge(ctx context.Context, s *Scenario, c Clients) error {
	sel := metav1.ListOptions{LabelSelector: Label + "=" + s.Name}
	var errs []error
	if err := deleteNamespace(ctx, c.Kube, s.Namespace()); err != nil {
		errs = append(errs, err)
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, sel)
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		errs = append(errs, ignoreNotFound(c.Kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})),
			ignoreNotFound(c.Kube.CoordinationV1().Leases(nodeLeaseNamespace).Delete(ctx, n.Name, metav1.DeleteOptions{})))
	}
	webhooks, err := c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return err
	}
	for _, w := range webhooks.Items {
		errs = append(errs, ignoreNotFound(c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, w.Name, metav1.DeleteOptions{})))
	}
	leases, err := c.Kube.CoordinationV1().Leases("kube-system").List(ctx, sel)
	if err != nil {
		return err
	}
	for _, l := range leases.Items {
		errs = append(errs, ignoreNotFound(c.Kube.CoordinationV1().Leases("kube-system").Delete(ctx, l.Name, metav1.DeleteOptions{})))
	}
	return errors.Join(errs...)
}
