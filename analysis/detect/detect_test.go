package detect

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// series is a generated series of 5-minute samples.
type series struct {
	ts []time.Time
	vs []float64
}

func gen(n int, seed uint64, f func(i int, r *rand.Rand) float64) series {
	r := rand.New(rand.NewPCG(seed, 42))
	s := series{ts: make([]time.Time, n), vs: make([]float64, n)}
	for i := range s.vs {
		s.ts[i] = t0.Add(time.Duration(i) * 5 * time.Minute)
		s.vs[i] = f(i, r)
	}
	return s
}

// day is 288 samples of 5 minutes.
const day = 288

// daily is a smooth daily cycle between 50 and 150.
func daily(i int) float64 { return 100 + 50*math.Sin(2*math.Pi*float64(i%day)/day) }

func maxIn(scores []float64, from, to int) (float64, int) {
	best, at := -1.0, -1
	for i := max(from, 0); i < min(to, len(scores)); i++ {
		if scores[i] > best {
			best, at = scores[i], i
		}
	}
	return best, at
}

// TestDetectorsFlagWhatTheyAreFor: each detector on the kind of anomaly its
// documentation says it is for. It must reach its alarm level inside the
// anomaly and stay below its quiet level on the clean part after its
// warm-up. For the single tests both are 0.5 (p = 1e-5 on their own
// scale). Combined must stay below PageScore on the clean part, and flag
// gross anomalies at PageScore, subtle ones at its NAB operating point
// AlarmScore.
func TestDetectorsFlagWhatTheyAreFor(t *testing.T) {
	// The anomalies come after a week of 5-minute samples (2016), the
	// memory that combined calibrates against: a fresh series must first
	// show its usual extremes (see calibrator).
	const at = 2400
	spikes := gen(3000, 1, func(i int, r *rand.Rand) float64 {
		v := 100 + 5*r.NormFloat64()
		if i == at || i == at+300 {
			v += 60 // 12σ
		}
		return v
	})
	dip := gen(3000, 2, func(i int, r *rand.Rand) float64 {
		v := 100 + 5*r.NormFloat64()
		if i == at {
			v -= 50
		}
		return v
	})
	shift := func(seed uint64, size float64) series {
		return gen(3000, seed, func(i int, r *rand.Rand) float64 {
			v := 10 + r.NormFloat64()
			if i >= at {
				v += size // no single point stands out
			}
			return v
		})
	}
	variance := gen(3000, 5, func(i int, r *rand.Rand) float64 {
		sd := 1.0
		if i >= at {
			sd = 5
		}
		return 50 + sd*r.NormFloat64()
	})
	// Ten days of a daily cycle; on day 8 the afternoon peak is missing
	// (the value stays at the daily mean for six hours), which is normal
	// for the series as a whole but not for the time of day.
	missingPeak := gen(10*day, 6, func(i int, r *rand.Rand) float64 {
		if i >= 8*day+day/8 && i < 8*day+3*day/8 {
			return 100 + 2*r.NormFloat64()
		}
		return daily(i) + 2*r.NormFloat64()
	})
	// A daily cron job: a spike at 03:00 every day is normal; one at 15:00
	// on day 8 is not.
	cron := gen(10*day, 7, func(i int, r *rand.Rand) float64 {
		v := 20 + r.NormFloat64()
		if i%day == 36 {
			v += 40
		}
		if i == 8*day+180 {
			v += 40
		}
		return v
	})
	// A value never seen before, within a wide but stable range.
	novel := gen(3000, 8, func(i int, r *rand.Rand) float64 {
		v := 50 + 20*r.Float64()
		if i == at {
			v = 95
		}
		return v
	})

	type anomaly struct {
		from, to int // the anomaly, and how long the detector may take to flag it
	}
	for _, tc := range []struct {
		detector  string
		name      string
		s         series
		alarm     float64
		quietFrom int // the clean part: [quietFrom, first anomaly)
		anomalies []anomaly
	}{
		{"robustz", "spikes", spikes, 0.5, 100, []anomaly{{at, at + 1}, {at + 300, at + 301}}},
		{"robustz", "dip", dip, 0.5, 100, []anomaly{{at, at + 1}}},
		{"robustz", "variance increase", variance, 0.5, 100, []anomaly{{at, at + 40}}},
		{"ewma", "2.5σ level shift", shift(3, 2.5), 0.5, 100, []anomaly{{at, at + 30}}},
		{"ewma", "12σ spike", spikes, 0.5, 100, []anomaly{{at, at + 1}}},
		{"cusum", "1.5σ level shift", shift(3, 1.5), 0.5, 100, []anomaly{{at, at + 30}}},
		{"seasonal", "missing daily peak", missingPeak, 0.5, 3 * day, []anomaly{{8*day + day/8, 8*day + day/8 + 24}}},
		{"seasonal", "spike at an unusual time", cron, 0.5, 3 * day, []anomaly{{8*day + 180, 8*day + 181}}},
		{"combined", "12σ spike", spikes, PageScore, 100, []anomaly{{at, at + 1}}},
		// The second one, within a week of the first, is less rare for
		// this series: it stays above the NAB operating point.
		{"combined", "second 12σ spike", spikes, AlarmScore, 100, []anomaly{{at, at + 1}, {at + 300, at + 301}}},
		{"combined", "dip", dip, PageScore, 100, []anomaly{{at, at + 1}}},
		{"combined", "3σ level shift", shift(3, 3), PageScore, 100, []anomaly{{at, at + 10}}},
		{"combined", "1.5σ level shift", shift(3, 1.5), AlarmScore, 100, []anomaly{{at, at + 30}}},
		{"combined", "variance increase", variance, PageScore, 100, []anomaly{{at, at + 40}}},
		{"combined", "missing daily peak", missingPeak, PageScore, 3 * day, []anomaly{{8*day + day/8, 8*day + day/8 + 24}}},
		{"combined", "daily cron spike is learnt, an off-hours one is not", cron, PageScore, 3 * day, []anomaly{{8*day + 180, 8*day + 181}}},
		{"combined", "value never seen before", novel, PageScore, 100, []anomaly{{at, at + 1}}},
	} {
		t.Run(tc.detector+"/"+tc.name, func(t *testing.T) {
			// Alert at the level under test, so that the cooldown does too.
			d, err := New(tc.detector, Options{Alarm: tc.alarm})
			if err != nil {
				t.Fatal(err)
			}
			scores := Score(d, tc.s.ts, tc.s.vs)
			quiet := 0.5
			if tc.detector == "combined" {
				quiet = PageScore
			}
			if m, at := maxIn(scores, tc.quietFrom, tc.anomalies[0].from); m >= quiet {
				t.Errorf("false alarm on the clean part: score %.3f at %d (quiet below %.2f)", m, at, quiet)
			}
			for _, a := range tc.anomalies {
				if m, at := maxIn(scores, a.from, a.to); m < tc.alarm {
					t.Errorf("anomaly at %d..%d not flagged: max %.3f at %d (alarm %.2f)", a.from, a.to, m, at, tc.alarm)
				}
			}
		})
	}
}

