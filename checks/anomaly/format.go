package anomaly

import (
	"math"
	"strconv"
	"time"
)

// seconds renders a latency: 850ms, 1.25s, 42s.
func seconds(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case math.Abs(v) < 0.001:
		return strconv.FormatFloat(round(v*1e6, 0), 'f', -1, 64) + "µs"
	case math.Abs(v) < 0.01:
		return strconv.FormatFloat(round(v*1000, 2), 'f', -1, 64) + "ms"
	case math.Abs(v) < 1:
		return strconv.FormatFloat(round(v*1000, 1), 'f', -1, 64) + "ms"
	case math.Abs(v) < 10:
		return strconv.FormatFloat(round(v, 3), 'f', -1, 64) + "s"
	}
	return strconv.FormatFloat(round(v, 1), 'f', -1, 64) + "s"
}

// percent renders a ratio as a percentage with three significant digits.
func percent(r float64) string { return sig3(r*100) + "%" }

// count renders a count that may be fractional (an average or a spread).
func count(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return sig3(v)
}

// perSecond renders a rate: 12.5/s, 1830/s.
func perSecond(v float64) string { return sig3(v) + "/s" }

// sig3 renders v with three significant digits, and whole numbers from
// 100 on (1830, not 1.83e+03).
func sig3(v float64) string {
	if a := math.Abs(v); a >= 100 && a < 1e15 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// shortDur renders a duration compactly: 5m, 1d, 7d, 36h, 2m30s.
func shortDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= 48*time.Hour:
		return strconv.FormatFloat(round(d.Hours()/24, 1), 'f', -1, 64) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= 2*time.Hour:
		return strconv.FormatFloat(round(d.Hours(), 1), 'f', -1, 64) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.Round(time.Second).String()
}

// round v to n decimals.
func round(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}

func expNeg(x float64) float64 { return math.Exp(-x) }
