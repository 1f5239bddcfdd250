package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkCreateUpdate measures what the engine pays per decision on the
// default backend: one Create (the record with its intent) and one Update
// (the outcome) of a record with ten evidence items and two steps, on a
// SQLite file. Besides ns/op it reports the p50 and p99 of one op.
func BenchmarkCreateUpdate(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "ledger.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	tmpl := sampleRecord()
	tmpl.State = Running
	tmpl.Verification, tmpl.Pages = nil, nil
	tmpl.Steps[0].Status = StepIntent
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		r := *tmpl
		r.Steps = slices.Clone(tmpl.Steps)
		if err := l.Create(ctx, &r); err != nil {
			b.Fatal(err)
		}
		r.Steps[0].Status = StepDone
		r.State = Verifying
		if err := l.Update(ctx, &r); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkObserveAlert measures the per-alert dedup write on SQLite: a
// repeat delivery of one of 100 firing alerts (read the previous
// observation, overwrite it).
func BenchmarkObserveAlert(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "ledger.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	fps := make([]string, 100)
	for i := range fps {
		fps[i] = fmt.Sprintf("%016x", i*7919)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := l.ObserveAlert(ctx, AlertObservation{Fingerprint: fps[i%len(fps)], Status: AlertFiring,
			Alertname: "KubeNodeNotReady", StartsAt: testBase, IncidentKey: fps[i%len(fps)]}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// reportPercentiles adds the p50 and p99 of the measured ops.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}
