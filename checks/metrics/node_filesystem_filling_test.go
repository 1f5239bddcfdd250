package metrics

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks/anomaly"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestFilesystemAnomalousDrop: with a week of free-space history, a sudden
// drop below warning_free_percent fires before the 6-hour trend does; a
// drop that leaves plenty of space does not; a filesystem that fires
// anyway carries the detector's evidence.
func TestFilesystemAnomalousDrop(t *testing.T) {
	gi := float64(1 << 30)
	const week = 7 * 288
	history := func(l map[string]string, seed uint64, usual, after float64) snapshot.Series {
		r := rand.New(rand.NewPCG(seed, 1))
		vals := make([]float64, week)
		for i := range vals {
			vals[i] = usual + 0.3*gi*r.NormFloat64()
			if i >= week-2 {
				vals[i] = after
			}
		}
		return gauge(anomaly.SeriesNodeFilesystem, l, 5*time.Minute, vals...)
	}
	fsl := func(inst, mount string) map[string]string {
		return ls("instance", inst, "job", "node-exporter", "mountpoint", mount, "device", "/dev/sda1", "fstype", "ext4")
	}
	fs := func(l map[string]string, avail, p24, p4 float64, hist snapshot.Series) []snapshot.Series {
		return []snapshot.Series{
			gauge("node_filesystem_avail_bytes", l, time.Minute, avail),
			gauge("node_filesystem_size_bytes", l, time.Minute, 100*gi),
			gauge(snapshot.SeriesFSPredict24h, l, 5*time.Minute, repeat(p24, 13)...),
			gauge(snapshot.SeriesFSPredict4h, l, 5*time.Minute, repeat(p4, 13)...),
			gauge("node_filesystem_readonly", l, time.Minute, 0),
			hist,
		}
	}
	var series []snapshot.Series
	// worker-1: 60 GiB free all week, 35 GiB now; the 6-hour trend still says fine.
	a := fsl("10.0.0.11:9100", "/")
	series = append(series, fs(a, 35*gi, 20*gi, 30*gi, history(a, 1, 60*gi, 35*gi))...)
	// worker-2: 90 GiB free, 80 GiB now: unusual, but plenty left.
	b := fsl("10.0.0.12:9100", "/")
	series = append(series, fs(b, 80*gi, 70*gi, 78*gi, history(b, 2, 90*gi, 80*gi))...)
	// worker-3: filling up by the trend anyway, and the drop is anomalous too.
	c := fsl("10.0.0.13:9100", "/")
	series = append(series, fs(c, 30*gi, -5*gi, 20*gi, history(c, 3, 55*gi, 30*gi))...)
	n3 := snapshot.Node{Meta: snapshot.Meta{Name: "worker-3", UID: "u3"}, InternalIP: "10.0.0.13"}
	n1 := snapshot.Node{Meta: snapshot.Meta{Name: "worker-1", UID: "u1"}, InternalIP: "10.0.0.11"}
	n2 := snapshot.Node{Meta: snapshot.Meta{Name: "worker-2", UID: "u2"}, InternalIP: "10.0.0.12"}
	found, _ := run(t, FilesystemFilling, snap("prometheus", series, nil, n1, n2, n3), nil)
	got := map[string]string{}
	for _, f := range found {
		got[f.Object.Name] = string(f.Severity) + " " + f.Reason + " " + f.Message
		var score bool
		for _, e := range f.Evidence {
			score = score || e.Path == "anomaly_score"
		}
		if !score {
			t.Errorf("%s: no anomaly_score evidence: %+v", f.Object, f.Evidence)
		}
	}
	if len(found) != 2 {
		t.Fatalf("findings %v, want worker-1 and worker-3", got)
	}
	if w := got["worker-1"]; !strings.HasPrefix(w, "warning NodeFilesystemSpaceDropping filesystem / (/dev/sda1, ext4) on worker-1 has 35% free") ||
		!strings.Contains(w, "after an anomalous drop from its usual 60.0 GiB") {
		t.Errorf("worker-1: %s", w)
	}
	if w := got["worker-3"]; !strings.HasPrefix(w, "warning NodeFilesystemSpaceFillingUp") || !strings.Contains(w, "fills up within 24 hours after an anomalous drop") {
		t.Errorf("worker-3: %s", w)
	}
}
