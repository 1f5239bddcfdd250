package detect

import (
	"math"
	"time"
)

// madToSigma turns a median absolute deviation into a normal standard
// deviation (1/Φ⁻¹(3/4)).
const madToSigma = 1.482602218505602

// RobustZ scores each sample by its distance from the median of the
// previous Window samples, in units of their median absolute deviation
// (scaled to a standard deviation), as a two-sided normal tail probability.
//
// Good at: isolated spikes and dips in noisy, heavy-tailed or outlier-laden
// series, because the median and MAD ignore up to half of the window being
// anomalous (a spike does not inflate the scale the way it inflates a
// standard deviation); level shifts, until half the window has moved.
//
// Bad at: seasonality (a daily peak looks like a spike; use seasonal or
// combined), slow drifts and small shifts (CUSUM and EWMA accumulate
// evidence, a single-point test does not), and series with many repeated
// values, where the MAD is 0: the scale is then floored at an eighth of
// the window's standard deviation, so a rare value in a mostly-constant
// series is very surprising but not infinitely so.
//
// Windowed: the state is two arrays of Window float64s; an update is a
// binary search and a short copy (O(log w) compares plus w/3 moves).
type RobustZ struct {
	w      *rollingWindow
	warmup int
}

// NewRobustZ returns a robust z-score detector (Options.Window, Warmup).
func NewRobustZ(o Options) *RobustZ {
	o = o.Defaults()
	return &RobustZ{w: newRollingWindow(o.Window), warmup: min(o.Warmup, o.Window)}
}

// Update implements Detector.
func (d *RobustZ) Update(_ time.Time, v float64) float64 {
	if !finite(v) {
		return 0
	}
	z := d.z(v)
	d.w.push(v)
	return scoreFromZ(z)
}

// z is the robust z of v against the current window (before v is added);
// 0 during warm-up.
func (d *RobustZ) z(v float64) float64 {
	if d.w.len() < d.warmup {
		return 0
	}
	med := d.w.median()
	dev := v - med
	if dev == 0 {
		return 0
	}
	scale := d.scale(med)
	if scale <= 0 || scale < 1e-12*math.Abs(med) {
		// A constant window: any change is as surprising as it gets.
		return math.Copysign(math.Inf(1), dev)
	}
	return dev / scale
}

// scale is the window's robust standard deviation around med: 1.4826·MAD,
// floored at an eighth of the plain standard deviation.
func (d *RobustZ) scale(med float64) float64 {
	s := madToSigma * d.w.mad(med)
	if v := d.w.variance(); s*s*64 < v { // the floor wins: only then a sqrt
		return math.Sqrt(v) / 8
	}
	return s
}
