package detect

import (
	"math/rand/v2"
	"testing"
)

// TestRecurrenceRatio: what counts as a repeat of the last nights'
// excursions, on a day of hourly slots filled from 5-minute samples.
func TestRecurrenceRatio(t *testing.T) {
	const dayS = int64(24 * 3600)
	first := t0.Unix()
	type spike struct {
		day, minute int // minute of the day
		v           float64
	}
	nightly := func(vs ...float64) []spike { // one spike at about 03:00 a night
		var s []spike
		for d, v := range vs {
			s = append(s, spike{d, 180 + []int{-40, 35, 10, -15}[d%4], v})
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		spikes []spike
		bursty bool // a burst as large in every third hour as well
		at     int  // minute of day 3 to ask about
		v      float64
		want   bool // a recurrence (ratio >= 0)
	}{
		{"a jittered nightly job, same size", nightly(10, 12, 11), false, 185, 11, true},
		{"up to 25% larger than the smallest", nightly(10, 12, 11), false, 185, 12.4, true},
		{"much larger than the last nights", nightly(10, 12, 11), false, 185, 20, false},
		{"at another hour", nightly(10, 12, 11), false, 15 * 60, 11, false},
		{"a night without it", []spike{{0, 180, 10}, {2, 180, 10}}, false, 185, 10, false},
		{"only two nights of history", nightly(0, 10, 10), false, 185, 10, false},
		{"opposite direction", nightly(10, 12, 11), false, 185, -11, false},
		{"nightly dips", nightly(-10, -12, -11), false, 185, -11, true},
		{"bursty everywhere is no habit", nightly(10, 12, 11), true, 185, 11, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecurrence(dayS, first)
			for m := 0; m < 3*24*60; m += 5 {
				d, md := m/(24*60), m%(24*60)
				v := 0.0
				if tc.bursty && (m/60)%3 == 0 && md%60 == 30 {
					v = 11
				}
				for _, s := range tc.spikes {
					if s.day == d && s.minute/5*5 == md && s.v != 0 {
						v = s.v
					}
				}
				r.learn(first+int64(m)*60, v)
			}
			at := first + 3*dayS + int64(tc.at)*60
			got := r.ratio(at, tc.v, 0)
			if (got >= 0) != tc.want {
				t.Errorf("ratio = %.3f, want a recurrence: %v", got, tc.want)
			}
		})
	}
}

// TestCombinedLearnsAJitteredNightlyJob: a series that is flat but for a
// spike once a night at a time that wanders by up to 45 minutes (as in
// NAB's ec2_cpu_utilization_c6585a). After three nights the spike is a
// habit and stops alarming; the same spike in the afternoon, and a spike
// three times as large at the usual hour, still alarm.
func TestCombinedLearnsAJitteredNightlyJob(t *testing.T) {
	const days = 12
	jitter := rand.New(rand.NewPCG(7, 7))
	afternoon, larger := 9*day+180, 10*day+38 // 15:00 on day 9, 03:10 on day 10
	spikeAt := map[int]float64{afternoon: 1.5, larger: 4.5}
	for d := 0; d < days; d++ {
		if d != 10 {
			spikeAt[d*day+36+jitter.IntN(19)-9] = 1.4 + 0.2*jitter.Float64() // 03:00 ± 45 min
		}
	}
	s := gen(days*day, 3, func(i int, r *rand.Rand) float64 {
		if v, ok := spikeAt[i]; ok {
			return v
		}
		return 0.066 + 0.002*float64(r.IntN(3))
	})
	d := NewCombined(Options{})
	scores := make([]float64, len(s.vs))
	for i := range s.vs {
		scores[i] = d.Update(s.ts[i], s.vs[i])
	}
	for i, v := range spikeAt {
		switch {
		case i == afternoon || i == larger:
			if scores[i] < AlarmScore {
				t.Errorf("spike of %.2f at sample %d (day %d): score %.3f, want an alarm (>= %.2f)", v, i, i/day, scores[i], AlarmScore)
			}
		case i >= 5*day && scores[i] >= AlarmScore:
			t.Errorf("nightly spike of %.2f at sample %d (day %d): score %.3f, want no alarm after three nights", v, i, i/day, scores[i])
		}
	}
}
