// Package daemon is patrold's wiring: it loads and reloads the config,
// keeps a live picture of the cluster in informer caches, runs check groups
// on cron schedules (with per-instance jitter, never overlapping
// themselves), follows each finding through pending → firing → resolved,
// keeps that state across restarts, serves /metrics, probes, the latest
// report and a findings API on one port, traces every sweep with
// OpenTelemetry, and — on the replica that holds the leader Lease only —
// emits Kubernetes Events for findings that start firing.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/kube"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Version is patrold's version, set at build time with
// -ldflags "-X github.com/kubepatrol/patrol/cmd/internal/daemon.Version=v1.2.3".
var Version = "dev"

// Clock is the daemon's time source. Production uses the wall clock; tests
// inject k8s.io/utils/clock/testing.FakeClock to drive the schedules.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) clock.Timer
}

// Source gives snapshots; the live one reads informer caches.
type Source interface {
	Snapshot(ctx context.Context) *snapshot.Snapshot
}

// controlPlaneProber is a Source that probes the control plane as a
// separate step (traced as its own span).
type controlPlaneProber interface {
	ProbeControlPlane(ctx context.Context, s *snapshot.Snapshot)
}

// runner is a Source with a lifecycle (the informers).
type runner interface {
	Run(ctx context.Context) error
	WaitSettled(ctx context.Context) bool
}

// Options configure Run. Only ConfigFile is required; the rest default to
// production values, and tests replace them.
type Options struct {
	// ConfigFile is the daemon config (YAML).
	ConfigFile string
	// Kubeconfig and Listen override the config file's values (flags).
	Kubeconfig string
	Listen     string
	Logger     *slog.Logger
	// Registry receives the self-metrics and serves /metrics (default: a
	// new registry with the Go and process collectors).
	Registry *prometheus.Registry
	Clock    Clock
	// TracerProvider traces sweeps (default: NewTracerProvider from the
	// OTEL_* environment).
	TracerProvider trace.TracerProvider
	// Source and Kube replace the live informers and the client used for
	// Events and leader election (tests).
	Source Source
	Kube   kubernetes.Interface
	// Reload delivers reload requests (main sends one per SIGHUP).
	Reload <-chan struct{}
	// ReloadPoll is how often the config file's modification time is
	// checked (default 10s; negative disables polling).
	ReloadPoll time.Duration
	// Listener, when set, is served instead of listening on the address
	// (tests).
	Listener net.Listener
	// Ready, when set, is closed once the first full sweep is done.
	Ready chan<- struct{}
	// Ledger, when set, replaces the configured evidence ledger (tests).
	Ledger *ledger.Ledger
	// AfterAction is a failpoint between an action's write and the
	// recording of its outcome (crash tests; see remediation.Options).
	AfterAction func(rec *ledger.Record, step int)
}

// Daemon is a running patrold. Make one with New, then Run it.
type Daemon struct {
	opt     Options
	log     *slog.Logger
	clock   Clock
	reg     *prometheus.Registry
	metrics *Metrics
	tracer  trace.Tracer
	source  Source
	kube    kubernetes.Interface
	elector *Elector
	events  *emitter
	cluster string

	cfg      atomic.Pointer[Config]
	reloadCh chan struct{}
	ready    atomic.Bool
	running  sync.Map // group name -> *atomic.Bool
	sweeps   sync.WaitGroup

	mu      sync.Mutex
	life    analysis.Lifecycle
	runs    map[string]checks.Run
	unknown map[string][]checks.Finding
	latest  *report.Report
	swept   map[string]bool // groups swept at least once

	saveMu    sync.Mutex // orders state file writes
	metricsMu sync.Mutex // orders the reset-and-set of the finding gauges

	// remediation is set when the config turns remediation on.
	remediation        *remediationSetup
	remediationMetrics *remediation.Metrics
	ledger             *ledger.Ledger
}

