package scrape

import (
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// jobName is the job label scraped samples get, as a Prometheus scraping
// the component would set.
var jobName = map[snapshot.Kind]string{
	snapshot.KindMetricsAPIServer:         "apiserver",
	snapshot.KindMetricsEtcd:              "etcd",
	snapshot.KindMetricsScheduler:         "kube-scheduler",
	snapshot.KindMetricsControllerManager: "kube-controller-manager",
}

// raw is one exposed series: its labels (with instance and job) and its
// value, or its histogram.
type raw struct {
	labels  map[string]string
	value   float64
	buckets map[float64]float64
	count   float64
	sum     float64
}

// reduce turns one or two scrapes of a component into the component's
// signals: gauges as they are (one sample per scrape), counters as rates
// over the interval (or lifetime totals), histograms as bucket increases
// over the interval (or lifetime buckets).
func reduce(k snapshot.Kind, instance string, first, second *scrapeResult) *snapshot.Metrics {
	m := &snapshot.Metrics{}
	last := first
	if second != nil {
		last = second
	}
	var start int64
	if f := last.families["process_start_time_seconds"]; f != nil && len(f.Metric) > 0 {
		start = int64(math.Round(value(f.Metric[0]) * 1000))
	}
	present := func(metric string) bool {
		f := last.families[metric]
		return f != nil && len(f.Metric) > 0
	}
	for _, sig := range snapshot.Signals {
		if sig.Kind != k || sig.Expr != "" || !present(sig.Metric) {
			continue
		}
		if sig.FallbackFor != "" {
			if p := signal(sig.FallbackFor); p != nil && present(p.Metric) {
				continue
			}
		}
		ext := map[string]string{"instance": instance, "job": jobName[k]}
		cur := series(last.families[sig.Metric], sig, ext)
		var prev map[string]raw
		if second != nil {
			prev = series(first.families[sig.Metric], sig, ext)
		}
		switch sig.Type {
		case snapshot.SignalGauge:
			m.Series = append(m.Series, gauges(sig, first, second, ext)...)
		case snapshot.SignalCounter:
			m.Series = append(m.Series, counters(sig, cur, prev, first, second, start)...)
		case snapshot.SignalHistogram:
			m.Histograms = append(m.Histograms, hists(sig, cur, prev, first, second, start)...)
		}
	}
	return m
}

func signal(name string) *snapshot.Signal {
	for i := range snapshot.Signals {
		if snapshot.Signals[i].Name == name {
			return &snapshot.Signals[i]
		}
	}
	return nil
}

// series reads a family's series that pass the signal's matchers, keyed
// by their full label set.
func series(f *dto.MetricFamily, sig snapshot.Signal, ext map[string]string) map[string]raw {
	out := map[string]raw{}
	if f == nil {
		return out
	}
	for _, mt := range f.Metric {
		ls := make(map[string]string, len(mt.Label)+2)
		for _, l := range mt.Label {
			ls[l.GetName()] = l.GetValue()
		}
		for k, v := range ext {
			if _, ok := ls[k]; !ok {
				ls[k] = v
			}
		}
		if !matches(sig.Match, ls) {
			continue
		}
		r := raw{labels: ls, value: value(mt)}
		if h := mt.GetHistogram(); h != nil {
			r.buckets = make(map[float64]float64, len(h.Bucket)+1)
			for _, b := range h.Bucket {
				r.buckets[b.GetUpperBound()] = float64(b.GetCumulativeCount())
			}
			r.count, r.sum = float64(h.GetSampleCount()), h.GetSampleSum()
			r.buckets[math.Inf(1)] = r.count
		}
		out[signature(ls)] = r
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

func signature(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(ls[k])
		b.WriteByte(0xff)
	}
	return b.String()
}

// groupKey projects labels onto the signal's By labels, plus the
// instance: a scrape reads one process, and keeping its instance apart
// lets several scraped replicas of a component (two schedulers, etcd
// members) be judged one by one instead of mixed.
func groupKey(sig snapshot.Signal, ls map[string]string) (string, map[string]string) {
	out := make(map[string]string, len(sig.By)+1)
	for _, k := range sig.By {
		if v, ok := ls[k]; ok {
			out[k] = v
		}
	}
	if v, ok := ls["instance"]; ok {
		out["instance"] = v
	}
	return signature(out), out
}

// gauges aggregates a gauge per scrape: one sample per scrape.
func gauges(sig snapshot.Signal, first, second *scrapeResult, ext map[string]string) []snapshot.Series {
	type acc struct {
		labels map[string]string
		vals   map[int64]float64
	}
	groups := map[string]*acc{}
	var order []string
	for _, sc := range []*scrapeResult{first, second} {
		if sc == nil {
			continue
		}
		t := sc.at.UnixMilli()
		for _, r := range series(sc.families[sig.Metric], sig, ext) {
			key, labels := groupKey(sig, r.labels)
			a := groups[key]
			if a == nil {
				a = &acc{labels: labels, vals: map[int64]float64{}}
				groups[key] = a
				order = append(order, key)
			}
			v, seen := a.vals[t]
			switch {
			case !seen:
				v = r.value
			case sig.Agg == "max":
				v = math.Max(v, r.value)
			case sig.Agg == "min":
				v = math.Min(v, r.value)
			default:
				v += r.value
			}
			a.vals[t] = v
		}
	}
	sort.Strings(order)
	var out []snapshot.Series
	for _, key := range order {
		a := groups[key]
		s := snapshot.Series{Name: sig.Name, Labels: a.labels, Source: "scrape", Type: snapshot.Gauge}
		for t, v := range a.vals {
			s.Samples = append(s.Samples, snapshot.Sample{T: t, V: v})
		}
		sort.Slice(s.Samples, func(i, j int) bool { return s.Samples[i].T < s.Samples[j].T })
		out = append(out, s)
	}
	return out
}

// increase is cur - prev per raw series, with counter resets (a value
// that went down restarted from zero) and series new in cur counted whole.
func increase(cur, prev float64, hadPrev bool) float64 {
	if !hadPrev || cur < prev {
		return cur
	}
	return cur - prev
}

// counters sums a counter by the signal's labels: a rate over the two
// scrapes, or the lifetime total of one.
func counters(sig snapshot.Signal, cur, prev map[string]raw, first, second *scrapeResult, start int64) []snapshot.Series {
	type acc struct {
		labels map[string]string
		v      float64
	}
	groups := map[string]*acc{}
	for sigKey, r := range cur {
		v := r.value
		if prev != nil {
			p, ok := prev[sigKey]
			v = increase(r.value, p.value, ok)
		}
		key, labels := groupKey(sig, r.labels)
		a := groups[key]
		if a == nil {
			a = &acc{labels: labels}
			groups[key] = a
		}
		a.v += v
	}
	keys := sortedKeys(groups)
	var out []snapshot.Series
	for _, key := range keys {
		a := groups[key]
		s := snapshot.Series{Name: sig.Name, Labels: a.labels, Source: "scrape"}
		if second != nil {
			win := second.at.Sub(first.at)
			s.Type, s.Window = snapshot.Rate, win
			s.Samples = snapshot.Samples{{T: second.at.UnixMilli(), V: a.v / win.Seconds()}}
		} else {
			s.Type, s.Start = snapshot.Counter, start
			s.Samples = snapshot.Samples{{T: first.at.UnixMilli(), V: a.v}}
		}
		out = append(out, s)
	}
	return out
}

// hists sums histograms by the signal's labels: bucket increases over the
// two scrapes, or the lifetime buckets of one.
func hists(sig snapshot.Signal, cur, prev map[string]raw, first, second *scrapeResult, start int64) []snapshot.Histogram {
	type acc struct {
		labels     map[string]string
		buckets    map[float64]float64
		count, sum float64
	}
	groups := map[string]*acc{}
	for sigKey, r := range cur {
		if r.buckets == nil {
			continue
		}
		p, hadPrev := raw{}, false
		if prev != nil {
			p, hadPrev = prev[sigKey]
		}
		reset := hadPrev && r.count < p.count
		key, labels := groupKey(sig, r.labels)
		a := groups[key]
		if a == nil {
			a = &acc{labels: labels, buckets: map[float64]float64{}}
			groups[key] = a
		}
		for le, c := range r.buckets {
			if hadPrev && !reset {
				c -= p.buckets[le]
			}
			a.buckets[le] += max(c, 0)
		}
		if hadPrev && !reset {
			a.count += r.count - p.count
			a.sum += r.sum - p.sum
		} else {
			a.count += r.count
			a.sum += r.sum
		}
	}
	var out []snapshot.Histogram
	for _, key := range sortedKeys(groups) {
		a := groups[key]
		if a.buckets[math.Inf(1)] <= 0 {
			continue // no observations in the window: nothing to judge
		}
		h := snapshot.Histogram{Name: sig.Name, Labels: a.labels, Source: "scrape", Count: a.count, Sum: a.sum}
		if second != nil {
			h.T, h.Window = second.at.UnixMilli(), second.at.Sub(first.at)
		} else {
			h.T, h.Start = first.at.UnixMilli(), start
		}
		for le, c := range a.buckets {
			h.Buckets = append(h.Buckets, snapshot.Bucket{UpperBound: le, Count: c})
		}
		sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].UpperBound < h.Buckets[j].UpperBound })
		out = append(out, h)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
