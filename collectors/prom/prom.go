// Package prom collects the metric checks' inputs from a Prometheus server
// through its HTTP API (client_golang's api and api/prometheus/v1): one
// PromQL query per signal of snapshot.Signals, instant or range, each with
// its own timeout, turned into snapshot series and histograms.
//
// A Prometheus that cannot be reached, refuses the credentials or times
// out is recorded in the snapshot's coverage (metrics/prometheus and the
// component kinds it would have delivered), so the checks that need those
// metrics report unknown instead of passing. A component Prometheus does
// not scrape at all (etcd on a managed cluster) is recorded as
// NotCollected: its checks are skipped.
//
// QueryRange runs one range query of arbitrary PromQL (patrol analyze
// --query) with the same client, credentials and error classification.
//
// Range results are parsed by a hand-written decoder for the matrix shape,
// about ten times faster than encoding/json (see BenchmarkDecodeMatrix).
package prom

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Options configure a Prometheus collection.
type Options struct {
	// URL is the Prometheus base address, e.g. http://prometheus:9090 or a
	// path-prefixed one (https://host/prometheus). User info in the URL is
	// sent as basic auth.
	URL string
	// BearerToken, or BearerTokenFile (read once), is sent as
	// Authorization: Bearer.
	BearerToken     string
	BearerTokenFile string
	// CAFile verifies the server's certificate; InsecureSkipVerify skips
	// verification. CertFile and KeyFile are a client certificate.
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
	// Headers are added to every request (e.g. X-Scope-OrgID for Mimir).
	Headers map[string]string
	// Matchers are label matchers added to every selector, e.g.
	// `cluster="prod-eu1"` when one Prometheus holds several clusters.
	Matchers string
	// Jobs overrides DefaultJobs per component kind.
	Jobs map[snapshot.Kind]string
	// Timeout bounds each query (default 30s).
	Timeout time.Duration
	// Lookback is the range of history queries (default 1h) and Step
	// their resolution (default 1m). Signals with their own lookback
	// (the API server's error-budget windows, 3 days) keep it unless
	// MaxLookback caps it.
	Lookback    time.Duration
	Step        time.Duration
	MaxLookback time.Duration
	// At is the evaluation time; zero means the snapshot's CollectedAt
	// (AddTo) or now.
	At time.Time
	// Concurrency bounds the queries in flight (default 4).
	Concurrency int
	// Extra are signals collected besides snapshot.Signals, with the same
	// rules (matchers, job scoping, fallbacks, coverage, lookback capped
	// by MaxLookback): the anomaly checks' long histories
	// (anomaly.Signals) are passed here by the code that wires checks and
	// collectors, so that this package does not depend on the checks.
	Extra []snapshot.Signal
	// Client replaces the HTTP client (tests); the TLS and token options
	// are then ignored.
	Client *http.Client
	Logger *slog.Logger
}

// AddTo collects from the Prometheus at opt.URL into s, and records the
// coverage. Without a URL it records metrics/prometheus (and the node
// metrics, which only Prometheus has) as NotCollected. It returns an error
// only for bad options; an unreachable Prometheus is coverage, not an
// error.
func AddTo(ctx context.Context, s *snapshot.Snapshot, opt Options) error {
	if opt.At.IsZero() {
		opt.At = s.CollectedAt
	}
	if strings.TrimSpace(opt.URL) == "" {
		s.AddMetrics(nil, []snapshot.Coverage{
			{Kind: snapshot.KindMetricsPrometheus, Reason: snapshot.NotCollected, Message: "no Prometheus URL configured"},
			{Kind: snapshot.KindMetricsNode, Reason: snapshot.NotCollected, Message: "node_exporter metrics need a Prometheus URL"},
		})
		s.CompleteMetricCoverage()
		return nil
	}
	m, gaps, err := Collect(ctx, opt)
	if err != nil {
		return err
	}
	s.AddMetrics(m, gaps)
	s.CompleteMetricCoverage()
	return nil
}