// New loads the config and prepares a daemon; nothing runs yet.
func New(ctx context.Context, opt Options) (*Daemon, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadConfig(opt.ConfigFile)
	if err != nil {
		return nil, err
	}
	f := cfg.File
	d := &Daemon{
		opt: opt, log: log, clock: opt.Clock, reg: opt.Registry, source: opt.Source, kube: opt.Kube,
		reloadCh: make(chan struct{}, 1), runs: map[string]checks.Run{}, unknown: map[string][]checks.Finding{},
		swept: map[string]bool{},
	}
	d.applyOverrides(f)
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	if d.reg == nil {
		d.reg = prometheus.NewRegistry()
		d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	d.metrics = NewMetrics(d.reg, Version)
	tp := opt.TracerProvider
	if tp == nil {
		sdk, exporting, err := NewTracerProvider(ctx, Version, os.Getenv)
		if err != nil {
			return nil, err
		}
		tp = sdk
		log.Info("tracing", "exporting", exporting)
	}
	d.tracer = tp.Tracer(tracerName)

	d.cluster = f.Cluster
	if d.source == nil || (d.kube == nil && (f.LeaderElection.Enabled || f.Events.Enabled)) {
		rc, name, err := restConfig(f)
		if err != nil {
			return nil, err
		}
		if d.cluster == "" {
			d.cluster = name
		}
		if d.kube == nil {
			if d.kube, err = kubernetes.NewForConfig(kube.Protobuf(rc)); err != nil {
				return nil, fmt.Errorf("client: %w", err)
			}
		}
		if d.source == nil {
			inf, err := kube.NewInformers(rc, kube.InformerOptions{
				Cluster: d.cluster, SkipControlPlane: true, Logger: log, Now: d.clock.Now,
				OnError: func(k snapshot.Kind, r snapshot.CoverageReason, _ error) {
					d.metrics.CollectorErrors.WithLabelValues(d.cluster, string(k), string(r)).Inc()
				},
			})
			if err != nil {
				return nil, err
			}
			d.source = inf
		}
	}
	if d.cluster == "" {
		d.cluster = "default"
	}
	cfg.File.Cluster = d.cluster
	d.cfg.Store(cfg)
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadTime.Set(float64(d.clock.Now().Unix()))
	d.metrics.initGroups(d.cluster, cfg.Groups)
	d.metrics.Leader.WithLabelValues(d.cluster).Set(0)

	identity := f.LeaderElection.Identity
	if identity == "" {
		identity = DefaultIdentity()
	}
	if f.LeaderElection.Enabled {
		le := f.LeaderElection
		d.elector = &Elector{
			Client: d.kube, Namespace: le.Namespace, Name: le.Name, Identity: identity,
			LeaseDuration: le.LeaseDuration.Value(), RenewDeadline: le.RenewDeadline.Value(), RetryPeriod: le.RetryPeriod.Value(),
			ReleaseOnCancel: true, Logger: log,
			OnChange: func(leading bool) {
				v := 0.0
				if leading {
					v = 1
				}
				d.metrics.Leader.WithLabelValues(d.cluster).Set(v)
			},
		}
	} else {
		d.metrics.Leader.WithLabelValues(d.cluster).Set(1) // a lone replica always acts
	}
	d.events = newEmitter(d.kube, d.IsLeader, d.cluster, identity, d.metrics, log)
	d.events.configure(f.Events.RatePerMinute, f.Events.Burst)
	if f.Remediation.Enabled {
		if err := d.setupRemediation(ctx, cfg); err != nil {
			return nil, err
		}
	}
	d.restoreState(ctx, f.StateFile)
	return d, nil
}

// restoreState loads the finding lifecycle saved by a previous run: from
// the ledger when there is one, else from the state file.
func (d *Daemon) restoreState(ctx context.Context, path string) {
	log := d.log
	var st State
	var err error
	switch {
	case d.ledger != nil:
		path = "ledger:" + stateKey(d.cluster)
		data, ok, gerr := d.ledger.GetState(ctx, stateKey(d.cluster))
		switch {
		case gerr != nil:
			err = gerr
		case ok:
			err = json.Unmarshal(data, &st)
		default:
			st = State{Schema: StateSchema}
		}
	case path != "":
		st, err = LoadState(path)
	default:
		return
	}
	switch {
	case err != nil:
		log.Warn("ignoring unreadable state; starting afresh", "path", path, "err", err)
	case st.Cluster != "" && st.Cluster != d.cluster:
		log.Warn("ignoring state of another cluster", "path", path, "cluster", st.Cluster)
	case st.SavedAt.IsZero():
		log.Info("no saved state yet; starting afresh", "path", path)
	default:
		d.life = st.Lifecycle
		log.Info("restored finding state", "path", path, "findings", len(st.Lifecycle.Findings), "saved_at", st.SavedAt)
	}
}

// Run loads the config and runs patrold until ctx ends.
func Run(ctx context.Context, opt Options) error {
	d, err := New(ctx, opt)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// IsLeader reports whether this replica may act: it holds the leader
// Lease, or leader election is off.
func (d *Daemon) IsLeader() bool {
	if d.elector == nil {
		return true
	}
	return d.elector.IsLeader()
}

// Registry returns the registry /metrics serves.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Run runs the actors — HTTP server, informers, leader election, scheduler
// and config reloads — until ctx ends or one of them fails.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g run.Group

	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ln := d.opt.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.cfg.Load().File.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	d.log.Info("serving", "addr", ln.Addr().String(), "cluster", d.cluster, "version", Version)
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	}, func(error) {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	})

	if r, ok := d.source.(runner); ok {
		ictx, icancel := context.WithCancel(ctx)
		g.Add(func() error { return r.Run(ictx) }, func(error) { icancel() })
	}
	if d.elector != nil {
		ectx, ecancel := context.WithCancel(ctx)
		g.Add(func() error { return d.elector.Run(ectx) }, func(error) { ecancel() })
	}
	sctx, scancel := context.WithCancel(ctx)
	g.Add(func() error { return d.schedule(sctx) }, func(error) { scancel() })
	wctx, wcancel := context.WithCancel(ctx)
	g.Add(func() error { d.watchConfig(wctx); return nil }, func(error) { wcancel() })
	if d.remediation != nil {
		rctx, rcancel := context.WithCancel(ctx)
		g.Add(func() error { return d.runRemediation(rctx) }, func(error) { rcancel() })
		if d.opt.Ledger == nil {
			defer d.ledger.Close()
		}
	}
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
	return g.Run()
}
