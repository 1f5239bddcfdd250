package actions

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/checks"
)

// objectAPI reads and merge-patches one kind of object through the typed
// clients, so that every action records calls the same way.
type objectAPI struct {
	kind       string
	apiVersion string
	resource   string
	namespaced bool
	get        func(ctx context.Context, ns, name string) (metav1.Object, error)
	patch      func(ctx context.Context, ns, name string, data []byte, opts metav1.PatchOptions) (metav1.Object, error)
}

// getPatcher is the part of a typed client that objectAPI needs.
type getPatcher[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

func bind[T metav1.Object](kind, apiVersion, resource string, namespaced bool, client func(ns string) getPatcher[T]) objectAPI {
	return objectAPI{
		kind: kind, apiVersion: apiVersion, resource: resource, namespaced: namespaced,
		get: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			o, err := client(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return o, nil
		},
		patch: func(ctx context.Context, ns, name string, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
			o, err := client(ns).Patch(ctx, name, types.MergePatchType, data, opts)
			if err != nil {
				return nil, err
			}
			return o, nil
		},
	}
}

// AnnotatableKinds returns the kinds annotate accepts.
func AnnotatableKinds() []string {
	return []string{
		"Node", "Namespace", "Pod", "Service", "PersistentVolumeClaim", "PersistentVolume",
		"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
	}
}

// objectFor returns the API of kind, or an error for a kind kubepatrol does
// not write.
func objectFor(kube kubernetes.Interface, kind string) (objectAPI, error) {
	core, apps, batch := kube.CoreV1(), kube.AppsV1(), kube.BatchV1()
	switch kind {
	case "Node":
		return bind("Node", "v1", "nodes", false, func(string) getPatcher[*nodeT] { return core.Nodes() }), nil
	case "Namespace":
		return bind("Namespace", "v1", "namespaces", false, func(string) getPatcher[*namespaceT] { return core.Namespaces() }), nil
	case "PersistentVolume":
		return bind("PersistentVolume", "v1", "persistentvolumes", false, func(string) getPatcher[*pvT] { return core.PersistentVolumes() }), nil
	case "Pod":
		return bind("Pod", "v1", "pods", true, func(ns string) getPatcher[*podT] { return core.Pods(ns) }), nil
	case "Service":
		return bind("Service", "v1", "services", true, func(ns string) getPatcher[*serviceT] { return core.Services(ns) }), nil
	case "PersistentVolumeClaim":
		return bind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", true, func(ns string) getPatcher[*pvcT] { return core.PersistentVolumeClaims(ns) }), nil
	case "Deployment":
		return bind("Deployment", "apps/v1", "deployments", true, func(ns string) getPatcher[*deploymentT] { return apps.Deployments(ns) }), nil
	case "StatefulSet":
		return bind("StatefulSet", "apps/v1", "statefulsets", true, func(ns string) getPatcher[*statefulSetT] { return apps.StatefulSets(ns) }), nil
	case "DaemonSet":
		return bind("DaemonSet", "apps/v1", "daemonsets", true, func(ns string) getPatcher[*daemonSetT] { return apps.DaemonSets(ns) }), nil
	case "ReplicaSet":
		return bind("ReplicaSet", "apps/v1", "replicasets", true, func(ns string) getPatcher[*replicaSetT] { return apps.ReplicaSets(ns) }), nil
	case "Job":
		return bind("Job", "batch/v1", "jobs", true, func(ns string) getPatcher[*jobT] { return batch.Jobs(ns) }), nil
	case "CronJob":
		return bind("CronJob", "batch/v1", "cronjobs", true, func(ns string) getPatcher[*cronJobT] { return batch.CronJobs(ns) }), nil
	}
	return objectAPI{}, fmt.Errorf("kind %q is not supported", kind)
}

// checkTarget validates a request's target against the kinds an action
// accepts and returns its API.
func checkTarget(kube kubernetes.Interface, t checks.ObjectRef, kinds ...string) (objectAPI, error) {
	ok := false
	for _, k := range kinds {
		ok = ok || k == t.Kind
	}
	if !ok {
		return objectAPI{}, fmt.Errorf("target %s: kind must be one of %v", t, kinds)
	}
	api, err := objectFor(kube, t.Kind)
	if err != nil {
		return objectAPI{}, fmt.Errorf("target %s: %w", t, err)
	}
	if t.Name == "" {
		return objectAPI{}, fmt.Errorf("target %s: no name", t)
	}
	if api.namespaced && t.Namespace == "" {
		return objectAPI{}, fmt.Errorf("target %s: no namespace", t)
	}
	return api, nil
}

// ns is the namespace to use for a target of api.
func (a objectAPI) ns(t checks.ObjectRef) string {
	if a.namespaced {
		return t.Namespace
	}
	return ""
}
