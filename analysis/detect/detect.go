// Package detect scores metric series for anomalies.
//
// A Detector reads one series sample by sample and returns, for each
// sample, an anomaly score in [0,1] computed from that sample and the ones
// before it: no look-ahead, so the same code scores a live stream and a
// recorded file. Detectors are pure (no clock, no I/O, no randomness) and
// keep bounded state per series: the streaming ones (ewma, cusum) a few
// numbers, the windowed ones (robustz, seasonal, combined) a fixed-size
// window or profile.
//
// Every score is a tail probability on a log scale (see ScoreFromSurprise),
// so 0.5 means "a value this extreme has probability 1e-5 under the
// detector's model of normal behaviour" for every detector and every
// series. The default detector, "combined", merges the others and
// post-processes the result the way the best NAB detectors do.
//
// docs/detectors.md describes each method, what it is good and bad at, and
// its scores on the Numenta Anomaly Benchmark.
package detect

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Detector scores one series, one sample at a time.
type Detector interface {
	// Update feeds the next sample (timestamps must not go backwards) and
	// returns its anomaly score in [0,1]. A NaN or infinite value scores 0
	// and does not change the state.
	Update(t time.Time, v float64) float64
}

// Options tunes the detectors. The zero value means the defaults, which are
// what the documentation and the benchmark figures use; each field applies
// to the detectors named in its comment and is ignored by the others.
type Options struct {
	// Window is the trailing window, in samples, of robustz and of the
	// robust baseline inside combined. Default 288 (a day of 5-minute
	// samples; long enough for a stable median and MAD, short enough to
	// follow a level that has moved for good).
	Window int

	// Alpha is the smoothing factor of the exponentially weighted mean and
	// variance of ewma and cusum (their memory is about 2/Alpha samples).
	// Default 0.02.
	Alpha float64

	// Lambda is the EWMA control chart's smoothing of the observations
	// (the textbook choice for shifts of about one standard deviation); 1
	// turns the chart into a Shewhart chart of single points. Default 0.1.
	Lambda float64

	// Period is the seasonal period. 0 means detect a daily or weekly
	// period from the data; a negative value disables seasonality in
	// combined.
	Period time.Duration

	// Warmup is the number of samples a detector reads before it scores
	// anything above 0. Default 30; combined waits for the larger of
	// Warmup and Window (a full window before its first judgement).
	Warmup int

	// Cooldown is how many samples combined stays quiet after it reports an
	// alarm, so that one incident gives one alarm. Default Window/4 (the
	// time a level shift takes to move the trailing median halfway).
	// Negative disables it.
	Cooldown int

	// Alarm is the score at which combined considers that it has alarmed
	// and starts its cooldown: set it to the threshold you alert on.
	// Default AlarmScore.
	Alarm float64
}

// Defaults returns o with every zero field set to its default.
func (o Options) Defaults() Options {
	if o.Window <= 0 {
		o.Window = 288
	}
	if o.Alpha <= 0 || o.Alpha > 1 {
		o.Alpha = 0.02
	}
	if o.Lambda <= 0 || o.Lambda > 1 {
		o.Lambda = 0.1
	}
	if o.Warmup <= 0 {
		o.Warmup = 30
	}
	if o.Cooldown == 0 {
		o.Cooldown = o.Window / 4
	}
	if o.Alarm <= 0 || o.Alarm > 1 {
		o.Alarm = AlarmScore
	}
	return o
}

// Info describes a registered detector.
type Info struct {
	Name string `json:"name"`
	// Summary is one line: the method and what it is for.
	Summary string `json:"summary"`
	// Streaming is true when the state is a few numbers (constant size,
	// independent of Options.Window).
	Streaming bool `json:"streaming"`
}

type factory struct {
	Info
	new func(Options) Detector
}

// registry is every built-in detector, by name.
var registry = map[string]factory{
	"robustz": {Info{"robustz", "robust z-score: distance from the median of a trailing window in MADs; spikes and dips", false},
		func(o Options) Detector { return NewRobustZ(o) }},
	"ewma": {Info{"ewma", "EWMA control chart over an exponentially weighted mean and variance; small sustained shifts", true},
		func(o Options) Detector { return NewEWMA(o) }},
	"cusum": {Info{"cusum", "two-sided CUSUM of standardised deviations; level shifts and change points", true},
		func(o Options) Detector { return NewCUSUM(o) }},
	"seasonal": {Info{"seasonal", "Holt-Winters seasonal baseline (daily or weekly); deviations from the usual value at this time of day", false},
		func(o Options) Detector { return NewSeasonal(o) }},
	"combined": {Info{"combined", "default: seasonal adjustment, robust z, EWMA, CUSUM and range novelty, each calibrated on the series' own history, merged; one alarm per incident", false},
		func(o Options) Detector { return NewCombined(o) }},
}

// DefaultName is the detector New uses for an empty name.
const DefaultName = "combined"

// New returns a fresh detector by name ("" means DefaultName).
func New(name string, o Options) (Detector, error) {
	if name == "" {
		name = DefaultName
	}
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown detector %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	return f.new(o), nil
}

// Names lists the registered detectors, sorted.
func Names() []string {
	ns := make([]string, 0, len(registry))
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Describe returns the registered detectors' descriptions, sorted by name.
func Describe() []Info {
	var is []Info
	for _, n := range Names() {
		is = append(is, registry[n].Info)
	}
	return is
}

// Score runs a fresh detector over a whole series and returns one score per
// sample (the batch form: each score still uses only the samples up to it).
func Score(d Detector, ts []time.Time, vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		var t time.Time
		if i < len(ts) {
			t = ts[i]
		}
		out[i] = d.Update(t, v)
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
