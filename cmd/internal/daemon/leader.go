package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Elector campaigns for a coordination.k8s.io Lease. Every replica
// inspects and serves; only the one holding the Lease acts (emits Events,
// later remediates). IsLeader is true only between winning the Lease and
// losing it (or failing to renew it within the renew deadline, which is
// shorter than the lease duration, so two replicas never both act).
type Elector struct {
	Client                                    kubernetes.Interface
	Namespace, Name, Identity                 string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// ReleaseOnCancel gives the Lease up when Run's context ends, so that
	// another replica takes over at once instead of after the lease
	// duration.
	ReleaseOnCancel bool
	Logger          *slog.Logger
	// OnChange is called with the new leadership (for the leader gauge).
	OnChange func(leading bool)

	leading atomic.Bool
	mu      sync.Mutex
	le      *leaderelection.LeaderElector
}

// DefaultIdentity is hostname_pid, unique per replica.
func DefaultIdentity() string {
	h, err := os.Hostname()
	if err != nil {
		h = "patrold"
	}
	return fmt.Sprintf("%s_%d", h, os.Getpid())
}

// IsLeader reports whether this replica holds the Lease now.
func (e *Elector) IsLeader() bool {
	if !e.leading.Load() {
		return false
	}
	e.mu.Lock()
	le := e.le
	e.mu.Unlock()
	return le != nil && le.IsLeader()
}

// Run campaigns until ctx ends, campaigning again after losing the Lease.
func (e *Elector) Run(ctx context.Context) error {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(e.Namespace, e.Name),
		Client:     e.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	set := func(v bool) {
		if e.leading.Swap(v) != v && e.OnChange != nil {
			e.OnChange(v)
		}
	}
	for ctx.Err() == nil {
		// A fresh elector per campaign: client-go's is meant to run once.
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   e.LeaseDuration,
			RenewDeadline:   e.RenewDeadline,
			RetryPeriod:     e.RetryPeriod,
			ReleaseOnCancel: e.ReleaseOnCancel,
			Name:            e.Namespace + "/" + e.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					log.Info("became leader", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
					set(true)
					<-ctx.Done()
				},
				OnStoppedLeading: func() {
					if e.leading.Load() {
						log.Info("stopped leading", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
					}
					set(false)
				},
				OnNewLeader: func(id string) {
					if id != e.Identity {
						log.Info("leader elected", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		e.mu.Lock()
		e.le = le
		e.mu.Unlock()
		le.Run(ctx) // returns when leadership is lost or ctx ends
		set(false)
		select {
		case <-ctx.Done():
		case <-time.After(e.RetryPeriod):
		}
	}
	return nil
}

func metaFor(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
