package anomaly

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// BenchmarkNodeMemory500Nodes runs anomaly.node_memory over a week of
// 5-minute history of 500 nodes (a million points): the combined detector
// per series, the series spread over GOMAXPROCS workers. It reports the
// process' CPU time per point, which is what a shared machine's wall time
// hides.
func BenchmarkNodeMemory500Nodes(b *testing.B) {
	var series []snapshot.Series
	var nodes []snapshot.Node
	for i := 0; i < 500; i++ {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		series = append(series, gen(SeriesNodeMemory, ls("instance", ip+":9100", "job", "node-exporter"), week, uint64(i), memory(0)))
		nodes = append(nodes, snapshot.Node{Meta: snapshot.Meta{Name: fmt.Sprintf("node-%d", i), UID: fmt.Sprint(i)}, InternalIP: ip})
	}
	s := snap(series, nodes...)
	p, err := checks.ResolveParams(NodeMemory.Meta(), nil)
	if err != nil {
		b.Fatal(err)
	}
	r := checks.Runner{Checks: []checks.Check{NodeMemory}, Params: map[string]checks.Params{NodeMemory.Meta().ID: p}, Timeout: time.Minute}
	points := float64(500 * week)
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if res := r.Run(context.Background(), s); res.Runs[0].Result != checks.ResultOK {
			b.Fatalf("%+v", res.Runs[0])
		}
	}
	cpu = processCPU() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/points/float64(b.N), "cpu-ns/point")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
}
