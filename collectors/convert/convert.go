// Package convert projects Kubernetes API objects (k8s.io/api types) down
// to the slim snapshot types: only the fields checks read survive, so a
// snapshot of a large cluster stays small and holds no secrets.
//
// Both the live collector and the file collector use it, so a recorded dump
// and a live cluster yield the same snapshot.
package convert

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Meta projects object metadata.
func Meta(m *metav1.ObjectMeta) snapshot.Meta {
	out := snapshot.Meta{
		Namespace:         m.Namespace,
		Name:              m.Name,
		UID:               string(m.UID),
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		CreationTimestamp: m.CreationTimestamp.Time.UTC(),
		DeletionTimestamp: tp(m.DeletionTimestamp),
		Finalizers:        m.Finalizers,
	}
	if len(m.Labels) > 0 {
		out.Labels = m.Labels
	}
	for k, v := range m.Annotations {
		if snapshot.KeptAnnotations[k] {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	for _, o := range m.OwnerReferences {
		out.Owners = append(out.Owners, snapshot.OwnerRef{
			Kind: o.Kind, Name: o.Name, UID: string(o.UID), Controller: o.Controller != nil && *o.Controller,
		})
	}
	return out
}

func tp(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func tv(t metav1.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Time.UTC()
}

// Quantity converts a quantity for resource name: millicores for CPU,
// plain units otherwise.
func Quantity(name string, q resource.Quantity) int64 {
	if containsCPU(name) {
		return q.MilliValue()
	}
	return q.Value()
}

func containsCPU(s string) bool {
	for i := 0; i+3 <= len(s); i++ {
		if s[i:i+3] == "cpu" {
			return true
		}
	}
	return false
}

// Resources converts a resource list.
func Resources(rl corev1.ResourceList) snapshot.Resources {
	if len(rl) == 0 {
		return nil
	}
	out := make(snapshot.Resources, len(rl))
	for k, v := range rl {
		out[string(k)] = Quantity(string(k), v)
	}
	return out
}

func selector(s *metav1.LabelSelector) *snapshot.Selector {
	if s == nil {
		return nil
	}
	out := &snapshot.Selector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, snapshot.Requirement{Key: e.Key, Operator: string(e.Operator), Values: e.Values})
	}
	if out.MatchLabels == nil && out.MatchExpressions == nil {
		out.MatchLabels = map[string]string{}
	}
	return out
}

func cond(t, s, reason, msg string, trans, hb, upd metav1.Time) snapshot.Condition {
	return snapshot.Condition{Type: t, Status: s, Reason: reason, Message: msg,
		LastTransitionTime: tv(trans), LastHeartbeatTime: tv(hb), LastUpdateTime: tv(upd)}
}

func metaConds(cs []metav1.Condition) []snapshot.Condition {
	var out []snapshot.Condition
	for _, c := range cs {
		out = append(out, cond(c.Type, string(c.Status), c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}, metav1.Time{}))
	}
	return out
}

// Namespace projects a Namespace.
func Namespace(o *corev1.Namespace) snapshot.Namespace {
	n := snapshot.Namespace{Meta: Meta(&o.ObjectMeta), Phase: string(o.Status.Phase)}
	for _, f := range o.Spec.Finalizers {
		n.SpecFinalizers = append(n.SpecFinalizers, string(f))
	}
	for _, c := range o.Status.Conditions {
		n.Conditions = append(n.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}, metav1.Time{}))
	}
	return n
}

// Node projects a Node.
func Node(o *corev1.Node) snapshot.Node {
	n := snapshot.Node{
		Meta:             Meta(&o.ObjectMeta),
		Unschedulable:    o.Spec.Unschedulable,
		KubeletVersion:   o.Status.NodeInfo.KubeletVersion,
		ContainerRuntime: o.Status.NodeInfo.ContainerRuntimeVersion,
		OSImage:          o.Status.NodeInfo.OSImage,
		ProviderID:       o.Spec.ProviderID,
		Capacity:         Resources(o.Status.Capacity),
		Allocatable:      Resources(o.Status.Allocatable),
	}
	for _, t := range o.Spec.Taints {
		n.Taints = append(n.Taints, snapshot.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect), TimeAdded: tp(t.TimeAdded)})
	}
	for _, c := range o.Status.Conditions {
		n.Conditions = append(n.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, c.LastHeartbeatTime, metav1.Time{}))
	}
	for _, a := range o.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && n.InternalIP == "" {
			n.InternalIP = a.Address
		}
	}
	return n
}

