// Package snapshot holds the immutable picture of one cluster that every
// check reads: slim projections of the API objects the checks use, the
// control-plane health the collector saw, and the coverage of what could not
// be read.
//
// A Snapshot is plain data with a stable JSON form. Collectors build it once;
// after that nobody writes to it, so checks can run concurrently over it and
// the same snapshot can be recorded, replayed and diffed.
package snapshot

import (
	"time"
)

// SchemaVersion is written into every saved snapshot and bumped on an
// incompatible change of the JSON form.
const SchemaVersion = "kubepatrol.io/snapshot/v1"

// Source tells where a snapshot came from.
type Source string

const (
	// SourceLive is a snapshot read from a running API server.
	SourceLive Source = "live"
	// SourceFile is a snapshot read from recorded files.
	SourceFile Source = "file"
)

// Snapshot is one cluster at one moment. Treat it as read-only.
type Snapshot struct {
	Schema  string `json:"schema"`
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	Source  Source `json:"source"`
	Version string `json:"version,omitempty"`
	// Namespace is set when only one namespace's objects were collected:
	// the absence of a namespaced object elsewhere then proves nothing.
	Namespace   string    `json:"namespace,omitempty"`
	CollectedAt time.Time `json:"collectedAt"`
	// Coverage lists what could not be read, one entry per kind or source.
	Coverage []Coverage `json:"coverage,omitempty"`
	// ControlPlane is what a live collector learnt from the API server
	// itself; nil for recorded snapshots.
	ControlPlane *ControlPlane `json:"controlPlane,omitempty"`
	// Metrics holds metric samples and series from Prometheus or direct
	// /metrics scrapes; nil when none were collected.
	Metrics *Metrics `json:"metrics,omitempty"`

	Namespaces     []Namespace            `json:"namespaces,omitempty"`
	Nodes          []Node                 `json:"nodes,omitempty"`
	Pods           []Pod                  `json:"pods,omitempty"`
	Events         []Event                `json:"events,omitempty"`
	Deployments    []Deployment           `json:"deployments,omitempty"`
	ReplicaSets    []ReplicaSet           `json:"replicaSets,omitempty"`
	StatefulSets   []StatefulSet          `json:"statefulSets,omitempty"`
	DaemonSets     []DaemonSet            `json:"daemonSets,omitempty"`
	Jobs           []Job                  `json:"jobs,omitempty"`
	CronJobs       []CronJob              `json:"cronJobs,omitempty"`
	HPAs           []HPA                  `json:"hpas,omitempty"`
	PDBs           []PDB                  `json:"pdbs,omitempty"`
	PVCs           []PVC                  `json:"pvcs,omitempty"`
	PVs            []PV                   `json:"pvs,omitempty"`
	StorageClasses []StorageClass         `json:"storageClasses,omitempty"`
	Services       []Service              `json:"services,omitempty"`
	EndpointSlices []EndpointSlice        `json:"endpointSlices,omitempty"`
	ResourceQuotas []ResourceQuota        `json:"resourceQuotas,omitempty"`
	Leases         []Lease                `json:"leases,omitempty"`
	WebhookConfigs []WebhookConfiguration `json:"webhookConfigurations,omitempty"`
	APIServices    []APIService           `json:"apiServices,omitempty"`
}

// CoverageReason says why a kind or source is missing from a snapshot.
type CoverageReason string

const (
	// Forbidden: RBAC denied the list.
	Forbidden CoverageReason = "Forbidden"
	// Unauthorized: the credentials were rejected.
	Unauthorized CoverageReason = "Unauthorized"
	// Timeout: the list did not finish within its timeout.
	Timeout CoverageReason = "Timeout"
	// NotServed: the API server does not serve this resource; the cluster
	// has none of it.
	NotServed CoverageReason = "NotServed"
	// Unreachable: the server could not be reached at all.
	Unreachable CoverageReason = "Unreachable"
	// Failed: any other error.
	Failed CoverageReason = "Failed"
	// NotCollected: a recorded dump simply does not contain this kind.
	NotCollected CoverageReason = "NotCollected"
)

// Coverage records one kind (or source such as "controlplane/readyz") that
// the snapshot lacks, and why.
type Coverage struct {
	Kind    Kind           `json:"kind"`
	Reason  CoverageReason `json:"reason"`
	Message string         `json:"message,omitempty"`
}

// Blind reports whether a missing kind means the checks that need it cannot
// tell health: the data exists in the cluster but was not seen. NotServed is
// not blind (the cluster has none of that kind).
func (c Coverage) Blind() bool { return c.Reason != NotServed }

