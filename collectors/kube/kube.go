// Package kube collects a snapshot from a live API server through
// client-go: one paged list per kind (protobuf where the server speaks it),
// concurrent, each with its own timeout, projected to the slim snapshot
// types as the pages arrive so memory stays small. A kind that cannot be
// read (forbidden, timed out, not served, server unreachable) is recorded in
// the snapshot's coverage; it never aborts the sweep.
package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Options tune Collect.
type Options struct {
	// Cluster names the cluster in the snapshot (the kubeconfig context).
	Cluster string
	// Namespace restricts namespaced kinds to one namespace; empty means
	// all namespaces.
	Namespace string
	// Timeout bounds each kind's list (default 30s).
	Timeout time.Duration
	// PageSize is the list chunk size (default 500).
	PageSize int64
	// Concurrency bounds the kinds listed at once (default 6).
	Concurrency int
	// SkipControlPlane skips /readyz and the certificate probes.
	SkipControlPlane bool
	// Requests, when set, counts the HTTP requests made.
	Requests *atomic.Int64
	Logger   *slog.Logger
}

// Protobuf sets the config to ask for protobuf, falling back to JSON.
func Protobuf(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return c
}

// Collect reads one snapshot of the cluster behind cfg.
func Collect(ctx context.Context, cfg *rest.Config, opt Options) (*snapshot.Snapshot, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.PageSize <= 0 {
		opt.PageSize = 500
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 6
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = Protobuf(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	if opt.Requests != nil {
		counter := opt.Requests
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				counter.Add(1)
				return rt.RoundTrip(r)
			})
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	s := &snapshot.Snapshot{
		Schema:    snapshot.SchemaVersion,
		ID:        newID(),
		Cluster:   opt.Cluster,
		Source:    snapshot.SourceLive,
		Namespace: opt.Namespace,
	}
	start := time.Now()

	// One cheap request first: when the server is down, every kind is
	// Unreachable at once instead of after a timeout each.
	vctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	v, verr := serverVersion(vctx, cs)
	cancel()
	if verr != nil {
		reason, msg := classify(verr)
		if reason == snapshot.Unreachable || reason == snapshot.Timeout || reason == snapshot.Unauthorized {
			log.Warn("API server unavailable", "err", verr)
			for _, k := range snapshot.ObjectKinds {
				s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: k, Reason: reason, Message: msg})
			}
			s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: snapshot.KindControlPlane, Reason: reason, Message: msg})
			s.CollectedAt = start.UTC()
			return s, nil
		}
	}
	s.Version = v

	c := &collector{cs: cs, opt: opt, log: log}
	var mu sync.Mutex
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	for _, l := range c.listers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			kctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			t0 := time.Now()
			part := &snapshot.Snapshot{}
			err := l.list(kctx, part)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				reason, msg := classify(err)
				if errors.Is(kctx.Err(), context.DeadlineExceeded) {
					reason, msg = snapshot.Timeout, fmt.Sprintf("list did not finish within %s", opt.Timeout)
				}
				log.Warn("cannot list", "kind", l.kind, "reason", reason, "err", err)
				s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: l.kind, Reason: reason, Message: msg})
				return
			}
			merge(s, part)
			log.Debug("listed", "kind", l.kind, "count", part.Count(l.kind), "duration", time.Since(t0))
		}()
	}
	if !opt.SkipControlPlane {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			cp, cov := controlPlane(cctx, cs, cfg)
			mu.Lock()
			defer mu.Unlock()
			s.ControlPlane = cp
			s.Coverage = append(s.Coverage, cov...)
		}()
	}
	wg.Wait()
	sortCoverage(s.Coverage)
	s.CollectedAt = time.Now().UTC()
	log.Info("collected snapshot", "cluster", s.Cluster, "pods", len(s.Pods), "nodes", len(s.Nodes),
		"gaps", len(s.Coverage), "duration", time.Since(start).Round(time.Millisecond))
	return s, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func serverVersion(ctx context.Context, cs *kubernetes.Clientset) (string, error) {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return v.GitVersion, nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// classify maps a list error to a coverage reason and a short message.
func classify(err error) (snapshot.CoverageReason, string) {
	msg := err.Error()
	switch {
	case apierrors.IsForbidden(err):
		return snapshot.Forbidden, msg
	case apierrors.IsUnauthorized(err):
		return snapshot.Unauthorized, msg
	case apierrors.IsNotFound(err):
		return snapshot.NotServed, "the API server does not serve this resource"
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return snapshot.Timeout, msg
	}
	var ue *url.Error
	var oe *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &oe) || (errors.As(err, &ue) && !ue.Timeout()) ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") {
		return snapshot.Unreachable, msg
	}
	if errors.As(err, &ue) && ue.Timeout() {
		return snapshot.Timeout, msg
	}
	return snapshot.Failed, msg
}

type lister struct {
	kind snapshot.Kind
	list func(ctx context.Context, into *snapshot.Snapshot) error
}

type collector struct {
	cs  *kubernetes.Clientset
	opt Options
	log *slog.Logger
}

// each pages through a list and hands every item to add.
func (c *collector) each(ctx context.Context, f func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error), add func(runtime.Object) error) error {
	p := pager.New(pager.SimplePageFunc(func(o metav1.ListOptions) (runtime.Object, error) { return f(ctx, o) }))
	p.PageSize = c.opt.PageSize
	return p.EachListItem(ctx, metav1.ListOptions{}, add)
}

func merge(dst, src *snapshot.Snapshot) {
	dst.Namespaces = append(dst.Namespaces, src.Namespaces...)
	dst.Nodes = append(dst.Nodes, src.Nodes...)
	dst.Pods = append(dst.Pods, src.Pods...)
	dst.Events = append(dst.Events, src.Events...)
	dst.Deployments = append(dst.Deployments, src.Deployments...)
	dst.ReplicaSets = append(dst.ReplicaSets, src.ReplicaSets...)
	dst.StatefulSets = append(dst.StatefulSets, src.StatefulSets...)
	dst.DaemonSets = append(dst.DaemonSets, src.DaemonSets...)
	dst.Jobs = append(dst.Jobs, src.Jobs...)
	dst.CronJobs = append(dst.CronJobs, src.CronJobs...)
	dst.HPAs = append(dst.HPAs, src.HPAs...)
	dst.PDBs = append(dst.PDBs, src.PDBs...)
	dst.PVCs = append(dst.PVCs, src.PVCs...)
	dst.PVs = append(dst.PVs, src.PVs...)
	dst.StorageClasses = append(dst.StorageClasses, src.StorageClasses...)
	dst.Services = append(dst.Services, src.Services...)
	dst.EndpointSlices = append(dst.EndpointSlices, src.EndpointSlices...)
	dst.ResourceQuotas = append(dst.ResourceQuotas, src.ResourceQuotas...)
	dst.Leases = append(dst.Leases, src.Leases...)
	dst.WebhookConfigs = append(dst.WebhookConfigs, src.WebhookConfigs...)
	dst.APIServices = append(dst.APIServices, src.APIServices...)
}

func sortCoverage(cs []snapshot.Coverage) {
	order := map[snapshot.Kind]int{}
	for i, k := range snapshot.ObjectKinds {
		order[k] = i
	}
	order[snapshot.KindControlPlane] = len(order)
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && order[cs[j].Kind] < order[cs[j-1].Kind]; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
