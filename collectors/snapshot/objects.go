package snapshot

import "time"

// Meta is the slim object metadata every projected object carries.
type Meta struct {
	Namespace         string            `json:"namespace,omitempty"`
	Name              string            `json:"name"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitzero"`
	Labels            map[string]string `json:"labels,omitempty"`
	// Annotations keeps only the keys checks read (see KeptAnnotations).
	Annotations map[string]string `json:"annotations,omitempty"`
	Owners      []OwnerRef        `json:"owners,omitempty"`
	Finalizers  []string          `json:"finalizers,omitempty"`
}

// KeptAnnotations are the annotation keys projections keep; every other
// annotation is dropped to keep snapshots small and free of secrets.
var KeptAnnotations = map[string]bool{
	"deployment.kubernetes.io/revision":                       true,
	"kubectl.kubernetes.io/restartedAt":                       true,
	"storageclass.kubernetes.io/is-default-class":             true,
	"storageclass.beta.kubernetes.io/is-default-class":        true,
	"volume.kubernetes.io/storage-provisioner":                true,
	"volume.beta.kubernetes.io/storage-provisioner":           true,
	"volume.kubernetes.io/selected-node":                      true,
	"node.alpha.kubernetes.io/ttl":                            true,
	"cluster-autoscaler.kubernetes.io/scale-down-disabled":    true,
	"kubepatrol.io/ignore":                                    true,
	"kubepatrol.io/critical":                                  true,
	"kwok.x-k8s.io/node":                                      true,
	"node.kubernetes.io/exclude-from-external-load-balancers": true,
}

// OwnerRef points at an object's owner.
type OwnerRef struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	Controller bool   `json:"controller,omitempty"`
}

// Controller returns the controlling owner, if any.
func (m *Meta) Controller() (OwnerRef, bool) {
	for _, o := range m.Owners {
		if o.Controller {
			return o, true
		}
	}
	return OwnerRef{}, false
}

// Condition is a status condition of any kind.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
	LastHeartbeatTime  time.Time `json:"lastHeartbeatTime,omitzero"`
	LastUpdateTime     time.Time `json:"lastUpdateTime,omitzero"`
}

