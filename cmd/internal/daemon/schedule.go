package daemon

import (
	"context"
	"hash/fnv"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepatrol/patrol/rules"
)

// schedule waits for the caches to settle, sweeps every group once (the
// first full sweep, after which /readyz is ready), then runs each group on
// its schedule. A reload restarts the group loops with the new config.
func (d *Daemon) schedule(ctx context.Context) error {
	if r, ok := d.source.(runner); ok {
		timeout := d.cfg.Load().File.SyncTimeout.Value()
		wctx, cancel := context.WithTimeout(ctx, timeout)
		settled := r.WaitSettled(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if !settled {
			d.log.Warn("informer caches not settled; sweeping anyway (the report shows the gaps)", "sync_timeout", timeout)
		}
	}
	cfg := d.cfg.Load()
	var wg sync.WaitGroup
	for i := range cfg.Groups {
		g := &cfg.Groups[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.trySweep(ctx, cfg, g)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	d.markReady()

	for {
		cfg := d.cfg.Load()
		gctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range cfg.Groups {
			g := &cfg.Groups[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.loop(gctx, ctx, cfg, g)
			}()
		}
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			d.sweeps.Wait()
			return nil
		case <-d.reloadCh:
			cancel()
			wg.Wait()
		}
	}
}

func (d *Daemon) markReady() {
	if !d.ready.Swap(true) {
		d.log.Info("first full sweep done; ready")
		if d.opt.Ready != nil {
			close(d.opt.Ready)
		}
	}
}

// loop runs one group on its schedule until ctx ends (a reload or the
// end); the sweeps themselves run under sweepCtx, so that a reload does not
// cut short a sweep in progress. Each run starts at the schedule's next
// time plus the group's fixed jitter offset; a run that finds the previous
// sweep still going is skipped and counted.
func (d *Daemon) loop(ctx, sweepCtx context.Context, cfg *Config, g *Group) {
	offset := jitterOffset(d.identity(), g.Name, g.Jitter)
	for {
		now := d.clock.Now()
		next := NextRun(g, now, offset)
		t := d.clock.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		d.sweeps.Add(1)
		go func() {
			defer d.sweeps.Done()
			d.trySweep(sweepCtx, cfg, g)
		}()
	}
}

// NextRun is when group g next runs after now: its schedule's next
// activation after now−offset, shifted by offset.
func NextRun(g *Group, now time.Time, offset time.Duration) time.Time {
	return g.Schedule.Next(now.Add(-offset)).Add(offset)
}

// trySweep runs one sweep of g unless the previous one still runs.
func (d *Daemon) trySweep(ctx context.Context, cfg *Config, g *Group) {
	v, _ := d.running.LoadOrStore(g.Name, &atomic.Bool{})
	busy := v.(*atomic.Bool)
	if !busy.CompareAndSwap(false, true) {
		d.metrics.Sweeps.WithLabelValues(d.cluster, g.Name, SweepSkipped).Inc()
		d.log.Warn("previous sweep still running; skipping this one", "group", g.Name)
		return
	}
	defer busy.Store(false)
	d.sweep(ctx, cfg, g)
}

// jitterOffset is a fixed offset in [0, jitter) derived from the
// instance's identity and the group: the same on every run of one
// daemon, different across daemons, so many daemons on one schedule
// spread their load.
func jitterOffset(identity, group string, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(identity))
	h.Write([]byte{0})
	h.Write([]byte(group))
	return time.Duration(h.Sum64() % uint64(jitter))
}

// identity names this instance for jitter: the configured leader identity
// or the hostname, and the cluster.
func (d *Daemon) identity() string {
	f := d.cfg.Load().File
	id := f.LeaderElection.Identity
	if id == "" {
		id, _ = os.Hostname()
	}
	return id + "/" + d.cluster
}

// restConfig resolves the cluster connection: in-cluster, a kubeconfig
// file, or the default kubeconfig rules falling back to in-cluster. It
// returns the context's name for a cluster without a configured name.
func restConfig(f *rules.DaemonConfig) (*rest.Config, string, error) {
	if f.InCluster {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", err
		}
		return c, "in-cluster", nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.Kubeconfig != "" {
		rules.ExplicitPath = f.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.Context})
	c, err := cc.ClientConfig()
	if err != nil {
		if f.Kubeconfig == "" {
			if ic, ierr := rest.InClusterConfig(); ierr == nil {
				return ic, "in-cluster", nil
			}
		}
		return nil, "", err
	}
	name := f.Context
	if raw, err := cc.RawConfig(); err == nil && name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		name = c.Host
	}
	return c, name, nil
}
