package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// rng wraps a seeded PCG source with the draws the generator needs. Every
// draw goes through it, in a fixed order, so one seed gives one fleet.
type rng struct {
	r *rand.Rand
}

func newRNG(seed int64) *rng {
	return &rng{r: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

// intn returns a number in [0, n).
func (g *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return g.r.IntN(n)
}

// between returns a number in [lo, hi].
func (g *rng) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + g.r.IntN(hi-lo+1)
}

func (g *rng) chance(p float64) bool { return g.r.Float64() < p }

func (g *rng) float() float64 { return g.r.Float64() }

// dur returns a duration in [lo, hi] truncated to the second, as API
// timestamps are.
func (g *rng) dur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo.Truncate(time.Second)
	}
	return (lo + time.Duration(g.r.Int64N(int64(hi-lo)))).Truncate(time.Second)
}

// durMicro is dur with microsecond precision, for MicroTime fields
// (lease renewals).
func (g *rng) durMicro(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo.Truncate(time.Microsecond)
	}
	return (lo + time.Duration(g.r.Int64N(int64(hi-lo)))).Truncate(time.Microsecond)
}

func pick[T any](g *rng, xs []T) T { return xs[g.intn(len(xs))] }

// weighted picks an index by weight.
func (g *rng) weighted(ws []float64) int {
	var total float64
	for _, w := range ws {
		total += w
	}
	x := g.float() * total
	for i, w := range ws {
		if x < w {
			return i
		}
		x -= w
	}
	return len(ws) - 1
}

// safeAlphabet is the alphabet Kubernetes uses for generated name suffixes
// and pod-template-hash values (rand.SafeEncodeString: no vowels, no
// look-alike digits).
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// suffix returns n characters from the safe alphabet, like the random part
// of a generateName.
func (g *rng) suffix(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = safeAlphabet[g.intn(len(safeAlphabet))]
	}
	return string(b)
}

// templateHash is a pod-template-hash: a uint32 FNV hash rendered with the
// safe alphabet, 8 to 10 characters long.
func (g *rng) templateHash() string { return g.suffix(g.between(8, 10)) }

// uid returns a random version-4 UUID, as the API server assigns.
func (g *rng) uid() string {
	a, b := g.r.Uint64(), g.r.Uint64()
	a = a&^(0xf<<12) | 0x4<<12 // version 4
	b = b&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// resourceVersion returns an etcd revision-like number.
func (g *rng) resourceVersion() string {
	return strconv.FormatInt(int64(g.between(100000, 999999999)), 10)
}

// hex returns n lowercase hex digits.
func (g *rng) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.intn(16)]
	}
	return string(b)
}
