package detect

import "math"

// rollingWindow keeps the last cap values of a stream twice: in arrival
// order (a ring) and sorted. Pushing a value when the window is full moves
// only the sorted elements between the outgoing and the incoming value's
// positions, one memmove of on average a third of the window, so a push
// costs O(log w) comparisons plus a short copy; the median is O(1) and the
// median absolute deviation O(log w) (a k-th smallest of two sorted runs).
//
// The window also keeps the sum and the sum of squares of its values,
// shifted by a recent median so that large offsets do not cancel, for the
// standard deviation; they are recomputed from the ring every cap pushes so
// that rounding does not accumulate.
type rollingWindow struct {
	ring   []float64 // arrival order; ring[head] is the oldest when full
	sorted []float64 // the same values, ascending; len == number held
	head   int
	shift  float64 // subtracted from every value in sum and sumSq
	sum    float64
	sumSq  float64
	pushes int // since the last exact recomputation of sum and sumSq
	// madHint is the previous kthDistance split, where the next search
	// starts.
	madHint int
}

func newRollingWindow(capacity int) *rollingWindow {
	return &rollingWindow{ring: make([]float64, 0, capacity), sorted: make([]float64, 0, capacity)}
}

func (w *rollingWindow) len() int { return len(w.sorted) }
func (w *rollingWindow) full() bool {
	return len(w.ring) == cap(w.ring)
}

// push adds v, dropping the oldest value when the window is full.
func (w *rollingWindow) push(v float64) {
	if len(w.ring) < cap(w.ring) {
		if len(w.ring) == 0 {
			w.shift = v
		}
		w.ring = append(w.ring, v)
		i := lowerBound(w.sorted, v)
		w.sorted = append(w.sorted, 0)
		copy(w.sorted[i+1:], w.sorted[i:])
		w.sorted[i] = v
		d := v - w.shift
		w.sum += d
		w.sumSq += d * d
		return
	}
	old := w.ring[w.head]
	w.ring[w.head] = v
	w.head++
	if w.head == len(w.ring) {
		w.head = 0
	}
	s := w.sorted
	po, pn := lowerBound2(s, old, v) // po holds old; v goes at pn
	switch {
	case v > old:
		// Shift (po, pn) left by one; v lands just before pn.
		copy(s[po:pn-1], s[po+1:pn])
		s[pn-1] = v
	case v < old:
		// Shift [pn, po) right by one over old.
		copy(s[pn+1:po+1], s[pn:po])
		s[pn] = v
	}
	dv, do := v-w.shift, old-w.shift
	w.sum += dv - do
	w.sumSq += dv*dv - do*do
	w.pushes++
	if w.pushes >= recomputeEvery*len(w.ring) {
		w.recompute()
	}
}

// recomputeEvery: the sums are recomputed from the ring every
// recomputeEvery·cap pushes. Each push adds and removes one term, so the
// rounding error grows like √pushes ulps of the shifted sum of squares: a
// few times 1e-15 relative after a thousand pushes.
const recomputeEvery = 4

// recompute sets the shift to the median and sums the ring again, in two
// interleaved accumulators (a single chain of dependent additions would
// cost as much as a hundred pushes).
func (w *rollingWindow) recompute() {
	w.pushes = 0
	w.shift = w.median()
	var s0, s1, q0, q1 float64
	r := w.ring
	i := 0
	for ; i+1 < len(r); i += 2 {
		d0, d1 := r[i]-w.shift, r[i+1]-w.shift
		s0 += d0
		s1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	if i < len(r) {
		d := r[i] - w.shift
		s0 += d
		q0 += d * d
	}
	w.sum, w.sumSq = s0+s1, q0+q1
}

// lowerBound is the first index i with s[i] >= v (len(s) if none). It is
// the branch-free form of binary search (Khuong and Morin, 2017): the
// comparison becomes a conditional move, so a search over a day of
// samples costs nine loads and no mispredicted branches.
// sort.SearchFloat64s would cost a closure call per probe.
func lowerBound(s []float64, v float64) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		base += half & -b2i(s[base+half] < v)
		n -= half
	}
	return base + b2i(s[base] < v)
}

