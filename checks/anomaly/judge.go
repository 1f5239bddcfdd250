package anomaly

import (
	"math"
	"slices"
	"time"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Options says how Judge reads a series.
type Options struct {
	// Window is the detector's trailing window as a duration; it becomes
	// detect.Options.Window in samples at the series' step. Default 1d.
	Window time.Duration
	// Within is how recent a point must be to count as "now". Default 15m.
	Within time.Duration
	// Page is the score at or above which a point is anomalous. Default
	// detect.PageScore.
	Page float64
	// Direction keeps only deviations above (Up) or below (Down) the
	// baseline; Both keeps either.
	Direction Direction
}

// Direction is which side of the baseline matters.
type Direction int

// Directions.
const (
	Both Direction = iota
	Up
	Down
)

// Verdict is the combined detector's judgement of a series' latest points.
type Verdict struct {
	Series *snapshot.Series
	// Judged is false when the history is too short for the detector to
	// score its latest point (it is still in its warm-up window).
	Judged bool
	// Anomalous: a point within Options.Within scored at least
	// Options.Page, on the side Options.Direction asks for.
	Anomalous bool
	// Score is the highest score among the latest points (0 without
	// any), At its time and Value its value.
	Score float64
	At    time.Time
	Value float64
	// Since is when the excursion started: the first point of the run of
	// anomalous points (on the same side) that ends at the latest one.
	Since time.Time
	// Explanation is the detector's breakdown at At: baseline, spread,
	// and each test's score.
	Explanation detect.Explanation
	// Samples, Step and Covered describe the history read; Finite
	// counts the samples that are numbers (NaN is a step without data,
	// such as an error ratio without enough requests).
	Samples int
	Finite  int
	Step    time.Duration
	Covered time.Duration
	// Window is the detector's window in samples.
	Window int
}

// Above reports whether the anomalous point is above its baseline.
func (v Verdict) Above() bool { return v.Value >= v.Explanation.Expected }

// Recent returns the last n samples of the history (all when fewer).
func (v Verdict) Recent(n int) snapshot.Samples {
	ss := v.Series.Samples
	return ss[max(0, len(ss)-n):]
}

func (o Options) defaults() Options {
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Within <= 0 {
		o.Within = 15 * time.Minute
	}
	if !(o.Page > 0 && o.Page <= 1) {
		o.Page = detect.PageScore
	}
	return o
}

// minWindow: a window of fewer samples has no median worth the name.
const minWindow = 8

// Judge runs the combined detector over s (its samples, oldest first) and
// judges the points at most o.Within older than now. Each point is scored
// from the points up to it, so the latest one is judged exactly as a live
// stream would judge it; the score used is the detector's raw one, before
// its cooldown (which silences the points after a first alarm, while the
// question here is whether the latest point is still anomalous).
func Judge(s *snapshot.Series, now time.Time, o Options) Verdict {
	o = o.defaults()
	v := Verdict{Series: s, Samples: len(s.Samples)}
	if len(s.Samples) < 2 {
		return v
	}
	v.Step = step(s.Samples)
	v.Covered = time.Duration(s.Samples[len(s.Samples)-1].T-s.Samples[0].T) * time.Millisecond
	v.Window = max(minWindow, int(math.Round(float64(o.Window)/float64(v.Step))))
	d := detect.NewCombined(detect.Options{Window: v.Window, Warmup: min(30, v.Window), Alarm: o.Page})
	from := now.Add(-o.Within).UnixMilli()
	type point struct {
		score, value float64
		at, since    time.Time
		e            detect.Explanation
		ok           bool
	}
	var runStart time.Time
	var top, hottest point
	for _, x := range s.Samples {
		d.Update(x.Time(), x.V)
		if !finite(x.V) {
			continue
		}
		v.Finite++
		raw, expected, warmup := d.Last()
		if warmup {
			continue
		}
		v.Judged = true
		hot := raw >= o.Page && o.Direction.keeps(x.V, expected)
		switch {
		case !hot:
			runStart = time.Time{}
		case runStart.IsZero():
			runStart = x.Time()
		}
		if x.T < from {
			continue
		}
		// Ties go to the later point: the latest state is the news.
		top1 := !top.ok || raw >= top.score
		hot1 := hot && (!hottest.ok || raw >= hottest.score)
		if !top1 && !hot1 {
			continue
		}
		p := point{score: raw, value: x.V, at: x.Time(), since: runStart, e: d.Explain(), ok: true}
		if top1 {
			top = p
		}
		if hot1 {
			hottest = p
		}
	}
	if hottest.ok {
		top, v.Anomalous = hottest, true
	}
	v.Score, v.Value, v.At, v.Since, v.Explanation = top.score, top.value, top.at, top.since, top.e
	return v
}

func (dir Direction) keeps(v, expected float64) bool {
	switch dir {
	case Up:
		return v > expected
	case Down:
		return v < expected
	}
	return true
}

// step is the median gap between samples.
func step(ss snapshot.Samples) time.Duration {
	gaps := make([]int64, 0, min(len(ss)-1, 64))
	for i := 1; i < len(ss) && len(gaps) < cap(gaps); i++ {
		if g := ss[len(ss)-i].T - ss[len(ss)-i-1].T; g > 0 {
			gaps = append(gaps, g)
		}
	}
	if len(gaps) == 0 {
		return time.Minute
	}
	slices.Sort(gaps)
	return time.Duration(gaps[len(gaps)/2]) * time.Millisecond
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
