package detect

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestNormalSurprise compares the tabulated two-sided normal surprise with
// gonum's normal distribution where that is accurate (its survival function
// loses digits in the far tail), and with math.Erfc beyond; and the
// asymptotic series with erfc where both hold.
func TestNormalSurprise(t *testing.T) {
	for z := 0.0; z <= 40; z += 0.01 {
		want := -math.Log(math.Erfc(z / math.Sqrt2))
		if z <= 5 {
			want = -math.Log(2 * distuv.UnitNormal.Survival(z))
		}
		if z > 37 {
			want = normalSurpriseAsymptotic(z)
		}
		got := NormalSurprise(z)
		if math.Abs(got-want) > 1e-5*(1+want) {
			t.Fatalf("NormalSurprise(%v) = %v, want %v", z, got, want)
		}
		if neg := NormalSurprise(-z); neg != got {
			t.Fatalf("NormalSurprise(-%v) = %v, not symmetric", z, neg)
		}
		if s := scoreFromZ(z); math.Abs(s-ScoreFromSurprise(got)) > 1e-12 {
			t.Fatalf("scoreFromZ(%v) = %v, want %v", z, s, ScoreFromSurprise(got))
		}
	}
	if NormalSurprise(math.NaN()) != 0 || !math.IsInf(NormalSurprise(math.Inf(-1)), 1) {
		t.Error("NaN or -Inf")
	}
	for _, z := range []float64{25, 30, 36} {
		if a, e := normalSurpriseAsymptotic(z), -math.Log(math.Erfc(z/math.Sqrt2)); math.Abs(a-e) > 1e-8*e {
			t.Errorf("asymptotic series at %v: %v, erfc %v", z, a, e)
		}
	}
}

func TestScoreFromSurprise(t *testing.T) {
	for _, tc := range []struct{ s, want float64 }{
		{0, 0}, {-3, 0}, {math.NaN(), 0}, {math.Inf(-1), 0},
		{MaxSurprise / 2, 0.5}, {MaxSurprise, 1}, {100, 1}, {math.Inf(1), 1},
		{-math.Log(1e-5), 0.5},
	} {
		if got := ScoreFromSurprise(tc.s); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ScoreFromSurprise(%v) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// TestCalibrator: on values from the test's own model (surprise ~ Exp(1))
// the calibrated surprise agrees with the model; on a heavy-tailed series
// it is much smaller for the same raw surprise; a record is extended from
// the largest remembered value at the tail's own decay rate.
func TestCalibrator(t *testing.T) {
	exp := distuv.Exponential{Rate: 1}
	par := distuv.Pareto{Xm: 1, Alpha: 1}
	calm, heavy := newCalibrator(2000, 1), newCalibrator(2000, 1)
	for i := 0; i < 6000; i++ {
		calm.surprise(exp.Quantile(float64(i%997+1) / 998))
		heavy.surprise(par.Quantile(float64(i%997+1) / 998))
	}
	// P(U >= 4) = e^-4 under the model: about 4 nats.
	if s := calm.peek(4); math.Abs(s-4) > 0.5 {
		t.Errorf("calibrated Exp(1) at 4: %v nats, want about 4", s)
	}
	// A Pareto(1) surprise of 20 is exceeded 5% of the time: 3 nats, not 20.
	if s := heavy.peek(20); math.Abs(s-3) > 0.5 {
		t.Errorf("calibrated Pareto at 20: %v nats, want about 3", s)
	}
	// Records: beyond the largest Exp(1) value remembered (about 6.9),
	// the tail decays at rate ~1, so 30 is rated about 23 nats higher.
	if s := calm.peek(30); s < 20 || s > 40 {
		t.Errorf("Exp(1) record 30: %v nats", s)
	}
	// The Pareto tail decays slowly, and so do its records: five times the
	// largest value is ln 5 rarer, about 1.6 nats beyond the ~7.6 of a
	// record in 2000.
	if s := heavy.peek(5000); s < 7 || s > 11 {
		t.Errorf("Pareto record 5000: %v nats, want about 9", s)
	}
	// A fresh calibrator trusts no record: its imaginary extreme value.
	fresh := newCalibrator(2000, 1)
	for i := 0; i < 100; i++ {
		fresh.surprise(1)
	}
	if s := fresh.peek(1000); s > math.Log(101) {
		t.Errorf("fresh calibrator rates a record %v nats, want at most ln(101)", s)
	}
}

// peek is surprise without learning.
func (c calibrator) peek(u float64) float64 {
	c.delay = append([]uint8(nil), c.delay...)
	return c.surprise(u)
}

func TestCalBins(t *testing.T) {
	prev := -1
	for u := 0.0; u < 1e7; u = u*1.01 + 0.001 {
		b := calBin(u)
		if b < prev || b >= calBins {
			t.Fatalf("calBin(%v) = %d after %d", u, b, prev)
		}
		if e := calEdge(b); e > u*(1+1e-12)+1e-12 || (b+1 < calBins && calEdge(b+1) <= u) {
			t.Fatalf("u %v in bin %d = [%v, %v)", u, b, e, calEdge(b+1))
		}
		prev = b
	}
}
