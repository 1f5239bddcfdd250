package detect

import (
	"math"
	"time"
)

// huberC is where the robust exponentially weighted estimators clip a
// deviation, in standard deviations: an outlier moves the mean and the
// variance as much as a 3σ deviation would, so one spike does not blind the
// detector for the next 1/α samples.
const huberC = 3

// ewStats is an exponentially weighted mean and variance with Huber-clipped
// updates. For the first 1/alpha samples the weight is 1/n, so the
// estimates start as the plain running mean and variance instead of being
// biased towards the first sample.
type ewStats struct {
	mean, variance float64
	n              int64
}

// add folds v in with smoothing alpha. sd must be the current standard
// deviation (√variance), which every caller has just computed anyway.
func (s *ewStats) add(v, alpha, sd float64) {
	s.n++
	if s.n == 1 {
		s.mean, s.variance = v, 0
		return
	}
	a := alpha
	if float64(s.n)*alpha < 1 {
		a = 1 / float64(s.n)
	}
	d := v - s.mean
	if lim := huberC * sd; s.n > 10 && lim > 0 {
		if d > lim {
			d = lim
		} else if d < -lim {
			d = -lim
		}
	}
	s.mean += a * d
	s.variance = (1 - a) * (s.variance + a*d*d)
}

// EWMA is an EWMA control chart (Roberts, 1959). It smooths the
// observations, c_t = λ·v_t + (1-λ)·c_{t-1}, and compares the smoothed value
// with a slower exponentially weighted mean μ and standard deviation σ of
// the series (memory ~2/α samples): z = (c_t - μ) / (σ·√(λ/(2-λ))). The
// score is z's two-sided normal tail probability.
//
// Good at: sustained shifts of the mean from about 2σ, which it sees
// within a couple of dozen samples because smoothing averages the noise
// away; stationary series; very cheap (a few multiplications per sample,
// 56 bytes per series).
//
// Bad at: seasonality and trends (the chart follows the level with a lag,
// so a daily cycle looks like repeated shifts), heavy tails (σ is a
// standard deviation, clipped but not robust like a MAD), single spikes (the
// smoothing divides them by 1/λ), and shifts too small to stand out
// before the baseline (memory ~2/α samples) has absorbed them: by then
// they are the new normal.
type EWMA struct {
	stats  ewStats
	chart  float64
	alpha  float64
	lambda float64
	warmup int64
}

// NewEWMA returns an EWMA control chart (Options.Alpha, Lambda, Warmup).
func NewEWMA(o Options) *EWMA {
	o = o.Defaults()
	return &EWMA{alpha: o.Alpha, lambda: o.Lambda, warmup: int64(o.Warmup)}
}

// Update implements Detector.
func (d *EWMA) Update(_ time.Time, v float64) float64 {
	if !finite(v) {
		return 0
	}
	return scoreFromZ(d.z(v, 0))
}

// z adds v and returns the chart statistic (0 during warm-up).
func (d *EWMA) z(v, floor float64) float64 {
	if d.stats.n == 0 {
		d.chart = v
	} else {
		d.chart += d.lambda * (v - d.chart)
	}
	var z float64
	sd := math.Sqrt(d.stats.variance)
	if d.stats.n >= d.warmup {
		dev := d.chart - d.stats.mean
		csd := sd
		if floor > csd {
			csd = floor
		}
		csd *= math.Sqrt(d.lambda / (2 - d.lambda))
		switch {
		case csd > 0:
			z = dev / csd
		case dev != 0:
			z = math.Copysign(math.Inf(1), dev)
		}
	}
	d.stats.add(v, d.alpha, sd)
	return z
}
