package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepatrol/patrol/collectors/convert"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// InformerOptions tune Informers.
type InformerOptions struct {
	// Cluster names the cluster in snapshots.
	Cluster string
	// Namespace restricts namespaced kinds to one namespace; empty means
	// all namespaces.
	Namespace string
	// PageSize is the chunk size of the informers' lists (default 500):
	// a list never holds more than one page of whole objects.
	PageSize int64
	// EventWindow keeps only events seen within it (default 1h).
	EventWindow time.Duration
	// SkipControlPlane skips the per-snapshot /readyz and certificate
	// probes (the only requests a snapshot makes).
	SkipControlPlane bool
	// ProbeTimeout bounds the control-plane probes (default 10s).
	ProbeTimeout time.Duration
	// Now is the clock of CollectedAt (default time.Now).
	Now func() time.Time
	// OnError, when set, is called for every list or watch error with the
	// kind and its coverage reason (for self-metrics).
	OnError func(kind snapshot.Kind, reason snapshot.CoverageReason, err error)
	Logger  *slog.Logger
}

// Informers keeps a live, slim picture of a cluster in memory: one
// client-go reflector per kind, listing in pages and watching, writing
// straight into a store (directStore) that projects every object to its
// snapshot type as it arrives, so the caches hold only slim objects; pods,
// the bulk of a large cluster, as compact records (podRec). Snapshot then
// reads memory, not the API server.
//
// A kind that cannot be listed or watched (forbidden, not served, server
// unreachable) is reported in the snapshot's coverage instead of being
// claimed empty.
type Informers struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	// full is set when cs talks to a real server: the control-plane
	// probes need it.
	full *kubernetes.Clientset
	cfg  *rest.Config
	opt  InformerOptions
	log  *slog.Logger
	in   *interner

	mu      sync.RWMutex
	kinds   []*kindInformer
	version string
}

// kindInformer is one kind's informer and what is known of its health.
type kindInformer struct {
	kind     snapshot.Kind
	informer informer

	mu      sync.Mutex
	lastErr error
	errAt   time.Time
}

func (k *kindInformer) setErr(err error, at time.Time) {
	k.mu.Lock()
	k.lastErr, k.errAt = err, at
	k.mu.Unlock()
}

func (k *kindInformer) err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// NewInformers returns informers for the cluster behind cfg, asking for
// protobuf.
func NewInformers(cfg *rest.Config, opt InformerOptions) (*Informers, error) {
	pcfg := Protobuf(cfg)
	if pcfg.QPS == 0 {
		pcfg.QPS, pcfg.Burst = 50, 100
	}
	cs, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	i := NewInformersForClients(cs, dyn, opt)
	i.full, i.cfg = cs, pcfg
	return i, nil
}

// NewInformersForClients returns informers over the given clients (fakes
// in tests). Without a dynamic client APIServices are not collected.
// Snapshots taken through it make no control-plane probes.
func NewInformersForClients(cs kubernetes.Interface, dyn dynamic.Interface, opt InformerOptions) *Informers {
	if opt.PageSize <= 0 {
		opt.PageSize = 500
	}
	if opt.EventWindow <= 0 {
		opt.EventWindow = time.Hour
	}
	if opt.ProbeTimeout <= 0 {
		opt.ProbeTimeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Informers{cs: cs, dyn: dyn, opt: opt, log: log, in: newInterner()}
}

// Run starts the informers and blocks until ctx is cancelled and they have
// stopped. It also forgets events older than the event window.
func (i *Informers) Run(ctx context.Context) error {
	i.mu.Lock()
	if i.kinds != nil {
		i.mu.Unlock()
		return errors.New("informers already running")
	}
	i.kinds = i.build(ctx)
	kinds := i.kinds
	i.mu.Unlock()

	if i.full != nil {
		vctx, cancel := context.WithTimeout(ctx, i.opt.ProbeTimeout)
		if v, err := serverVersion(vctx, i.full); err == nil {
			i.mu.Lock()
			i.version = v
			i.mu.Unlock()
		}
		cancel()
	}

	var wg sync.WaitGroup
	for _, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.informer.Run(ctx.Done())
		}()
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			i.pruneEvents()
		}
	}
}

// Settled reports whether every kind has either synced or failed with an
// error that retrying will not fix soon (forbidden, unauthorized, not
// served): a first snapshot then is as complete as it will get.
func (i *Informers) Settled() bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.kinds == nil {
		return false
	}
	for _, k := range i.kinds {
		if k.informer.HasSynced() {
			continue
		}
		err := k.err()
		if err == nil {
			return false
		}
		switch r, _ := classify(err); r {
		case snapshot.Forbidden, snapshot.Unauthorized, snapshot.NotServed:
		default:
			return false
		}
	}
	return true
}

