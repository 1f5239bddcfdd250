package detect

import (
	"math"
	"sort"
	"time"
)

// Seasonal periods that are tried when Options.Period is 0.
var candidatePeriods = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour}

const (
	// maxBuckets bounds a seasonal profile: a week of 5-minute buckets.
	// Faster samples share a bucket.
	maxBuckets = 2016
	// minBuckets: a period shorter than 8 samples is not a season.
	minBuckets = 8
	// seasonGamma is the profile's smoothing per visit: each bucket is an
	// exponentially weighted mean of the last ~4-7 cycles, enough to
	// average the noise, recent enough to follow a changing shape.
	seasonGamma = 0.25
	// explainedRatio: the profile is used when removing it leaves at most
	// this fraction of the series' variance, i.e. it explains at least half.
	explainedRatio = 0.5
	// stepSamples: the sample interval is the median of the first gaps.
	stepSamples = 9
	// bucketGamma is the smoothing of the per-bucket mean and variance that
	// judge what is typical at a phase. Unclipped, so that a recurring
	// spike becomes typical after two or three periods.
	bucketGamma = 0.3
	// typicalAway: a phase bucket is habitually unusual when its mean is
	// this many robust standard deviations from the median.
	typicalAway = 3
)

// hwModel is an additive Holt-Winters model without trend for one period:
// a level ℓ (exponentially weighted mean with a memory of about one
// period), a profile s[b] of deviations from it per phase bucket, and the
// exponentially weighted variances of the series and of what the profile
// leaves (v - s[b]) over about one period, to judge whether the season is
// real. Updates are Huber-clipped at 3σ of the residual, so that an
// anomaly does not become part of tomorrow's profile.
type hwModel struct {
	period, width int64 // seconds
	first         int64 // unix seconds of the first sample
	alpha         float64
	profile       []float64 // NaN: bucket never visited
	level         ewStats
	resid         ewStats // v - ℓ - s[b]
	varV, varD    float64 // EW variance of v and of v - s[b] around their EW means
	meanV, meanD  float64
	lastZ         float64 // the residual z of the latest update
	// Per bucket: the unclipped EW mean and variance of v, how many
	// periods visited it and when it was last visited.
	bmean, bvar []float64
	cycles      []int32
	seenAt      []int64
	recur       *recurrence
}

// typical is how many standard deviations v is from the closest of the
// per-bucket means at b-1, b, b+1 (phase jitter), the variance floored at
// floor². Only buckets that are themselves unusual count: their mean at
// least typicalAway·floor from the series' median, a phase where the series
// habitually goes somewhere else (a daily cron spike); elsewhere a bucket's
// few samples would only blur a real shift. The habit must also be steady:
// the bucket's mean farther from the median than its own standard
// deviation. A bucket that a random burst happened to visit a day or two
// ago has a mean pulled up and a spread as large as that pull, and is not
// a habit (bursty series would otherwise learn that every phase is
// "usually" bursty and veto their next real burst). Buckets seen fewer than two
// periods, or within the last half period (the neighbour just updated with
// this very excursion), do not count either. -1 when none does.
func (m *hwModel) typical(unix int64, v, median, floor float64) float64 {
	b := m.bucket(unix)
	best := -1.0
	for _, j := range []int{b - 1, b, b + 1} {
		j = (j + len(m.bmean)) % len(m.bmean)
		away := math.Abs(m.bmean[j] - median)
		if m.cycles[j] < 2 || unix-m.seenAt[j] < m.period/2 || away < typicalAway*floor || away*away < m.bvar[j] {
			continue
		}
		z := math.Abs(v-m.bmean[j]) / math.Sqrt(m.bvar[j]+floor*floor)
		if best < 0 || z < best {
			best = z
		}
	}
	return best
}

// learnBucket folds v into its bucket's mean and variance.
func (m *hwModel) learnBucket(unix int64, v float64) {
	b := m.bucket(unix)
	g := bucketGamma
	if m.cycles[b] == 0 {
		m.bmean[b], m.bvar[b] = v, 0
	} else {
		d := v - m.bmean[b]
		m.bmean[b] += g * d
		m.bvar[b] = (1 - g) * (m.bvar[b] + g*d*d)
	}
	m.cycles[b]++
	m.seenAt[b] = unix
}