// FindCondition returns the condition of type t.
func FindCondition(cs []Condition, t string) (Condition, bool) {
	for _, c := range cs {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// Resources maps a resource name to an amount: millicores for any name that
// contains "cpu", plain units (bytes, counts) for everything else.
type Resources map[string]int64

// Selector is a label selector (matchLabels plus matchExpressions).
type Selector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `json:"matchExpressions,omitempty"`
}

// Requirement is one matchExpressions entry.
type Requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Matches reports whether labels satisfy the selector. A nil selector
// matches nothing; an empty one matches everything, as in Kubernetes.
func (s *Selector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, has := labels[r.Key]
		switch r.Operator {
		case "In":
			if !has || !contains(r.Values, v) {
				return false
			}
		case "NotIn":
			if has && contains(r.Values, v) {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// MatchesMap reports whether labels carry every key/value of sel; an empty
// map selects nothing (as a Service without a selector).
func MatchesMap(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Namespace is a namespace.
type Namespace struct {
	Meta
	Phase string `json:"phase,omitempty"`
	// SpecFinalizers are spec.finalizers (e.g. "kubernetes"), which hold a
	// terminating namespace until its content is gone.
	SpecFinalizers []string    `json:"specFinalizers,omitempty"`
	Conditions     []Condition `json:"conditions,omitempty"`
}

// Taint is a node taint.
type Taint struct {
	Key       string     `json:"key"`
	Value     string     `json:"value,omitempty"`
	Effect    string     `json:"effect"`
	TimeAdded *time.Time `json:"timeAdded,omitzero"`
}

// Toleration is a pod toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// Tolerates reports whether the toleration tolerates the taint, with the
// scheduler's rules (empty key with Exists tolerates everything; empty
// effect matches every effect).
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key == "" {
		return t.Operator == "Exists"
	}
	if t.Key != taint.Key {
		return false
	}
	if t.Operator == "Exists" {
		return true
	}
	return t.Value == taint.Value
}

// Node is a node.
type Node struct {
	Meta
	Unschedulable    bool        `json:"unschedulable,omitempty"`
	Taints           []Taint     `json:"taints,omitempty"`
	Conditions       []Condition `json:"conditions,omitempty"`
	KubeletVersion   string      `json:"kubeletVersion,omitempty"`
	ContainerRuntime string      `json:"containerRuntime,omitempty"`
	OSImage          string      `json:"osImage,omitempty"`
	InternalIP       string      `json:"internalIP,omitempty"`
	ProviderID       string      `json:"providerID,omitempty"`
	Capacity         Resources   `json:"capacity,omitempty"`
	Allocatable      Resources   `json:"allocatable,omitempty"`
}

// IsControlPlane reports whether the node carries a control-plane role label.
func (n *Node) IsControlPlane() bool {
	_, a := n.Labels["node-role.kubernetes.io/control-plane"]
	_, b := n.Labels["node-role.kubernetes.io/master"]
	return a || b
}

// ConfigRef is a ConfigMap or Secret a pod references.
type ConfigRef struct {
	Kind     string `json:"kind"` // ConfigMap or Secret
	Name     string `json:"name"`
	Optional bool   `json:"optional,omitempty"`
}

// Pod is a pod.
type Pod struct {
	Meta
	NodeName          string            `json:"nodeName,omitempty"`
	SchedulerName     string            `json:"schedulerName,omitempty"`
	PriorityClassName string            `json:"priorityClassName,omitempty"`
	ServiceAccount    string            `json:"serviceAccount,omitempty"`
	NodeSelector      map[string]string `json:"nodeSelector,omitempty"`
	RestartPolicy     string            `json:"restartPolicy,omitempty"`
	GracePeriod       *int64            `json:"terminationGracePeriodSeconds,omitempty"`
	Phase             string            `json:"phase,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	Message           string            `json:"message,omitempty"`
	QOSClass          string            `json:"qosClass,omitempty"`
	StartTime         *time.Time        `json:"startTime,omitzero"`
	Conditions        []Condition       `json:"conditions,omitempty"`
	InitContainers    []Container       `json:"initContainers,omitempty"`
	Containers        []Container       `json:"containers,omitempty"`
	// ConfigRefs lists every ConfigMap and Secret the pod mounts or reads
	// through env, deduplicated.
	ConfigRefs []ConfigRef `json:"configRefs,omitempty"`
	// Claims lists the PVC names the pod mounts.
	Claims []string `json:"claims,omitempty"`
}

// Container is a container's spec and status together.
type Container struct {
	Name         string         `json:"name"`
	Image        string         `json:"image,omitempty"`
	Requests     Resources      `json:"requests,omitempty"`
	Limits       Resources      `json:"limits,omitempty"`
	Ready        bool           `json:"ready,omitempty"`
	Started      *bool          `json:"started,omitempty"`
	RestartCount int32          `json:"restartCount,omitempty"`
	State        ContainerState `json:"state,omitzero"`
	LastState    ContainerState `json:"lastState,omitzero"`
	// HasStatus is false when the kubelet has not reported this container.
	HasStatus bool `json:"hasStatus,omitempty"`
	// Sidecar marks a restartable init container (restartPolicy: Always).
	Sidecar bool `json:"sidecar,omitempty"`
}

// Container states.
const (
	StateWaiting    = "waiting"
	StateRunning    = "running"
	StateTerminated = "terminated"
)

// ContainerState is the flattened state of a container.
type ContainerState struct {
	State      string     `json:"state,omitempty"` // waiting, running, terminated or empty
	Reason     string     `json:"reason,omitempty"`
	Message    string     `json:"message,omitempty"`
	ExitCode   int32      `json:"exitCode,omitempty"`
	Signal     int32      `json:"signal,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitzero"`
	FinishedAt *time.Time `json:"finishedAt,omitzero"`
}

// Event is a core/v1 Event (or events.k8s.io/v1, projected the same way).
type Event struct {
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name"`
	Involved  ObjectRef `json:"involved"`
	// FieldPath is the part of the object the event is about, e.g.
	// spec.containers{app}.
	FieldPath string    `json:"fieldPath,omitempty"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
	Source    string    `json:"source,omitempty"`
	Count     int32     `json:"count,omitempty"`
	FirstTime time.Time `json:"firstTime,omitzero"`
	LastTime  time.Time `json:"lastTime"`
}

// ObjectRef names an object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Deployment is an apps/v1 Deployment.
type Deployment struct {
	Meta
	Replicas                int32       `json:"replicas"`
	Selector                *Selector   `json:"selector,omitempty"`
	Paused                  bool        `json:"paused,omitempty"`
	ProgressDeadlineSeconds int32       `json:"progressDeadlineSeconds,omitempty"`
	Strategy                string      `json:"strategy,omitempty"`
	ObservedGeneration      int64       `json:"observedGeneration,omitempty"`
	StatusReplicas          int32       `json:"statusReplicas,omitempty"`
	UpdatedReplicas         int32       `json:"updatedReplicas,omitempty"`
	ReadyReplicas           int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas       int32       `json:"availableReplicas,omitempty"`
	UnavailableReplicas     int32       `json:"unavailableReplicas,omitempty"`
	Conditions              []Condition `json:"conditions,omitempty"`
}

// ReplicaSet is an apps/v1 ReplicaSet.
type ReplicaSet struct {
	Meta
	Replicas           int32       `json:"replicas"`
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	StatusReplicas     int32       `json:"statusReplicas,omitempty"`
	ReadyReplicas      int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas  int32       `json:"availableReplicas,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
}

// StatefulSet is an apps/v1 StatefulSet.
type StatefulSet struct {
	Meta
	Replicas       int32     `json:"replicas"`
	Selector       *Selector `json:"selector,omitempty"`
	ServiceName    string    `json:"serviceName,omitempty"`
	UpdateStrategy string    `json:"updateStrategy,omitempty"`
	// Partition is the RollingUpdate partition: ordinals below it keep
	// the current revision on purpose.
	Partition           int32       `json:"partition,omitempty"`
	PodManagementPolicy string      `json:"podManagementPolicy,omitempty"`
	OrdinalsStart       int32       `json:"ordinalsStart,omitempty"`
	ObservedGeneration  int64       `json:"observedGeneration,omitempty"`
	StatusReplicas      int32       `json:"statusReplicas,omitempty"`
	ReadyReplicas       int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32       `json:"availableReplicas,omitempty"`
	CurrentReplicas     int32       `json:"currentReplicas,omitempty"`
	UpdatedReplicas     int32       `json:"updatedReplicas,omitempty"`
	CurrentRevision     string      `json:"currentRevision,omitempty"`
	UpdateRevision      string      `json:"updateRevision,omitempty"`
	Conditions          []Condition `json:"conditions,omitempty"`
}

// DaemonSet is an apps/v1 DaemonSet.
type DaemonSet struct {
	Meta
	Selector     *Selector         `json:"selector,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations are the pod template's tolerations.
	Tolerations            []Toleration `json:"tolerations,omitempty"`
	UpdateStrategy         string       `json:"updateStrategy,omitempty"`
	ObservedGeneration     int64        `json:"observedGeneration,omitempty"`
	DesiredNumberScheduled int32        `json:"desiredNumberScheduled"`
	CurrentNumberScheduled int32        `json:"currentNumberScheduled"`
	NumberMisscheduled     int32        `json:"numberMisscheduled,omitempty"`
	NumberReady            int32        `json:"numberReady"`
	NumberAvailable        int32        `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32        `json:"numberUnavailable,omitempty"`
	UpdatedNumberScheduled int32        `json:"updatedNumberScheduled,omitempty"`
	Conditions             []Condition  `json:"conditions,omitempty"`
}

// Job is a batch/v1 Job.
type Job struct {
	Meta
	Completions           *int32      `json:"completions,omitempty"`
	Parallelism           *int32      `json:"parallelism,omitempty"`
	BackoffLimit          *int32      `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds *int64      `json:"activeDeadlineSeconds,omitempty"`
	Suspend               bool        `json:"suspend,omitempty"`
	Active                int32       `json:"active,omitempty"`
	Succeeded             int32       `json:"succeeded,omitempty"`
	Failed                int32       `json:"failed,omitempty"`
	StartTime             *time.Time  `json:"startTime,omitzero"`
	CompletionTime        *time.Time  `json:"completionTime,omitzero"`
	Conditions            []Condition `json:"conditions,omitempty"`
}

// CronJob is a batch/v1 CronJob.
type CronJob struct {
	Meta
	Schedule           string     `json:"schedule"`
	TimeZone           string     `json:"timeZone,omitempty"`
	Suspend            bool       `json:"suspend,omitempty"`
	Active             int        `json:"active,omitempty"`
	LastScheduleTime   *time.Time `json:"lastScheduleTime,omitzero"`
	LastSuccessfulTime *time.Time `json:"lastSuccessfulTime,omitzero"`
}

// HPA is an autoscaling/v2 HorizontalPodAutoscaler.
type HPA struct {
	Meta
	TargetKind      string      `json:"targetKind"`
	TargetName      string      `json:"targetName"`
	MinReplicas     int32       `json:"minReplicas"`
	MaxReplicas     int32       `json:"maxReplicas"`
	CurrentReplicas int32       `json:"currentReplicas"`
	DesiredReplicas int32       `json:"desiredReplicas"`
	LastScaleTime   *time.Time  `json:"lastScaleTime,omitzero"`
	Conditions      []Condition `json:"conditions,omitempty"`
}

// PDB is a policy/v1 PodDisruptionBudget.
type PDB struct {
	Meta
	MinAvailable       string      `json:"minAvailable,omitempty"`
	MaxUnavailable     string      `json:"maxUnavailable,omitempty"`
	Selector           *Selector   `json:"selector,omitempty"`
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	CurrentHealthy     int32       `json:"currentHealthy"`
	DesiredHealthy     int32       `json:"desiredHealthy"`
	ExpectedPods       int32       `json:"expectedPods"`
	DisruptionsAllowed int32       `json:"disruptionsAllowed"`
	Conditions         []Condition `json:"conditions,omitempty"`
}

// PVC is a PersistentVolumeClaim.
type PVC struct {
	Meta
	StorageClassName *string     `json:"storageClassName,omitempty"`
	VolumeName       string      `json:"volumeName,omitempty"`
	AccessModes      []string    `json:"accessModes,omitempty"`
	Request          int64       `json:"request,omitempty"`
	Phase            string      `json:"phase,omitempty"`
	Capacity         int64       `json:"capacity,omitempty"`
	Conditions       []Condition `json:"conditions,omitempty"`
}

// PV is a PersistentVolume.
type PV struct {
	Meta
	StorageClassName string     `json:"storageClassName,omitempty"`
	ClaimRef         *ObjectRef `json:"claimRef,omitempty"`
	ReclaimPolicy    string     `json:"reclaimPolicy,omitempty"`
	Capacity         int64      `json:"capacity,omitempty"`
	Phase            string     `json:"phase,omitempty"`
	Reason           string     `json:"reason,omitempty"`
	Message          string     `json:"message,omitempty"`
	// LastPhaseTransitionTime is when the volume entered its phase
	// (Kubernetes ≥ 1.29).
	LastPhaseTransitionTime *time.Time `json:"lastPhaseTransitionTime,omitempty"`
}

// StorageClass is a storage.k8s.io/v1 StorageClass.
type StorageClass struct {
	Meta
	Provisioner       string `json:"provisioner"`
	ReclaimPolicy     string `json:"reclaimPolicy,omitempty"`
	VolumeBindingMode string `json:"volumeBindingMode,omitempty"`
}

// IsDefault reports whether the class is marked the cluster default.
func (c *StorageClass) IsDefault() bool {
	return c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
		c.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true"
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
}

// Service is a core/v1 Service.
type Service struct {
	Meta
	Type         string            `json:"type,omitempty"`
	ClusterIP    string            `json:"clusterIP,omitempty"`
	Selector     map[string]string `json:"selector,omitempty"`
	ExternalName string            `json:"externalName,omitempty"`
	Ports        []ServicePort     `json:"ports,omitempty"`
}

// EndpointSlice is a discovery.k8s.io/v1 EndpointSlice.
type EndpointSlice struct {
	Meta
	ServiceName string     `json:"serviceName,omitempty"`
	AddressType string     `json:"addressType,omitempty"`
	Endpoints   []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one endpoint of a slice.
type Endpoint struct {
	Address     string     `json:"address,omitempty"`
	Ready       bool       `json:"ready"`
	Serving     bool       `json:"serving,omitempty"`
	Terminating bool       `json:"terminating,omitempty"`
	NodeName    string     `json:"nodeName,omitempty"`
	Target      *ObjectRef `json:"target,omitempty"`
}

// ResourceQuota is a core/v1 ResourceQuota.
type ResourceQuota struct {
	Meta
	Hard Resources `json:"hard,omitempty"`
	Used Resources `json:"used,omitempty"`
}

// Lease is a coordination.k8s.io/v1 Lease.
type Lease struct {
	Meta
	HolderIdentity       string     `json:"holderIdentity,omitempty"`
	LeaseDurationSeconds int32      `json:"leaseDurationSeconds,omitempty"`
	AcquireTime          *time.Time `json:"acquireTime,omitzero"`
	RenewTime            *time.Time `json:"renewTime,omitzero"`
	LeaseTransitions     int32      `json:"leaseTransitions,omitempty"`
}

// WebhookConfiguration is a validating or mutating admission webhook
// configuration.
type WebhookConfiguration struct {
	Meta
	Kind     Kind      `json:"kind"`
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// Webhook is one webhook of a configuration.
type Webhook struct {
	Name           string      `json:"name"`
	FailurePolicy  string      `json:"failurePolicy,omitempty"`
	TimeoutSeconds int32       `json:"timeoutSeconds,omitempty"`
	Service        *ServiceRef `json:"service,omitempty"`
	URL            string      `json:"url,omitempty"`
	// Rules is a compact "OPERATIONS group/version/resources" summary.
	Rules []string `json:"rules,omitempty"`
}

// ServiceRef points at a Service port.
type ServiceRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Port      int32  `json:"port,omitempty"`
}

// APIService is an apiregistration.k8s.io/v1 APIService.
type APIService struct {
	Meta
	Group      string      `json:"group,omitempty"`
	Version    string      `json:"version,omitempty"`
	Service    *ServiceRef `json:"service,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}