// WaitSettled waits until Settled or ctx is done, and reports which.
func (i *Informers) WaitSettled(ctx context.Context) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if i.Settled() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// Snapshot assembles a snapshot from the caches. Objects are shared with
// the caches (pods are expanded from their records, sharing their maps and
// strings): treat the snapshot as read-only, as every snapshot is. Only the
// control-plane probes (unless skipped) talk to the API server.
func (i *Informers) Snapshot(ctx context.Context) *snapshot.Snapshot {
	i.mu.RLock()
	kinds, version := i.kinds, i.version
	i.mu.RUnlock()
	s := &snapshot.Snapshot{
		Schema: snapshot.SchemaVersion, ID: newID(), Cluster: i.opt.Cluster, Source: snapshot.SourceLive, Version: version,
	}
	now := i.opt.Now().UTC()
	if kinds == nil {
		for _, k := range snapshot.ObjectKinds {
			s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: k, Reason: snapshot.Timeout, Message: "informers not started"})
		}
		s.CollectedAt = now
		return s
	}
	gaps := map[snapshot.Kind]bool{}
	for _, k := range kinds {
		if gaps[k.kind] {
			continue
		}
		if c, ok := coverageOf(k); ok {
			gaps[k.kind] = true
			s.Coverage = append(s.Coverage, c)
		}
	}
	if i.dyn == nil {
		s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: snapshot.KindAPIService, Reason: snapshot.NotCollected, Message: "no dynamic client"})
		gaps[snapshot.KindAPIService] = true
	}
	for _, k := range kinds {
		if !gaps[k.kind] {
			i.fill(s, k, now)
		}
	}
	// Leases come from two namespaces and webhooks from two kinds: sort
	// each once more.
	sort.SliceStable(s.Leases, func(a, b int) bool { return less(&s.Leases[a].Meta, &s.Leases[b].Meta) })
	sort.SliceStable(s.WebhookConfigs, func(a, b int) bool {
		if s.WebhookConfigs[a].Kind != s.WebhookConfigs[b].Kind {
			return s.WebhookConfigs[a].Kind > s.WebhookConfigs[b].Kind // validating first, as the collector lists them
		}
		return s.WebhookConfigs[a].Name < s.WebhookConfigs[b].Name
	})

	if !i.opt.SkipControlPlane {
		i.ProbeControlPlane(ctx, s)
	}
	sortCoverage(s.Coverage)
	s.CollectedAt = now
	return s
}

// ProbeControlPlane adds the API server's own health (/readyz, the
// serving and client certificates) and version to s: the only requests a
// snapshot makes. Snapshot does it unless SkipControlPlane is set, so that
// a caller can run (and time, and trace) it as a separate step.
func (i *Informers) ProbeControlPlane(ctx context.Context, s *snapshot.Snapshot) {
	if i.full == nil {
		s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: snapshot.KindControlPlane, Reason: snapshot.NotCollected, Message: "no API server client"})
		sortCoverage(s.Coverage)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, i.opt.ProbeTimeout)
	defer cancel()
	if v, err := serverVersion(pctx, i.full); err == nil {
		s.Version = v
		i.mu.Lock()
		i.version = v
		i.mu.Unlock()
	}
	cp, cov := controlPlane(pctx, i.full, i.cfg)
	s.ControlPlane = cp
	s.Coverage = append(s.Coverage, cov...)
	sortCoverage(s.Coverage)
}

// coverageOf reports a kind's gap: not synced yet, or its last list/watch
// failed.
func coverageOf(k *kindInformer) (snapshot.Coverage, bool) {
	err := k.err()
	if err != nil {
		reason, msg := classify(err)
		return snapshot.Coverage{Kind: k.kind, Reason: reason, Message: msg}, true
	}
	if !k.informer.HasSynced() {
		return snapshot.Coverage{Kind: k.kind, Reason: snapshot.Timeout, Message: "informer cache has not synced yet"}, true
	}
	return snapshot.Coverage{}, false
}

