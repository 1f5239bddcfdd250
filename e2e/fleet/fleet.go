// Package fleet creates healthy workloads on a cluster, through the API, the
// way a normal small cluster has them: Deployments with Services and a
// PodDisruptionBudget, a StatefulSet with its headless Service, a DaemonSet,
// a Job that completes and a CronJob. The e2e suite uses it as the baseline
// on which kubepatrol must report nothing; the demo and the scale benchmark
// use bigger fleets.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Label marks every object of a fleet, with the fleet's name.
const Label = "kubepatrol.io/fleet"

// Fleet is a set of namespaces with their workloads.
type Fleet struct {
	Name       string
	Namespaces []Namespace
}

// Namespace is one namespace of a fleet.
type Namespace struct {
	Name         string
	Deployments  []App
	StatefulSets []App
	DaemonSets   []App
	Jobs         []App
	CronJobs     []App
	// ConfigMaps are created before the workloads (they may reference them).
	ConfigMaps []string
}

// App is one workload. Service adds a Service selecting its pods (headless
// for a StatefulSet); PDB adds a PodDisruptionBudget with minAvailable 1.
type App struct {
	Name     string
	Replicas int32
	Image    string
	Service  bool
	PDB      bool
	// ConfigMap, if set, is mounted through envFrom.
	ConfigMap string
}

// Small is the e2e baseline: about 25 pods in four namespaces plus one
// DaemonSet pod per kwok node.
func Small() Fleet {
	return Fleet{Name: "baseline", Namespaces: []Namespace{
		{Name: "shop", ConfigMaps: []string{"shop-config"},
			Deployments: []App{
				{Name: "frontend", Replicas: 3, Image: "registry.example/shop/frontend:2.4.1", Service: true, PDB: true},
				{Name: "cart", Replicas: 2, Image: "registry.example/shop/cart:1.12.0", Service: true, ConfigMap: "shop-config"},
				{Name: "catalog", Replicas: 2, Image: "registry.example/shop/catalog:3.0.2", Service: true},
			},
			StatefulSets: []App{{Name: "redis", Replicas: 1, Image: "registry.example/library/redis:7.2", Service: true}},
		},
		{Name: "payments", Deployments: []App{
			{Name: "payments-api", Replicas: 2, Image: "registry.example/payments/api:1.9.0", Service: true, PDB: true},
			{Name: "ledger", Replicas: 1, Image: "registry.example/payments/ledger:0.8.4"},
		}},
		{Name: "monitoring", DaemonSets: []App{{Name: "node-exporter", Image: "registry.example/prometheus/node-exporter:1.8.2", Service: true}}},
		{Name: "batch",
			Jobs:     []App{{Name: "db-migrate", Replicas: 1, Image: "registry.example/shop/migrate:2.4.1"}},
			CronJobs: []App{{Name: "nightly-backup", Image: "registry.example/ops/backup:1.3.0"}},
		},
	}}
}

// Demo is a fleet of a few hundred pods over several teams' namespaces.
func Demo() Fleet {
	f := Small()
	f.Name = "demo"
	teams := []struct {
		ns   string
		apps []string
	}{
		{"search", []string{"indexer", "query", "ranker", "suggest"}},
		{"identity", []string{"auth", "sessions", "profile"}},
		{"media", []string{"thumbnailer", "transcoder", "cdn-edge"}},
		{"analytics", []string{"collector", "aggregator", "dashboard"}},
	}
	for i, t := range teams {
		ns := Namespace{Name: t.ns}
		for j, a := range t.apps {
			ns.Deployments = append(ns.Deployments, App{Name: a, Replicas: int32(8 + 6*((i+j)%4)),
				Image: fmt.Sprintf("registry.example/%s/%s:1.%d.%d", t.ns, a, i+j, j), Service: true, PDB: j == 0})
		}
		f.Namespaces = append(f.Namespaces, ns)
	}
	for i := range f.Namespaces[0].Deployments {
		f.Namespaces[0].Deployments[i].Replicas *= 4
	}
	return f
}

// Scale spreads pods over deployments of perDeployment replicas (the
// last one takes the remainder) in namespaces of ten deployments each.
func Scale(pods, perDeployment int) Fleet {
	f := Fleet{Name: "scale"}
	for i := 0; pods > 0; i++ {
		if i%10 == 0 {
			f.Namespaces = append(f.Namespaces, Namespace{Name: fmt.Sprintf("scale-%02d", i/10)})
		}
		n := min(pods, perDeployment)
		pods -= n
		ns := &f.Namespaces[len(f.Namespaces)-1]
		ns.Deployments = append(ns.Deployments, App{Name: fmt.Sprintf("app-%03d", i), Replicas: int32(n),
			Image: fmt.Sprintf("registry.example/scale/app-%03d:1.0", i), Service: true})
	}
	return f
}