func newHWModel(period time.Duration, step int64, first int64) *hwModel {
	p := int64(period / time.Second)
	width := max(step, (p+maxBuckets-1)/maxBuckets, 1)
	nb := p / width
	if nb < minBuckets || p <= 0 {
		return nil
	}
	m := &hwModel{period: p, width: width, first: first, alpha: 1 / float64(nb), profile: make([]float64, nb),
		bmean: make([]float64, nb), bvar: make([]float64, nb), cycles: make([]int32, nb), seenAt: make([]int64, nb)}
	for i := range m.profile {
		m.profile[i] = math.NaN()
	}
	m.recur = newRecurrence(p, first)
	return m
}

func (m *hwModel) bucket(unix int64) int {
	ph := unix % m.period
	if ph < 0 {
		ph += m.period
	}
	b := int(ph / m.width)
	if b >= len(m.profile) {
		b = len(m.profile) - 1
	}
	return b
}

// ready: two whole periods seen, so every bucket has been learnt once and
// checked once.
func (m *hwModel) ready(unix int64) bool { return unix-m.first >= 2*m.period }

// explained reports whether removing the profile leaves at most
// explainedRatio of the variance.
func (m *hwModel) explained() bool {
	return m.varV > 0 && m.varD <= explainedRatio*m.varV
}

// update folds v in at time unix and returns the profile's value at that
// phase before the update (0 if never seen) and the residual's z.
func (m *hwModel) update(unix int64, v float64) (season, z float64) {
	b := m.bucket(unix)
	s := m.profile[b]
	seen := !math.IsNaN(s)
	if !seen {
		s = 0
	}
	lvl := m.level.mean
	if m.level.n == 0 {
		lvl = v
	}
	e := v - lvl - s
	if seen && m.resid.n > 1 {
		if sd := math.Sqrt(m.resid.variance); sd > 0 {
			z = e / sd
		} else if e != 0 {
			z = math.Copysign(math.Inf(1), e)
		}
	}
	// Explained variance, around slow means (memory ~ one period).
	d := v - s
	if m.level.n == 0 {
		m.meanV, m.meanD = v, d
	}
	dv, dd := v-m.meanV, d-m.meanD
	m.meanV += m.alpha * dv
	m.meanD += m.alpha * dd
	m.varV = (1 - m.alpha) * (m.varV + m.alpha*dv*dv)
	m.varD = (1 - m.alpha) * (m.varD + m.alpha*dd*dd)

	if seen {
		m.resid.add(e, m.alpha, math.Sqrt(m.resid.variance))
		// Huber-clip what the level and the profile learn from.
		if sd := math.Sqrt(m.resid.variance); m.resid.n > 10 && sd > 0 {
			e = max(-huberC*sd, min(huberC*sd, e))
		}
		m.profile[b] = s + seasonGamma*e
	} else {
		m.profile[b] = v - lvl
	}
	m.level.add(lvl+e, m.alpha, math.Sqrt(m.level.variance))
	m.lastZ = z
	return s, z
}

// seasonality runs the candidate models and says which one, if any,
// explains the series.
type seasonality struct {
	fixed   time.Duration // Options.Period; 0 = detect
	off     bool
	gaps    []int64 // the first gaps, to find the sample interval
	last    int64
	n       int
	models  []*hwModel
	active  *hwModel
	started bool
}

func newSeasonality(period time.Duration) *seasonality {
	return &seasonality{fixed: period, off: period < 0}
}