// Collect runs the signal queries against one Prometheus. It returns the
// metrics and the coverage gaps; err is set only for invalid options.
func Collect(ctx context.Context, opt Options) (*snapshot.Metrics, []snapshot.Coverage, error) {
	c, err := newCollector(opt)
	if err != nil {
		return nil, nil, err
	}
	return c.collect(ctx)
}

type collector struct {
	opt    Options
	client api.Client
	api    v1.API
	url    string // redacted, for sources and messages
	log    *slog.Logger
	at     time.Time
}

func newCollector(opt Options) (*collector, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Lookback <= 0 {
		opt.Lookback = time.Hour
	}
	if opt.Step <= 0 {
		opt.Step = time.Minute
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(strings.TrimSpace(opt.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q: want http(s)://host[:port][/path]", opt.URL)
	}
	var user *url.Userinfo
	if u.User != nil {
		user, u.User = u.User, nil
	}
	hc := opt.Client
	if hc == nil {
		rt, err := transport(opt, user)
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Transport: rt}
	} else if user != nil || opt.BearerToken != "" || opt.BearerTokenFile != "" || len(opt.Headers) > 0 {
		rt := hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		auth, err := authRoundTripper(rt, opt, user)
		if err != nil {
			return nil, err
		}
		c := *hc
		c.Transport = auth
		hc = &c
	}
	client, err := api.NewClient(api.Config{Address: u.String(), Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	at := opt.At
	if at.IsZero() {
		at = time.Now()
	}
	return &collector{opt: opt, client: client, api: v1.NewAPI(client), url: u.String(), log: log, at: at.UTC()}, nil
}

func transport(opt Options, user *url.Userinfo) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{InsecureSkipVerify: opt.InsecureSkipVerify} //nolint:gosec // an explicit user option
	if opt.CAFile != "" {
		pem, err := os.ReadFile(opt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("prometheus CA file %s: no PEM certificate", opt.CAFile)
		}
		tc.RootCAs = pool
	}
	if opt.CertFile != "" || opt.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opt.CertFile, opt.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	return authRoundTripper(t, opt, user)
}

func authRoundTripper(rt http.RoundTripper, opt Options, user *url.Userinfo) (http.RoundTripper, error) {
	token := strings.TrimSpace(opt.BearerToken)
	if opt.BearerTokenFile != "" {
		b, err := os.ReadFile(opt.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" && user == nil && len(opt.Headers) == 0 {
		return rt, nil
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		for k, v := range opt.Headers {
			r.Header.Set(k, v)
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		} else if user != nil {
			pw, _ := user.Password()
			r.SetBasicAuth(user.Username(), pw)
		}
		return rt.RoundTrip(r)
	}), nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// result of one signal's query.
type result struct {
	sig    snapshot.Signal
	series []snapshot.Series
	err    error
}

func (c *collector) collect(ctx context.Context) (*snapshot.Metrics, []snapshot.Coverage, error) {
	start := time.Now()
	version := ""
	// One cheap request first: when Prometheus is down or refuses us,
	// every component is recorded at once instead of after a timeout per
	// query. Servers without the buildinfo endpoint (404) are fine.
	bctx, cancel := context.WithTimeout(ctx, min(c.opt.Timeout, 10*time.Second))
	bi, err := c.api.Buildinfo(bctx)
	cancel()
	if err == nil {
		version = bi.Version
	} else if reason, msg, blocking := classify(err); blocking {
		c.log.Warn("prometheus unavailable", "url", c.url, "reason", reason, "err", err)
		return nil, c.allGaps(reason, fmt.Sprintf("Prometheus %s: %s", c.url, msg)), nil
	}

	var primary, fallback []snapshot.Signal
	for _, sig := range slices.Concat(snapshot.Signals, c.opt.Extra) {
		if sig.FallbackFor == "" {
			primary = append(primary, sig)
		} else {
			fallback = append(fallback, sig)
		}
	}
	results := c.run(ctx, primary)
	// A fallback (an older metric name) runs only when the signal it
	// stands in for came back empty.
	var need []snapshot.Signal
	for _, f := range fallback {
		if p := find(results, f.FallbackFor); p != nil && p.err == nil && len(p.series) == 0 {
			need = append(need, f)
		}
	}
	results = append(results, c.run(ctx, need)...)

	m := &snapshot.Metrics{}
	var gaps []snapshot.Coverage
	byKind := map[snapshot.Kind][]result{}
	var firstErr error
	failures := 0
	for _, r := range results {
		byKind[r.sig.Kind] = append(byKind[r.sig.Kind], r)
		if r.err != nil {
			failures++
			if firstErr == nil {
				firstErr = r.err
			}
			c.log.Warn("prometheus query failed", "signal", r.sig.Name, "err", r.err)
		}
	}
	if failures == len(results) && firstErr != nil {
		reason, msg, _ := classify(firstErr)
		return nil, c.allGaps(reason, fmt.Sprintf("Prometheus %s: %s", c.url, msg)), nil
	}
	downJobs := c.downJobs(ctx)
	for _, k := range snapshot.MetricKinds {
		rs := byKind[k]
		present := false
		for _, r := range rs {
			present = present || len(r.series) > 0
		}
		if !present {
			gaps = append(gaps, c.componentGap(k, rs, downJobs))
			continue
		}
		src := snapshot.MetricSource{Kind: k, Collector: "prometheus", URL: c.url, At: c.at, Version: version}
		for _, r := range rs {
			if r.err != nil {
				if src.Errors == nil {
					src.Errors = map[string]string{}
				}
				src.Errors[r.sig.Name] = r.err.Error()
				continue
			}
			c.add(m, r)
		}
		m.Sources = append(m.Sources, src)
	}
	m.Sources = append(m.Sources, snapshot.MetricSource{Kind: snapshot.KindMetricsPrometheus, Collector: "prometheus", URL: c.url, At: c.at, Version: version})
	c.log.Info("queried prometheus", "url", c.url, "series", len(m.Series), "histograms", len(m.Histograms),
		"failed", failures, "gaps", len(gaps), "duration", time.Since(start).Round(time.Millisecond))
	return m, gaps, nil
}

func find(results []result, name string) *result {
	for i := range results {
		if results[i].sig.Name == name {
			return &results[i]
		}
	}
	return nil
}

func matchAnchored(re, s string) bool {
	r, err := regexp.Compile("^(?:" + re + ")$")
	return err == nil && r.MatchString(s)
}

// allGaps records every kind Prometheus would have delivered.
func (c *collector) allGaps(reason snapshot.CoverageReason, msg string) []snapshot.Coverage {
	gaps := []snapshot.Coverage{{Kind: snapshot.KindMetricsPrometheus, Reason: reason, Message: msg}}
	for _, k := range snapshot.MetricKinds {
		gaps = append(gaps, snapshot.Coverage{Kind: k, Reason: reason, Message: msg})
	}
	return gaps
}

// componentGap explains why a component's metrics are missing: a failed
// query, a Prometheus target that is down, or no such metrics at all.
func (c *collector) componentGap(k snapshot.Kind, rs []result, downJobs []string) snapshot.Coverage {
	for _, r := range rs {
		if r.err != nil {
			reason, msg, _ := classify(r.err)
			return snapshot.Coverage{Kind: k, Reason: reason, Message: fmt.Sprintf("Prometheus %s: query %s: %s", c.url, r.sig.Name, msg)}
		}
	}
	if re := jobRegexp(k, c.opt.Jobs); re != "" {
		for _, j := range downJobs {
			if matchAnchored(re, j) {
				return snapshot.Coverage{Kind: k, Reason: snapshot.Unreachable,
					Message: fmt.Sprintf("Prometheus %s cannot scrape job %q (up == 0 on all its targets)", c.url, j)}
			}
		}
	}
	presence := ""
	for _, r := range rs {
		if r.sig.Presence {
			presence = r.sig.Metric
		}
	}
	return snapshot.Coverage{Kind: k, Reason: snapshot.NotCollected,
		Message: fmt.Sprintf("Prometheus %s has no %s series", c.url, presence)}
}

// downJobs lists the jobs whose targets are all down.
func (c *collector) downJobs(ctx context.Context) []string {
	expr := "max by (job) (up) == 0"
	if ex := strings.TrimSpace(strings.Trim(strings.TrimSpace(c.opt.Matchers), "{}")); ex != "" {
		expr = "max by (job) (up{" + ex + "}) == 0"
	}
	rs, err := c.query(ctx, query{expr: expr, end: c.at})
	if err != nil {
		return nil
	}
	var jobs []string
	for _, s := range rs {
		jobs = append(jobs, s.Labels["job"])
	}
	sort.Strings(jobs)
	return jobs
}

// run queries the signals concurrently.
func (c *collector) run(ctx context.Context, sigs []snapshot.Signal) []result {
	out := make([]result, len(sigs))
	sem := make(chan struct{}, c.opt.Concurrency)
	var wg sync.WaitGroup
	for i, s := range sigs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			q := query{sig: s, expr: Expr(s, c.opt.Matchers, c.opt.Jobs), end: c.at}
			if s.History {
				q.rng = true
				q.step = s.Step
				if q.step <= 0 {
					q.step = c.opt.Step
				}
				lb := s.Lookback
				if lb <= 0 {
					lb = c.opt.Lookback
				}
				if c.opt.MaxLookback > 0 && lb > c.opt.MaxLookback {
					lb = c.opt.MaxLookback
				}
				q.start = c.at.Add(-lb)
			}
			rs, err := c.query(ctx, q)
			out[i] = result{sig: s, series: rs, err: err}
		}()
	}
	wg.Wait()
	return out
}

// query runs one instant or range query.
func (c *collector) query(ctx context.Context, q query) ([]snapshot.Series, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	args := url.Values{}
	args.Set("query", q.expr)
	args.Set("timeout", promDuration(c.opt.Timeout))
	ep := "/api/v1/query"
	hint := 0
	if q.rng {
		ep = "/api/v1/query_range"
		args.Set("start", formatTime(q.start))
		args.Set("end", formatTime(q.end))
		args.Set("step", strconv.FormatFloat(q.step.Seconds(), 'f', -1, 64))
		hint = int(q.end.Sub(q.start)/q.step) + 1
	} else {
		args.Set("time", formatTime(q.end))
	}
	u := c.client.URL(ep, nil)
	u.RawQuery = args.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, body, err := c.client.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &queryError{reason: snapshot.Timeout, msg: fmt.Sprintf("no answer within %s", c.opt.Timeout)}
		}
		return nil, err
	}
	r, derr := decodeResponse(body, hint)
	if resp.StatusCode/100 != 2 {
		msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if derr == nil && r.Error != "" {
			msg += ": " + r.ErrorType + ": " + r.Error
		} else if len(body) > 0 {
			msg += ": " + firstLine(string(body), 200)
		}
		return nil, &queryError{status: resp.StatusCode, reason: statusReason(resp.StatusCode, r), msg: msg}
	}
	if derr != nil {
		return nil, &queryError{reason: snapshot.Failed, msg: derr.Error()}
	}
	if r.Status != "success" {
		return nil, &queryError{reason: snapshot.Failed, msg: r.ErrorType + ": " + r.Error}
	}
	for _, w := range r.Warnings {
		c.log.Debug("prometheus warning", "query", q.expr, "warning", w)
	}
	return r.Series, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// queryError is an HTTP-level or API-level query failure.