// Pod projects a Pod.
func Pod(o *corev1.Pod) snapshot.Pod {
	p := snapshot.Pod{
		Meta:              Meta(&o.ObjectMeta),
		NodeName:          o.Spec.NodeName,
		SchedulerName:     o.Spec.SchedulerName,
		PriorityClassName: o.Spec.PriorityClassName,
		ServiceAccount:    o.Spec.ServiceAccountName,
		NodeSelector:      o.Spec.NodeSelector,
		RestartPolicy:     string(o.Spec.RestartPolicy),
		GracePeriod:       o.Spec.TerminationGracePeriodSeconds,
		Phase:             string(o.Status.Phase),
		Reason:            o.Status.Reason,
		Message:           o.Status.Message,
		QOSClass:          string(o.Status.QOSClass),
		StartTime:         tp(o.Status.StartTime),
	}
	for _, c := range o.Status.Conditions {
		p.Conditions = append(p.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, c.LastProbeTime, metav1.Time{}))
	}
	p.InitContainers = containers(o.Spec.InitContainers, o.Status.InitContainerStatuses)
	p.Containers = containers(o.Spec.Containers, o.Status.ContainerStatuses)

	seen := map[snapshot.ConfigRef]bool{}
	add := func(kind, name string, opt *bool) {
		if name == "" {
			return
		}
		r := snapshot.ConfigRef{Kind: kind, Name: name, Optional: opt != nil && *opt}
		if !seen[r] {
			seen[r] = true
			p.ConfigRefs = append(p.ConfigRefs, r)
		}
	}
	for _, v := range o.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Optional)
		case v.Secret != nil:
			add("Secret", v.Secret.SecretName, v.Secret.Optional)
		case v.PersistentVolumeClaim != nil:
			p.Claims = append(p.Claims, v.PersistentVolumeClaim.ClaimName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					add("Secret", s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{o.Spec.InitContainers, o.Spec.Containers} {
		for _, c := range cs {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					add("ConfigMap", ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional)
				}
				if ef.SecretRef != nil {
					add("Secret", ef.SecretRef.Name, ef.SecretRef.Optional)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					add("ConfigMap", r.Name, r.Optional)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					add("Secret", r.Name, r.Optional)
				}
			}
		}
	}
	return p
}

func containers(spec []corev1.Container, status []corev1.ContainerStatus) []snapshot.Container {
	if len(spec) == 0 {
		return nil
	}
	byName := make(map[string]*corev1.ContainerStatus, len(status))
	for i := range status {
		byName[status[i].Name] = &status[i]
	}
	out := make([]snapshot.Container, 0, len(spec))
	for _, c := range spec {
		sc := snapshot.Container{
			Name:     c.Name,
			Image:    c.Image,
			Requests: Resources(c.Resources.Requests),
			Limits:   Resources(c.Resources.Limits),
			Sidecar:  c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways,
		}
		if st := byName[c.Name]; st != nil {
			sc.HasStatus = true
			sc.Ready = st.Ready
			sc.Started = st.Started
			sc.RestartCount = st.RestartCount
			sc.State = state(st.State)
			sc.LastState = state(st.LastTerminationState)
		}
		out = append(out, sc)
	}
	return out
}

func state(s corev1.ContainerState) snapshot.ContainerState {
	switch {
	case s.Waiting != nil:
		return snapshot.ContainerState{State: snapshot.StateWaiting, Reason: s.Waiting.Reason, Message: s.Waiting.Message}
	case s.Running != nil:
		return snapshot.ContainerState{State: snapshot.StateRunning, StartedAt: tp(&s.Running.StartedAt)}
	case s.Terminated != nil:
		t := s.Terminated
		return snapshot.ContainerState{State: snapshot.StateTerminated, Reason: t.Reason, Message: t.Message,
			ExitCode: t.ExitCode, Signal: t.Signal, StartedAt: tp(&t.StartedAt), FinishedAt: tp(&t.FinishedAt)}
	}
	return snapshot.ContainerState{}
}

