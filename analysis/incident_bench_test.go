package analysis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/collectors/synth"
)

var (
	benchOnce sync.Once
	benchSnap *snapshot.Snapshot
	benchFs   []checks.Finding
)

// BenchmarkIncidents groups the findings of the engine's size target, a
// 5,000-node, 150,000-pod fleet with 2% of its objects faulted.
func BenchmarkIncidents(b *testing.B) {
	benchOnce.Do(func() {
		g := synth.Generate(synth.Options{Nodes: 5000, Pods: 150000, Seed: 1, FaultRate: 0.02})
		benchSnap = g.Snapshot
		start := time.Now()
		benchFs = (&checks.Runner{Checks: catalog.All()}).Run(context.Background(), benchSnap).Findings
		b.Logf("%d findings in %s", len(benchFs), time.Since(start).Round(time.Millisecond))
	})
	m := metas()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		n = len(analysis.Incidents(benchSnap, benchFs, analysis.IncidentOptions{Checks: m}))
	}
	b.ReportMetric(float64(n), "incidents")
}