// Pods returns how many pods the fleet runs besides DaemonSet pods.
func (f Fleet) Pods() int {
	n := 0
	for _, ns := range f.Namespaces {
		for _, group := range [][]App{ns.Deployments, ns.StatefulSets, ns.Jobs} {
			for _, a := range group {
				n += int(a.Replicas)
			}
		}
	}
	return n
}

// Apply creates the fleet; objects that exist already are left alone, so
// Apply is idempotent.
func Apply(ctx context.Context, kube kubernetes.Interface, f Fleet) error {
	for _, ns := range f.Namespaces {
		if err := applyNamespace(ctx, kube, f.Name, ns); err != nil {
			return err
		}
	}
	return nil
}

func applyNamespace(ctx context.Context, kube kubernetes.Interface, fleet string, ns Namespace) error {
	l := map[string]string{Label: fleet}
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s in namespace %s: %w", what, ns.Name, err)
		}
		return nil
	}
	if err := create("namespace", ignoreResult(kube.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: l}}, metav1.CreateOptions{}))); err != nil {
		return err
	}
	// Pods need the namespace's default ServiceAccount.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("namespace %s: no default ServiceAccount: %w", ns.Name, err)
	}
	for _, cm := range ns.ConfigMaps {
		if err := create("configmap "+cm, ignoreResult(kube.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: cm, Labels: l},
			Data:       map[string]string{"LOG_LEVEL": "info", "FEATURE_FLAGS": "checkout-v2"},
		}, metav1.CreateOptions{}))); err != nil {
			return err
		}
	}
	for _, a := range ns.Deployments {
		d := &appsv1.Deployment{
			ObjectMeta: meta(fleet, ns.Name, a.Name),
			Spec: appsv1.DeploymentSpec{
				Replicas: &a.Replicas,
				Selector: selector(a.Name),
				Template: podTemplate(fleet, a),
			},
		}
		if err := create("deployment "+a.Name, ignoreResult(kube.AppsV1().Deployments(ns.Name).Create(ctx, d, metav1.CreateOptions{}))); err != nil {
			return err
		}
		if err := service(ctx, kube, fleet, ns.Name, a, false, create); err != nil {
			return err
		}
		if a.PDB {
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: meta(fleet, ns.Name, a.Name),
				Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(1)), Selector: selector(a.Name)},
			}
			if err := create("poddisruptionbudget "+a.Name, ignoreResult(kube.PolicyV1().PodDisruptionBudgets(ns.Name).Create(ctx, pdb, metav1.CreateOptions{}))); err != nil {
				return err
			}
		}
	}
	for _, a := range ns.StatefulSets {
		if err := service(ctx, kube, fleet, ns.Name, a, true, create); err != nil {
			return err
		}
		s := &appsv1.StatefulSet{
			ObjectMeta: meta(fleet, ns.Name, a.Name),
			Spec: appsv1.StatefulSetSpec{
				Replicas: &a.Replicas, ServiceName: a.Name,
				Selector: selector(a.Name),
				Template: podTemplate(fleet, a),
			},
		}
		if err := create("statefulset "+a.Name, ignoreResult(kube.AppsV1().StatefulSets(ns.Name).Create(ctx, s, metav1.CreateOptions{}))); err != nil {
			return err
		}
	}
	for _, a := range ns.DaemonSets {
		t := podTemplate(fleet, a)
		// Only on simulated nodes: the fault scenarios' nodes have no kubelet.
		t.Spec.NodeSelector = map[string]string{"type": "kwok"}
		ds := &appsv1.DaemonSet{
			ObjectMeta: meta(fleet, ns.Name, a.Name),
			Spec:       appsv1.DaemonSetSpec{Selector: selector(a.Name), Template: t},
		}
		if err := create("daemonset "+a.Name, ignoreResult(kube.AppsV1().DaemonSets(ns.Name).Create(ctx, ds, metav1.CreateOptions{}))); err != nil {
			return err
		}
		if err := service(ctx, kube, fleet, ns.Name, a, false, create); err != nil {
			return err
		}
	}
	for _, a := range ns.Jobs {
		t := podTemplate(fleet, a)
		t.Spec.RestartPolicy = corev1.RestartPolicyNever
		j := &batchv1.Job{
			ObjectMeta: meta(fleet, ns.Name, a.Name),
			Spec:       batchv1.JobSpec{BackoffLimit: ptrTo[int32](2), Completions: &a.Replicas, Template: t},
		}
		if err := create("job "+a.Name, ignoreResult(kube.BatchV1().Jobs(ns.Name).Create(ctx, j, metav1.CreateOptions{}))); err != nil {
			return err
		}
	}
	for _, a := range ns.CronJobs {
		t := podTemplate(fleet, a)
		t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		cj := &batchv1.CronJob{
			ObjectMeta: meta(fleet, ns.Name, a.Name),
			Spec: batchv1.CronJobSpec{
				Schedule:    "0 3 * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
			},
		}
		if err := create("cronjob "+a.Name, ignoreResult(kube.BatchV1().CronJobs(ns.Name).Create(ctx, cj, metav1.CreateOptions{}))); err != nil {
			return err
		}
	}
	return nil
}

