// Package scrape collects the metric checks' inputs from the control
// plane's own /metrics endpoints, for clusters without Prometheus: the API
// server's through the kubeconfig's REST client (so its credentials and
// RBAC apply), and etcd's, the scheduler's and the controller-manager's at
// URLs given by the user. The exposition text is parsed with
// prometheus/common/expfmt and reduced to the series of snapshot.Signals
// with the same label filters and aggregations Prometheus would apply; the
// scraped series also keep their instance label (host:port of the target).
//
// Counters and histograms need two scrapes Interval apart to give rates
// and latency distributions of the recent past; with a single scrape
// (Interval 0) they are lifetime totals since the process started
// (process_start_time_seconds), which the checks treat as long-run
// averages. A target that cannot be scraped is recorded in the snapshot's
// coverage under its component's kind (metrics/apiserver, metrics/etcd…).
package scrape

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Components maps the names used on the command line to metric kinds.
var Components = map[string]snapshot.Kind{
	"apiserver":          snapshot.KindMetricsAPIServer,
	"etcd":               snapshot.KindMetricsEtcd,
	"scheduler":          snapshot.KindMetricsScheduler,
	"controller-manager": snapshot.KindMetricsControllerManager,
}

// Target is one /metrics endpoint.
type Target struct {
	// Kind is the component's metric kind.
	Kind snapshot.Kind
	// URL is the /metrics address; empty means the API server's /metrics
	// through the kubeconfig (only for metrics/apiserver).
	URL string
}

// ParseTarget parses a --scrape value: a component name alone
// ("apiserver": through the kubeconfig) or component=URL
// ("etcd=http://127.0.0.1:2381/metrics",
// "scheduler=https://10.0.0.1:10259/metrics"). A URL without a path gets
// /metrics.
func ParseTarget(s string) (Target, error) {
	name, raw, hasURL := strings.Cut(strings.TrimSpace(s), "=")
	k, ok := Components[name]
	if !ok {
		return Target{}, fmt.Errorf("scrape target %q: unknown component %q (want apiserver, etcd, scheduler or controller-manager)", s, name)
	}
	if !hasURL {
		if k != snapshot.KindMetricsAPIServer {
			return Target{}, fmt.Errorf("scrape target %q: %s needs a URL, e.g. %s=https://127.0.0.1:%s/metrics", s, name, name, defaultPort[name])
		}
		return Target{Kind: k}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Target{}, fmt.Errorf("scrape target %q: want %s=http(s)://host:port[/metrics]", s, name)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	return Target{Kind: k, URL: u.String()}, nil
}

var defaultPort = map[string]string{"etcd": "2381", "scheduler": "10259", "controller-manager": "10257"}

// Options configure a scrape collection.
type Options struct {
	// Config is the kubeconfig's client configuration: it reaches the API
	// server's /metrics and lends its credentials to https URL targets
	// (kube-scheduler and kube-controller-manager accept the same
	// tokens through delegated authentication).
	Config *rest.Config
	// Targets to scrape; default: the API server only.
	Targets []Target
	// Interval between the two scrapes that give rates; 0 scrapes once
	// (lifetime totals).
	Interval time.Duration
	// Timeout bounds each scrape (default 30s).
	Timeout time.Duration
	// InsecureSkipVerify skips TLS verification of URL targets (the
	// scheduler and controller-manager serve self-signed certificates by
	// default). CAFile, CertFile and KeyFile set the CA and a client
	// certificate for URL targets (etcd's client port needs one).
	InsecureSkipVerify bool
	CAFile             string
	CertFile, KeyFile  string
	// Client replaces the HTTP client for URL targets (tests).
	Client *http.Client
	Logger *slog.Logger
}

// AddTo scrapes the targets into s and records the coverage: a target
// that fails is a gap of its kind, and the control-plane kinds nobody
// delivered are NotCollected. It returns an error only for bad options.
func AddTo(ctx context.Context, s *snapshot.Snapshot, opt Options) error {
	m, gaps, err := Collect(ctx, opt)
	if err != nil {
		return err
	}
	s.AddMetrics(m, gaps)
	s.CompleteMetricCoverage()
	return nil
}

// Collect scrapes every target (concurrently; twice, Interval apart, when
// Interval is set) and reduces the samples to snapshot.Signals.
func Collect(ctx context.Context, opt Options) (*snapshot.Metrics, []snapshot.Coverage, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	targets := opt.Targets
	if len(targets) == 0 {
		targets = []Target{{Kind: snapshot.KindMetricsAPIServer}}
	}
	var fetchers []fetcher
	for _, t := range targets {
		f, err := newFetcher(t, opt)
		if err != nil {
			return nil, nil, err
		}
		fetchers = append(fetchers, f)
	}
	m := &snapshot.Metrics{}
	var gaps []snapshot.Coverage
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, f := range fetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			first, err := f.scrape(ctx, opt.Timeout)
			if err != nil {
				reason, msg := classify(err)
				log.Warn("cannot scrape", "target", f.name(), "reason", reason, "err", err)
				mu.Lock()
				gaps = append(gaps, snapshot.Coverage{Kind: f.target.Kind, Reason: reason, Message: f.name() + ": " + msg})
				mu.Unlock()
				return
			}
			var second *scrapeResult
			if opt.Interval > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(opt.Interval):
					second, err = f.scrape(ctx, opt.Timeout)
					if err != nil {
						log.Warn("second scrape failed; using lifetime totals", "target", f.name(), "err", err)
						second = nil
					}
				}
			}
			part := reduce(f.target.Kind, f.instance(), first, second)
			src := snapshot.MetricSource{Kind: f.target.Kind, Collector: "scrape", URL: f.name(), At: first.at, Version: first.version}
			if second != nil {
				src.At, src.Window = second.at, second.at.Sub(first.at)
				if src.Version == "" {
					src.Version = second.version
				}
			}
			part.Sources = []snapshot.MetricSource{src}
			log.Debug("scraped", "target", f.name(), "series", len(part.Series), "histograms", len(part.Histograms),
				"duration", time.Since(start).Round(time.Millisecond))
			mu.Lock()
			m.Sources = append(m.Sources, part.Sources...)
			m.Series = append(m.Series, part.Series...)
			m.Histograms = append(m.Histograms, part.Histograms...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(m.Sources, func(i, j int) bool { return m.Sources[i].Kind < m.Sources[j].Kind })
	sort.SliceStable(m.Series, func(i, j int) bool { return m.Series[i].Name < m.Series[j].Name })
	sort.SliceStable(m.Histograms, func(i, j int) bool { return m.Histograms[i].Name < m.Histograms[j].Name })
	return m, gaps, nil
}

