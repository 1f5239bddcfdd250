package convert

import (
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// AddJSON decodes one API object of the given kind from JSON and appends
// its projection to s. It reports false for kinds a snapshot does not hold
// (ConfigMaps, Secrets, CRDs…), which callers skip.
func AddJSON(s *snapshot.Snapshot, apiVersion, kind string, raw []byte) (bool, error) {
	add := func(obj any, f func()) (bool, error) {
		if err := json.Unmarshal(raw, obj); err != nil {
			return true, fmt.Errorf("%s: %w", kind, err)
		}
		f()
		return true, nil
	}
	switch kind {
	case "Namespace":
		var o corev1.Namespace
		return add(&o, func() { s.Namespaces = append(s.Namespaces, Namespace(&o)) })
	case "Node":
		var o corev1.Node
		return add(&o, func() { s.Nodes = append(s.Nodes, Node(&o)) })
	case "Pod":
		var o corev1.Pod
		return add(&o, func() { s.Pods = append(s.Pods, Pod(&o)) })
	case "Event":
		if apiVersion == "events.k8s.io/v1" {
			var o eventsv1.Event
			return add(&o, func() { s.Events = append(s.Events, EventV1(&o)) })
		}
		var o corev1.Event
		return add(&o, func() { s.Events = append(s.Events, Event(&o)) })
	case "Deployment":
		var o appsv1.Deployment
		return add(&o, func() { s.Deployments = append(s.Deployments, Deployment(&o)) })
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		return add(&o, func() { s.ReplicaSets = append(s.ReplicaSets, ReplicaSet(&o)) })
	case "StatefulSet":
		var o appsv1.StatefulSet
		return add(&o, func() { s.StatefulSets = append(s.StatefulSets, StatefulSet(&o)) })
	case "DaemonSet":
		var o appsv1.DaemonSet
		return add(&o, func() { s.DaemonSets = append(s.DaemonSets, DaemonSet(&o)) })
	case "Job":
		var o batchv1.Job
		return add(&o, func() { s.Jobs = append(s.Jobs, Job(&o)) })
	case "CronJob":
		var o batchv1.CronJob
		return add(&o, func() { s.CronJobs = append(s.CronJobs, CronJob(&o)) })
	case "HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		return add(&o, func() { s.HPAs = append(s.HPAs, HPA(&o)) })
	case "PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		return add(&o, func() { s.PDBs = append(s.PDBs, PDB(&o)) })
	case "PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		return add(&o, func() { s.PVCs = append(s.PVCs, PVC(&o)) })
	case "PersistentVolume":
		var o corev1.PersistentVolume
		return add(&o, func() { s.PVs = append(s.PVs, PV(&o)) })
	case "StorageClass":
		var o storagev1.StorageClass
		return add(&o, func() { s.StorageClasses = append(s.StorageClasses, StorageClass(&o)) })
	case "Service":
		var o corev1.Service
		return add(&o, func() { s.Services = append(s.Services, Service(&o)) })
	case "EndpointSlice":
		var o discoveryv1.EndpointSlice
		return add(&o, func() { s.EndpointSlices = append(s.EndpointSlices, EndpointSlice(&o)) })
	case "Endpoints":
		var o corev1.Endpoints
		return add(&o, func() { s.EndpointSlices = append(s.EndpointSlices, Endpoints(&o)) })
	case "ResourceQuota":
		var o corev1.ResourceQuota
		return add(&o, func() { s.ResourceQuotas = append(s.ResourceQuotas, ResourceQuota(&o)) })
	case "Lease":
		var o coordinationv1.Lease
		return add(&o, func() { s.Leases = append(s.Leases, Lease(&o)) })
	case "ValidatingWebhookConfiguration":
		var o admissionv1.ValidatingWebhookConfiguration
		return add(&o, func() { s.WebhookConfigs = append(s.WebhookConfigs, ValidatingWebhooks(&o)) })
	case "MutatingWebhookConfiguration":
		var o admissionv1.MutatingWebhookConfiguration
		return add(&o, func() { s.WebhookConfigs = append(s.WebhookConfigs, MutatingWebhooks(&o)) })
	case "APIService":
		var o APIServiceObject
		return add(&o, func() { s.APIServices = append(s.APIServices, APIService(&o)) })
	}
	return false, nil
}