// TestCombinedIsQuietOnCleanSeries: no alarm at all, after the warm-up, on
// series without anomalies of the kinds NAB's artificialNoAnomaly holds.
func TestCombinedIsQuietOnCleanSeries(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    series
	}{
		{"gaussian noise", gen(4000, 11, func(_ int, r *rand.Rand) float64 { return 10 + r.NormFloat64() })},
		{"flat line", gen(4000, 12, func(int, *rand.Rand) float64 { return 45 })},
		{"daily cycle with noise", gen(14*day, 13, func(i int, r *rand.Rand) float64 { return daily(i) + 3*r.NormFloat64() })},
		{"daily square wave", gen(14*day, 14, func(i int, _ *rand.Rand) float64 {
			if i%day < day/2 {
				return 20
			}
			return 80
		})},
		{"quantised counter", gen(4000, 15, func(_ int, r *rand.Rand) float64 { return float64(r.IntN(3)) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scores := Score(NewCombined(Options{}), tc.s.ts, tc.s.vs)
			// Seasonal series get two days to learn their cycle.
			from := 2*day + day/4
			if m, at := maxIn(scores, from, len(scores)); m >= PageScore {
				t.Errorf("alarm on a clean series: %.3f at %d (page at %.2f)", m, at, PageScore)
			}
		})
	}
}

