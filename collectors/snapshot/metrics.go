package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Metrics holds metric data gathered for a snapshot: series (gauges, rates,
// counters) and histograms, from Prometheus queries or direct /metrics
// scrapes. Its layout is owned by the metric collectors (collectors/prom,
// collectors/scrape), which both produce the same named series (see
// docs/metrics.md), so the checks do not care where the data came from.
type Metrics struct {
	// Sources says where the data came from: one entry per component and
	// collector that delivered data.
	Sources    []MetricSource `json:"sources,omitempty"`
	Series     []Series       `json:"series,omitempty"`
	Histograms []Histogram    `json:"histograms,omitempty"`
}

// The metric coverage kinds: one per control-plane component (whatever
// collector delivered its metrics), node_exporter data, and Prometheus
// itself. A check lists the component kinds it needs in Meta.Requires.
const (
	KindMetricsPrometheus        Kind = "metrics/prometheus"
	KindMetricsAPIServer         Kind = "metrics/apiserver"
	KindMetricsEtcd              Kind = "metrics/etcd"
	KindMetricsScheduler         Kind = "metrics/scheduler"
	KindMetricsControllerManager Kind = "metrics/controller-manager"
	KindMetricsNode              Kind = "metrics/node"
)

// MetricKinds lists the component metric kinds.
var MetricKinds = []Kind{
	KindMetricsAPIServer, KindMetricsEtcd, KindMetricsScheduler, KindMetricsControllerManager, KindMetricsNode,
}

// MetricSource records one delivery of metrics: which component, how
// (Prometheus or a scrape), from where and when.
type MetricSource struct {
	// Kind is the component's metric kind, e.g. metrics/apiserver.
	Kind Kind `json:"kind"`
	// Collector is "prometheus" or "scrape".
	Collector string `json:"collector"`
	// URL is the Prometheus or /metrics address (credentials removed).
	URL string    `json:"url,omitempty"`
	At  time.Time `json:"at"`
	// Window is the time between the two scrapes whose difference gave
	// the rates; 0 for a single scrape (counters are lifetime totals).
	Window time.Duration `json:"windowNanos,omitempty"`
	// Version is the component's or Prometheus' version, when known.
	Version string `json:"version,omitempty"`
	// Errors names the signals that could not be read although the
	// component was (a query that timed out), with the error.
	Errors map[string]string `json:"errors,omitempty"`
}

// SignalError returns the error recorded for a signal by the source of
// kind k, if any.
func (m *Metrics) SignalError(k Kind, signal string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, s := range m.Sources {
		if s.Kind == k {
			if e, ok := s.Errors[signal]; ok {
				return e, true
			}
		}
	}
	return "", false
}

// SeriesType says what a series' samples are.
type SeriesType string

const (
	// Gauge samples are values at their time ("" means gauge too).
	Gauge SeriesType = "gauge"
	// Rate samples are per-second rates over Window ending at their time
	// (Prometheus rate(), or the difference of two scrapes).
	Rate SeriesType = "rate"
	// Counter samples are cumulative totals since Start (a single scrape).
	Counter SeriesType = "counter"
)

// Series is one labelled metric series with its samples (one sample for an
// instant value), oldest first.
type Series struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Source string            `json:"source,omitempty"`
	Type   SeriesType        `json:"type,omitempty"`
	// Window is the range each Rate sample covers.
	Window time.Duration `json:"windowNanos,omitempty"`
	// Start is when a Counter started counting (the process start time,
	// Unix ms), 0 when unknown.
	Start   int64   `json:"start,omitempty"`
	Samples Samples `json:"samples"`
}

// Sample is a value at a time (Unix milliseconds).
type Sample struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// Time returns the sample's time.
func (s Sample) Time() time.Time { return time.UnixMilli(s.T).UTC() }

// Samples is a run of samples, oldest first. Its JSON form is
// [{"t":ms,"v":value},...] where a non-finite value is written as the
// string "NaN", "+Inf" or "-Inf"; the compact [[ms,value],...] form is
// read as well.
type Samples []Sample

