package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"text/tabwriter"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/analysis/detect/nab"
)

// cleanSeries is a generator of a series without anomalies, shaped like
// one of NAB's categories (or a common metric), to measure how often the
// combined detector raises an alarm when there is nothing to find. NAB
// charges every one, and the count grows with the length of a file:
// calibrated p-values are uniform on any series, so a threshold is a
// false-alarm rate per sample.
type cleanSeries struct {
	name string
	step time.Duration
	n    int
	next func(i int, r *rand.Rand, state *float64) float64
}

var cleanKinds = []cleanSeries{
	{"Gaussian noise", 5 * time.Minute, 4032, func(_ int, r *rand.Rand, _ *float64) float64 {
		return 10 + r.NormFloat64()
	}},
	{"counts with a daily cycle (negative binomial, tweet-like)", 5 * time.Minute, 15831, func(i int, r *rand.Rand, _ *float64) float64 {
		rate := 20 * (1 + 0.6*math.Sin(2*math.Pi*float64(i%288)/288))
		g := distuv.Gamma{Alpha: 4, Beta: 4, Src: r}
		return distuv.Poisson{Lambda: rate * g.Rand(), Src: r}.Rand()
	}},
	{"the same with bursts (3 in 1000 samples, 3-11x, decaying)", 5 * time.Minute, 15831, func(i int, r *rand.Rand, burst *float64) float64 {
		if r.Float64() < 0.003 {
			*burst = 2 + 8*r.Float64()
		}
		*burst *= 0.7
		rate := 20 * (1 + 0.6*math.Sin(2*math.Pi*float64(i%288)/288)) * (1 + *burst)
		g := distuv.Gamma{Alpha: 4, Beta: 4, Src: r}
		return distuv.Poisson{Lambda: rate * g.Rand(), Src: r}.Rand()
	}},
	{"half-hourly daily and weekly cycle, 5% noise (taxi-like)", 30 * time.Minute, 10320, func(i int, r *rand.Rand, _ *float64) float64 {
		v := 15000 * (1 + 0.7*math.Sin(2*math.Pi*(float64(i%48)/48-0.3)))
		if (i/48)%7 >= 5 {
			v *= 0.8
		}
		return v * (1 + 0.05*r.NormFloat64())
	}},
	{"slowly wandering AR(1) (machine-temperature-like)", 5 * time.Minute, 22695, func(_ int, r *rand.Rand, x *float64) float64 {
		*x = 0.995**x + 0.3*r.NormFloat64()
		return 85 + *x + 0.2*r.NormFloat64()
	}},
	{"hourly AR(1) with a daily cycle (ambient-temperature-like)", time.Hour, 7267, func(i int, r *rand.Rand, x *float64) float64 {
		*x = 0.95**x + 0.5*r.NormFloat64()
		return 71 + 2*math.Sin(2*math.Pi*float64(i%24)/24) + *x
	}},
}

// cleanSeeds: each kind is generated this many times.
const cleanSeeds = 5

// background prints the combined detector's alarms per 1000 scored samples
// (after NAB's probationary period) on generated clean series, at
// threshold (the one the NAB sweep chose) and at detect.PageScore.
func background(w io.Writer, threshold float64) {
	fmt.Fprintf(w, "\nFalse alarms of combined on generated clean series (%d seeds each): alarms per 1000 samples after the\nprobationary period, at the NAB threshold (%.3f) and at the paging threshold (%.1f)\n\n", cleanSeeds, threshold, detect.PageScore)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "series\tsamples\tstep\tat %.3f\tat %.1f\t\n", threshold, detect.PageScore)
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, k := range cleanKinds {
		var low, high, scored int
		for seed := range uint64(cleanSeeds) {
			r := rand.New(rand.NewPCG(seed, 2015))
			d := detect.NewCombined(detect.Options{})
			var state float64
			from := nab.ProbationaryRows(k.n)
			for i := 0; i < k.n; i++ {
				s := d.Update(t0.Add(time.Duration(i)*k.step), k.next(i, r, &state))
				if i < from {
					continue
				}
				scored++
				if s >= threshold {
					low++
				}
				if s >= detect.PageScore {
					high++
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.2f\t\n", k.name, k.n, k.step, 1000*float64(low)/float64(scored), 1000*float64(high)/float64(scored))
	}
	tw.Flush()
}
