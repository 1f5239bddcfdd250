package detect

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchSeries is a noisy daily cycle with spikes, 5-minute samples.
func benchSeries(n int) ([]time.Time, []float64) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := make([]time.Time, n)
	vs := make([]float64, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range vs {
		ts[i] = t0.Add(time.Duration(i) * 5 * time.Minute)
		vs[i] = 100 + 10*r.NormFloat64()
		if r.IntN(500) == 0 {
			vs[i] += 200
		}
	}
	return ts, vs
}

func benchDetector(b *testing.B, name string) {
	ts, vs := benchSeries(1 << 16)
	d, err := New(name, Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Fill windows and profiles first: the steady state is what matters.
	for i := range vs {
		d.Update(ts[i], vs[i])
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := threadCPU()
	var s float64
	for i := 0; i < b.N; i++ {
		j := i & (len(vs) - 1)
		s += d.Update(ts[j], vs[j])
	}
	cpu = threadCPU() - cpu
	b.StopTimer()
	sink = s
	reportCPU(b, cpu)
}

// reportCPU adds CPU time per point and points per CPU-second.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu <= 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/point")
	b.ReportMetric(float64(b.N)/cpu.Seconds()/1e6, "Mpoints/cpu-s")
}

var sink float64

func BenchmarkEWMA(b *testing.B)     { benchDetector(b, "ewma") }
func BenchmarkCUSUM(b *testing.B)    { benchDetector(b, "cusum") }
func BenchmarkRobustZ(b *testing.B)  { benchDetector(b, "robustz") }
func BenchmarkSeasonal(b *testing.B) { benchDetector(b, "seasonal") }
func BenchmarkCombined(b *testing.B) { benchDetector(b, "combined") }