// b2i is 1 for true; the compiler turns it into a SETcc, which keeps the
// searches free of branches (a float comparison in an if never becomes a
// conditional move).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lowerBound2 is lowerBound for two values at once, by quaternary search:
// each step compares a value with three pivots (independent loads, so
// they overlap) and keeps a quarter of the range, which halves the chain
// of dependent load-compare-add steps of a bisection (5 steps instead of
// 9 over a day's window); the two values' chains interleave, so the pair
// costs about as much as one. Invariant: the answer is in [b, b+n] and
// b+n <= len(s).
func lowerBound2(s []float64, a, b float64) (int, int) {
	n := len(s)
	ba, bb := 0, 0
	for n >= 4 {
		q := n >> 2
		ba += q * (b2i(s[ba+q] < a) + b2i(s[ba+2*q] < a) + b2i(s[ba+3*q] < a))
		bb += q * (b2i(s[bb+q] < b) + b2i(s[bb+2*q] < b) + b2i(s[bb+3*q] < b))
		n -= 3 * q
	}
	ca, cb := 0, 0
	for i := 0; i < n; i++ {
		ca += b2i(s[ba+i] < a)
		cb += b2i(s[bb+i] < b)
	}
	return ba + ca, bb + cb
}

// median of the window (0 when empty).
func (w *rollingWindow) median() float64 {
	n := len(w.sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return w.sorted[n/2]
	}
	return (w.sorted[n/2-1] + w.sorted[n/2]) / 2
}

// mad is the median absolute deviation from m (normally the median); for
// an even count, the upper of the two middle distances (one search instead
// of two, a difference of one order statistic in a window of hundreds).
func (w *rollingWindow) mad(m float64) float64 {
	if len(w.sorted) == 0 {
		return 0
	}
	return w.kthDistance(m, len(w.sorted)/2)
}

// kthDistance is the k-th smallest (0-based) of |x - m| over the window.
// The distances of the values below m, read downwards, and of the values at
// or above m, read upwards, are two ascending runs; the k-th smallest of
// their union is found by how many come from the lower run, which moves
// little from one push to the next.
func (w *rollingWindow) kthDistance(m float64, k int) float64 {
	s := w.sorted
	n := len(s)
	// p: the first index with s[p] >= m. m is normally the median, so it
	// is at or just below the middle; search only when there are ties.
	p := min(n/2, n-1)
	for steps := 0; p > 0 && s[p-1] >= m; steps++ {
		if steps == 4 {
			p = lowerBound(s[:p], m)
			break
		}
		p--
	}
	for p < n && s[p] < m {
		p++
	}
	nl, nr := p, n-p
	// Take i from the lower run and j = k+1-i from the upper one; the
	// answer is at the smallest i in [lo, hi] where the next lower distance
	// is not below the last upper one taken. Every i < hi has i < nl and
	// j >= 1, so the probes below stay in range.
	lo, hi := max(0, k+1-nr), min(k+1, nl)
	// lower(i): the i-th lower distance is below the (k-i)-th upper one, so
	// more must come from the lower run. It is true up to the answer and
	// false from it on, and the answer moves by a step or two per push, so
	// walking from the previous answer costs O(1) instead of a bisection.
	// lower(i) := i < hi && m-s[p-1-i] < s[p+k-i]-m, written out (a
	// closure here costs a call per step).
	base := min(max(w.madHint, lo), hi)
	if base < hi && m-s[p-1-base] < s[p+k-base]-m {
		for base++; base < hi && m-s[p-1-base] < s[p+k-base]-m; base++ {
		}
	} else {
		for base > lo && !(m-s[p-base] < s[p+k-base+1]-m) {
			base--
		}
	}
	w.madHint = base
	i, j := base, k+1-base
	d := math.Inf(-1)
	if i > 0 {
		d = m - s[p-i]
	}
	if j > 0 {
		d = math.Max(d, s[p+j-1]-m)
	}
	return d
}

// variance is the population variance of the window (0 when constant).
func (w *rollingWindow) variance() float64 {
	n := float64(len(w.ring))
	if n < 2 || w.sorted[0] == w.sorted[len(w.sorted)-1] {
		return 0
	}
	mean := w.sum / n
	return max(0, w.sumSq/n-mean*mean)
}

// stddev is the population standard deviation of the window.
func (w *rollingWindow) stddev() float64 {
	n := float64(len(w.ring))
	if n < 2 || w.sorted[0] == w.sorted[len(w.sorted)-1] {
		return 0 // also exact for a constant window, whatever the rounding
	}
	mean := w.sum / n
	v := w.sumSq/n - mean*mean
	if v <= 0 {
		return 0
	}
	return math.Sqrt(v)
}

// quantile of the window by nearest rank, q in [0,1].
func (w *rollingWindow) quantile(q float64) float64 {
	n := len(w.sorted)
	if n == 0 {
		return 0
	}
	i := int(q * float64(n-1))
	return w.sorted[i]
}