func service(ctx context.Context, kube kubernetes.Interface, fleet, ns string, a App, headless bool, create func(string, error) error) error {
	if !a.Service {
		return nil
	}
	svc := &corev1.Service{
		ObjectMeta: meta(fleet, ns, a.Name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": a.Name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return create("service "+a.Name, ignoreResult(kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})))
}

func meta(fleet, ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{Label: fleet, "app": name}}
}

func selector(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
}

func podTemplate(fleet string, a App) corev1.PodTemplateSpec {
	c := corev1.Container{
		Name: "app", Image: a.Image,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
	}
	if a.ConfigMap != "" {
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: a.ConfigMap}}}}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{Label: fleet, "app": a.Name}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{c},
			// Only simulated nodes run pods; the fault scenarios' nodes have
			// no kubelet.
			NodeSelector: map[string]string{"type": "kwok"},
		},
	}
}

// WaitSettled waits until every workload of the fleet is fully rolled out
// and available, every Job has completed and every Service has a ready
// endpoint. On timeout the error lists what is not settled.
func WaitSettled(ctx context.Context, kube kubernetes.Interface, f Fleet, timeout time.Duration) error {
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		pending, err = unsettled(ctx, kube, f)
		if err != nil {
			pending = []string{err.Error()}
			return false, nil
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		sort.Strings(pending)
		if len(pending) > 20 {
			pending = append(pending[:20], fmt.Sprintf("... and %d more", len(pending)-20))
		}
		return fmt.Errorf("fleet %s not settled after %s: %s: %w", f.Name, timeout, strings.Join(pending, "; "), err)
	}
	return nil
}

func unsettled(ctx context.Context, kube kubernetes.Interface, f Fleet) ([]string, error) {
	var out []string
	for _, ns := range f.Namespaces {
		for _, a := range ns.Deployments {
			d, err := kube.AppsV1().Deployments(ns.Name).Get(ctx, a.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			st := d.Status
			if st.ObservedGeneration != d.Generation || st.UpdatedReplicas != a.Replicas || st.AvailableReplicas != a.Replicas ||
				st.ReadyReplicas != a.Replicas || st.Replicas != a.Replicas {
				out = append(out, fmt.Sprintf("deployment %s/%s %d/%d available", ns.Name, a.Name, st.AvailableReplicas, a.Replicas))
			}
		}
		for _, a := range ns.StatefulSets {
			s, err := kube.AppsV1().StatefulSets(ns.Name).Get(ctx, a.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			st := s.Status
			if st.ObservedGeneration != s.Generation || st.ReadyReplicas != a.Replicas || st.AvailableReplicas != a.Replicas ||
				st.CurrentRevision != st.UpdateRevision {
				out = append(out, fmt.Sprintf("statefulset %s/%s %d/%d ready", ns.Name, a.Name, st.ReadyReplicas, a.Replicas))
			}
		}
		for _, a := range ns.DaemonSets {
			ds, err := kube.AppsV1().DaemonSets(ns.Name).Get(ctx, a.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			st := ds.Status
			if st.ObservedGeneration != ds.Generation || st.DesiredNumberScheduled == 0 || st.NumberReady != st.DesiredNumberScheduled ||
				st.NumberAvailable != st.DesiredNumberScheduled || st.UpdatedNumberScheduled != st.DesiredNumberScheduled {
				out = append(out, fmt.Sprintf("daemonset %s/%s %d/%d ready", ns.Name, a.Name, st.NumberReady, st.DesiredNumberScheduled))
			}
		}
		for _, a := range ns.Jobs {
			j, err := kube.BatchV1().Jobs(ns.Name).Get(ctx, a.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			done := false
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
					done = true
				}
			}
			if !done {
				out = append(out, fmt.Sprintf("job %s/%s not complete", ns.Name, a.Name))
			}
		}
		for _, group := range [][]App{ns.Deployments, ns.StatefulSets, ns.DaemonSets} {
			for _, a := range group {
				if !a.Service {
					continue
				}
				ok, err := serviceReady(ctx, kube, ns.Name, a.Name)
				if err != nil {
					return nil, err
				}
				if !ok {
					out = append(out, fmt.Sprintf("service %s/%s has no ready endpoint", ns.Name, a.Name))
				}
			}
		}
	}
	return out, nil
}

func serviceReady(ctx context.Context, kube kubernetes.Interface, ns, name string) (bool, error) {
	slices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return false, err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return true, nil
			}
		}
	}
	return false, nil
}

// Delete removes the fleet's namespaces and waits until they are gone.
func Delete(ctx context.Context, kube kubernetes.Interface, f Fleet) error {
	var errs []error
	for _, ns := range f.Namespaces {
		err := kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, ns := range f.Namespaces {
			if _, err := kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
}

func ignoreResult[T any](_ T, err error) error { return err }

func ptrTo[T any](v T) *T { return &v }