type queryError struct {
	status int
	reason snapshot.CoverageReason
	msg    string
}

func (e *queryError) Error() string { return e.msg }

func statusReason(code int, r *response) snapshot.CoverageReason {
	switch {
	case code == http.StatusUnauthorized:
		return snapshot.Unauthorized
	case code == http.StatusForbidden:
		return snapshot.Forbidden
	case code == http.StatusServiceUnavailable && r != nil && r.ErrorType == "timeout",
		code == http.StatusGatewayTimeout:
		return snapshot.Timeout
	case code == http.StatusNotFound, code == http.StatusBadGateway, code == http.StatusServiceUnavailable:
		return snapshot.Unreachable
	}
	return snapshot.Failed
}

// classify maps an error to a coverage reason; blocking says that no
// query can succeed (Prometheus is down or refuses us).
func classify(err error) (reason snapshot.CoverageReason, msg string, blocking bool) {
	msg = err.Error()
	var qe *queryError
	if errors.As(err, &qe) {
		blocking = qe.reason == snapshot.Unauthorized || qe.reason == snapshot.Forbidden ||
			(qe.reason == snapshot.Unreachable && qe.status != http.StatusNotFound)
		return qe.reason, qe.msg, blocking
	}
	var ae *v1.Error
	if errors.As(err, &ae) {
		switch {
		case strings.Contains(ae.Msg, "401"):
			return snapshot.Unauthorized, msg, true
		case strings.Contains(ae.Msg, "403"):
			return snapshot.Forbidden, msg, true
		case strings.Contains(ae.Msg, "404"):
			return snapshot.Failed, msg, false
		case ae.Type == v1.ErrTimeout:
			return snapshot.Timeout, msg, false
		}
		if strings.HasPrefix(ae.Msg, "server error: 5") {
			return snapshot.Unreachable, msg, true
		}
		return snapshot.Failed, msg, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return snapshot.Timeout, msg, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return snapshot.Timeout, msg, true
	}
	var oe *net.OpError
	var de *net.DNSError
	var ue *url.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &ue) {
		return snapshot.Unreachable, msg, true
	}
	var ce *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ce) || errors.As(err, &ua) {
		return snapshot.Failed, msg, true
	}
	return snapshot.Failed, msg, false
}