// Event projects a core/v1 Event. The last-seen time is the newest of
// lastTimestamp, series.lastObservedTime, eventTime and firstTimestamp.
func Event(o *corev1.Event) snapshot.Event {
	e := snapshot.Event{
		Namespace: o.Namespace,
		Name:      o.Name,
		Involved: snapshot.ObjectRef{Kind: o.InvolvedObject.Kind, Namespace: o.InvolvedObject.Namespace,
			Name: o.InvolvedObject.Name, UID: string(o.InvolvedObject.UID)},
		FieldPath: o.InvolvedObject.FieldPath,
		Type:      o.Type,
		Reason:    o.Reason,
		Message:   o.Message,
		Source:    o.Source.Component,
		Count:     o.Count,
		FirstTime: tv(o.FirstTimestamp),
	}
	if e.Source == "" {
		e.Source = o.ReportingController
	}
	last := o.LastTimestamp.Time
	if o.Series != nil && o.Series.LastObservedTime.After(last) {
		last = o.Series.LastObservedTime.Time
		if o.Series.Count > e.Count {
			e.Count = o.Series.Count
		}
	}
	if o.EventTime.After(last) {
		last = o.EventTime.Time
	}
	if last.IsZero() {
		last = o.FirstTimestamp.Time
	}
	if last.IsZero() {
		last = o.CreationTimestamp.Time
	}
	if e.FirstTime.IsZero() && !o.EventTime.IsZero() {
		e.FirstTime = o.EventTime.Time.UTC()
	}
	if e.Count == 0 {
		e.Count = 1
	}
	e.LastTime = last.UTC()
	return e
}

// EventV1 projects an events.k8s.io/v1 Event.
func EventV1(o *eventsv1.Event) snapshot.Event {
	e := snapshot.Event{
		Namespace: o.Namespace,
		Name:      o.Name,
		Involved: snapshot.ObjectRef{Kind: o.Regarding.Kind, Namespace: o.Regarding.Namespace,
			Name: o.Regarding.Name, UID: string(o.Regarding.UID)},
		FieldPath: o.Regarding.FieldPath,
		Type:      o.Type, Reason: o.Reason, Message: o.Note, Source: o.ReportingController,
		Count: 1, FirstTime: o.EventTime.Time.UTC(),
	}
	last := o.EventTime.Time
	if o.Series != nil {
		e.Count = o.Series.Count
		if o.Series.LastObservedTime.After(last) {
			last = o.Series.LastObservedTime.Time
		}
	}
	if o.DeprecatedLastTimestamp.After(last) {
		last = o.DeprecatedLastTimestamp.Time
	}
	if last.IsZero() {
		last = o.CreationTimestamp.Time
	}
	e.LastTime = last.UTC()
	return e
}

func deref32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func appsConds[T ~string, S ~string](t T, s S, reason, msg string, trans, upd metav1.Time) snapshot.Condition {
	return cond(string(t), string(s), reason, msg, trans, metav1.Time{}, upd)
}

// Deployment projects a Deployment.
func Deployment(o *appsv1.Deployment) snapshot.Deployment {
	d := snapshot.Deployment{
		Meta:                    Meta(&o.ObjectMeta),
		Replicas:                deref32(o.Spec.Replicas, 1),
		Selector:                selector(o.Spec.Selector),
		Paused:                  o.Spec.Paused,
		ProgressDeadlineSeconds: deref32(o.Spec.ProgressDeadlineSeconds, 600),
		Strategy:                string(o.Spec.Strategy.Type),
		ObservedGeneration:      o.Status.ObservedGeneration,
		StatusReplicas:          o.Status.Replicas,
		UpdatedReplicas:         o.Status.UpdatedReplicas,
		ReadyReplicas:           o.Status.ReadyReplicas,
		AvailableReplicas:       o.Status.AvailableReplicas,
		UnavailableReplicas:     o.Status.UnavailableReplicas,
	}
	for _, c := range o.Status.Conditions {
		d.Conditions = append(d.Conditions, appsConds(c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime, c.LastUpdateTime))
	}
	return d
}

