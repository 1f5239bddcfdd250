package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/cmd/internal/app"
)

// runFleet sweeps several kubeconfig contexts concurrently into one fleet
// report.
func runFleet(cmd *cobra.Command, g *globals, o *inspectOpts, kf *genericclioptions.ConfigFlags, st app.Settings,
	minSev, failSev checks.Severity, at time.Time) error {
	if o.snapshot != "" {
		return fmt.Errorf("--snapshot inspects one recording; it cannot be combined with several --context or --all-contexts")
	}
	for _, fl := range []string{"server", "token", "user", "cluster", "username", "password", "client-certificate", "client-key", "certificate-authority"} {
		if cmd.Flags().Changed(fl) {
			return fmt.Errorf("--%s applies to one cluster; with several contexts each context's own settings are used", fl)
		}
	}
	contexts := o.contexts
	raw, err := kf.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if o.allContexts {
		contexts = nil
		for name := range raw.Contexts {
			contexts = append(contexts, name)
		}
		sort.Strings(contexts)
		if len(contexts) == 0 {
			return fmt.Errorf("--all-contexts: the kubeconfig has no context")
		}
	}
	seen := map[string]bool{}
	var targets []app.FleetTarget
	for _, c := range contexts {
		if seen[c] {
			continue
		}
		seen[c] = true
		if _, ok := raw.Contexts[c]; !ok {
			return fmt.Errorf("--context %q: no such context in the kubeconfig (have %s)", c, strings.Join(contextNames(raw.Contexts), ", "))
		}
		targets = append(targets, app.FleetTarget{Name: c, Source: app.Source{
			At: at, Kube: contextFlags(kf, c), AllNamespaces: o.allNamespaces, Timeout: o.timeout,
			Prometheus: o.metrics.prometheus(), Scrape: o.metrics.scrape, ScrapeInterval: o.metrics.interval, ScrapeInsecureTLS: o.metrics.insecure,
		}})
	}
	log := g.logger()
	pr := newFleetProgress(g.stderr, targets)
	pr.start()
	f := app.Fleet(cmd.Context(), app.FleetOptions{Targets: targets, Settings: st, MinSeverity: minSev,
		Concurrency: o.concurrency, Logger: log, Progress: pr.update})
	pr.finish()
	log.Info("fleet sweep done", "clusters", len(targets), "ok", f.Summary.OK, "unreachable", f.Summary.Unreachable,
		"failed", f.Summary.Failed, "took", f.Duration.Round(time.Millisecond))
	if err := report.RenderFleet(g.stdout, o.output, f, renderOptions(g, o.color, o.evidence)); err != nil {
		return err
	}
	if failSev != "" {
		for _, c := range f.Clusters {
			if c.Report == nil {
				continue
			}
			for _, fd := range c.Report.Findings {
				if fd.Status == checks.Firing && fd.Severity.Rank() >= failSev.Rank() {
					return &ExitError{Code: ExitFindings}
				}
			}
		}
	}
	return nil
}

func contextNames[T any](m map[string]T) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// contextFlags copies the kubectl flags that apply to every cluster
// (kubeconfig file, namespace, request timeout, impersonation) and selects
// one context.
func contextFlags(base *genericclioptions.ConfigFlags, name string) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	cp := func(dst, src *string) {
		if dst != nil && src != nil {
			*dst = *src
		}
	}
	cp(f.KubeConfig, base.KubeConfig)
	cp(f.Namespace, base.Namespace)
	cp(f.Timeout, base.Timeout)
	cp(f.Impersonate, base.Impersonate)
	cp(f.CacheDir, base.CacheDir)
	if base.ImpersonateGroup != nil && f.ImpersonateGroup != nil {
		*f.ImpersonateGroup = append([]string(nil), *base.ImpersonateGroup...)
	}
	if base.Insecure != nil && f.Insecure != nil {
		*f.Insecure = *base.Insecure
	}
	n := name
	f.Context = &n
	return f
}

// fleetProgress shows each cluster's stage on a terminal: one line per
// cluster, redrawn in place. On anything but a terminal it stays silent
// (-v logs the stages instead).
type fleetProgress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	names  []string
	state  map[string]string
	since  map[string]time.Time
	drawn  int
	frame  int
	stop   chan struct{}
	done   chan struct{}
	width  int
	closed bool
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newFleetProgress(w io.Writer, targets []app.FleetTarget) *fleetProgress {
	p := &fleetProgress{w: w, state: map[string]string{}, since: map[string]time.Time{}, width: 80}
	if fd, ok := w.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		p.tty = true
		if wd, _, err := term.GetSize(int(fd.Fd())); err == nil && wd > 20 {
			p.width = wd
		}
	}
	for _, t := range targets {
		p.names = append(p.names, t.Name)
		p.state[t.Name] = string(app.StageQueued)
	}
	return p
}

func (p *fleetProgress) start() {
	if !p.tty {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
}

// update records a cluster's stage; it is app.FleetOptions.Progress.
func (p *fleetProgress) update(name string, st app.Stage, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := string(st)
	if err != nil {
		s += ": " + strings.Join(strings.Fields(err.Error()), " ")
	}
	p.state[name] = s
	if st == app.StageCollecting {
		p.since[name] = time.Now()
	}
	if p.tty && !p.closed {
		p.draw()
	}
}

// draw rewrites the progress lines in place.
func (p *fleetProgress) draw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, n := range p.names {
		st := p.state[n]
		mark := " "
		switch {
		case strings.HasPrefix(st, string(app.StageDone)):
			mark = "✓"
		case strings.HasPrefix(st, string(app.StageFailed)):
			mark = "✗"
		case strings.HasPrefix(st, string(app.StageCollecting)), strings.HasPrefix(st, string(app.StageChecking)):
			mark = spinner[p.frame%len(spinner)]
			if t, ok := p.since[n]; ok {
				st += fmt.Sprintf(" %ds", int(time.Since(t).Seconds()))
			}
		}
		line := fmt.Sprintf("%s %-24s %s", mark, truncateRunes(n, 24), st)
		b.WriteString("\x1b[2K" + truncateRunes(line, p.width-1) + "\n")
	}
	p.drawn = len(p.names)
	_, _ = io.WriteString(p.w, b.String())
}

func (p *fleetProgress) finish() {
	if !p.tty {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	p.closed = true
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if n <= 0 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
