package detect

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
)

// TestRollingWindowAgainstSort compares the rolling window with sorting a
// copy of the last w values, on data with many ties and on continuous data.
func TestRollingWindowAgainstSort(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) float64
	}{
		{"continuous", func(r *rand.Rand) float64 { return r.NormFloat64() }},
		{"ties", func(r *rand.Rand) float64 { return float64(r.IntN(5)) }},
		{"mostly constant", func(r *rand.Rand) float64 {
			if r.IntN(10) == 0 {
				return r.Float64() * 100
			}
			return 7
		}},
	} {
		for _, capacity := range []int{1, 2, 3, 4, 5, 10, 64, 288, 301} {
			r := rand.New(rand.NewPCG(uint64(capacity), 9))
			w := newRollingWindow(capacity)
			var all []float64
			for i := 0; i < 500; i++ {
				v := tc.gen(r)
				w.push(v)
				all = append(all, v)
				last := append([]float64(nil), all[max(0, len(all)-capacity):]...)
				sort.Float64s(last)
				if !equal(w.sorted, last) {
					t.Fatalf("%s cap %d step %d: sorted %v, want %v", tc.name, capacity, i, w.sorted, last)
				}
				n := len(last)
				med := last[n/2]
				if n%2 == 0 {
					med = (last[n/2-1] + last[n/2]) / 2
				}
				if got := w.median(); got != med {
					t.Fatalf("%s cap %d step %d: median %v, want %v", tc.name, capacity, i, got, med)
				}
				dist := make([]float64, n)
				for j, x := range last {
					dist[j] = math.Abs(x - med)
				}
				sort.Float64s(dist)
				if got := w.mad(med); got != dist[n/2] {
					t.Fatalf("%s cap %d step %d: mad %v, want %v", tc.name, capacity, i, got, dist[n/2])
				}
				var sum, sq float64
				for _, x := range last {
					sum += x
				}
				mean := sum / float64(n)
				for _, x := range last {
					sq += (x - mean) * (x - mean)
				}
				want := 0.0
				if n >= 2 {
					want = math.Sqrt(sq / float64(n))
				}
				if got := w.stddev(); math.Abs(got-want) > 1e-6*(1+math.Abs(mean)) {
					t.Fatalf("%s cap %d step %d: stddev %v, want %v", tc.name, capacity, i, got, want)
				}
			}
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLowerBound(t *testing.T) {
	s := []float64{1, 2, 2, 2, 5, 8}
	for _, tc := range []struct {
		v    float64
		want int
	}{{0, 0}, {1, 0}, {1.5, 1}, {2, 1}, {3, 4}, {5, 4}, {8, 5}, {9, 6}} {
		if got := lowerBound(s, tc.v); got != tc.want {
			t.Errorf("lowerBound(%v) = %d, want %d", tc.v, got, tc.want)
		}
		if got := sort.SearchFloat64s(s, tc.v); got != tc.want {
			t.Errorf("reference disagrees for %v: %d", tc.v, got)
		}
	}
	if lowerBound(nil, 1) != 0 {
		t.Error("empty slice")
	}
	if a, b := lowerBound2(nil, 1, 2); a != 0 || b != 0 {
		t.Error("lowerBound2 on an empty slice")
	}
	// lowerBound2 (quaternary) against sort.SearchFloat64s, every length
	// up to 300, with ties, and values below, between and above.
	r := rand.New(rand.NewPCG(3, 3))
	for n := 0; n <= 300; n++ {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(r.IntN(n/3 + 2))
		}
		sort.Float64s(s)
		for v := -1.0; v <= float64(n/3+3); v += 0.5 {
			u := float64(n/3+2) - v
			a, b := lowerBound2(s, v, u)
			if wa, wb := sort.SearchFloat64s(s, v), sort.SearchFloat64s(s, u); a != wa || b != wb {
				t.Fatalf("n %d: lowerBound2(%v, %v) = %d, %d, want %d, %d", n, v, u, a, b, wa, wb)
			}
		}
	}
}

func BenchmarkRollingPush(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	vs := make([]float64, 4096)
	for i := range vs {
		vs[i] = r.NormFloat64()
	}
	w := newRollingWindow(288)
	for _, v := range vs {
		w.push(v)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu := threadCPU()
	var s float64
	for i := 0; i < b.N; i++ {
		w.push(vs[i&4095])
		m := w.median()
		s += w.mad(m)
	}
	reportCPU(b, threadCPU()-cpu)
	sink = s
}
