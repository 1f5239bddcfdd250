package detect

import (
	"math"
	"sort"
	"time"
)

// AlarmScore is the combined detector's default operating point: a score
// at or above it is an alarm and starts the cooldown. It is where NAB's
// threshold sweep lands on the corpus subset (about 0.21), whose costs
// make a false alarm a ninth of a miss: a point as unusual as about one in
// 400 of its series. For paging, PageScore is quieter.
const AlarmScore = 0.2

// PageScore is the threshold to page on: about one in 10⁴, so a clean
// series sampled every 5 minutes alarms about once a month at most. Clean
// generated series (Gaussian noise, daily cycles, square waves, flat
// lines, quantised counters) stay below it in the tests.
const PageScore = 0.4

// Sizes of the combined detector's memories, in units of Options.Window
// (a day of 5-minute samples by default).
const (
	// calibrationWindows: each test is calibrated against its own last
	// week of statistics.
	calibrationWindows = 7
	// rangeWindows: the range a value must leave to be novel fades over
	// about four weeks, so that one old outlier does not blind it forever.
	rangeWindows = 28
	// noveltyMargin: a value is novel when it lies more than 5% of the
	// range beyond the range (HTM's "spatial anomaly" tolerance in NAB).
	noveltyMargin = 0.05
	// flatBeyond is how many tolerances beyond a constant history's one
	// value any other value counts as (the margin of a range of 0 is 0):
	// as far as a value a million margins beyond a range, so that an error
	// rate that was 0 for days and is not now is as novel as it gets.
	flatBeyond = 1e6
)

// Combined is the default detector. For each sample it
//
//  1. removes the seasonal profile (Holt-Winters, daily or weekly) when one
//     explains at least half of the variance, and then also tests the
//     profile's residual;
//  2. tests the (adjusted) value with a robust z-score against the
//     trailing window's median and MAD, an EWMA control chart and a CUSUM;
//     the last two are standardised by the larger of their own EW standard
//     deviation and the window's robust one, so that a quiet stretch of an
//     intermittent series does not make its next burst look infinite;
//  3. calibrates each test against its own history (conformal p-values over
//     about a week of that test's statistics, lagged by a cooldown so that
//     an excursion is not compared with itself, see calibrator) and keeps
//     the larger of the two tail probabilities: a point must be rare under
//     the test's model and rare for this series;
//  4. adds a range-novelty test: a value more than 5% of the recent range
//     beyond that range (NAB's HTM detector calls it a "spatial anomaly");
//  5. merges the tests with the Bonferroni minimum, p = k·min(p_i), which
//     is valid whatever their dependence (they watch the same samples, so
//     Fisher's product would overstate the evidence);
//  6. vetoes what is usual for this time of day or week: at a phase where
//     the series habitually goes elsewhere (the phase bucket's mean, ±1
//     bucket for jitter, is 3 robust σ or more from the median), a value
//     within that bucket's spread has its score capped by how typical it
//     is there, so a daily cron spike stops alarming after two days;
//     and, for the tests but the seasonal one, caps what repeats an
//     excursion of each of the last three periods within about an hour of
//     this phase, when excursions that large are rare at other hours (a
//     nightly job whose start wanders, see recurrence);
//  7. reports nothing during a warm-up, and after an alarm (score >=
//     Options.Alarm, by default AlarmScore) stays quiet for
//     Options.Cooldown samples, so that one incident gives one alarm.
//
// Good at: what its parts are good at, on series of any scale and
// distribution, with one threshold for all: spikes and dips, level shifts,
// values never seen before, missing or changed daily cycles; one alarm per
// incident; recurring spikes at the same time of day are learnt, also
// when their time wanders by up to an hour.
//
// Bad at: anomalies within the usual range that only change the pattern
// (bursts that come more often than usual), anything in the warm-up (one
// Window), page-level alarms in the first days (a record is not trusted
// until the series has shown its usual extremes, see calibrator), a second
// incident within the cooldown of the first, and seasonal anomalies in the
// first two periods of data.
//
// Windowed: the state is the robust window (2·Window float64s), the
// seasonal profiles (four float64s and an int64 per phase bucket, at most
// 2016 + 288 buckets), the recurrence memories (24 bytes per hour of the
// last three periods: 75 + 507 slots), four calibrators (401 float64s and
// a delay of Cooldown bytes each) and a few numbers: about 115 KB per
// series with the defaults and 5-minute samples, whatever the length of
// the series.
type Combined struct {
	season   *seasonality
	robust   *RobustZ
	ewma     *EWMA
	cusum    *CUSUM
	cal      [numCalibrated]calibrator // one per test but novelty, indexed by test
	last     lastSample                // what the latest Update saw, for Explain
	lo, hi   float64                   // the fading range of values
	rangeMem float64
	warmup   int
	settle   int // samples before the calibrators learn: the tests' own warm-up
	cooldown int
	alarm    float64
	n        int
	quiet    int // samples left in the cooldown
}