// ReplicaSet projects a ReplicaSet.
func ReplicaSet(o *appsv1.ReplicaSet) snapshot.ReplicaSet {
	r := snapshot.ReplicaSet{
		Meta:               Meta(&o.ObjectMeta),
		Replicas:           deref32(o.Spec.Replicas, 1),
		ObservedGeneration: o.Status.ObservedGeneration,
		StatusReplicas:     o.Status.Replicas,
		ReadyReplicas:      o.Status.ReadyReplicas,
		AvailableReplicas:  o.Status.AvailableReplicas,
	}
	for _, c := range o.Status.Conditions {
		r.Conditions = append(r.Conditions, appsConds(c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}))
	}
	return r
}

// StatefulSet projects a StatefulSet.
func StatefulSet(o *appsv1.StatefulSet) snapshot.StatefulSet {
	s := snapshot.StatefulSet{
		Meta:               Meta(&o.ObjectMeta),
		Replicas:           deref32(o.Spec.Replicas, 1),
		Selector:           selector(o.Spec.Selector),
		ServiceName:        o.Spec.ServiceName,
		UpdateStrategy:     string(o.Spec.UpdateStrategy.Type),
		ObservedGeneration: o.Status.ObservedGeneration,
		StatusReplicas:     o.Status.Replicas,
		ReadyReplicas:      o.Status.ReadyReplicas,
		AvailableReplicas:  o.Status.AvailableReplicas,
		CurrentReplicas:    o.Status.CurrentReplicas,
		UpdatedReplicas:    o.Status.UpdatedReplicas,
		CurrentRevision:    o.Status.CurrentRevision,
		UpdateRevision:     o.Status.UpdateRevision,
	}
	if ru := o.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		s.Partition = *ru.Partition
	}
	s.PodManagementPolicy = string(o.Spec.PodManagementPolicy)
	if o.Spec.Ordinals != nil {
		s.OrdinalsStart = o.Spec.Ordinals.Start
	}
	for _, c := range o.Status.Conditions {
		s.Conditions = append(s.Conditions, appsConds(c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}))
	}
	return s
}

// DaemonSet projects a DaemonSet.
func DaemonSet(o *appsv1.DaemonSet) snapshot.DaemonSet {
	d := snapshot.DaemonSet{
		Meta:                   Meta(&o.ObjectMeta),
		Selector:               selector(o.Spec.Selector),
		NodeSelector:           o.Spec.Template.Spec.NodeSelector,
		UpdateStrategy:         string(o.Spec.UpdateStrategy.Type),
		ObservedGeneration:     o.Status.ObservedGeneration,
		DesiredNumberScheduled: o.Status.DesiredNumberScheduled,
		CurrentNumberScheduled: o.Status.CurrentNumberScheduled,
		NumberMisscheduled:     o.Status.NumberMisscheduled,
		NumberReady:            o.Status.NumberReady,
		NumberAvailable:        o.Status.NumberAvailable,
		NumberUnavailable:      o.Status.NumberUnavailable,
		UpdatedNumberScheduled: o.Status.UpdatedNumberScheduled,
	}
	for _, t := range o.Spec.Template.Spec.Tolerations {
		d.Tolerations = append(d.Tolerations, snapshot.Toleration{Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: string(t.Effect)})
	}
	for _, c := range o.Status.Conditions {
		d.Conditions = append(d.Conditions, appsConds(c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}))
	}
	return d
}

// Job projects a Job.
func Job(o *batchv1.Job) snapshot.Job {
	j := snapshot.Job{
		Meta:                  Meta(&o.ObjectMeta),
		Completions:           o.Spec.Completions,
		Parallelism:           o.Spec.Parallelism,
		BackoffLimit:          o.Spec.BackoffLimit,
		ActiveDeadlineSeconds: o.Spec.ActiveDeadlineSeconds,
		Suspend:               o.Spec.Suspend != nil && *o.Spec.Suspend,
		Active:                o.Status.Active,
		Succeeded:             o.Status.Succeeded,
		Failed:                o.Status.Failed,
		StartTime:             tp(o.Status.StartTime),
		CompletionTime:        tp(o.Status.CompletionTime),
	}
	for _, c := range o.Status.Conditions {
		j.Conditions = append(j.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, c.LastProbeTime, metav1.Time{}))
	}
	return j
}