// update folds (t, v) in and returns the value with the active profile
// removed (v itself when no season explains the series), whether a
// profile was removed, and the active model's residual z (0 if none).
func (s *seasonality) update(t time.Time, v float64) (adjusted float64, seasonal bool, z float64) {
	if s.off || t.IsZero() {
		return v, false, 0
	}
	unix := t.Unix()
	if s.models == nil {
		if s.n > 0 && unix > s.last {
			s.gaps = append(s.gaps, unix-s.last)
		}
		s.last = unix
		s.n++
		if len(s.gaps) < stepSamples-1 {
			return v, false, 0
		}
		sort.Slice(s.gaps, func(i, j int) bool { return s.gaps[i] < s.gaps[j] })
		step := s.gaps[len(s.gaps)/2]
		s.gaps = nil
		periods := candidatePeriods
		if s.fixed > 0 {
			periods = []time.Duration{s.fixed}
		}
		for _, p := range periods {
			if m := newHWModel(p, step, unix); m != nil {
				s.models = append(s.models, m)
			}
		}
		if len(s.models) == 0 {
			s.off = true
			return v, false, 0
		}
	}
	// Choose before updating, so that this sample is judged by a model
	// that has not seen it.
	var best *hwModel
	for _, m := range s.models {
		if !m.ready(unix) {
			continue
		}
		if s.fixed > 0 || m.explained() {
			if best == nil || m.varD/m.varV < best.varD/best.varV {
				best = m
			}
		}
	}
	s.active = best
	for _, m := range s.models {
		season, mz := m.update(unix, v)
		if m == best {
			adjusted, seasonal, z = v-season, true, mz
		}
	}
	if best == nil {
		return v, false, 0
	}
	return adjusted, seasonal, z
}

// Seasonal compares each sample with the usual value at the same phase of
// a daily or weekly cycle: an additive Holt-Winters model without trend (a
// level with a memory of about one period plus a profile of deviations per
// phase bucket, each bucket an exponentially weighted mean of its last
// cycles). The score is the two-sided normal tail probability of the
// residual in units of its robust exponentially weighted standard
// deviation. The period is Options.Period, or else the one of a day and a
// week whose profile explains at least half of the series' variance
// (judged continuously, after two whole periods); without one it scores
// the daily model's residual all the same.
//
// Good at: anomalies that are only anomalous for the time of day or week:
// a missing daily peak, a night-time value at a daytime level, a flat
// stretch where the series usually moves, a peak that is higher than the
// usual peak. Updates are Huber-clipped, so an anomaly does not echo a
// period later.
//
// Bad at: everything during the first two periods (it has nothing to
// compare with), series whose period is neither a day nor a week (set
// Options.Period), cycles that drift in phase, and single spikes in noisy
// series (the profile adds its own noise to the residual). Needs real
// timestamps: with zero times it scores nothing.
//
// Windowed: the state is one float64 per phase bucket and candidate period
// (at most 2016 + 288 for 5-minute samples).
type Seasonal struct {
	s      *seasonality
	warmup int
	n      int
}

// NewSeasonal returns a seasonal-baseline detector (Options.Period, Warmup).
func NewSeasonal(o Options) *Seasonal {
	o = o.Defaults()
	p := o.Period
	if p < 0 {
		p = 0
	}
	return &Seasonal{s: newSeasonality(p), warmup: o.Warmup}
}

// Update implements Detector.
func (d *Seasonal) Update(t time.Time, v float64) float64 {
	if !finite(v) {
		return 0
	}
	d.n++
	z := d.residualZ(t, v)
	if d.n <= d.warmup {
		return 0
	}
	return scoreFromZ(z)
}

// residualZ is the z of v's residual against the best model that is ready,
// seasonal or not.
func (d *Seasonal) residualZ(t time.Time, v float64) float64 {
	_, ok, z := d.s.update(t, v)
	if ok {
		return z
	}
	// No season explains the series (yet): the first model's residual is
	// still a deviation from a one-period level and a weak profile.
	if len(d.s.models) > 0 && d.s.models[0].ready(t.Unix()) {
		return d.s.models[0].lastZ
	}
	return 0
}

