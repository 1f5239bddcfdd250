package detect

import (
	"math"
	"time"
)

// cusumK is the CUSUM reference value k in standard deviations: the chart
// is tuned to shifts of 2k = 1σ, the size a single-point test misses and a
// cumulative one is for.
const cusumK = 0.5

// CUSUM is a two-sided tabular CUSUM (Page, 1954) of standardised
// deviations z = (v - μ)/σ, where μ and σ are a robust exponentially
// weighted mean and standard deviation (memory ~2/α samples):
//
//	S⁺ = max(0, S⁺ + z - k),  S⁻ = max(0, S⁻ - z - k),  k = 0.5.
//
// For Gaussian noise the stationary tail of S is P(S > s) ≈ exp(-2k·s), so
// the score is that probability, doubled for two sides. When it reaches
// 1e-10 (score 1) the change is accepted: the sums restart and μ jumps to
// the current value, so the next change is measured from the new level.
//
// Good at: level shifts and change points, including small ones (1.5σ
// within about 30 samples) that single-point tests never flag; its score
// keeps growing while the shift lasts, and it is very cheap (56 bytes per
// series).
//
// Bad at: isolated spikes (one point adds only |z|-k, so it needs a large
// one), variance changes without a mean change, seasonality and trends
// (a daily cycle is a sequence of level shifts; use combined, which
// removes the seasonal profile first), and autocorrelated noise, which it
// mistakes for shifts.
type CUSUM struct {
	stats    ewStats
	pos, neg float64
	alpha    float64
	warmup   int64
}

// NewCUSUM returns a CUSUM change-point detector (Options.Alpha, Warmup).
func NewCUSUM(o Options) *CUSUM {
	o = o.Defaults()
	return &CUSUM{alpha: o.Alpha, warmup: int64(o.Warmup)}
}

// Update implements Detector.
func (d *CUSUM) Update(_ time.Time, v float64) float64 {
	if !finite(v) {
		return 0
	}
	return ScoreFromSurprise(d.surprise(v, 0, true))
}

// surprise adds v and returns -ln of the two-sided tail probability of the
// larger sum. With restart, a sum whose surprise reaches MaxSurprise is
// accepted as a change and the chart restarts at v.
func (d *CUSUM) surprise(v, floor float64, restart bool) float64 {
	rawSD := math.Sqrt(d.stats.variance)
	if d.stats.n < d.warmup {
		d.stats.add(v, d.alpha, rawSD)
		return 0
	}
	sd := rawSD
	if floor > sd {
		sd = floor
	}
	dev := v - d.stats.mean
	var z float64
	switch {
	case sd > 0:
		z = dev / sd
	case dev != 0:
		z = math.Copysign(1e6, dev)
	}
	// max(a, b) = (a + b + |a - b|)/2 for finite values: branch-free,
	// where the builtin max (NaN and signed-zero rules) or an if (which
	// noise mispredicts half the time) would be a third of the update.
	p := d.pos + z - cusumK
	n := d.neg - z - cusumK
	d.pos = (p + math.Abs(p)) / 2
	d.neg = (n + math.Abs(n)) / 2
	top := (d.pos + d.neg + math.Abs(d.pos-d.neg)) / 2
	s := 2*cusumK*top - math.Ln2
	d.stats.add(v, d.alpha, rawSD)
	if restart && s >= MaxSurprise {
		d.pos, d.neg = 0, 0
		d.stats.mean = v
	}
	return (s + math.Abs(s)) / 2
}
