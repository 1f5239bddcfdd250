package detect

import "math"

// calibrator turns a test's surprise into a p-value relative to the
// series' own history of that surprise: the conformal p-value
//
//	p = (1 + #{past u' >= u}) / (1 + #past)
//
// over exponentially forgotten counts (memory ~mem samples) in bins of u
// (8 per octave of 1+u; a tie within a bin counts as "at least as
// extreme", which is conservative). Beyond the largest surprise still
// remembered, p is extended with a power-law tail, p·(1+u_max)/(1+u): a
// record is ranked by how far it goes beyond, but without trusting the
// test's (often Gaussian, often wrong) tail for the extrapolation.
//
// So a point is as anomalous as it is rare for this series, whatever the
// test's model gets wrong about its distribution: heavy tails,
// quantisation, autocorrelation. The state is 401 float64s (the counts
// and their Fenwick tree) and a byte per sample of delay.
type calibrator struct {
	counts [calBins]float64 // stored as count/scale
	// tree is a Fenwick tree of counts over the bins in reverse order, so
	// that the tail sum of a bin is a prefix sum: O(log bins) instead of
	// a loop over every bin above it (which was half of combined's time).
	tree   [calBins + 1]float64
	total  float64 // stored as total/scale
	scale  float64 // λ^t: the forgetting, applied lazily
	lambda float64
	top    int // highest bin that may hold a count
	// prior is the weight of one imaginary past value more extreme than
	// any (see newCalibrator); it fades like the real ones.
	prior float64
	// delay holds the bins of the latest surprises before they join the
	// counts (see newCalibrator); head is the oldest.
	delay []uint8
	head  int
}

const (
	calBinsPerOctave = 8
	calBins          = 25 * calBinsPerOctave // u up to 2^25 nats
	// calForgotten: values whose forgotten-weighted count is below half a
	// sample are no longer remembered.
	calForgotten = 0.5
	// calTail: the tail's decay rate is measured over the last calTail
	// values (a sixth of a percent of a week of 5-minute samples).
	calTail = 16
)

// newCalibrator remembers about mem samples, after a delay of lag samples:
// a surprise joins the history lag samples after it was judged, so that an
// excursion that builds up (a CUSUM rising for dozens of samples) is
// compared with the series before it, not with its own beginning.
//
// It starts with one imaginary value more extreme than any, which fades
// with the memory (below calForgotten after mem·ln 2 samples): until a
// series has shown what its usual extremes are, none of its values is
// trusted to be a record, so a fresh series does not alarm on every new
// maximum of its short history.
func newCalibrator(mem, lag int) calibrator {
	return calibrator{scale: 1, lambda: 1 - 1/float64(max(mem, 2)), top: -1, prior: 1, delay: make([]uint8, 0, max(lag, 1))}
}

// calBin is the bin of u: octave e of 1+u and, within it, which eighth of
// the octave (linear), read from the float's exponent and mantissa bits
// without a logarithm.
func calBin(u float64) int {
	if !(u > 0) {
		return 0
	}
	bits := math.Float64bits(1 + u)
	e := int(bits>>52&0x7ff) - 1023
	return min(e*calBinsPerOctave+int(bits>>49&(calBinsPerOctave-1)), calBins-1)
}

// calEdge is the lower edge of bin b: 2^e·(1 + k/8) - 1.
func calEdge(b int) float64 {
	e, k := b/calBinsPerOctave, b%calBinsPerOctave
	return math.Ldexp(1+float64(k)/calBinsPerOctave, e) - 1
}

// surprise returns -ln p for u against the history, then adds u to it.
func (c *calibrator) surprise(u float64) float64 {
	b := calBin(u)
	tail := c.tail(b)*c.scale + c.prior
	s := math.Log((1 + c.total*c.scale + c.prior) / (1 + tail))
	if tail < calForgotten {
		// A record. Extend from the largest surprise still remembered (the
		// highest bin from which the forgotten-weighted count upwards
		// reaches calForgotten) with the history's own tail: -ln P rises by
		// ln(calTail/calForgotten) between the bin where calTail values lie
		// above and that largest one. The extension assumes a power-law
		// tail through those two points (-ln P linear in ln u), which is
		// exact for a Pareto tail and conservative for lighter ones, and
		// never exceeds the test's own model (rate 1 in u, its surprise
		// being Exp(1) under the model).
		acc, ref, deep := tail, -1, -1
		for j := b - 1; j >= 0; j-- {
			acc += c.counts[j] * c.scale
			if ref < 0 && acc >= calForgotten {
				ref = j
			}
			if acc >= calTail {
				deep = j
				break
			}
		}
		switch {
		case ref < 0:
			s += math.Log1p(u)
		case deep < 0 || deep == ref:
			s += math.Log((1 + u) / (1 + calEdge(ref+1)))
		default:
			top, low := calEdge(ref+1), calEdge(deep)
			xi := math.Log(calTail/calForgotten) / math.Log((1+top)/(1+low))
			s += min(xi*math.Log((1+u)/(1+top)), u-top)
		}
	}
	for c.top >= 0 && c.counts[c.top]*c.scale < 1e-3 {
		c.top--
	}
	c.learn(b)
	return max(s, 0)
}

// learn queues bin b and moves the oldest queued one into the counts.
func (c *calibrator) learn(b int) {
	if len(c.delay) < cap(c.delay) {
		c.delay = append(c.delay, uint8(b))
		return
	}
	old := int(c.delay[c.head])
	c.delay[c.head] = uint8(b)
	if c.head++; c.head == len(c.delay) {
		c.head = 0
	}
	c.scale *= c.lambda
	c.prior *= c.lambda
	if c.scale < 1e-100 {
		for j := range c.counts {
			c.counts[j] *= c.scale
		}
		for j := range c.tree {
			c.tree[j] *= c.scale
		}
		c.total *= c.scale
		c.scale = 1
	}
	w := 1 / c.scale
	c.counts[old] += w
	c.total += w
	for r := calBins - old; r <= calBins; r += r & -r {
		c.tree[r] += w
	}
	c.top = max(c.top, old)
}

// tail is the stored count of bins b and above.
func (c *calibrator) tail(b int) float64 {
	var s float64
	for r := calBins - b; r > 0; r -= r & -r {
		s += c.tree[r]
	}
	return s
}
