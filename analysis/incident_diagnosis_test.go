package analysis_test

import (
	"math"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestDiagnoseMetricAnomalies: a metric series about the diagnosed pod with
// a sudden jump is reported; a flat series about it and a jumping series
// about another pod are not.
func TestDiagnoseMetricAnomalies(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	series := func(pod string, jump bool) snapshot.Series {
		sr := snapshot.Series{Name: "container_memory_working_set_bytes", Labels: map[string]string{"namespace": "shop", "pod": pod, "container": "app"}}
		for i := 0; i < 288; i++ {
			v := 200e6 + 5e6*math.Sin(float64(i)/7)
			if jump && i >= 270 {
				v = 900e6
			}
			sr.Samples = append(sr.Samples, snapshot.Sample{T: at.Add(time.Duration(i-288) * time.Minute).UnixMilli(), V: v})
		}
		return sr
	}
	s := &snapshot.Snapshot{Cluster: "c", CollectedAt: at, Source: snapshot.SourceLive,
		Pods: []snapshot.Pod{
			{Meta: snapshot.Meta{Namespace: "shop", Name: "api-1"}, Phase: "Running", NodeName: "n1"},
			{Meta: snapshot.Meta{Namespace: "shop", Name: "other"}, Phase: "Running", NodeName: "n1"},
		},
		Metrics: &snapshot.Metrics{Series: []snapshot.Series{series("api-1", true), series("api-1", false), series("other", true)}},
	}
	s.Metrics.Series[1].Name = "container_cpu_usage_seconds_total"
	d, err := analysis.Diagnose(analysis.DiagnosisInput{Snapshot: s, Target: checks.ObjectRef{Kind: "Pod", Namespace: "shop", Name: "api-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Anomalies) != 1 || d.Anomalies[0].Metric != "container_memory_working_set_bytes" || d.Anomalies[0].Labels["pod"] != "api-1" {
		t.Fatalf("anomalies %+v", d.Anomalies)
	}
	if got := d.Anomalies[0].At; got.Before(at.Add(-20 * time.Minute)) {
		t.Errorf("anomaly at %s, want at the jump (the last 18 minutes)", got)
	}
	if !d.Healthy {
		t.Errorf("no finding: the pod is called healthy even with an anomaly (likely cause %q)", d.LikelyCause)
	}
}
