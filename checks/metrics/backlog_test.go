package metrics

import (
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestSchedulerBacklog(t *testing.T) {
	m := time.Minute
	queues := func(active, backoff, unsched []float64) []snapshot.Series {
		return []snapshot.Series{
			gauge("scheduler_pending_pods", ls("queue", "active"), m, active...),
			gauge("scheduler_pending_pods", ls("queue", "backoff"), m, backoff...),
			gauge("scheduler_pending_pods", ls("queue", "unschedulable"), m, unsched...),
			gauge("scheduler_pending_pods", ls("queue", "gated"), m, repeat(0, len(active))...),
		}
	}
	bounds := []float64{0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384}
	attempts := func(result string, at map[float64]float64) snapshot.Histogram {
		return hist("scheduler_scheduling_attempt_duration_seconds", ls("result", result), 5*time.Minute, bounds, obs(bounds, at))
	}
	runCases(t, SchedulerBacklog, []tcase{
		{name: "idle, many unschedulable pods", snap: snap("prometheus", queues(repeat(0, 15), repeat(0, 15), repeat(500, 15)),
			[]snapshot.Histogram{attempts("scheduled", map[float64]float64{0.008: 400}), attempts("unschedulable", map[float64]float64{4.096: 100})})},
		{name: "a 300-pod burst drained in 2 minutes", snap: snap("prometheus", queues(
			[]float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300, 120, 0}, repeat(0, 15), repeat(0, 15)), nil)},
		{name: "backlog for 15 minutes", snap: snap("prometheus", append(queues(
			[]float64{0, 80, 90, 100, 120, 150, 160, 170, 180, 200, 220, 230, 240, 250, 260, 270}, repeat(12, 16), repeat(30, 16)),
			counter("scheduler_schedule_attempts_total", ls("result", "error"), time.Hour, 40)), nil),
			want: expect{Reason: "SchedulerBacklog", Contains: []string{"282 pods wait in the scheduler's active and backoff queues (since 2026-11-21T11:46:00Z)", "30 more are unschedulable"}}},
		{name: "slow attempts", snap: snap("prometheus", queues(repeat(0, 3), repeat(0, 3), repeat(0, 3)),
			[]snapshot.Histogram{attempts("scheduled", map[float64]float64{0.016: 80, 4.096: 20})}),
			want: expect{Reason: "SchedulingSlow", Contains: []string{"successful scheduling attempts take"}}},
		{name: "two scrapes above the limit", snap: snap("scrape", []snapshot.Series{
			gauge("scheduler_pending_pods", ls("queue", "active"), 10*time.Second, 400, 390)}, nil),
			want: expect{Reason: "SchedulerBacklog"}},
	})
}

