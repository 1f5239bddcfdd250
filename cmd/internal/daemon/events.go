package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
)

// EventComponent is the source component of patrold's Events.
const EventComponent = "patrold"

// emitter writes a Warning Event on the object of each finding that starts
// firing: only on the leader, at most once per finding episode, within a
// rate limit.
type emitter struct {
	client   kubernetes.Interface
	leader   func() bool
	cluster  string
	identity string
	metrics  *Metrics
	log      *slog.Logger

	mu      sync.Mutex
	limiter *rate.Limiter
	// sent holds the keys of findings announced in their current
	// episode; a resolved finding's key is forgotten.
	sent map[string]time.Time
}

func newEmitter(client kubernetes.Interface, leader func() bool, cluster, identity string, m *Metrics, log *slog.Logger) *emitter {
	return &emitter{client: client, leader: leader, cluster: cluster, identity: identity, metrics: m, log: log, sent: map[string]time.Time{}}
}

// configure applies the events settings of a (re)loaded config.
func (e *emitter) configure(perMinute float64, burst int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	limit := rate.Limit(perMinute / 60)
	if e.limiter == nil {
		e.limiter = rate.NewLimiter(limit, burst)
		return
	}
	e.limiter.SetLimit(limit)
	e.limiter.SetBurst(burst)
}

// handle emits Events for the transitions that start firing at or above
// minSev and forgets resolved ones. suppressed says whether a finding is
// silenced (no Event then).
func (e *emitter) handle(ctx context.Context, ts []analysis.Transition, minSev checks.Severity, suppressed func(*checks.Finding) bool, now time.Time) {
	for _, t := range ts {
		if t.To == analysis.Resolved {
			e.mu.Lock()
			delete(e.sent, t.Key)
			e.mu.Unlock()
			continue
		}
		if !t.Announce() || t.Finding.Severity.Rank() < minSev.Rank() || suppressed(&t.Finding) {
			continue
		}
		if _, ok := apiVersions[t.Finding.Object.Kind]; !ok || t.Finding.Object.Name == "" {
			continue // no API object to attach an Event to (Cluster, Host)
		}
		if !e.leader() {
			continue // only the leader acts
		}
		e.mu.Lock()
		_, dup := e.sent[t.Key]
		allowed := !dup && e.limiter != nil && e.limiter.AllowN(now, 1)
		if allowed {
			e.sent[t.Key] = now
		}
		e.mu.Unlock()
		if dup {
			continue
		}
		if !allowed {
			e.log.Warn("event rate limit reached; not emitting", "check", t.Finding.Check, "object", t.Finding.Object.String())
			continue
		}
		if err := e.emit(ctx, &t.Finding, now); err != nil {
			e.log.Warn("cannot emit event", "check", t.Finding.Check, "object", t.Finding.Object.String(), "err", err)
			e.mu.Lock()
			delete(e.sent, t.Key)
			e.mu.Unlock()
			continue
		}
		e.metrics.EventsEmitted.WithLabelValues(e.cluster, t.Finding.Reason).Inc()
	}
}

// apiVersions maps the kinds findings are about to their API versions.
var apiVersions = map[string]string{
	"Pod": "v1", "Node": "v1", "Namespace": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
	"PersistentVolume": "v1", "ResourceQuota": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1",
	"StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
	"StorageClass": "storage.k8s.io/v1", "Lease": "coordination.k8s.io/v1",
	"ValidatingWebhookConfiguration": "admissionregistration.k8s.io/v1",
	"MutatingWebhookConfiguration":   "admissionregistration.k8s.io/v1",
	"APIService":                     "apiregistration.k8s.io/v1",
}

func (e *emitter) emit(ctx context.Context, f *checks.Finding, now time.Time) error {
	ns := f.Object.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault // cluster-scoped objects: kubectl looks in default
	}
	msg := fmt.Sprintf("%s (kubepatrol check %s)", strings.TrimSpace(f.Message), f.Check)
	if len(msg) > 1024 {
		msg = msg[:1021] + "..."
	}
	t := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        eventName(f.Object.Name, f.Check, now),
			Namespace:   ns,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "kubepatrol"},
			Annotations: map[string]string{"kubepatrol.io/check": f.Check, "kubepatrol.io/cluster": e.cluster},
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: f.Object.Kind, Namespace: f.Object.Namespace, Name: f.Object.Name, UID: types.UID(f.Object.UID),
			APIVersion: apiVersions[f.Object.Kind],
		},
		Reason: f.Reason, Message: msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: EventComponent},
		FirstTimestamp: t, LastTimestamp: t, Count: 1,
		ReportingController: "kubepatrol.io/patrold", ReportingInstance: e.identity,
	}
	_, err := e.client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
	return err
}

// eventName names an Event as client-go's recorder does ("<object>.<hex
// nanoseconds>"), plus the check, so that two checks firing on one object
// at once do not collide.
func eventName(object, check string, now time.Time) string {
	object = strings.ToLower(object)
	if len(object) > 180 {
		object = object[:180]
	}
	return fmt.Sprintf("%s.%x.%s", object, now.UnixNano(), strings.NewReplacer("_", "-", ".", "-").Replace(check))
}
