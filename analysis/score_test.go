package analysis

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func fleet(nodes, podsPerNode int) *snapshot.Snapshot {
	s := &snapshot.Snapshot{Cluster: "c"}
	for i := 0; i < nodes; i++ {
		n := fmt.Sprintf("n%d", i)
		s.Nodes = append(s.Nodes, snapshot.Node{Meta: snapshot.Meta{Name: n}})
		for j := 0; j < podsPerNode; j++ {
			s.Pods = append(s.Pods, snapshot.Pod{Meta: snapshot.Meta{Namespace: "app", Name: fmt.Sprintf("p%d-%d", i, j)}, NodeName: n})
		}
	}
	return s
}

func finding(check string, sev checks.Severity, kind, ns, name, node string) checks.Finding {
	return checks.Finding{Check: check, Severity: sev, Status: checks.Firing,
		Object: checks.ObjectRef{Kind: kind, Namespace: ns, Name: name}, Node: node}
}

func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		name      string
		s         *snapshot.Snapshot
		fs        []checks.Finding
		score     float64
		grade     string
		nodeScore map[string]float64
	}{
		{"healthy", fleet(4, 5), nil, 100, "A", nil},
		{
			// Node section 1 - 1/4 = 75; pod section 100 → mean 87.5.
			"one node of four down", fleet(4, 5),
			[]checks.Finding{finding("node.not_ready", checks.Critical, "Node", "", "n0", "n0")},
			87.5, "B", map[string]float64{"n0": 50},
		},
		{
			// Two findings on one pod count once, at the worst weight:
			// pod section 1 - 1/20 = 95, node section 100 → 97.5.
			"worst finding per object", fleet(4, 5),
			[]checks.Finding{
				finding("pod.crash_looping", checks.Critical, "Pod", "app", "p1-0", "n1"),
				finding("pod.restarting", checks.Warning, "Pod", "app", "p1-0", "n1"),
			},
			97.5, "A", map[string]float64{"n1": 90},
		},
		{
			// A failing webhook costs the cluster 15 points however many
			// healthy pods there are.
			"cluster-wide critical", fleet(4, 5),
			[]checks.Finding{finding("webhook.service_unavailable", checks.Critical, "ValidatingWebhookConfiguration", "", "w", "")},
			85, "B", nil,
		},
		{
			"unknown findings do not lower the score", fleet(2, 2),
			[]checks.Finding{{Check: "pod.crash_looping", Severity: checks.Critical, Status: checks.Unknown, Object: checks.ObjectRef{Kind: "Cluster", Name: "c"}}},
			100, "A", nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := Compute(tc.s, tc.fs)
			if sc.Cluster == nil || sc.Cluster.Score != tc.score || sc.Cluster.Grade != tc.grade {
				t.Fatalf("cluster = %+v, want %.1f %s", sc.Cluster, tc.score, tc.grade)
			}
			got := map[string]float64{}
			for _, n := range sc.Nodes {
				got[n.Name] = n.Score
			}
			if len(got) != len(tc.nodeScore) {
				t.Errorf("node scores %v, want %v", got, tc.nodeScore)
			}
			for n, want := range tc.nodeScore {
				if got[n] != want {
					t.Errorf("node %s = %.1f, want %.1f", n, got[n], want)
				}
			}
		})
	}
}

func TestComputeNothingRead(t *testing.T) {
	if sc := Compute(&snapshot.Snapshot{}, nil); sc.Cluster != nil {
		t.Errorf("an empty snapshot must not score (got %+v)", sc.Cluster)
	}
}

func TestGrade(t *testing.T) {
	for score, want := range map[float64]string{100: "A", 90: "A", 89.9: "B", 80: "B", 70: "C", 60: "D", 59.9: "F", 0: "F"} {
		if g := Grade(score); g != want {
			t.Errorf("Grade(%v) = %s, want %s", score, g, want)
		}
	}
}

func TestSuppress(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	fs := []checks.Finding{
		finding("node.unreachable", checks.Critical, "Node", "", "spot-1", "spot-1"),
		finding("node.unreachable", checks.Critical, "Node", "", "core-1", "core-1"),
		finding("pod.crash_looping", checks.Critical, "Pod", "batch", "etl-1", ""),
		finding("pod.oom_killed", checks.Warning, "Pod", "batch", "etl-1", ""),
	}
	sups := []Suppression{
		{Check: "node.unreachable", Name: "spot-*", Reason: "spot", Expires: now.Add(time.Hour)},
		{Check: "pod", Namespace: "batch", Reason: "expired", Expires: now.Add(-time.Hour)},
		{Check: "pod.oom*", Namespace: "b*", Reason: "glob", Expires: now.Add(time.Hour)},
	}
	kept, silenced, expired := Suppress(fs, sups, now)
	if len(kept) != 2 || kept[0].Object.Name != "core-1" || kept[1].Check != "pod.crash_looping" {
		t.Errorf("kept %+v", kept)
	}
	if len(silenced) != 2 || silenced[0].By.Reason != "spot" || silenced[1].By.Reason != "glob" {
		t.Errorf("silenced %+v", silenced)
	}
	if len(expired) != 1 || expired[0].Reason != "expired" {
		t.Errorf("expired %+v", expired)
	}
}
