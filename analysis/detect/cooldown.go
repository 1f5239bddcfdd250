package detect

import "time"

// Cooldown wraps a detector so that one incident gives one alarm: after a
// score at or above alarm, the next samples scores are reported as 0
// (the wrapped detector still sees every sample). It is the alarm
// deduplication that NAB's best detectors apply, and the one combined has
// built in (at AlarmScore, for Options.Cooldown samples).
func Cooldown(d Detector, alarm float64, samples int) Detector {
	return &cooldown{d: d, alarm: alarm, samples: samples}
}

type cooldown struct {
	d       Detector
	alarm   float64
	samples int
	quiet   int
}

func (c *cooldown) Update(t time.Time, v float64) float64 {
	s := c.d.Update(t, v)
	if c.quiet > 0 {
		c.quiet--
		return 0
	}
	if s >= c.alarm {
		c.quiet = c.samples
	}
	return s
}
