package nab

import (
	"fmt"
	"math"
	"sort"
)

// maxTP is the scaled sigmoid of a detection on a window's first row; TP
// rewards are divided by it so that such a detection earns the full weight.
var maxTP = ScaledSigmoid(-1)

// labels are the detector-independent facts of a file's rows.
type labels struct {
	probation int
	window    []int     // window index, or -1 outside every window
	weight    []float64 // unweighted scaled sigmoid: TP value in a window, FP value (<= 0) outside
	windows   int       // windows with at least one scorable row
	labelled  int       // windows in the labels, scorable or not
	best      []float64 // per window: the weight of its first scorable row
}

func label(f *File) labels {
	n := len(f.Times)
	l := labels{probation: ProbationaryRows(n), window: make([]int, n), weight: make([]float64, n), labelled: len(f.Windows)}
	for i := range l.window {
		l.window[i] = -1
	}
	type span struct{ left, right int }
	var spans []span
	for _, w := range f.Windows {
		left := sort.Search(n, func(i int) bool { return !f.Times[i].Before(w.Start) })
		right := sort.Search(n, func(i int) bool { return f.Times[i].After(w.End) }) - 1
		if left <= right {
			spans = append(spans, span{left, right})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].left < spans[j].left })
	prevRight, prevWidth := -1, 0
	k := 0
	for i := 0; i < n; i++ {
		if k < len(spans) && i >= spans[k].left && i <= spans[k].right {
			s := spans[k]
			width := float64(s.right - s.left + 1)
			l.window[i] = k
			l.weight[i] = ScaledSigmoid(-float64(s.right-i+1) / width)
			if i == s.right {
				prevRight, prevWidth = s.right, s.right-s.left+1
				k++
			}
			continue
		}
		switch {
		case prevRight < 0:
			l.weight[i] = ScaledSigmoid(3)
		case prevWidth <= 1:
			l.weight[i] = -1 // NAB divides by zero here
		default:
			l.weight[i] = ScaledSigmoid(float64(i-prevRight) / float64(prevWidth-1))
		}
	}
	l.best = make([]float64, len(spans))
	for i := range l.best {
		l.best[i] = math.NaN()
	}
	for i := l.probation; i < n; i++ {
		if w := l.window[i]; w >= 0 && math.IsNaN(l.best[w]) {
			l.best[w] = l.weight[i]
			l.windows++
		}
	}
	return l
}

// Scored is a file with a detector's scores, one per row.
type Scored struct {
	File   *File
	Scores []float64
}

// Result is a detector's NAB score on a set of files under one profile.
type Result struct {
	Profile   string
	Threshold float64
	// Raw is the sum of the weighted TP, FP and FN terms. Null is what the
	// null detector gets on the same files (-FN per scorable window) and
	// Perfect is TP per labelled window, as NAB normalises.
	Raw, Null, Perfect float64
	// Windows, Detected and FalsePositives count labelled windows, windows
	// with a detection and detections outside every window.
	Windows, Detected, FalsePositives int
}

// Normalised is 100·(Raw - Null)/(Perfect - Null): 0 for the null detector,
// 100 for the perfect one. NaN when the files have no windows.
func (r Result) Normalised() float64 {
	if r.Perfect == r.Null {
		return math.NaN()
	}
	return 100 * (r.Raw - r.Null) / (r.Perfect - r.Null)
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %.1f (threshold %.4f, raw %.2f, %d/%d windows, %d FP)",
		r.Profile, r.Normalised(), r.Threshold, r.Raw, r.Detected, r.Windows, r.FalsePositives)
}

type scorableRow struct {
	score  float64
	weight float64
	window int // global window id, or -1
}

// Optimise finds the corpus-wide threshold that maximises the profile's
// total over files, as NAB's optimiser does: it sweeps every distinct
// score from the highest down, plus "above every score" (the null
// detector), and keeps the best (the highest threshold among equals).
func Optimise(files []Scored, p Profile) (Result, error) {
	var rows []scorableRow
	var base Result
	offset := 0
	for _, s := range files {
		l, err := check(s)
		if err != nil {
			return Result{}, err
		}
		for i := l.probation; i < len(s.Scores); i++ {
			w := l.window[i]
			if w >= 0 {
				w += offset
			}
			rows = append(rows, scorableRow{score: s.Scores[i], weight: l.weight[i], window: w})
		}
		offset += len(l.best)
		base.add(l, p)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].score > rows[j].score })

	cur := base.Null
	bestScore, bestThr := cur, math.Inf(1)
	seen := make([]float64, offset)
	for i := range seen {
		seen[i] = math.NaN()
	}
	for i, r := range rows {
		if r.window < 0 {
			cur += p.FP * r.weight
		} else if prev := seen[r.window]; math.IsNaN(prev) {
			seen[r.window] = r.weight
			cur += p.TP*r.weight/maxTP + p.FN
		} else if r.weight > prev {
			seen[r.window] = r.weight
			cur += p.TP * (r.weight - prev) / maxTP
		}
		if (i == len(rows)-1 || rows[i+1].score != r.score) && cur > bestScore+1e-12 {
			bestScore, bestThr = cur, r.score
		}
	}
	return ScoreAt(files, p, bestThr)
}

// ScoreAt scores the files at a given threshold: a row detects when its
// score is >= threshold.
func ScoreAt(files []Scored, p Profile, threshold float64) (Result, error) {
	res := Result{Profile: p.Name, Threshold: threshold}
	for _, s := range files {
		l, err := check(s)
		if err != nil {
			return Result{}, err
		}
		res.add(l, p)
		first := make([]bool, len(l.best))
		for i := l.probation; i < len(s.Scores); i++ {
			if s.Scores[i] < threshold {
				continue
			}
			w := l.window[i]
			switch {
			case w < 0:
				res.Raw += p.FP * l.weight[i]
				res.FalsePositives++
			case !first[w]:
				first[w] = true
				res.Raw += p.TP*l.weight[i]/maxTP + p.FN
				res.Detected++
			}
		}
	}
	return res, nil
}

// add accounts for a file's windows in Null, Perfect and the FN part of Raw.
func (r *Result) add(l labels, p Profile) {
	r.Windows += l.windows
	r.Null -= p.FN * float64(l.windows)
	r.Raw -= p.FN * float64(l.windows)
	r.Perfect += p.TP * float64(l.labelled)
}

func check(s Scored) (labels, error) {
	if len(s.Scores) != len(s.File.Times) {
		return labels{}, fmt.Errorf("%s: %d scores for %d rows", s.File.Name, len(s.Scores), len(s.File.Times))
	}
	return label(s.File), nil
}