// fill copies one kind's cached slim objects into s, sorted by namespace
// and name.
func (i *Informers) fill(s *snapshot.Snapshot, k *kindInformer, now time.Time) {
	objs := k.informer.GetStore().List()
	sort.Slice(objs, func(a, b int) bool {
		ans, an := objs[a].(cached).nsName()
		bns, bn := objs[b].(cached).nsName()
		if ans != bns {
			return ans < bns
		}
		return an < bn
	})
	switch k.kind {
	case snapshot.KindNamespace:
		s.Namespaces = values(objs, s.Namespaces, func(n *snapshot.Namespace) bool {
			return i.opt.Namespace == "" || n.Name == i.opt.Namespace
		})
	case snapshot.KindNode:
		s.Nodes = values[snapshot.Node](objs, s.Nodes, nil)
	case snapshot.KindPod:
		s.Pods = pods(objs, s.Pods)
	case snapshot.KindEvent:
		cut := now.Add(-i.opt.EventWindow)
		s.Events = values(objs, s.Events, func(e *snapshot.Event) bool { return !e.LastTime.Before(cut) })
	case snapshot.KindDeployment:
		s.Deployments = values[snapshot.Deployment](objs, s.Deployments, nil)
	case snapshot.KindReplicaSet:
		// Old ReplicaSets scaled to zero are history, not state.
		s.ReplicaSets = values(objs, s.ReplicaSets, func(r *snapshot.ReplicaSet) bool { return r.Replicas != 0 || r.StatusReplicas != 0 })
	case snapshot.KindStatefulSet:
		s.StatefulSets = values[snapshot.StatefulSet](objs, s.StatefulSets, nil)
	case snapshot.KindDaemonSet:
		s.DaemonSets = values[snapshot.DaemonSet](objs, s.DaemonSets, nil)
	case snapshot.KindJob:
		s.Jobs = values[snapshot.Job](objs, s.Jobs, nil)
	case snapshot.KindCronJob:
		s.CronJobs = values[snapshot.CronJob](objs, s.CronJobs, nil)
	case snapshot.KindHPA:
		s.HPAs = values[snapshot.HPA](objs, s.HPAs, nil)
	case snapshot.KindPDB:
		s.PDBs = values[snapshot.PDB](objs, s.PDBs, nil)
	case snapshot.KindPVC:
		s.PVCs = values[snapshot.PVC](objs, s.PVCs, nil)
	case snapshot.KindPV:
		s.PVs = values[snapshot.PV](objs, s.PVs, nil)
	case snapshot.KindStorageClass:
		s.StorageClasses = values[snapshot.StorageClass](objs, s.StorageClasses, nil)
	case snapshot.KindService:
		s.Services = values[snapshot.Service](objs, s.Services, nil)
	case snapshot.KindEndpointSlice:
		s.EndpointSlices = values[snapshot.EndpointSlice](objs, s.EndpointSlices, nil)
	case snapshot.KindResourceQuota:
		s.ResourceQuotas = values[snapshot.ResourceQuota](objs, s.ResourceQuotas, nil)
	case snapshot.KindLease:
		s.Leases = values[snapshot.Lease](objs, s.Leases, nil)
	case snapshot.KindValidatingWebhook, snapshot.KindMutatingWebhook:
		s.WebhookConfigs = values[snapshot.WebhookConfiguration](objs, s.WebhookConfigs, nil)
	case snapshot.KindAPIService:
		s.APIServices = values[snapshot.APIService](objs, s.APIServices, nil)
	}
}

// values appends the slim values of objs (all *slim[T]) that keep accepts.
func values[T any](objs []any, dst []T, keep func(*T) bool) []T {
	if dst == nil {
		dst = make([]T, 0, len(objs))
	}
	for _, o := range objs {
		v := &o.(*slim[T]).V
		if keep == nil || keep(v) {
			dst = append(dst, *v)
		}
	}
	return dst
}

// pods expands the cached pods (*podRec, or *slim[snapshot.Pod] for the
// few that cannot be packed) and appends them to dst.
func pods(objs []any, dst []snapshot.Pod) []snapshot.Pod {
	if dst == nil {
		dst = make([]snapshot.Pod, 0, len(objs))
	}
	for _, o := range objs {
		switch p := o.(type) {
		case *podRec:
			dst = append(dst, p.pod())
		case *slim[snapshot.Pod]:
			dst = append(dst, p.V)
		}
	}
	return dst
}

func less(a, b *snapshot.Meta) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// pruneEvents drops events older than the window from the cache, so the
// event cache holds about one window whatever the server's event TTL.
func (i *Informers) pruneEvents() {
	i.mu.RLock()
	kinds := i.kinds
	i.mu.RUnlock()
	cut := i.opt.Now().Add(-i.opt.EventWindow)
	for _, k := range kinds {
		if k.kind != snapshot.KindEvent {
			continue
		}
		store := k.informer.GetStore()
		for _, o := range store.List() {
			if e, ok := o.(*slim[snapshot.Event]); ok && e.V.LastTime.Before(cut) {
				_ = store.Delete(o)
			}
		}
	}
}

