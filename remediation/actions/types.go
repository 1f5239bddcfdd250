package actions

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Short names for the typed objects objectFor binds.
type (
	nodeT        = corev1.Node
	namespaceT   = corev1.Namespace
	pvT          = corev1.PersistentVolume
	podT         = corev1.Pod
	serviceT     = corev1.Service
	pvcT         = corev1.PersistentVolumeClaim
	deploymentT  = appsv1.Deployment
	statefulSetT = appsv1.StatefulSet
	daemonSetT   = appsv1.DaemonSet
	replicaSetT  = appsv1.ReplicaSet
	jobT         = batchv1.Job
	cronJobT     = batchv1.CronJob
)