// Recurrence: a jittered daily job. A value is a recurring excursion when,
// on each of the last recurCycles periods, the series went at least about
// as far from its median in the same direction within about an hour of
// this phase, and excursions that large are rare enough elsewhere that
// such a match is not chance.
const (
	// recurSlot is the resolution of the memory of past excursions: an
	// hour (or an eighth of a short period).
	recurSlot = int64(time.Hour / time.Second)
	// recurCycles: the excursion must have happened in each of the last 3
	// periods (three nights in a row for a nightly job).
	recurCycles = 3
	// recurRatio: and this one may go at most 25% farther than the
	// smallest of them.
	recurRatio = 1.25
	// recurChance: the match must be unlikely by chance (below 1%) for a
	// series with excursions that large in the same fraction of its
	// hours: a bursty series matches everywhere and is not a habit.
	recurChance = 0.01
)

// recurrence remembers, per slot (hour) of the last recurCycles periods,
// the highest and lowest value seen. Its state is 24 bytes per slot: 75
// slots for a day, 507 for a week.
type recurrence struct {
	slot     int64 // in seconds
	perSlots int64 // slots per period
	first    int64 // unix seconds of the first sample
	hi, lo   []float64
	at       []int64 // which absolute slot each ring entry holds; -1: none
}

func newRecurrence(period, first int64) *recurrence {
	slot := recurSlot
	if period/slot < minBuckets {
		slot = period / minBuckets
	}
	per := period / slot
	n := recurCycles*per + 3 // the slots a ±1 slot look-back reaches, and this one
	r := &recurrence{slot: slot, perSlots: per, first: first,
		hi: make([]float64, n), lo: make([]float64, n), at: make([]int64, n)}
	for i := range r.at {
		r.at[i] = -1
	}
	return r
}

func (r *recurrence) index(unix int64) (abs int64, i int) {
	abs = (unix - r.first) / r.slot
	return abs, int(abs % int64(len(r.at)))
}

// learn folds v, seen at unix, into its slot's extremes.
func (r *recurrence) learn(unix int64, v float64) {
	a, i := r.index(unix)
	if a < 0 {
		return
	}
	if r.at[i] != a {
		r.at[i], r.hi[i], r.lo[i] = a, v, v
		return
	}
	r.hi[i], r.lo[i] = max(r.hi[i], v), min(r.lo[i], v)
}

// excursion is how far slot entry i went from median in the direction up.
func (r *recurrence) excursion(i int, up bool, median float64) float64 {
	if up {
		return r.hi[i] - median
	}
	return median - r.lo[i]
}

// ratio returns how far v is from median relative to the smallest of the
// excursions in the same direction within one slot of this phase in each
// of the last recurCycles periods, when it is at most recurRatio and such
// a match is unlikely by chance; -1 otherwise (some period had none, v
// goes farther, or excursions that large are common).
func (r *recurrence) ratio(unix int64, v, median float64) float64 {
	a, _ := r.index(unix)
	up, dev := v >= median, math.Abs(v-median)
	if dev == 0 {
		return -1
	}
	worst := 0.0
	for j := int64(1); j <= recurCycles; j++ {
		best := 0.0
		for o := int64(-1); o <= 1; o++ {
			b := a - j*r.perSlots + o
			if b < 0 {
				return -1
			}
			if i := int(b % int64(len(r.at))); r.at[i] == b {
				best = max(best, r.excursion(i, up, median))
			}
		}
		if best <= 0 {
			return -1
		}
		if worst = max(worst, dev/best); worst > recurRatio {
			return -1
		}
	}
	// Chance: with excursions at least dev/recurRatio in a fraction q of
	// the slots, a three-slot neighbourhood holds one with probability
	// 1-(1-q)³, and all recurCycles of them do with that to the power.
	lim := dev / recurRatio
	var seen, hit int
	for i, b := range r.at {
		if b < 0 || b > a || b < a-recurCycles*r.perSlots-1 {
			continue
		}
		seen++
		if r.excursion(i, up, median) >= lim {
			hit++
		}
	}
	q := float64(hit) / float64(seen)
	if math.Pow(1-math.Pow(1-q, 3), recurCycles) > recurChance {
		return -1
	}
	return worst
}