// ---- the informers ----

// spec describes one kind's informer.
type spec struct {
	kind    snapshot.Kind
	example runtime.Object
	list    func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error)
	watch   func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
	project func(runtime.Object) (cached, error)
}

// typedSpec builds a spec from a typed list and watch and a projection of
// one typed object.
func typedSpec[O runtime.Object, L runtime.Object](kind snapshot.Kind, example O,
	list func(ctx context.Context, o metav1.ListOptions) (L, error),
	watchFn func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error),
	project func(O) cached) spec {
	return spec{
		kind: kind, example: example,
		list:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) },
		watch: watchFn,
		project: func(obj runtime.Object) (cached, error) {
			o, ok := obj.(O)
			if !ok {
				return nil, fmt.Errorf("%s informer: unexpected object %T", kind, obj)
			}
			return project(o), nil
		},
	}
}

func (i *Informers) specs() []spec {
	cs, ns, in := i.cs, i.opt.Namespace, i.in
	core, apps, batch := cs.CoreV1(), cs.AppsV1(), cs.BatchV1()
	out := []spec{
		typedSpec(snapshot.KindNamespace, &corev1.Namespace{}, core.Namespaces().List, core.Namespaces().Watch,
			func(o *corev1.Namespace) cached { return wrap(in.namespace(convert.Namespace(o)), metaOf) }),
		typedSpec(snapshot.KindNode, &corev1.Node{}, core.Nodes().List, core.Nodes().Watch,
			func(o *corev1.Node) cached { return wrap(in.node(convert.Node(o)), metaOf) }),
		typedSpec(snapshot.KindPod, &corev1.Pod{}, core.Pods(ns).List, core.Pods(ns).Watch,
			func(o *corev1.Pod) cached { return in.compactPod(convert.Pod(o)) }),
		typedSpec(snapshot.KindEvent, &corev1.Event{}, core.Events(ns).List, core.Events(ns).Watch,
			func(o *corev1.Event) cached { return wrapEvent(in.event(convert.Event(o))) }),
		typedSpec(snapshot.KindDeployment, &appsv1.Deployment{}, apps.Deployments(ns).List, apps.Deployments(ns).Watch,
			func(o *appsv1.Deployment) cached { return wrap(in.deployment(convert.Deployment(o)), metaOf) }),
		typedSpec(snapshot.KindReplicaSet, &appsv1.ReplicaSet{}, apps.ReplicaSets(ns).List, apps.ReplicaSets(ns).Watch,
			func(o *appsv1.ReplicaSet) cached { return wrap(in.replicaSet(convert.ReplicaSet(o)), metaOf) }),
		typedSpec(snapshot.KindStatefulSet, &appsv1.StatefulSet{}, apps.StatefulSets(ns).List, apps.StatefulSets(ns).Watch,
			func(o *appsv1.StatefulSet) cached { return wrap(convert.StatefulSet(o), metaOf) }),
		typedSpec(snapshot.KindDaemonSet, &appsv1.DaemonSet{}, apps.DaemonSets(ns).List, apps.DaemonSets(ns).Watch,
			func(o *appsv1.DaemonSet) cached { return wrap(convert.DaemonSet(o), metaOf) }),
		typedSpec(snapshot.KindJob, &batchv1.Job{}, batch.Jobs(ns).List, batch.Jobs(ns).Watch,
			func(o *batchv1.Job) cached { return wrap(convert.Job(o), metaOf) }),
		typedSpec(snapshot.KindCronJob, &batchv1.CronJob{}, batch.CronJobs(ns).List, batch.CronJobs(ns).Watch,
			func(o *batchv1.CronJob) cached { return wrap(convert.CronJob(o), metaOf) }),
		typedSpec(snapshot.KindHPA, &autoscalingv2.HorizontalPodAutoscaler{}, cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List,
			cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Watch,
			func(o *autoscalingv2.HorizontalPodAutoscaler) cached { return wrap(convert.HPA(o), metaOf) }),
		typedSpec(snapshot.KindPDB, &policyv1.PodDisruptionBudget{}, cs.PolicyV1().PodDisruptionBudgets(ns).List,
			cs.PolicyV1().PodDisruptionBudgets(ns).Watch,
			func(o *policyv1.PodDisruptionBudget) cached { return wrap(convert.PDB(o), metaOf) }),
		typedSpec(snapshot.KindPVC, &corev1.PersistentVolumeClaim{}, core.PersistentVolumeClaims(ns).List, core.PersistentVolumeClaims(ns).Watch,
			func(o *corev1.PersistentVolumeClaim) cached { return wrap(convert.PVC(o), metaOf) }),
		typedSpec(snapshot.KindPV, &corev1.PersistentVolume{}, core.PersistentVolumes().List, core.PersistentVolumes().Watch,
			func(o *corev1.PersistentVolume) cached { return wrap(convert.PV(o), metaOf) }),
		typedSpec(snapshot.KindStorageClass, &storagev1.StorageClass{}, cs.StorageV1().StorageClasses().List, cs.StorageV1().StorageClasses().Watch,
			func(o *storagev1.StorageClass) cached { return wrap(convert.StorageClass(o), metaOf) }),
		typedSpec(snapshot.KindService, &corev1.Service{}, core.Services(ns).List, core.Services(ns).Watch,
			func(o *corev1.Service) cached { return wrap(in.service(convert.Service(o)), metaOf) }),
		typedSpec(snapshot.KindEndpointSlice, &discoveryv1.EndpointSlice{}, cs.DiscoveryV1().EndpointSlices(ns).List,
			cs.DiscoveryV1().EndpointSlices(ns).Watch,
			func(o *discoveryv1.EndpointSlice) cached {
				return wrap(in.endpointSlice(convert.EndpointSlice(o)), metaOf)
			}),
		typedSpec(snapshot.KindResourceQuota, &corev1.ResourceQuota{}, core.ResourceQuotas(ns).List, core.ResourceQuotas(ns).Watch,
			func(o *corev1.ResourceQuota) cached { return wrap(convert.ResourceQuota(o), metaOf) }),
	}
	// Leases: the node heartbeats and the control-plane leader leases,
	// the only leases checks read.
	for _, lns := range []string{"kube-node-lease", "kube-system"} {
		out = append(out, typedSpec(snapshot.KindLease, &coordinationv1.Lease{}, cs.CoordinationV1().Leases(lns).List,
			cs.CoordinationV1().Leases(lns).Watch,
			func(o *coordinationv1.Lease) cached { return wrap(in.lease(convert.Lease(o)), metaOf) }))
	}
	adm := cs.AdmissionregistrationV1()
	out = append(out,
		typedSpec(snapshot.KindValidatingWebhook, &admissionv1.ValidatingWebhookConfiguration{}, adm.ValidatingWebhookConfigurations().List,
			adm.ValidatingWebhookConfigurations().Watch,
			func(o *admissionv1.ValidatingWebhookConfiguration) cached {
				return wrap(convert.ValidatingWebhooks(o), metaOf)
			}),
		typedSpec(snapshot.KindMutatingWebhook, &admissionv1.MutatingWebhookConfiguration{}, adm.MutatingWebhookConfigurations().List,
			adm.MutatingWebhookConfigurations().Watch,
			func(o *admissionv1.MutatingWebhookConfiguration) cached {
				return wrap(convert.MutatingWebhooks(o), metaOf)
			}),
	)
	if i.dyn != nil {
		res := i.dyn.Resource(apiServiceGVR)
		example := &unstructured.Unstructured{}
		example.SetGroupVersionKind(apiServiceGVR.GroupVersion().WithKind("APIService"))
		out = append(out, typedSpec(snapshot.KindAPIService, example, res.List, res.Watch,
			func(o *unstructured.Unstructured) cached {
				var a convert.APIServiceObject
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &a); err != nil {
					a.ObjectMeta = metav1.ObjectMeta{Name: o.GetName(), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion()}
				}
				return wrap(convert.APIService(&a), metaOf)
			}))
	}
	return out
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