// Gap returns the coverage entry for kind k, if the snapshot lacks it.
func (s *Snapshot) Gap(k Kind) (Coverage, bool) {
	for _, c := range s.Coverage {
		if c.Kind == k {
			return c, true
		}
	}
	return Coverage{}, false
}

// Kind names an object kind (or a non-object source) in a snapshot.
type Kind string

// The kinds a snapshot holds.
const (
	KindNamespace         Kind = "Namespace"
	KindNode              Kind = "Node"
	KindPod               Kind = "Pod"
	KindEvent             Kind = "Event"
	KindDeployment        Kind = "Deployment"
	KindReplicaSet        Kind = "ReplicaSet"
	KindStatefulSet       Kind = "StatefulSet"
	KindDaemonSet         Kind = "DaemonSet"
	KindJob               Kind = "Job"
	KindCronJob           Kind = "CronJob"
	KindHPA               Kind = "HorizontalPodAutoscaler"
	KindPDB               Kind = "PodDisruptionBudget"
	KindPVC               Kind = "PersistentVolumeClaim"
	KindPV                Kind = "PersistentVolume"
	KindStorageClass      Kind = "StorageClass"
	KindService           Kind = "Service"
	KindEndpointSlice     Kind = "EndpointSlice"
	KindResourceQuota     Kind = "ResourceQuota"
	KindLease             Kind = "Lease"
	KindValidatingWebhook Kind = "ValidatingWebhookConfiguration"
	KindMutatingWebhook   Kind = "MutatingWebhookConfiguration"
	KindAPIService        Kind = "APIService"
	// KindControlPlane is the API server's own health (/readyz, certificates),
	// read only from a live cluster.
	KindControlPlane Kind = "ControlPlane"
	// KindCluster is used in object references for cluster-wide findings.
	KindCluster Kind = "Cluster"
)

// ObjectKinds lists the object kinds in collection order.
var ObjectKinds = []Kind{
	KindNamespace, KindNode, KindPod, KindEvent, KindDeployment, KindReplicaSet,
	KindStatefulSet, KindDaemonSet, KindJob, KindCronJob, KindHPA, KindPDB,
	KindPVC, KindPV, KindStorageClass, KindService, KindEndpointSlice,
	KindResourceQuota, KindLease, KindValidatingWebhook, KindMutatingWebhook,
	KindAPIService,
}

// Count returns how many objects of kind k the snapshot holds.
func (s *Snapshot) Count(k Kind) int {
	switch k {
	case KindNamespace:
		return len(s.Namespaces)
	case KindNode:
		return len(s.Nodes)
	case KindPod:
		return len(s.Pods)
	case KindEvent:
		return len(s.Events)
	case KindDeployment:
		return len(s.Deployments)
	case KindReplicaSet:
		return len(s.ReplicaSets)
	case KindStatefulSet:
		return len(s.StatefulSets)
	case KindDaemonSet:
		return len(s.DaemonSets)
	case KindJob:
		return len(s.Jobs)
	case KindCronJob:
		return len(s.CronJobs)
	case KindHPA:
		return len(s.HPAs)
	case KindPDB:
		return len(s.PDBs)
	case KindPVC:
		return len(s.PVCs)
	case KindPV:
		return len(s.PVs)
	case KindStorageClass:
		return len(s.StorageClasses)
	case KindService:
		return len(s.Services)
	case KindEndpointSlice:
		return len(s.EndpointSlices)
	case KindResourceQuota:
		return len(s.ResourceQuotas)
	case KindLease:
		return len(s.Leases)
	case KindValidatingWebhook, KindMutatingWebhook:
		n := 0
		for _, w := range s.WebhookConfigs {
			if w.Kind == k {
				n++
			}
		}
		return n
	case KindAPIService:
		return len(s.APIServices)
	}
	return 0
}

// ControlPlane is what a live collector learnt from the API server itself.
type ControlPlane struct {
	// Readyz holds the individual /readyz?verbose checks; ReadyzError is set
	// when the endpoint itself could not be read.
	Readyz      []HealthCheck `json:"readyz,omitempty"`
	ReadyzError string        `json:"readyzError,omitempty"`
	// ServingCert is the API server's serving certificate as presented in
	// the TLS handshake; ClientCert is the kubeconfig's client certificate.
	ServingCert *Certificate `json:"servingCert,omitempty"`
	ClientCert  *Certificate `json:"clientCert,omitempty"`
}

// HealthCheck is one line of /readyz?verbose.
type HealthCheck struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// Certificate is the part of an X.509 certificate a check needs.
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer,omitempty"`
	DNSNames  []string  `json:"dnsNames,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	Source    string    `json:"source"`
}