// NewCombined returns the default detector (Options.Window, Alpha, Lambda,
// Period, Warmup, Cooldown, Alarm).
func NewCombined(o Options) *Combined {
	o = o.Defaults()
	inner := o
	inner.Warmup = 1
	mem, lag := calibrationWindows*o.Window, max(o.Cooldown, 1)
	return &Combined{
		season:   newSeasonality(o.Period),
		robust:   NewRobustZ(inner),
		ewma:     NewEWMA(inner),
		cusum:    NewCUSUM(inner),
		cal:      [numCalibrated]calibrator{newCalibrator(mem, lag), newCalibrator(mem, lag), newCalibrator(mem, lag), newCalibrator(mem, lag)},
		rangeMem: float64(rangeWindows * o.Window),
		warmup:   max(o.Warmup, o.Window),
		settle:   o.Warmup,
		cooldown: max(o.Cooldown, 0),
		alarm:    o.Alarm,
	}
}

// Update implements Detector.
func (d *Combined) Update(t time.Time, v float64) float64 {
	if !finite(v) {
		return 0
	}
	d.n++
	u := d.surprise(t, v)
	l := &d.last
	l.merged, l.score, l.warmup, l.cooling = u, 0, false, false
	if d.n <= d.warmup {
		l.warmup = true
		return 0
	}
	score := ScoreFromSurprise(u)
	if d.quiet > 0 {
		d.quiet--
		l.cooling = true
		return 0
	}
	if score >= d.alarm {
		d.quiet = d.cooldown
	}
	l.score = score
	return score
}

// surprise runs every stage but the cooldown and returns the merged,
// calibrated, vetoed surprise in nats.
func (d *Combined) surprise(t time.Time, v float64) float64 {
	x, seasonal, zs := d.season.update(t, v)
	var floor float64
	if d.robust.w.len() > 0 {
		floor = d.robust.scale(d.robust.w.median())
	}
	best, k := 0.0, 0
	d.last.u = [numTests]float64{-1, -1, -1, -1, -1}
	d.last.median, d.last.spread, d.last.season = d.robust.w.median(), floor, v-x
	d.last.vetoed = false
	test := func(i int, u float64) {
		u = min(u, 1e6)
		if d.n > d.settle {
			u = min(u, d.cal[i].surprise(u))
		}
		d.last.u[i] = u
		best, k = max(best, u), k+1
	}
	if seasonal {
		test(testSeasonal, NormalSurprise(zs))
	}
	z := d.robust.z(x)
	d.robust.w.push(x)
	test(testRobust, NormalSurprise(z))
	test(testEWMA, NormalSurprise(d.ewma.z(x, floor)))
	test(testCUSUM, d.cusum.surprise(x, floor, true))
	nu := d.novelty(v)
	d.last.u[testNovelty] = nu
	best, k = max(best, nu), k+1
	d.last.k = k
	u := max(0, best-logCount[k])

	if !t.IsZero() {
		// The veto's scale is the window's, after this sample.
		med := d.robust.w.median()
		floor = d.robust.scale(med)
		unix := t.Unix()
		typical := -1.0
		for _, m := range d.season.models {
			if z := m.typical(unix, v, med, floor); z >= 0 && (typical < 0 || z < typical) {
				typical = z
			}
			m.learnBucket(unix, v)
		}
		if typical >= 0 {
			if c := NormalSurprise(typical); c < u {
				u, d.last.vetoed = c, true
			}
		}
		u = d.recurring(unix, v, med, u, seasonal, k)
		for _, m := range d.season.models {
			m.recur.learn(unix, v)
		}
	}
	return u
}

// recurring caps the surprise u of v at time unix when it repeats an
// excursion of the last periods (see recurrence.ratio), at that of a
// normal deviate of 2·ratio: 2σ for one as large as the smallest of them,
// 2.5σ (score 0.19) at recurRatio, below the alarm. The seasonal test is
// exempt: it knows what this phase usually does, and a nightly spike that
// did not come or came out smaller is its anomaly, not a habit. Only a
// surprise that could alarm is looked at: below half the alarm level the
// cap would change nothing that matters.
func (d *Combined) recurring(unix int64, v, med, u float64, seasonal bool, k int) float64 {
	if u < 0.5*d.alarm*MaxSurprise {
		return u
	}
	var keep float64
	if seasonal {
		keep = max(0, d.last.u[testSeasonal]-logCount[k])
	}
	for _, m := range d.season.models {
		r := m.recur.ratio(unix, v, med)
		if r < 0 {
			continue
		}
		if c := max(NormalSurprise(2*r), keep); c < u {
			u, d.last.vetoed = c, true
		}
	}
	return u
}