// add converts a signal's result into snapshot series or histograms.
func (c *collector) add(m *snapshot.Metrics, r result) {
	s := r.sig
	switch {
	case s.Expr != "":
		for _, x := range r.series {
			x.Name, x.Source, x.Type = s.Name, "prometheus", snapshot.Gauge
			m.Series = append(m.Series, x)
		}
	case s.Type == snapshot.SignalHistogram:
		m.Histograms = append(m.Histograms, histograms(s, r.series, c.at)...)
	default:
		for _, x := range r.series {
			x.Name, x.Source = s.Name, "prometheus"
			x.Type = snapshot.Gauge
			if s.Type == snapshot.SignalCounter {
				x.Type, x.Window = snapshot.Rate, s.Window
			}
			m.Series = append(m.Series, x)
		}
	}
}

// histograms groups `sum by (..., le)` bucket series into histograms.
func histograms(s snapshot.Signal, series []snapshot.Series, at time.Time) []snapshot.Histogram {
	idx := map[string]int{}
	var out []snapshot.Histogram
	for _, x := range series {
		le, ok := x.Labels["le"]
		if !ok || len(x.Samples) == 0 {
			continue
		}
		bound, err := snapshot.ParseValue(le)
		if err != nil {
			continue
		}
		labels := make(map[string]string, len(x.Labels))
		for k, v := range x.Labels {
			if k != "le" {
				labels[k] = v
			}
		}
		if len(labels) == 0 {
			labels = nil
		}
		key := snapshot.MetricSelector("", labels)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, snapshot.Histogram{Name: s.Name, Labels: labels, Source: "prometheus", T: at.UnixMilli(), Window: s.Window})
		}
		last := x.Samples[len(x.Samples)-1]
		out[i].T = last.T
		out[i].Buckets = append(out[i].Buckets, snapshot.Bucket{UpperBound: bound, Count: last.V})
	}
	kept := out[:0]
	for _, h := range out {
		b := h.Buckets
		sort.Slice(b, func(x, y int) bool { return b[x].UpperBound < b[y].UpperBound })
		h.Count = h.Total()
		if h.Count > 0 { // no observations in the window: nothing to judge
			kept = append(kept, h)
		}
	}
	out = kept
	sort.SliceStable(out, func(a, b int) bool {
		return snapshot.MetricSelector("", out[a].Labels) < snapshot.MetricSelector("", out[b].Labels)
	})
	return out
}