func TestWorkqueueBacklog(t *testing.T) {
	m := time.Minute
	bounds := []float64{1e-08, 1e-07, 1e-06, 9.999999999999999e-06, 9.999999999999999e-05, 0.001, 0.01, 0.1, 1, 10}
	waits := func(name string, at map[float64]float64) snapshot.Histogram {
		return hist("workqueue_queue_duration_seconds", ls("name", name), 5*time.Minute, bounds, obs(bounds, at))
	}
	healthy := []snapshot.Series{
		gauge("workqueue_depth", ls("name", "deployment"), m, repeat(0, 15)...),
		gauge("workqueue_depth", ls("name", "garbage_collector_graph_changes"), m, 0, 0, 0, 900, 300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		gauge("workqueue_longest_running_processor_seconds", ls("name", "deployment"), m, 0.2),
	}
	runCases(t, WorkqueueBacklog, []tcase{
		{name: "healthy", snap: snap("prometheus", healthy, []snapshot.Histogram{waits("deployment", map[float64]float64{0.001: 500, 0.1: 5})})},
		{name: "endpoint slices backlogged", snap: snap("prometheus", append(healthy,
			gauge("workqueue_depth", ls("name", "endpoint_slice"), m, 50, 150, 300, 450, 600, 800, 900, 1000, 1100, 1200, 1300, 1400)),
			[]snapshot.Histogram{waits("endpoint_slice", map[float64]float64{0.01: 100, 10: 20, 1e9: 30})}),
			want: expect{Reason: "WorkqueueBacklog", Contains: []string{`queue "endpoint_slice" holds 1400 items`, `items of queue "endpoint_slice" wait`}}},
		{name: "stuck worker", snap: snap("prometheus", append(healthy,
			gauge("workqueue_longest_running_processor_seconds", ls("name", "namespace"), m, 1800)), nil),
			want: expect{Reason: "WorkqueueWorkerStuck", Contains: []string{`a worker of queue "namespace" has been busy with one item for 30m`}}},
	})
}

func TestNodeChecks(t *testing.T) {
	gi := float64(1 << 30)
	node1 := snapshot.Node{Meta: snapshot.Meta{Name: "worker-1", UID: "u1"}, InternalIP: "10.0.0.11"}
	node2 := snapshot.Node{Meta: snapshot.Meta{Name: "worker-2", UID: "u2"}, InternalIP: "10.0.0.12"}
	fsLabels := func(inst, mount, dev, fstype string) map[string]string {
		return ls("instance", inst, "job", "node-exporter", "mountpoint", mount, "device", dev, "fstype", fstype)
	}
	fs := func(l map[string]string, avail, size, p24, p4, ro float64) []snapshot.Series {
		return []snapshot.Series{
			gauge("node_filesystem_avail_bytes", l, time.Minute, avail),
			gauge("node_filesystem_size_bytes", l, time.Minute, size),
			gauge(snapshot.SeriesFSPredict24h, l, 5*time.Minute, repeat(p24, 13)...),
			gauge(snapshot.SeriesFSPredict4h, l, 5*time.Minute, repeat(p4, 13)...),
			gauge("node_filesystem_readonly", l, time.Minute, ro),
		}
	}
	uname := gauge("node_uname_info", ls("instance", "10.0.0.11:9100", "job", "node-exporter", "nodename", "worker-1"), time.Minute, 1)
	var filling []snapshot.Series
	filling = append(filling, uname)
	filling = append(filling, fs(fsLabels("10.0.0.11:9100", "/", "/dev/sda1", "ext4"), 30*gi, 100*gi, -5*gi, 20*gi, 0)...)       // 30% free, full in a day
	filling = append(filling, fs(fsLabels("10.0.0.11:9100", "/var/lib", "/dev/sdb1", "xfs"), 60*gi, 100*gi, -1*gi, 50*gi, 0)...) // 60% free: fine
	filling = append(filling, fs(fsLabels("10.0.0.12:9100", "/", "/dev/sda1", "ext4"), 10*gi, 100*gi, -50*gi, -2*gi, 0)...)      // 10% free, full in hours
	filling = append(filling, fs(fsLabels("10.0.0.12:9100", "/snap/core", "/dev/loop0", "squashfs"), 0, 1*gi, 0, 0, 1)...)       // read-only, always full
	filling = append(filling, fs(fsLabels("192.168.1.5:9100", "/data", "/dev/vdb", "ext4"), 2*gi, 100*gi, 2*gi, 2*gi, 0)...)     // not a node, almost full
	filling = append(filling, fs(fsLabels("10.0.0.13:9100", "/", "/dev/sda1", "ext4"), 35*gi, 100*gi, 30*gi, 34*gi, 0)...)       // 35% free, stable
	fsFindings, _ := run(t, FilesystemFilling, snap("prometheus", filling, nil, node1, node2), nil)
	want := map[string]string{
		"Node/worker-1":         "warning NodeFilesystemSpaceFillingUp filesystem / (/dev/sda1, ext4) on worker-1 has 30% free (30.0 GiB of 100.0 GiB) and, at the rate of the last 6 hours, fills up within 24 hours",
		"Node/worker-2":         "critical NodeFilesystemSpaceFillingUp filesystem / (/dev/sda1, ext4) on worker-2 has 10% free (10.0 GiB of 100.0 GiB) and, at the rate of the last 6 hours, fills up within 4 hours",
		"Host/192.168.1.5:9100": "critical NodeFilesystemAlmostOutOfSpace filesystem /data (/dev/vdb, ext4) on 192.168.1.5:9100 has 2.0% free (2.0 GiB of 100.0 GiB)",
	}
	if len(fsFindings) != len(want) {
		for _, f := range fsFindings {
			t.Logf("%s %s %s", f.Object, f.Reason, f.Message)
		}
		t.Fatalf("%d filesystem findings, want %d", len(fsFindings), len(want))
	}
	for _, f := range fsFindings {
		got := string(f.Severity) + " " + f.Reason + " " + f.Message
		if want[f.Object.String()] != got {
			t.Errorf("%s:\n got %s\nwant %s", f.Object, got, want[f.Object.String()])
		}
		if f.Object.Kind == "Node" && f.Node != f.Object.Name {
			t.Errorf("%s: Node = %q", f.Object, f.Node)
		}
	}

	mem := func(inst string, total float64, avail ...float64) []snapshot.Series {
		l := ls("instance", inst, "job", "node-exporter")
		return []snapshot.Series{gauge("node_memory_MemTotal_bytes", l, time.Minute, total), gauge("node_memory_MemAvailable_bytes", l, time.Minute, avail...)}
	}
	runCases(t, MemoryExhausting, []tcase{
		{name: "plenty of memory, one short spike", snap: snap("prometheus", append(mem("10.0.0.11:9100", 16*gi, 8*gi, 8*gi, 1*gi, 8*gi, 8*gi), uname), nil, node1)},
		{name: "92% used for 5m only", snap: snap("prometheus", append(mem("10.0.0.11:9100", 16*gi, append(repeat(8*gi, 20), repeat(1.3*gi, 5)...)...), uname), nil, node1)},
		{name: "94% used for 20m", snap: snap("prometheus", append(mem("10.0.0.12:9100", 16*gi, append(repeat(8*gi, 10), repeat(0.96*gi, 21)...)...), uname), nil, node1, node2),
			want: expect{Reason: "NodeMemoryHighUtilization", Severity: "warning", Objects: []string{"Node/worker-2"}, Contains: []string{"worker-2 has used 94% of its memory for 20m"}}},
		{name: "97% used for 20m", snap: snap("prometheus", append(mem("10.0.0.11:9100", 16*gi, repeat(0.4*gi, 21)...), uname), nil, node1),
			want: expect{Reason: "NodeMemoryHighUtilization", Severity: "critical", Objects: []string{"Node/worker-1"}}},
	})

	clock := func(inst string, offset []float64, deriv float64, sync []float64, maxErr float64) []snapshot.Series {
		l := ls("instance", inst, "job", "node-exporter")
		return []snapshot.Series{
			gauge("node_timex_offset_seconds", l, time.Minute, offset...),
			gauge(snapshot.SeriesClockOffsetDeriv5m, l, time.Minute, deriv),
			gauge("node_timex_sync_status", l, time.Minute, sync...),
			gauge("node_timex_maxerror_seconds", l, time.Minute, maxErr),
		}
	}
	runCases(t, ClockSkew, []tcase{
		{name: "synchronised", snap: snap("prometheus", clock("10.0.0.11:9100", repeat(0.0002, 15), 0, repeat(1, 15), 0.01), nil, node1)},
		{name: "off but converging", snap: snap("prometheus", clock("10.0.0.11:9100", []float64{0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.07}, -0.001, repeat(1, 12), 0.4), nil, node1)},
		{name: "skewed", snap: snap("prometheus", clock("10.0.0.11:9100", repeat(-0.3, 15), 0, repeat(1, 15), 0.5), nil, node1),
			want: expect{Reason: "NodeClockSkewDetected", Objects: []string{"Node/worker-1"}, Contains: []string{"the clock of worker-1 is off by 300ms and not converging"}}},
		{name: "not synchronising", snap: snap("prometheus", clock("10.0.0.12:9100", repeat(0, 15), 0, repeat(0, 15), 16), nil, node1, node2),
			want: expect{Reason: "NodeClockNotSynchronising", Objects: []string{"Node/worker-2"}, Contains: []string{"maximum error 16s"}}},
	})
}