// novelty is the surprise of v lying beyond the fading range of the values
// before it by more than noveltyMargin of that range. It is a conformal
// record (more extreme than the n values the range remembers: p <=
// 1/(n+1)), extended by the log of how far beyond the margin it lies, as
// the calibrator extends its records.
func (d *Combined) novelty(v float64) float64 {
	if d.n == 1 {
		d.lo, d.hi = v, v
		return 0
	}
	var u float64
	record := math.Log1p(min(float64(d.n), d.rangeMem))
	switch tol := noveltyMargin * (d.hi - d.lo); {
	case tol == 0 && v != d.hi:
		// A constant history: any other value is beyond it by infinitely
		// many tolerances; count it as flatBeyond of them.
		u = record + math.Log1p(flatBeyond)
	case !(tol > 0):
	case v > d.hi+tol:
		u = record + math.Log1p((v-d.hi)/tol)
	case v < d.lo-tol:
		u = record + math.Log1p((d.lo-v)/tol)
	}
	if d.robust.w.len() > 0 {
		med := d.robust.w.median()
		d.hi -= (d.hi - med) / d.rangeMem
		d.lo += (med - d.lo) / d.rangeMem
	}
	d.lo, d.hi = min(d.lo, v), max(d.hi, v)
	return u
}

// The combined detector's tests, in the order of its calibrators.
const (
	testRobust = iota
	testEWMA
	testCUSUM
	testSeasonal
	testNovelty // not calibrated: the last one
	numTests
	numCalibrated = testNovelty
)

var testNames = [numTests]string{"robustz", "ewma", "cusum", "seasonal", "novelty"}

// logCount[k] is ln k, the Bonferroni correction for k tests (a table: a
// logarithm per sample is a tenth of the detector's time).
var logCount = func() (t [numTests + 1]float64) {
	for k := 1; k <= numTests; k++ {
		t[k] = math.Log(float64(k))
	}
	return t
}()

// lastSample is what the latest Update computed, kept for Explain.
type lastSample struct {
	u                      [numTests]float64 // calibrated surprise per test; -1: not run
	k                      int
	median, spread, season float64
	vetoed                 bool
	score, merged          float64
	warmup, cooling        bool
}

// TestScore is one test's contribution to a combined score.
type TestScore struct {
	// Test is robustz, ewma, cusum, seasonal or novelty.
	Test string `json:"test"`
	// Score is the test's calibrated tail probability after the
	// Bonferroni correction, on the score scale: the combined score is
	// the largest of them (before the seasonal veto).
	Score float64 `json:"score"`
}

// Explanation breaks down the latest score of a Combined detector.
type Explanation struct {
	// Score is what Update returned; Raw is the score before the warm-up
	// and the cooldown silenced it (the same when neither did).
	Score, Raw float64
	// Expected is the baseline the sample was compared with: the median
	// of the trailing window plus the seasonal profile's value at this
	// phase (Season, 0 without one). Spread is the window's robust
	// standard deviation (1.4826·MAD).
	Expected, Median, Spread, Season float64
	// Tests lists the tests that ran, highest score first.
	Tests []TestScore
	// Vetoed: the value is usual for this time of day or week, and its
	// score was capped by how typical it is there.
	Vetoed bool
	// Warmup and Cooldown say why Score is 0 although Raw is not.
	Warmup, Cooldown bool
}

// Fired returns the tests whose score is at least threshold, highest
// first: the ones that raised the alarm.
func (e Explanation) Fired(threshold float64) []string {
	var out []string
	for _, t := range e.Tests {
		if t.Score >= threshold {
			out = append(out, t.Test)
		}
	}
	return out
}

// Last is the cheap part of Explain, for scanning a history point by
// point: the latest finite sample's raw score (before the warm-up and the
// cooldown silenced it), the baseline it was compared with, and whether
// the detector was still in its warm-up.
func (d *Combined) Last() (raw, expected float64, warmup bool) {
	l := &d.last
	return ScoreFromSurprise(l.merged), l.median + l.season, l.warmup
}

// Explain breaks down the score of the latest Update of a finite value
// (a NaN or infinite one changes nothing; the zero Explanation before the
// first). It costs nothing until called: Update keeps the few numbers it
// needs anyway.
func (d *Combined) Explain() Explanation {
	l := &d.last
	e := Explanation{Score: l.score, Raw: ScoreFromSurprise(l.merged), Expected: l.median + l.season, Median: l.median,
		Spread: l.spread, Season: l.season, Vetoed: l.vetoed, Warmup: l.warmup, Cooldown: l.cooling}
	if l.k == 0 {
		return e
	}
	lk := logCount[l.k]
	for i, u := range l.u {
		if u < 0 {
			continue
		}
		e.Tests = append(e.Tests, TestScore{Test: testNames[i], Score: ScoreFromSurprise(max(0, u-lk))})
	}
	sort.SliceStable(e.Tests, func(i, j int) bool { return e.Tests[i].Score > e.Tests[j].Score })
	return e
}
