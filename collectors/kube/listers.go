package kube

import (
	"context"
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubepatrol/patrol/collectors/convert"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

type listFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error)

// typed adapts a typed List call to the pager.
func typed[L runtime.Object](f func(ctx context.Context, o metav1.ListOptions) (L, error)) listFunc {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return f(ctx, o) }
}

// item adapts a per-item projection.
func item[T any](add func(*T)) func(runtime.Object) error {
	return func(o runtime.Object) error {
		t, ok := any(o).(*T)
		if !ok {
			return fmt.Errorf("unexpected list item %T", o)
		}
		add(t)
		return nil
	}
}

func (c *collector) listers() []lister {
	cs, ns := c.cs, c.opt.Namespace
	core, apps, batch := cs.CoreV1(), cs.AppsV1(), cs.BatchV1()
	l := func(kind snapshot.Kind, f listFunc, add func(*snapshot.Snapshot) func(runtime.Object) error) lister {
		return lister{kind: kind, list: func(ctx context.Context, into *snapshot.Snapshot) error {
			return c.each(ctx, f, add(into))
		}}
	}
	return []lister{
		l(snapshot.KindNamespace, typed(core.Namespaces().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.Namespace) {
				if ns == "" || o.Name == ns {
					s.Namespaces = append(s.Namespaces, convert.Namespace(o))
				}
			})
		}),
		l(snapshot.KindNode, typed(core.Nodes().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.Node) { s.Nodes = append(s.Nodes, convert.Node(o)) })
		}),
		l(snapshot.KindPod, typed(core.Pods(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.Pod) { s.Pods = append(s.Pods, convert.Pod(o)) })
		}),
		l(snapshot.KindEvent, typed(core.Events(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.Event) { s.Events = append(s.Events, convert.Event(o)) })
		}),
		l(snapshot.KindDeployment, typed(apps.Deployments(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *appsv1.Deployment) { s.Deployments = append(s.Deployments, convert.Deployment(o)) })
		}),
		l(snapshot.KindReplicaSet, typed(apps.ReplicaSets(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *appsv1.ReplicaSet) {
				// Old ReplicaSets scaled to zero are history, not state.
				if o.Status.Replicas == 0 && o.Spec.Replicas != nil && *o.Spec.Replicas == 0 {
					return
				}
				s.ReplicaSets = append(s.ReplicaSets, convert.ReplicaSet(o))
			})
		}),
		l(snapshot.KindStatefulSet, typed(apps.StatefulSets(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *appsv1.StatefulSet) { s.StatefulSets = append(s.StatefulSets, convert.StatefulSet(o)) })
		}),
		l(snapshot.KindDaemonSet, typed(apps.DaemonSets(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *appsv1.DaemonSet) { s.DaemonSets = append(s.DaemonSets, convert.DaemonSet(o)) })
		}),
		l(snapshot.KindJob, typed(batch.Jobs(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *batchv1.Job) { s.Jobs = append(s.Jobs, convert.Job(o)) })
		}),
		l(snapshot.KindCronJob, typed(batch.CronJobs(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *batchv1.CronJob) { s.CronJobs = append(s.CronJobs, convert.CronJob(o)) })
		}),
		l(snapshot.KindHPA, typed(cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *autoscalingv2.HorizontalPodAutoscaler) { s.HPAs = append(s.HPAs, convert.HPA(o)) })
		}),
		l(snapshot.KindPDB, typed(cs.PolicyV1().PodDisruptionBudgets(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *policyv1.PodDisruptionBudget) { s.PDBs = append(s.PDBs, convert.PDB(o)) })
		}),
		l(snapshot.KindPVC, typed(core.PersistentVolumeClaims(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.PersistentVolumeClaim) { s.PVCs = append(s.PVCs, convert.PVC(o)) })
		}),
		l(snapshot.KindPV, typed(core.PersistentVolumes().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.PersistentVolume) { s.PVs = append(s.PVs, convert.PV(o)) })
		}),
		l(snapshot.KindStorageClass, typed(cs.StorageV1().StorageClasses().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *storagev1.StorageClass) { s.StorageClasses = append(s.StorageClasses, convert.StorageClass(o)) })
		}),
		l(snapshot.KindService, typed(core.Services(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.Service) { s.Services = append(s.Services, convert.Service(o)) })
		}),
		l(snapshot.KindEndpointSlice, typed(cs.DiscoveryV1().EndpointSlices(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *discoveryv1.EndpointSlice) {
				s.EndpointSlices = append(s.EndpointSlices, convert.EndpointSlice(o))
			})
		}),
		l(snapshot.KindResourceQuota, typed(core.ResourceQuotas(ns).List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *corev1.ResourceQuota) { s.ResourceQuotas = append(s.ResourceQuotas, convert.ResourceQuota(o)) })
		}),
		{kind: snapshot.KindLease, list: c.leases},
		l(snapshot.KindValidatingWebhook, typed(cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *admissionv1.ValidatingWebhookConfiguration) {
				s.WebhookConfigs = append(s.WebhookConfigs, convert.ValidatingWebhooks(o))
			})
		}),
		l(snapshot.KindMutatingWebhook, typed(cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List), func(s *snapshot.Snapshot) func(runtime.Object) error {
			return item(func(o *admissionv1.MutatingWebhookConfiguration) {
				s.WebhookConfigs = append(s.WebhookConfigs, convert.MutatingWebhooks(o))
			})
		}),
		{kind: snapshot.KindAPIService, list: c.apiServices},
	}
}

// leases reads the node heartbeats (kube-node-lease) and the control-plane
// leader leases (kube-system): the only leases checks read.
func (c *collector) leases(ctx context.Context, into *snapshot.Snapshot) error {
	for _, ns := range []string{"kube-node-lease", "kube-system"} {
		err := c.each(ctx, typed(c.cs.CoordinationV1().Leases(ns).List), item(func(o *coordinationv1.Lease) {
			into.Leases = append(into.Leases, convert.Lease(o))
		}))
		if err != nil {
			return err
		}
	}
	return nil
}

// apiServices reads APIServices as JSON: the project does not depend on
// kube-aggregator's typed client.
func (c *collector) apiServices(ctx context.Context, into *snapshot.Snapshot) error {
	// The client asks for protobuf; this list is decoded as JSON.
	raw, err := c.cs.Discovery().RESTClient().Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices").
		SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		return err
	}
	var list struct {
		Items []convert.APIServiceObject `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decode apiservices: %w", err)
	}
	for i := range list.Items {
		into.APIServices = append(into.APIServices, convert.APIService(&list.Items[i]))
	}
	return nil
}