// MarshalJSON writes the samples without reflection.
func (ss Samples) MarshalJSON() ([]byte, error) {
	if ss == nil {
		return []byte("[]"), nil
	}
	b := make([]byte, 0, 2+len(ss)*28)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"t":`...)
		b = strconv.AppendInt(b, s.T, 10)
		b = append(b, `,"v":`...)
		b = appendFloat(b, s.V)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// UnmarshalJSON reads either form written by MarshalJSON.
func (ss *Samples) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Samples, 0, len(raw))
	for _, r := range raw {
		r = bytes.TrimSpace(r)
		var s Sample
		var tv, vv json.RawMessage
		switch {
		case len(r) > 0 && r[0] == '[':
			var pair []json.RawMessage
			if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
				return fmt.Errorf("sample %s: want [t, v]", r)
			}
			tv, vv = pair[0], pair[1]
		default:
			var obj struct {
				T json.RawMessage `json:"t"`
				V json.RawMessage `json:"v"`
			}
			if err := json.Unmarshal(r, &obj); err != nil {
				return fmt.Errorf("sample %s: %w", r, err)
			}
			tv, vv = obj.T, obj.V
		}
		if err := json.Unmarshal(tv, &s.T); err != nil {
			return fmt.Errorf("sample time %s: %w", tv, err)
		}
		v, err := parseJSONFloat(vv)
		if err != nil {
			return err
		}
		s.V = v
		out = append(out, s)
	}
	*ss = out
	return nil
}

func parseJSONFloat(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return ParseValue(s)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, fmt.Errorf("sample value %s: %w", raw, err)
	}
	return f, nil
}

// ParseValue parses a sample value as Prometheus writes it: a number,
// NaN, +Inf or -Inf.
func ParseValue(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// FormatValue renders a sample value the way Prometheus does.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Histogram is a Prometheus histogram's cumulative buckets: the counts
// observed in Window ending at T (from increase() over the window, or the
// difference of two scrapes), or, when Window is 0, since Start (a single
// scrape: the process' lifetime).
type Histogram struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Source string            `json:"source,omitempty"`
	// T is the end of the window (Unix ms).
	T      int64         `json:"t"`
	Window time.Duration `json:"windowNanos,omitempty"`
	// Start is when counting started, for a lifetime histogram (Unix ms,
	// 0 when unknown).
	Start int64 `json:"start,omitempty"`
	// Buckets are cumulative, ordered by upper bound; the last one is +Inf.
	Buckets []Bucket `json:"buckets"`
	Count   float64  `json:"count"`
	Sum     float64  `json:"sum"`
}

// Bucket is one cumulative histogram bucket: Count observations were at
// most UpperBound (the `le` label).
type Bucket struct {
	UpperBound float64
	Count      float64
}

// MarshalJSON writes {"le":"0.5","count":12}; le is a string so +Inf
// survives.
func (b Bucket) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 40)
	out = append(out, `{"le":"`...)
	out = append(out, FormatValue(b.UpperBound)...)
	out = append(out, `","count":`...)
	out = appendFloat(out, b.Count)
	return append(out, '}'), nil
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var raw struct {
		Le    string          `json:"le"`
		Count json.RawMessage `json:"count"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	le, err := ParseValue(raw.Le)
	if err != nil {
		return fmt.Errorf("bucket le %q: %w", raw.Le, err)
	}
	c, err := parseJSONFloat(raw.Count)
	if err != nil {
		return err
	}
	b.UpperBound, b.Count = le, c
	return nil
}

// Time returns the end of the histogram's window.
func (h *Histogram) Time() time.Time { return time.UnixMilli(h.T).UTC() }

// Total returns the number of observations (the +Inf bucket, else Count).
func (h *Histogram) Total() float64 {
	if n := len(h.Buckets); n > 0 && math.IsInf(h.Buckets[n-1].UpperBound, 1) {
		return h.Buckets[n-1].Count
	}
	return h.Count
}

// Covered returns how long the histogram's counts cover: Window, or, for a
// lifetime histogram, the time since Start (0 when unknown).
func (h *Histogram) Covered() time.Duration {
	if h.Window > 0 {
		return h.Window
	}
	if h.Start > 0 && h.T > h.Start {
		return time.Duration(h.T-h.Start) * time.Millisecond
	}
	return 0
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) by linear interpolation
// within the bucket it falls in, exactly as PromQL's histogram_quantile:
// the lowest bucket starts at 0 (when its bound is positive), a quantile in
// the +Inf bucket is the highest finite bound, and non-monotonic counts
// (from float arithmetic) are repaired. It returns NaN when the histogram
// is empty or has no +Inf bucket.
func (h *Histogram) Quantile(q float64) float64 {
	return BucketQuantile(q, h.Buckets)
}

// BucketQuantile is Histogram.Quantile over bare cumulative buckets.
func BucketQuantile(q float64, buckets []Bucket) float64 {
	if math.IsNaN(q) {
		return math.NaN()
	}
	if q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(1)
	}
	n := len(buckets)
	if n < 2 || !math.IsInf(buckets[n-1].UpperBound, 1) {
		return math.NaN()
	}
	bs := make([]Bucket, n)
	copy(bs, buckets)
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].UpperBound < bs[j].UpperBound })
	for i := 1; i < n; i++ { // enforce monotonicity
		if bs[i].Count < bs[i-1].Count {
			bs[i].Count = bs[i-1].Count
		}
	}
	total := bs[n-1].Count
	if total == 0 || math.IsNaN(total) {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(n-1, func(i int) bool { return bs[i].Count >= rank })
	if i == n-1 {
		return bs[n-2].UpperBound
	}
	if i == 0 && bs[0].UpperBound <= 0 {
		return bs[0].UpperBound
	}
	start, end := 0.0, bs[i].UpperBound
	count := bs[i].Count
	if i > 0 {
		start = bs[i-1].UpperBound
		count -= bs[i-1].Count
		rank -= bs[i-1].Count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// FractionAbove returns the share of observations above bound, counting a
// bucket whose upper bound is bound as at-or-below it. It is exact when
// bound is a bucket boundary (the way SLOs are measured).
func (h *Histogram) FractionAbove(bound float64) float64 {
	total := h.Total()
	if total <= 0 {
		return math.NaN()
	}
	below := 0.0
	for _, b := range h.Buckets {
		if b.UpperBound <= bound && b.Count > below {
			below = b.Count
		}
	}
	return (total - below) / total
}

// Time returns the time of the newest sample, or the zero time.
func (s *Series) Time() time.Time {
	if l, ok := s.Last(); ok {
		return l.Time()
	}
	return time.Time{}
}

// Last returns the newest sample.
func (s *Series) Last() (Sample, bool) {
	if len(s.Samples) == 0 {
		return Sample{}, false
	}
	return s.Samples[len(s.Samples)-1], true
}

// Since returns the samples at or after t (Unix ms).
func (s *Series) Since(t int64) Samples {
	i := sort.Search(len(s.Samples), func(i int) bool { return s.Samples[i].T >= t })
	return s.Samples[i:]
}

// Increase returns how much a Rate or Counter series grew over the period
// it covers, and that period: for a Rate series, the sum over the samples
// whose windows end within the last `within` (all samples when within is
// 0; at least the newest) of rate×Window —
// exact when the samples tile the time (step = Window), as the collectors
// arrange; for a Counter series, the last value and the time since Start.
// ok is false for gauges, for a Counter without Start, and for no samples.
func (s *Series) Increase(within time.Duration) (inc float64, covered time.Duration, ok bool) {
	last, has := s.Last()
	if !has {
		return 0, 0, false
	}
	switch s.Type {
	case Rate:
		if s.Window <= 0 {
			return 0, 0, false
		}
		ss := s.Samples
		if within > 0 {
			// samples whose window ends within the last `within`, and at
			// least the newest one
			ss = s.Since(min(last.T, last.T-within.Milliseconds()+s.Window.Milliseconds()))
		}
		n := 0
		for _, x := range ss {
			if math.IsNaN(x.V) {
				continue
			}
			inc += x.V * s.Window.Seconds()
			n++
		}
		if n == 0 {
			return 0, 0, false
		}
		return inc, time.Duration(n) * s.Window, true
	case Counter:
		if s.Start <= 0 || last.T <= s.Start {
			return 0, 0, false
		}
		return last.V, time.Duration(last.T-s.Start) * time.Millisecond, true
	}
	return 0, 0, false
}

// PerSecond is Increase divided by the time it covers.
func (s *Series) PerSecond(within time.Duration) (float64, time.Duration, bool) {
	inc, cov, ok := s.Increase(within)
	if !ok || cov <= 0 {
		return 0, 0, false
	}
	return inc / cov.Seconds(), cov, true
}

// Find returns the series called name whose labels include every pair of
// match (all series of that name when match is empty).
func (m *Metrics) Find(name string, match map[string]string) []*Series {
	if m == nil {
		return nil
	}
	var out []*Series
	for i := range m.Series {
		s := &m.Series[i]
		if s.Name == name && LabelsMatch(match, s.Labels) {
			out = append(out, s)
		}
	}
	return out
}

// FindHistograms returns the histograms called name whose labels include
// every pair of match.
func (m *Metrics) FindHistograms(name string, match map[string]string) []*Histogram {
	if m == nil {
		return nil
	}
	var out []*Histogram
	for i := range m.Histograms {
		h := &m.Histograms[i]
		if h.Name == name && LabelsMatch(match, h.Labels) {
			out = append(out, h)
		}
	}
	return out
}

// Has reports whether any series or histogram is called name.
func (m *Metrics) Has(name string) bool {
	return len(m.Find(name, nil)) > 0 || len(m.FindHistograms(name, nil)) > 0
}

// Source returns the source that delivered kind k, if any.
func (m *Metrics) Source(k Kind) (MetricSource, bool) {
	if m == nil {
		return MetricSource{}, false
	}
	for _, s := range m.Sources {
		if s.Kind == k {
			return s, true
		}
	}
	return MetricSource{}, false
}

// MetricSelector renders a series as a PromQL selector with sorted labels, e.g.
// `etcd_server_has_leader{instance="10.0.0.1:2379"}`; it is the path of a
// metric evidence item.
func MetricSelector(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// LabelsMatch reports whether labels include every pair of match (true
// for an empty match).
func LabelsMatch(match, labels map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// AddMetrics merges metrics delivered by one collector into s and settles
// the metric coverage: kinds that m delivers lose any coverage gap; gaps
// are recorded for the other kinds unless another collector already
// delivered them, and a blind gap (Unreachable, Forbidden…) replaces a
// NotCollected one. Collectors call it; it is not safe for concurrent use.
func (s *Snapshot) AddMetrics(m *Metrics, gaps []Coverage) {
	if m != nil && (len(m.Sources) > 0 || len(m.Series) > 0 || len(m.Histograms) > 0) {
		if s.Metrics == nil {
			s.Metrics = &Metrics{}
		}
		s.Metrics.Sources = append(s.Metrics.Sources, m.Sources...)
		s.Metrics.Series = append(s.Metrics.Series, m.Series...)
		s.Metrics.Histograms = append(s.Metrics.Histograms, m.Histograms...)
		for _, src := range m.Sources {
			s.dropGap(src.Kind)
		}
	}
	for _, g := range gaps {
		if _, ok := s.Metrics.Source(g.Kind); ok {
			continue
		}
		old, ok := s.Gap(g.Kind)
		switch {
		case !ok:
			s.Coverage = append(s.Coverage, g)
		case old.Reason == NotCollected && g.Reason != NotCollected:
			s.dropGap(g.Kind)
			s.Coverage = append(s.Coverage, g)
		}
	}
	sort.SliceStable(s.Coverage, func(i, j int) bool { return s.Coverage[i].Kind < s.Coverage[j].Kind })
}

// CompleteMetricCoverage records NotCollected for every metric kind that
// no collector delivered and none reported a gap for, so that the metric
// checks are skipped (not silently passed) on snapshots without metrics,
// e.g. recorded files.
func (s *Snapshot) CompleteMetricCoverage() {
	var gaps []Coverage
	for _, k := range MetricKinds {
		if _, ok := s.Metrics.Source(k); ok {
			continue
		}
		if _, ok := s.Gap(k); !ok {
			gaps = append(gaps, Coverage{Kind: k, Reason: NotCollected, Message: "no metrics collected for it"})
		}
	}
	s.AddMetrics(nil, gaps)
}

func (s *Snapshot) dropGap(k Kind) {
	out := s.Coverage[:0]
	for _, c := range s.Coverage {
		if c.Kind != k {
			out = append(out, c)
		}
	}
	s.Coverage = out
}

// SignalType is how a signal's source metric is read.
type SignalType string

// Signal types.
const (
	// SignalGauge: values aggregated as they are.
	SignalGauge SignalType = "gauge"
	// SignalCounter: per-second rates over the signal's window.
	SignalCounter SignalType = "counter"
	// SignalHistogram: bucket increases over the signal's window.
	SignalHistogram SignalType = "histogram"
)

// Matcher is a label matcher as in PromQL: Op is one of =, !=, =~, !~
// (regular expressions are anchored).
type Matcher struct {
	Name, Op, Value string
}

// Signal is one named input of the metric checks: which metric of which
// component, filtered how, aggregated by which labels. Both collectors
// produce exactly these series and histograms: collectors/prom turns a
// signal into PromQL (`sum by (By) (rate(Metric{Match}[Window]))`), and
// collectors/scrape applies the same filter and aggregation to scraped
// /metrics samples. Signals with Expr are computed by Prometheus only
// (node_exporter data, predict_linear).
type Signal struct {
	// Name is the series or histogram name in the snapshot.
	Name string
	// Kind is the component metric kind that delivers it.
	Kind Kind
	// Metric is the source metric (a histogram's base name, without
	// _bucket).
	Metric string
	Type   SignalType
	Match  []Matcher
	// By lists the labels kept; the others are aggregated away.
	By []string
	// Agg aggregates gauges: sum (default), max or min. Counters and
	// histograms are always summed.
	Agg string
	// Window is the rate() / increase() range (Prometheus).
	Window time.Duration
	// History asks Prometheus for a range query over the lookback, at
	// Step (Prometheus' default step when 0); Lookback overrides the
	// collector's lookback. A scrape gives the two scrapes' samples.
	History  bool
	Lookback time.Duration
	Step     time.Duration
	// FallbackFor names a signal this one replaces when that one has no
	// data (an older metric name).
	FallbackFor string
	// JobScoped signals come from metric names several components expose
	// (workqueue_*): Prometheus restricts them to the component's job.
	JobScoped bool
	// Presence marks the signal whose absence, when the component has no
	// data at all, is named in the coverage gap.
	Presence bool
	// Expr, when set, is the PromQL that computes the series; the signal
	// is then Prometheus-only. Each `{}` in it is filled with Match and
	// the collector's extra matchers.
	Expr string
	// Doc says what the signal is for.
	Doc string
}

var (
	// The latency SLO's requests: resource requests (not /healthz and
	// other non-resource URLs), without the long-running ones.
	sloRequests = []Matcher{
		{"verb", "!~", "WATCH|WATCHLIST|CONNECT"},
		{"resource", "!=", ""},
		{"subresource", "!~", "proxy|attach|log|exec|portforward"},
	}
	// Resource requests that are not watches: the availability SLO's
	// requests (health probes such as /readyz answer 500 while the server
	// starts; controlplane.apiserver_unhealthy reports those).
	apiRequests = sloRequests[:2]
	nodeFS      = []Matcher{{"fstype", "!=", ""}, {"mountpoint", "!=", ""}}
)

// Derived series names (the others are named after their metric).
const (
	SeriesAPIServer5xx       = "apiserver_request_total:5xx"
	SeriesFSPredict24h       = "node_filesystem_avail_bytes:predict_linear_24h"
	SeriesFSPredict4h        = "node_filesystem_avail_bytes:predict_linear_4h"
	SeriesClockOffsetDeriv5m = "node_timex_offset_seconds:deriv_5m"
)

// Signals is the fixed set of metric inputs the metric checks read.
var Signals = []Signal{
	// kube-apiserver
	{Name: "apiserver_request_sli_duration_seconds", Kind: KindMetricsAPIServer, Metric: "apiserver_request_sli_duration_seconds",
		Type: SignalHistogram, Match: sloRequests, By: []string{"verb", "scope", "resource"}, Window: 5 * time.Minute,
		Doc: "request latency without webhook and priority-and-fairness queue time (the SLI of the API call latency SLO), by verb, scope and resource"},
	{Name: "apiserver_request_duration_seconds", Kind: KindMetricsAPIServer, Metric: "apiserver_request_duration_seconds",
		Type: SignalHistogram, Match: sloRequests, By: []string{"verb", "scope", "resource"}, Window: 5 * time.Minute,
		FallbackFor: "apiserver_request_sli_duration_seconds",
		Doc:         "request latency, used when the server has no apiserver_request_sli_duration_seconds (before Kubernetes 1.27)"},
	{Name: "apiserver_request_total", Kind: KindMetricsAPIServer, Metric: "apiserver_request_total", Type: SignalCounter,
		Match: apiRequests, By: []string{"code"}, Window: 5 * time.Minute, History: true, Lookback: 3 * 24 * time.Hour, Step: 5 * time.Minute,
		Presence: true, Doc: "request rate by code over 3 days in 5-minute steps, for error ratios over the error-budget burn windows"},
	{Name: SeriesAPIServer5xx, Kind: KindMetricsAPIServer, Metric: "apiserver_request_total", Type: SignalCounter,
		Match: []Matcher{apiRequests[0], apiRequests[1], {"code", "=~", "5.."}}, By: []string{"code", "verb", "resource"}, Window: time.Hour,
		Doc: "5xx responses by verb and resource over the last hour, to name what fails"},
	{Name: "apiserver_request_terminations_total", Kind: KindMetricsAPIServer, Metric: "apiserver_request_terminations_total",
		Type: SignalCounter, By: []string{"verb", "resource", "code"}, Window: 5 * time.Minute,
		Doc: "requests the server dropped in self-defense (429 overload, 504 timeout)"},
	{Name: "apiserver_flowcontrol_rejected_requests_total", Kind: KindMetricsAPIServer, Metric: "apiserver_flowcontrol_rejected_requests_total",
		Type: SignalCounter, By: []string{"priority_level", "flow_schema", "reason"}, Window: 5 * time.Minute,
		Doc: "requests rejected by API Priority and Fairness (queue-full, concurrency-limit, time-out)"},
	{Name: "apiserver_flowcontrol_current_executing_seats", Kind: KindMetricsAPIServer, Metric: "apiserver_flowcontrol_current_executing_seats",
		Type: SignalGauge, By: []string{"instance", "priority_level"}, Agg: "sum", History: true,
		Doc: "seats in use per priority level and server"},
	{Name: "apiserver_flowcontrol_current_limit_seats", Kind: KindMetricsAPIServer, Metric: "apiserver_flowcontrol_current_limit_seats",
		Type: SignalGauge, By: []string{"instance", "priority_level"}, Agg: "max",
		Doc: "seat limit per priority level and server"},
	{Name: "apiserver_flowcontrol_current_inqueue_requests", Kind: KindMetricsAPIServer, Metric: "apiserver_flowcontrol_current_inqueue_requests",
		Type: SignalGauge, By: []string{"instance", "priority_level"}, Agg: "sum", History: true,
		Doc: "requests waiting in priority-and-fairness queues"},
	{Name: "apiserver_client_certificate_expiration_seconds", Kind: KindMetricsAPIServer, Metric: "apiserver_client_certificate_expiration_seconds",
		Type: SignalHistogram, Window: 5 * time.Minute,
		Doc: "remaining validity of the client certificates presented to the API server"},
	// etcd
	{Name: "etcd_server_has_leader", Kind: KindMetricsEtcd, Metric: "etcd_server_has_leader", Type: SignalGauge,
		By: []string{"instance"}, Agg: "min", History: true, Presence: true, Doc: "1 when the member sees a leader"},
	{Name: "etcd_server_leader_changes_seen_total", Kind: KindMetricsEtcd, Metric: "etcd_server_leader_changes_seen_total",
		Type: SignalCounter, By: []string{"instance"}, Window: 15 * time.Minute, Doc: "leader changes per member"},
	{Name: "etcd_mvcc_db_total_size_in_bytes", Kind: KindMetricsEtcd, Metric: "etcd_mvcc_db_total_size_in_bytes", Type: SignalGauge,
		By: []string{"instance"}, Agg: "max", History: true, Doc: "database file size per member"},
	{Name: "etcd_mvcc_db_total_size_in_use_in_bytes", Kind: KindMetricsEtcd, Metric: "etcd_mvcc_db_total_size_in_use_in_bytes",
		Type: SignalGauge, By: []string{"instance"}, Agg: "max", Doc: "logically used database size per member (the rest is reclaimable by defragmentation)"},
	{Name: "etcd_server_quota_backend_bytes", Kind: KindMetricsEtcd, Metric: "etcd_server_quota_backend_bytes", Type: SignalGauge,
		By: []string{"instance"}, Agg: "max", Doc: "backend quota per member (--quota-backend-bytes)"},
	{Name: "etcd_disk_wal_fsync_duration_seconds", Kind: KindMetricsEtcd, Metric: "etcd_disk_wal_fsync_duration_seconds",
		Type: SignalHistogram, By: []string{"instance"}, Window: 5 * time.Minute, Doc: "WAL fsync latency per member"},
	{Name: "etcd_disk_backend_commit_duration_seconds", Kind: KindMetricsEtcd, Metric: "etcd_disk_backend_commit_duration_seconds",
		Type: SignalHistogram, By: []string{"instance"}, Window: 5 * time.Minute, Doc: "backend commit latency per member"},
	// kube-scheduler
	{Name: "scheduler_pending_pods", Kind: KindMetricsScheduler, Metric: "scheduler_pending_pods", Type: SignalGauge,
		By: []string{"queue"}, Agg: "sum", History: true, Presence: true, Doc: "pods waiting in the scheduling queues (active, backoff, unschedulable, gated)"},
	{Name: "scheduler_scheduling_attempt_duration_seconds", Kind: KindMetricsScheduler, Metric: "scheduler_scheduling_attempt_duration_seconds",
		Type: SignalHistogram, By: []string{"result"}, Window: 5 * time.Minute, Doc: "scheduling attempt latency (algorithm and binding) by result"},
	{Name: "scheduler_schedule_attempts_total", Kind: KindMetricsScheduler, Metric: "scheduler_schedule_attempts_total",
		Type: SignalCounter, By: []string{"result"}, Window: 5 * time.Minute, Doc: "scheduling attempts by result (scheduled, unschedulable, error)"},
	// kube-controller-manager
	{Name: "workqueue_depth", Kind: KindMetricsControllerManager, Metric: "workqueue_depth", Type: SignalGauge,
		By: []string{"name"}, Agg: "max", History: true, JobScoped: true, Presence: true, Doc: "items waiting per controller work queue"},
	{Name: "workqueue_queue_duration_seconds", Kind: KindMetricsControllerManager, Metric: "workqueue_queue_duration_seconds",
		Type: SignalHistogram, By: []string{"name"}, Window: 5 * time.Minute, JobScoped: true, Doc: "time items wait in a work queue before a worker takes them"},
	{Name: "workqueue_longest_running_processor_seconds", Kind: KindMetricsControllerManager, Metric: "workqueue_longest_running_processor_seconds",
		Type: SignalGauge, By: []string{"name"}, Agg: "max", JobScoped: true, Doc: "how long the longest-running worker of a queue has been busy (a stuck worker)"},
	// node_exporter (Prometheus only)
	{Name: "node_uname_info", Kind: KindMetricsNode, Metric: "node_uname_info", Type: SignalGauge, Presence: true,
		Expr: `node_uname_info{}`, Doc: "maps node_exporter instances to host names"},
	{Name: "node_filesystem_avail_bytes", Kind: KindMetricsNode, Metric: "node_filesystem_avail_bytes", Type: SignalGauge,
		Match: nodeFS, Expr: `node_filesystem_avail_bytes{}`, Doc: "free space available to non-root users per filesystem"},
	{Name: "node_filesystem_size_bytes", Kind: KindMetricsNode, Metric: "node_filesystem_size_bytes", Type: SignalGauge,
		Match: nodeFS, Expr: `node_filesystem_size_bytes{}`, Doc: "filesystem size"},
	{Name: "node_filesystem_readonly", Kind: KindMetricsNode, Metric: "node_filesystem_readonly", Type: SignalGauge,
		Match: nodeFS, Expr: `node_filesystem_readonly{}`, Doc: "1 for read-only filesystems"},
	{Name: SeriesFSPredict24h, Kind: KindMetricsNode, Metric: "node_filesystem_avail_bytes", Type: SignalGauge, Match: nodeFS,
		Expr: `predict_linear(node_filesystem_avail_bytes{}[6h], 86400)`, History: true, Step: 5 * time.Minute,
		Doc: "free space in 24 hours, extrapolated from the last 6 hours, over the lookback (the alert holds for 1h)"},
	{Name: SeriesFSPredict4h, Kind: KindMetricsNode, Metric: "node_filesystem_avail_bytes", Type: SignalGauge, Match: nodeFS,
		Expr: `predict_linear(node_filesystem_avail_bytes{}[6h], 14400)`, History: true, Step: 5 * time.Minute,
		Doc: "free space in 4 hours, extrapolated from the last 6 hours, over the lookback"},
	{Name: "node_memory_MemAvailable_bytes", Kind: KindMetricsNode, Metric: "node_memory_MemAvailable_bytes", Type: SignalGauge,
		History: true, Expr: `node_memory_MemAvailable_bytes{}`, Doc: "memory available for new work without swapping"},
	{Name: "node_memory_MemTotal_bytes", Kind: KindMetricsNode, Metric: "node_memory_MemTotal_bytes", Type: SignalGauge,
		Expr: `node_memory_MemTotal_bytes{}`, Doc: "memory size"},
	{Name: "node_timex_offset_seconds", Kind: KindMetricsNode, Metric: "node_timex_offset_seconds", Type: SignalGauge,
		History: true, Expr: `node_timex_offset_seconds{}`, Doc: "clock offset from the NTP reference"},
	{Name: SeriesClockOffsetDeriv5m, Kind: KindMetricsNode, Metric: "node_timex_offset_seconds", Type: SignalGauge,
		Expr: `deriv(node_timex_offset_seconds{}[5m])`, Doc: "how fast the clock offset changes"},
	{Name: "node_timex_sync_status", Kind: KindMetricsNode, Metric: "node_timex_sync_status", Type: SignalGauge,
		History: true, Expr: `node_timex_sync_status{}`, Doc: "1 when the kernel clock is synchronised"},
	{Name: "node_timex_maxerror_seconds", Kind: KindMetricsNode, Metric: "node_timex_maxerror_seconds", Type: SignalGauge,
		Expr: `node_timex_maxerror_seconds{}`, Doc: "maximum clock error"},
}