// TestCooldown: one alarm per incident.
func TestCooldown(t *testing.T) {
	s := gen(1000, 21, func(i int, r *rand.Rand) float64 {
		v := 10 + r.NormFloat64()
		if i >= 600 {
			v += 20 // a lasting shift: every sample is surprising for a while
		}
		return v
	})
	scores := Score(NewCombined(Options{}), s.ts, s.vs)
	alarms := 0
	cool := Options{}.Defaults().Cooldown
	for i := 600; i < 600+cool; i++ {
		if scores[i] >= AlarmScore {
			alarms++
		}
	}
	if alarms != 1 {
		t.Errorf("%d alarms within the cooldown after a shift, want 1", alarms)
	}
	raw := Score(NewRobustZ(Options{}), s.ts, s.vs)
	wrapped := Score(Cooldown(NewRobustZ(Options{}), 0.5, 10), s.ts, s.vs)
	for i := 600; i < 611; i++ {
		if raw[i] < 0.5 {
			t.Fatalf("robustz does not see the shift at %d", i)
		}
		if want := 0.0; i > 600 && wrapped[i] != want {
			t.Errorf("Cooldown: score %.3f at %d, want 0", wrapped[i], i)
		}
	}
}

// TestScoresAreBounded: whatever the input (NaN, ±Inf, huge, tiny,
// constant, timestamps that repeat or are zero), every score is in [0,1].
func TestScoresAreBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	weird := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 5e-324, 0, -0.0}
	for _, name := range Names() {
		for _, zeroTimes := range []bool{false, true} {
			d, err := New(name, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ts := t0
			for i := 0; i < 5000; i++ {
				var v float64
				switch r.IntN(6) {
				case 0:
					v = weird[r.IntN(len(weird))]
				case 1:
					v = 7
				default:
					v = r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-6))
				}
				if r.IntN(3) > 0 {
					ts = ts.Add(time.Duration(r.IntN(600)) * time.Second)
				}
				at := ts
				if zeroTimes {
					at = time.Time{}
				}
				s := d.Update(at, v)
				if !(s >= 0 && s <= 1) {
					t.Fatalf("%s: score %v for %v at step %d", name, s, v, i)
				}
			}
		}
	}
}

// TestStreamingStateSize: the streaming detectors keep at most 64 bytes per
// series.
func TestStreamingStateSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		size uintptr
	}{
		{"ewma", unsafe.Sizeof(EWMA{})},
		{"cusum", unsafe.Sizeof(CUSUM{})},
	} {
		if tc.size > 64 {
			t.Errorf("%s keeps %d bytes per series, want <= 64", tc.name, tc.size)
		}
		t.Logf("%s: %d bytes per series", tc.name, tc.size)
	}
	for _, i := range Describe() {
		if _, ok := map[string]bool{"ewma": true, "cusum": true}[i.Name]; ok != i.Streaming {
			t.Errorf("%s: Streaming = %v", i.Name, i.Streaming)
		}
	}
}

func TestRegistry(t *testing.T) {
	names := Names()
	for _, want := range []string{"combined", "cusum", "ewma", "robustz", "seasonal"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("Names() = %v lacks %s", names, want)
		}
	}
	d, err := New("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*Combined); !ok {
		t.Errorf("New(\"\") = %T, want the default *Combined", d)
	}
	if _, err := New("prophet", Options{}); err == nil || !strings.Contains(err.Error(), `unknown detector "prophet"`) || !strings.Contains(err.Error(), "robustz") {
		t.Errorf("unknown name: %v", err)
	}
	for _, i := range Describe() {
		if i.Summary == "" {
			t.Errorf("%s has no summary", i.Name)
		}
	}
}

func TestNaNDoesNotChangeState(t *testing.T) {
	s := gen(600, 31, func(_ int, r *rand.Rand) float64 { return r.NormFloat64() })
	for _, name := range Names() {
		a, _ := New(name, Options{})
		b, _ := New(name, Options{})
		for i := range s.vs {
			if i%7 == 0 {
				if got := b.Update(s.ts[i], math.NaN()); got != 0 {
					t.Fatalf("%s: NaN scored %v", name, got)
				}
			}
			if x, y := a.Update(s.ts[i], s.vs[i]), b.Update(s.ts[i], s.vs[i]); x != y {
				t.Fatalf("%s: a NaN changed the score at %d: %v vs %v", name, i, x, y)
			}
		}
	}
}