// CronJob projects a CronJob.
func CronJob(o *batchv1.CronJob) snapshot.CronJob {
	c := snapshot.CronJob{
		Meta:               Meta(&o.ObjectMeta),
		Schedule:           o.Spec.Schedule,
		Suspend:            o.Spec.Suspend != nil && *o.Spec.Suspend,
		Active:             len(o.Status.Active),
		LastScheduleTime:   tp(o.Status.LastScheduleTime),
		LastSuccessfulTime: tp(o.Status.LastSuccessfulTime),
	}
	if o.Spec.TimeZone != nil {
		c.TimeZone = *o.Spec.TimeZone
	}
	return c
}

// HPA projects an autoscaling/v2 HorizontalPodAutoscaler.
func HPA(o *autoscalingv2.HorizontalPodAutoscaler) snapshot.HPA {
	h := snapshot.HPA{
		Meta:            Meta(&o.ObjectMeta),
		TargetKind:      o.Spec.ScaleTargetRef.Kind,
		TargetName:      o.Spec.ScaleTargetRef.Name,
		MinReplicas:     deref32(o.Spec.MinReplicas, 1),
		MaxReplicas:     o.Spec.MaxReplicas,
		CurrentReplicas: o.Status.CurrentReplicas,
		DesiredReplicas: o.Status.DesiredReplicas,
		LastScaleTime:   tp(o.Status.LastScaleTime),
	}
	for _, c := range o.Status.Conditions {
		h.Conditions = append(h.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}, metav1.Time{}))
	}
	return h
}

// PDB projects a PodDisruptionBudget.
func PDB(o *policyv1.PodDisruptionBudget) snapshot.PDB {
	p := snapshot.PDB{
		Meta:               Meta(&o.ObjectMeta),
		Selector:           selector(o.Spec.Selector),
		ObservedGeneration: o.Status.ObservedGeneration,
		CurrentHealthy:     o.Status.CurrentHealthy,
		DesiredHealthy:     o.Status.DesiredHealthy,
		ExpectedPods:       o.Status.ExpectedPods,
		DisruptionsAllowed: o.Status.DisruptionsAllowed,
		Conditions:         metaConds(o.Status.Conditions),
	}
	if o.Spec.MinAvailable != nil {
		p.MinAvailable = o.Spec.MinAvailable.String()
	}
	if o.Spec.MaxUnavailable != nil {
		p.MaxUnavailable = o.Spec.MaxUnavailable.String()
	}
	return p
}

// PVC projects a PersistentVolumeClaim.
func PVC(o *corev1.PersistentVolumeClaim) snapshot.PVC {
	p := snapshot.PVC{
		Meta:             Meta(&o.ObjectMeta),
		StorageClassName: o.Spec.StorageClassName,
		VolumeName:       o.Spec.VolumeName,
		Phase:            string(o.Status.Phase),
	}
	for _, m := range o.Spec.AccessModes {
		p.AccessModes = append(p.AccessModes, string(m))
	}
	if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		p.Request = q.Value()
	}
	if q, ok := o.Status.Capacity[corev1.ResourceStorage]; ok {
		p.Capacity = q.Value()
	}
	for _, c := range o.Status.Conditions {
		p.Conditions = append(p.Conditions, cond(string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime, c.LastProbeTime, metav1.Time{}))
	}
	return p
}

// PV projects a PersistentVolume.
func PV(o *corev1.PersistentVolume) snapshot.PV {
	p := snapshot.PV{
		Meta:                    Meta(&o.ObjectMeta),
		StorageClassName:        o.Spec.StorageClassName,
		ReclaimPolicy:           string(o.Spec.PersistentVolumeReclaimPolicy),
		Phase:                   string(o.Status.Phase),
		Reason:                  o.Status.Reason,
		Message:                 o.Status.Message,
		LastPhaseTransitionTime: tp(o.Status.LastPhaseTransitionTime),
	}
	if q, ok := o.Spec.Capacity[corev1.ResourceStorage]; ok {
		p.Capacity = q.Value()
	}
	if r := o.Spec.ClaimRef; r != nil {
		p.ClaimRef = &snapshot.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: r.Namespace, Name: r.Name, UID: string(r.UID)}
	}
	return p
}