// scrapeResult is one parsed scrape.
type scrapeResult struct {
	at       time.Time
	families map[string]*dto.MetricFamily
	version  string
}

type fetcher struct {
	target Target
	cs     *kubernetes.Clientset // API server target
	host   string
	client *http.Client // URL target
}

// name is the target's address for sources and messages, without
// credentials.
func (f fetcher) name() string {
	if f.target.URL == "" {
		return f.host + "/metrics"
	}
	if u, err := url.Parse(f.target.URL); err == nil {
		return u.Redacted()
	}
	return f.target.URL
}

// instance is the instance label of the samples, as Prometheus would set
// it: host:port.
func (f fetcher) instance() string {
	raw := f.target.URL
	if raw == "" {
		raw = f.host
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	if u.Port() == "" {
		if u.Scheme == "https" {
			return u.Host + ":443"
		}
		return u.Host + ":80"
	}
	return u.Host
}

func newFetcher(t Target, opt Options) (fetcher, error) {
	f := fetcher{target: t}
	if t.URL == "" {
		if t.Kind != snapshot.KindMetricsAPIServer {
			return f, fmt.Errorf("scrape %s: a URL is needed", t.Kind)
		}
		if opt.Config == nil {
			return f, errors.New("scrape apiserver: no kubeconfig")
		}
		cfg := rest.CopyConfig(opt.Config)
		cfg.Timeout = opt.Timeout
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return f, fmt.Errorf("scrape apiserver: %w", err)
		}
		f.cs, f.host = cs, strings.TrimRight(cfg.Host, "/")
		return f, nil
	}
	if opt.Client != nil {
		f.client = opt.Client
		return f, nil
	}
	u, _ := url.Parse(t.URL)
	if u.Scheme == "http" {
		// No credentials over plain HTTP (etcd's --listen-metrics-urls).
		f.client = &http.Client{}
		return f, nil
	}
	c, err := tlsClient(opt)
	if err != nil {
		return f, fmt.Errorf("scrape %s: %w", t.URL, err)
	}
	f.client = c
	return f, nil
}

// tlsClient builds the client for https URL targets: the kubeconfig's
// credentials with the target's TLS settings.
func tlsClient(opt Options) (*http.Client, error) {
	if opt.Config != nil {
		cfg := rest.CopyConfig(opt.Config)
		cfg.TLSClientConfig.ServerName = ""
		if opt.CertFile != "" || opt.KeyFile != "" {
			cfg.CertData, cfg.KeyData = nil, nil
			cfg.CertFile, cfg.KeyFile = opt.CertFile, opt.KeyFile
		}
		switch {
		case opt.InsecureSkipVerify:
			cfg.Insecure, cfg.CAFile, cfg.CAData = true, "", nil
		case opt.CAFile != "":
			cfg.CAFile, cfg.CAData = opt.CAFile, nil
		}
		cfg.Timeout = opt.Timeout
		return rest.HTTPClientFor(cfg)
	}
	tc := &tls.Config{InsecureSkipVerify: opt.InsecureSkipVerify} //nolint:gosec // an explicit user option
	if opt.CAFile != "" {
		pem, err := os.ReadFile(opt.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", opt.CAFile)
		}
		tc.RootCAs = pool
	}
	if opt.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opt.CertFile, opt.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	return &http.Client{Transport: t, Timeout: opt.Timeout}, nil
}