func TestSeasonalPeriodDetection(t *testing.T) {
	s := gen(5*day, 41, func(i int, r *rand.Rand) float64 { return daily(i) + r.NormFloat64() })
	noise := gen(5*day, 42, func(_ int, r *rand.Rand) float64 { return 100 + 30*r.NormFloat64() })
	for _, tc := range []struct {
		name   string
		s      series
		period time.Duration
		want   time.Duration // 0: none
	}{
		{"daily cycle is found", s, 0, 24 * time.Hour},
		{"noise has none", noise, 0, 0},
		{"a given period is used as is", noise, 6 * time.Hour, 6 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newSeasonality(tc.period)
			for i := range tc.s.vs {
				ss.update(tc.s.ts[i], tc.s.vs[i])
			}
			var got time.Duration
			if ss.active != nil {
				got = time.Duration(ss.active.period) * time.Second
			}
			if got != tc.want {
				t.Errorf("period %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRecordedSeries: two real recordings (testdata/detect/README.md).
// One-second samples, so the window is a minute.
func TestRecordedSeries(t *testing.T) {
	read := func(name string) series {
		t.Helper()
		f, err := os.Open(filepath.Join("..", "..", "testdata", "detect", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := ReadCSV(f, name)
		if err != nil {
			t.Fatal(err)
		}
		var s series
		for _, r := range recs {
			s.ts = append(s.ts, r.Time)
			s.vs = append(s.vs, r.Value)
		}
		return s
	}
	o := Options{Window: 60, Period: -1}

	// diskfree: a 1 GiB file written just before row 201 (index 200). The
	// detector flags it at once; besides it, at most one other alarm (row
	// 176, a 126 MiB drop in a second from a concurrent build) in five minutes of
	// a drifting series.
	disk := read("diskfree.csv")
	scores := Score(NewCombined(o), disk.ts, disk.vs)
	if scores[200] < AlarmScore {
		t.Errorf("diskfree: the 1 GiB write scores %.3f, want >= %.2f", scores[200], AlarmScore)
	}
	var alarms []int
	for i, s := range scores {
		if s >= AlarmScore {
			alarms = append(alarms, i)
		}
	}
	if len(alarms) > 2 {
		t.Errorf("diskfree: alarms at %v, want the write and at most one other", alarms)
	}

	// memavailable: concurrent builds swing it by 2 GiB; nothing in it is
	// worth a page.
	mem := read("memavailable.csv")
	if m, at := maxIn(Score(NewCombined(o), mem.ts, mem.vs), 0, len(mem.vs)); m >= PageScore {
		t.Errorf("memavailable: %.3f at %d, want below %.2f", m, at, PageScore)
	}
}

// TestExplain: the breakdown of a spike names the tests that fired and the
// baseline it was compared with; the warm-up and the cooldown say why the
// score is 0 while the raw score is not.
func TestExplain(t *testing.T) {
	s := gen(3000, 51, func(i int, r *rand.Rand) float64 {
		v := 100 + 5*r.NormFloat64()
		if i >= 2400 {
			v += 60 // a lasting 12σ shift
		}
		return v
	})
	d := NewCombined(Options{Alarm: PageScore})
	if e := d.Explain(); e.Score != 0 || e.Tests != nil {
		t.Errorf("before any sample: %+v", e)
	}
	for i := range s.vs {
		score := d.Update(s.ts[i], s.vs[i])
		e := d.Explain()
		if e.Score != score {
			t.Fatalf("%d: Explain().Score %v, Update returned %v", i, e.Score, score)
		}
		switch {
		case i < 288:
			if !e.Warmup || score != 0 {
				t.Fatalf("%d: warm-up %v, score %v", i, e.Warmup, score)
			}
		case i == 2400:
			if score < PageScore || e.Raw != score || e.Cooldown {
				t.Fatalf("shift: %+v", e)
			}
			if math.Abs(e.Expected-100) > 2 || math.Abs(e.Spread-5) > 1 {
				t.Errorf("baseline %v ± %v, want about 100 ± 5", e.Expected, e.Spread)
			}
			fired := e.Fired(PageScore)
			if len(fired) == 0 || e.Tests[0].Score != score || !strings.Contains(strings.Join(fired, ","), "robustz") {
				t.Errorf("fired %v, tests %+v", fired, e.Tests)
			}
		case i == 2401:
			if score != 0 || !e.Cooldown || e.Raw < PageScore {
				t.Errorf("in the cooldown: %+v, want score 0 and a raw score >= %.1f", e, PageScore)
			}
		}
	}
	// NaN changes nothing, the explanation included.
	before := d.Explain()
	d.Update(s.ts[len(s.ts)-1].Add(5*time.Minute), math.NaN())
	if after := d.Explain(); after.Raw != before.Raw || after.Expected != before.Expected {
		t.Errorf("NaN changed the explanation: %+v then %+v", before, after)
	}
}
