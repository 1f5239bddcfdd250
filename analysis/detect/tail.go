package detect

import "math"

// Scores are tail probabilities on a log scale. A detector turns its
// statistic into the probability p of a value at least as extreme under its
// model of normal behaviour, and reports
//
//	score = min(1, -ln(p) / MaxSurprise)
//
// so that 0 means "as expected", 0.5 means p = 1e-5 and 1 means p <= 1e-10.
// The scale is the one NAB's HTM detector reports (its "log likelihood"); it
// makes one threshold mean the same thing on every series and for every
// detector, which is what a corpus-wide threshold needs.

// MaxSurprise is -ln(1e-10), the surprise (in nats) that scores 1.
const MaxSurprise = 23.025850929940457

// invMaxSurprise: a multiplication costs a fraction of a division.
const invMaxSurprise = 1 / MaxSurprise

// ScoreFromSurprise maps a surprise -ln(p) in nats to a score in [0,1].
func ScoreFromSurprise(s float64) float64 {
	if s != s { // NaN; predictable, unlike a test of the value
		return 0
	}
	// clamp(s, 0, M) = (|s| - |s - M| + M)/2, branch-free: a streaming
	// detector's surprise hops between 0 and small values, and a branch on
	// it would be mispredicted half the time. ±Inf come out as 0 and 1.
	if math.IsInf(s, 0) {
		return max(0, math.Copysign(1, s))
	}
	return (math.Abs(s) - math.Abs(s-MaxSurprise) + MaxSurprise) * (0.5 * invMaxSurprise)
}

// The two-sided normal surprise -ln(2Q(|z|)) is tabulated on [0, tailMaxZ]
// with step 1/tailSteps and linearly interpolated (absolute error below
// 1e-5 nats), because math.Erfc and math.Log together cost several times a
// whole EWMA update. Beyond the table the asymptotic expansion is used.
const (
	tailSteps = 128
	tailMaxZ  = 8
)

var tailTable = func() [tailMaxZ*tailSteps + 2]float64 {
	var t [tailMaxZ*tailSteps + 2]float64
	for i := range t {
		t[i] = normalSurpriseExact(float64(i) / tailSteps)
	}
	return t
}()

// normalSurpriseExact is -ln(2Q(z)) = -ln(erfc(z/√2)) for z >= 0, exact
// while erfc does not underflow.
func normalSurpriseExact(z float64) float64 {
	if z < 37 {
		return -math.Log(math.Erfc(z / math.Sqrt2))
	}
	return normalSurpriseAsymptotic(z)
}

// normalSurpriseAsymptotic is -ln(2Q(z)) for large z, from the asymptotic
// series Q(z) ≈ φ(z)/z·(1 - 1/z² + 3/z⁴ - 15/z⁶) (relative error below
// 1e-8 from z = 37 on).
func normalSurpriseAsymptotic(z float64) float64 {
	w := 1 / (z * z)
	return z*z/2 + math.Log(z) + 0.5*math.Log(math.Pi/2) - math.Log1p(-w+3*w*w-15*w*w*w)
}

// NormalSurprise is the two-sided tail surprise -ln(P(|Z| >= |z|)) of a
// standard normal Z, in nats. NaN gives 0.
func NormalSurprise(z float64) float64 {
	z = math.Abs(z)
	if !(z < tailMaxZ) { // also catches NaN and +Inf
		if z != z {
			return 0
		}
		if math.IsInf(z, 1) {
			return math.Inf(1)
		}
		return normalSurpriseExact(z)
	}
	x := z * tailSteps
	i := int(x)
	f := x - float64(i)
	return tailTable[i] + f*(tailTable[i+1]-tailTable[i])
}

// scoreFromZ is ScoreFromSurprise(NormalSurprise(z)) without the slow path:
// the score saturates long before the table ends.
func scoreFromZ(z float64) float64 {
	z = math.Abs(z)
	if !(z < tailMaxZ) {
		if z != z {
			return 0
		}
		return 1
	}
	x := z * tailSteps
	i := int(x)
	s := tailTable[i] + (x-float64(i))*(tailTable[i+1]-tailTable[i])
	if s >= MaxSurprise {
		return 1
	}
	return s * invMaxSurprise
}