const acceptText = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

func (f fetcher) scrape(ctx context.Context, timeout time.Duration) (*scrapeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.ReadCloser
	if f.cs != nil {
		rc, err := f.cs.Discovery().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", acceptText).Stream(ctx)
		if err != nil {
			return nil, err
		}
		body = rc
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.target.URL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", acceptText)
		resp, err := f.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
		}
		body = resp.Body
	}
	defer body.Close()
	at := time.Now().UTC()
	fams, err := Parse(body, wanted(f.target.Kind))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", f.name(), err)
	}
	r := &scrapeResult{at: at, families: fams}
	if v := fams["etcd_server_version"]; v != nil && len(v.Metric) > 0 {
		r.version = labelValue(v.Metric[0], "server_version")
	}
	if v := fams["kubernetes_build_info"]; v != nil && len(v.Metric) > 0 {
		r.version = labelValue(v.Metric[0], "git_version")
	}
	return r, nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d", e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// wanted returns the metric family names a component's signals read, plus
// the process start time and version info.
func wanted(k snapshot.Kind) map[string]bool {
	w := map[string]bool{"process_start_time_seconds": true, "etcd_server_version": true, "kubernetes_build_info": true}
	for _, s := range snapshot.Signals {
		if s.Kind == k && s.Expr == "" {
			w[s.Metric] = true
		}
	}
	return w
}

// Parse reads Prometheus text exposition and returns the families named
// in keep (all when keep is nil). Lines of other families are dropped
// before parsing, which makes a 2 MB API server scrape about ten times
// cheaper to parse.
func Parse(r io.Reader, keep map[string]bool) (map[string]*dto.MetricFamily, error) {
	in := r
	if keep != nil {
		var buf bytes.Buffer
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			line := sc.Bytes()
			if keepLine(line, keep) {
				buf.Write(line)
				buf.WriteByte('\n')
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		in = &buf
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(in)
}

func keepLine(line []byte, keep map[string]bool) bool {
	if len(line) == 0 {
		return false
	}
	if line[0] == '#' {
		// "# HELP name ..." / "# TYPE name ..."
		f := bytes.Fields(line)
		if len(f) >= 3 && (string(f[1]) == "HELP" || string(f[1]) == "TYPE") {
			return keep[string(f[2])]
		}
		return false
	}
	end := bytes.IndexAny(line, "{ \t")
	if end < 0 {
		end = len(line)
	}
	name := string(line[:end])
	if keep[name] {
		return true
	}
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		if strings.HasSuffix(name, suf) && keep[strings.TrimSuffix(name, suf)] {
			return true
		}
	}
	return false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// classify maps a scrape error to a coverage reason and message.
func classify(err error) (snapshot.CoverageReason, string) {
	msg := err.Error()
	var se *statusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusUnauthorized:
			return snapshot.Unauthorized, msg
		case http.StatusForbidden:
			return snapshot.Forbidden, msg
		case http.StatusNotFound:
			return snapshot.NotServed, msg
		}
		return snapshot.Failed, msg
	}
	switch {
	case apierrors.IsForbidden(err):
		return snapshot.Forbidden, msg
	case apierrors.IsUnauthorized(err):
		return snapshot.Unauthorized, msg
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return snapshot.Timeout, msg
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return snapshot.Timeout, msg
	}
	var oe *net.OpError
	var ue *url.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &oe) || errors.As(err, &ue) ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") {
		return snapshot.Unreachable, msg
	}
	return snapshot.Failed, msg
}

// compiled matchers, cached per signal.
var (
	reMu    sync.Mutex
	reCache = map[string]*regexp.Regexp{}
)

func anchored(expr string) *regexp.Regexp {
	reMu.Lock()
	defer reMu.Unlock()
	if re, ok := reCache[expr]; ok {
		return re
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		re = regexp.MustCompile(`^\b$`) // matches nothing
	}
	reCache[expr] = re
	return re
}

func matches(ms []snapshot.Matcher, labels map[string]string) bool {
	for _, m := range ms {
		v := labels[m.Name]
		switch m.Op {
		case "=":
			if v != m.Value {
				return false
			}
		case "!=":
			if v == m.Value {
				return false
			}
		case "=~":
			if !anchored(m.Value).MatchString(v) {
				return false
			}
		case "!~":
			if anchored(m.Value).MatchString(v) {
				return false
			}
		}
	}
	return true
}