// StorageClass projects a StorageClass.
func StorageClass(o *storagev1.StorageClass) snapshot.StorageClass {
	s := snapshot.StorageClass{Meta: Meta(&o.ObjectMeta), Provisioner: o.Provisioner}
	if o.ReclaimPolicy != nil {
		s.ReclaimPolicy = string(*o.ReclaimPolicy)
	}
	if o.VolumeBindingMode != nil {
		s.VolumeBindingMode = string(*o.VolumeBindingMode)
	}
	return s
}

// Service projects a Service.
func Service(o *corev1.Service) snapshot.Service {
	s := snapshot.Service{
		Meta:         Meta(&o.ObjectMeta),
		Type:         string(o.Spec.Type),
		ClusterIP:    o.Spec.ClusterIP,
		Selector:     o.Spec.Selector,
		ExternalName: o.Spec.ExternalName,
	}
	for _, p := range o.Spec.Ports {
		s.Ports = append(s.Ports, snapshot.ServicePort{Name: p.Name, Protocol: string(p.Protocol), Port: p.Port, TargetPort: p.TargetPort.String()})
	}
	return s
}

// EndpointSlice projects an EndpointSlice.
func EndpointSlice(o *discoveryv1.EndpointSlice) snapshot.EndpointSlice {
	s := snapshot.EndpointSlice{
		Meta:        Meta(&o.ObjectMeta),
		ServiceName: o.Labels[discoveryv1.LabelServiceName],
		AddressType: string(o.AddressType),
	}
	for _, e := range o.Endpoints {
		ep := snapshot.Endpoint{
			// A nil ready means ready (the API's documented default).
			Ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
			Serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
			Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
		}
		if len(e.Addresses) > 0 {
			ep.Address = e.Addresses[0]
		}
		if e.NodeName != nil {
			ep.NodeName = *e.NodeName
		}
		if r := e.TargetRef; r != nil {
			ep.Target = &snapshot.ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: string(r.UID)}
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// Endpoints projects a legacy core/v1 Endpoints object as a slice, for
// recorded dumps that have no EndpointSlices.
func Endpoints(o *corev1.Endpoints) snapshot.EndpointSlice {
	s := snapshot.EndpointSlice{Meta: Meta(&o.ObjectMeta), ServiceName: o.Name, AddressType: "IPv4"}
	for _, ss := range o.Subsets {
		for _, a := range ss.Addresses {
			s.Endpoints = append(s.Endpoints, endpointAddr(a, true))
		}
		for _, a := range ss.NotReadyAddresses {
			s.Endpoints = append(s.Endpoints, endpointAddr(a, false))
		}
	}
	return s
}

func endpointAddr(a corev1.EndpointAddress, ready bool) snapshot.Endpoint {
	ep := snapshot.Endpoint{Address: a.IP, Ready: ready, Serving: ready}
	if a.NodeName != nil {
		ep.NodeName = *a.NodeName
	}
	if r := a.TargetRef; r != nil {
		ep.Target = &snapshot.ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: string(r.UID)}
	}
	return ep
}

// ResourceQuota projects a ResourceQuota.
func ResourceQuota(o *corev1.ResourceQuota) snapshot.ResourceQuota {
	return snapshot.ResourceQuota{Meta: Meta(&o.ObjectMeta), Hard: Resources(o.Status.Hard), Used: Resources(o.Status.Used)}
}

// Lease projects a Lease.
func Lease(o *coordinationv1.Lease) snapshot.Lease {
	l := snapshot.Lease{
		Meta:                 Meta(&o.ObjectMeta),
		LeaseDurationSeconds: deref32(o.Spec.LeaseDurationSeconds, 0),
		LeaseTransitions:     deref32(o.Spec.LeaseTransitions, 0),
	}
	if o.Spec.HolderIdentity != nil {
		l.HolderIdentity = *o.Spec.HolderIdentity
	}
	if o.Spec.AcquireTime != nil {
		t := o.Spec.AcquireTime.Time.UTC()
		l.AcquireTime = &t
	}
	if o.Spec.RenewTime != nil {
		t := o.Spec.RenewTime.Time.UTC()
		l.RenewTime = &t
	}
	return l
}