func (i *Informers) build(ctx context.Context) []*kindInformer {
	var out []*kindInformer
	for _, sp := range i.specs() {
		out = append(out, i.newKindInformer(ctx, sp))
	}
	return out
}

// informer is a client-go controller (a reflector listing and watching)
// and the store it fills.
type informer struct {
	cache.Controller
	store *directStore
}

// GetStore returns the cache.
func (f informer) GetStore() cache.Store { return f.store }

// newKindInformer builds one informer whose list is paged and projected
// page by page, and whose store projects watched objects.
func (i *Informers) newKindInformer(ctx context.Context, sp spec) *kindInformer {
	k := &kindInformer{kind: sp.kind}
	ok := func() { k.setErr(nil, time.Time{}) }
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			return pagedList(ctx, sp, o, i.opt.PageSize, ok)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			w, err := sp.watch(ctx, o)
			if err == nil {
				ok()
			}
			return w, err
		},
	}
	store := newDirectStore(func(obj any) (cached, error) {
		o, ok := obj.(runtime.Object)
		if !ok {
			return nil, fmt.Errorf("%s informer: unexpected object %T", sp.kind, obj)
		}
		return sp.project(o)
	})
	ctrl := cache.New(&cache.Config{
		Queue: store, ListerWatcher: lw, ObjectType: sp.example, ObjectDescription: string(sp.kind),
		Process: func(any, bool) error { return nil }, // the store applies changes as they come
		WatchErrorHandler: func(_ *cache.Reflector, err error) {
			if ignorable(err) || ctx.Err() != nil {
				i.log.Debug("watch restarted", "kind", sp.kind, "err", err)
				return
			}
			k.setErr(err, i.opt.Now())
			reason, _ := classify(err)
			i.log.Warn("cannot list or watch", "kind", sp.kind, "reason", reason, "err", err)
			if i.opt.OnError != nil {
				i.opt.OnError(sp.kind, reason, err)
			}
		},
	})
	k.informer = informer{Controller: ctrl, store: store}
	return k
}

