package actions

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"

	"github.com/kubepatrol/patrol/remediation/ledger"
)

// evictionLog keeps, per pod, what the drainer's eviction calls returned,
// so that a blocked drain can name the pods and the refusals without
// parsing the drainer's text output. The drainer evicts pods concurrently.
type evictionLog struct {
	now  func() time.Time
	mu   sync.Mutex
	pods map[string]*evictState
}

type evictState struct {
	attempts int
	// accepted: an eviction call succeeded (the pod is terminating).
	accepted bool
	// gone: the drainer saw the pod deleted.
	gone    bool
	lastErr error
	at      time.Time
}

func newEvictionLog(now func() time.Time) *evictionLog {
	return &evictionLog{now: now, pods: map[string]*evictState{}}
}

func (l *evictionLog) get(key string) *evictState {
	st, ok := l.pods[key]
	if !ok {
		st = &evictState{}
		l.pods[key] = st
	}
	return st
}

// observe records one eviction call's outcome.
func (l *evictionLog) observe(ns, name string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.get(ns + "/" + name)
	st.attempts++
	st.at = l.now()
	switch {
	case err == nil:
		st.accepted, st.lastErr = true, nil
	case apierrors.IsNotFound(err):
		st.accepted, st.gone, st.lastErr = true, true, nil
	default:
		st.lastErr = err
	}
}

// finished is the drainer's OnPodDeletionOrEvictionFinished hook.
func (l *evictionLog) finished(pod *corev1.Pod, _ bool, err error) {
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.get(pod.Namespace + "/" + pod.Name)
	st.gone = true
	if st.at.IsZero() {
		st.at = l.now()
	}
}

// state is a copy of one pod's state.
func (l *evictionLog) state(pod corev1.Pod) evictState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.get(podKey(pod))
}

// record adds one eviction call per pod to r and returns how many pods
// are gone.
func (l *evictionLog) record(r *run, pods []corev1.Pod) int {
	gone := 0
	for _, pod := range pods {
		st := l.state(pod)
		c := ledger.Call{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: pod.Namespace, Name: pod.Name,
			ResourceVersionBefore: pod.ResourceVersion}
		switch {
		case st.gone:
			gone++
			c.Detail = fmt.Sprintf("evicted, pod gone (%d eviction call(s))", st.attempts)
		case st.accepted:
			c.Detail = fmt.Sprintf("evicted, pod still terminating (%d eviction call(s))", st.attempts)
		case st.lastErr != nil:
			c.Detail = fmt.Sprintf("refused %d time(s): %s", st.attempts, refusalMessage(st.lastErr))
		default:
			c.Detail = "not attempted"
		}
		r.write(c, st.lastErr)
		if !st.at.IsZero() {
			r.calls[len(r.calls)-1].At = st.at.UTC()
		}
	}
	return gone
}

// evictingClient is kube with its policy/v1 eviction calls observed.
type evictingClient struct {
	kubernetes.Interface
	log *evictionLog
}

// PolicyV1 wraps the policy/v1 client.
func (c *evictingClient) PolicyV1() policyv1client.PolicyV1Interface {
	return evictingPolicy{PolicyV1Interface: c.Interface.PolicyV1(), log: c.log}
}

type evictingPolicy struct {
	policyv1client.PolicyV1Interface
	log *evictionLog
}

// Evictions wraps the namespace's eviction client.
func (p evictingPolicy) Evictions(ns string) policyv1client.EvictionInterface {
	return evictingEvictions{EvictionInterface: p.PolicyV1Interface.Evictions(ns), log: p.log}
}

type evictingEvictions struct {
	policyv1client.EvictionInterface
	log *evictionLog
}

// Evict evicts and records the outcome.
func (e evictingEvictions) Evict(ctx context.Context, ev *policyv1.Eviction) error {
	err := e.EvictionInterface.Evict(ctx, ev)
	e.log.observe(ev.Namespace, ev.Name, err)
	return err
}