// ignorable errors end a watch normally; the reflector relists or
// rewatches and no data is missing.
func ignorable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// pagedList lists one kind in pages of pageSize and projects each page as
// it arrives, so that memory holds at most one page of whole objects. It
// always reads the latest state (resourceVersion ""), which the API server
// can paginate, unlike the watch cache's resourceVersion "0".
func pagedList(ctx context.Context, sp spec, o metav1.ListOptions, pageSize int64, ok func()) (runtime.Object, error) {
	o.ResourceVersion, o.ResourceVersionMatch, o.Limit, o.Continue = "", "", pageSize, ""
	out := &slimList{}
	for {
		page, err := sp.list(ctx, o)
		if err != nil {
			return nil, err
		}
		lm, err := meta.ListAccessor(page)
		if err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(page)
		if err != nil {
			return nil, err
		}
		if out.Items == nil {
			n := len(items)
			if rem := lm.GetRemainingItemCount(); rem != nil && *rem > 0 {
				n += int(*rem)
			}
			out.Items = make([]runtime.Object, 0, n)
		}
		for _, it := range items {
			c, err := sp.project(it)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, c)
		}
		out.ResourceVersion = lm.GetResourceVersion()
		if lm.GetContinue() == "" {
			break
		}
		o.Continue = lm.GetContinue()
	}
	ok()
	return out, nil
}

// slimList is a list of projected objects, what pagedList hands the
// reflector.
type slimList struct {
	metav1.ListMeta
	Items []runtime.Object
}

func (l *slimList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (l *slimList) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = append([]runtime.Object(nil), l.Items...)
	return &c
}

// ---- slim cached objects ----

// cached is an object in an informer cache: a slim projection.
type cached interface {
	runtime.Object
	// nsName returns the object's namespace and name.
	nsName() (namespace, name string)
}

// slim wraps one projected object so that client-go's caches can key it
// (namespace/name through GetObjectMeta). It is immutable once stored.
type slim[T any] struct {
	V T
	m *snapshot.Meta
}

func wrap[T any](v T, metaOf func(*T) *snapshot.Meta) *slim[T] {
	s := &slim[T]{V: v}
	s.m = metaOf(&s.V)
	return s
}

// metaOf returns the Meta a snapshot object type embeds.
func metaOf[T any](v *T) *snapshot.Meta {
	return reflect.ValueOf(v).Elem().FieldByName("Meta").Addr().Interface().(*snapshot.Meta)
}

func wrapEvent(e snapshot.Event) *slim[snapshot.Event] {
	return &slim[snapshot.Event]{V: e, m: &snapshot.Meta{Namespace: e.Namespace, Name: e.Name}}
}

func (s *slim[T]) nsName() (string, string) { return s.m.Namespace, s.m.Name }

// GetObjectKind implements runtime.Object.
func (s *slim[T]) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns s itself: cached objects are never modified.
func (s *slim[T]) DeepCopyObject() runtime.Object { return s }

// GetObjectMeta lets client-go key the object (meta.Accessor).
func (s *slim[T]) GetObjectMeta() metav1.Object { return (*metaView)(s.m) }
