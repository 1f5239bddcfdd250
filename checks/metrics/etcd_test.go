package metrics

import (
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func member(i string) map[string]string { return ls("instance", "10.0.0."+i+":2379") }

func TestEtcdNoLeader(t *testing.T) {
	m := time.Minute
	runCases(t, EtcdNoLeader, []tcase{
		{name: "all members have a leader", snap: snap("prometheus", []snapshot.Series{
			gauge("etcd_server_has_leader", member("1"), m, 1, 1, 1, 1),
			gauge("etcd_server_has_leader", member("2"), m, 1, 0, 1, 1), // a blip during an election
			gauge("etcd_server_has_leader", member("3"), m, 1, 1, 1, 1)}, nil)},
		{name: "lost its leader 30s ago", snap: snap("prometheus", []snapshot.Series{
			gauge("etcd_server_has_leader", member("1"), 30*time.Second, 1, 1, 1, 0)}, nil)},
		{name: "one member without leader for 3m", snap: snap("prometheus", []snapshot.Series{
			gauge("etcd_server_has_leader", member("1"), m, 1, 1, 1, 1),
			gauge("etcd_server_has_leader", member("2"), m, 1, 0, 0, 0, 0),
			gauge("etcd_server_has_leader", member("3"), m, 1, 1, 1, 1)}, nil),
			want: expect{Reason: "EtcdNoLeader", Severity: checks.Critical, Contains: []string{"etcd member 10.0.0.2:2379 has no leader", "since 2026-11-21T11:57:00Z"}}},
		{name: "quorum lost", snap: snap("prometheus", []snapshot.Series{
			gauge("etcd_server_has_leader", member("1"), m, 0, 0, 0),
			gauge("etcd_server_has_leader", member("2"), m, 1, 0, 0),
			gauge("etcd_server_has_leader", member("3"), m, 1, 1, 1)}, nil),
			want: expect{Reason: "EtcdNoLeader", Contains: []string{"2 of 3 etcd members have no leader", "lost quorum"}}},
		{name: "two scrapes, both without leader", snap: snap("scrape", []snapshot.Series{
			gauge("etcd_server_has_leader", ls("instance", "127.0.0.1:2381"), 10*time.Second, 0, 0)}, nil),
			want: expect{Reason: "EtcdNoLeader"}},
	})
}

func TestEtcdLeaderChanges(t *testing.T) {
	w := 15 * time.Minute
	runCases(t, EtcdLeaderChanges, []tcase{
		{name: "stable", snap: snap("prometheus", []snapshot.Series{rate("etcd_server_leader_changes_seen_total", member("1"), w, 1.0/900)}, nil)},
		{name: "five elections in 15m", snap: snap("prometheus", []snapshot.Series{
			rate("etcd_server_leader_changes_seen_total", member("1"), w, 5.0/900),
			rate("etcd_server_leader_changes_seen_total", member("2"), w, 5.0/900)}, nil),
			want: expect{Reason: "EtcdHighNumberOfLeaderChanges", Contains: []string{"changed leader 5 times over the last 15m"}}},
		{name: "one election between two scrapes is one", snap: snap("scrape", []snapshot.Series{
			rate("etcd_server_leader_changes_seen_total", ls("instance", "127.0.0.1:2381"), 10*time.Second, 0.1)}, nil)},
		{name: "lifetime: the first election and a few more in a week", snap: snap("scrape", []snapshot.Series{
			counter("etcd_server_leader_changes_seen_total", member("1"), 7*24*time.Hour, 12)}, nil)},
		{name: "lifetime: elections all the time", snap: snap("scrape", []snapshot.Series{
			counter("etcd_server_leader_changes_seen_total", member("1"), 2*time.Hour, 41)}, nil),
			want: expect{Reason: "EtcdHighNumberOfLeaderChanges", Contains: []string{"5 times per 15m on average since the process started 2h ago"}}},
	})
}

func TestEtcdDBSize(t *testing.T) {
	gi := float64(1 << 30)
	db := func(inst string, size, inUse, quota float64) []snapshot.Series {
		return []snapshot.Series{
			gauge("etcd_mvcc_db_total_size_in_bytes", member(inst), time.Minute, size*0.9, size),
			gauge("etcd_mvcc_db_total_size_in_use_in_bytes", member(inst), time.Minute, inUse),
			gauge("etcd_server_quota_backend_bytes", member(inst), time.Minute, quota),
		}
	}
	runCases(t, EtcdDBSize, []tcase{
		{name: "half full", snap: snap("prometheus", append(db("1", 1*gi, 0.9*gi, 2*gi), db("2", 1.1*gi, 0.9*gi, 2*gi)...), nil)},
		{name: "fragmented, near the quota", snap: snap("prometheus", append(db("1", 1*gi, 0.9*gi, 2*gi), db("2", 1.7*gi, 0.6*gi, 2*gi)...), nil),
			want: expect{Reason: "EtcdDatabaseQuotaLowSpace", Severity: checks.Warning, Contains: []string{"on 10.0.0.2:2379 is 1.7 GiB, 85% of its 2.0 GiB quota", "1.1 GiB of it is free space a defragmentation would reclaim"}}},
		{name: "at the quota", snap: snap("prometheus", db("1", 7.8*gi, 7.7*gi, 8*gi), nil),
			want: expect{Reason: "EtcdDatabaseQuotaLowSpace", Severity: checks.Critical, Contains: []string{"98%"}}},
		{name: "quota unknown", snap: snap("prometheus", []snapshot.Series{gauge("etcd_mvcc_db_total_size_in_bytes", member("1"), time.Minute, 7*gi)}, nil)},
	})
}

func TestEtcdSlowDisk(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192}
	h := func(name, inst string, at map[float64]float64) snapshot.Histogram {
		return hist(name, member(inst), 5*time.Minute, bounds, obs(bounds, at))
	}
	fsync, commit := "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"
	fast := []snapshot.Histogram{h(fsync, "1", map[float64]float64{0.002: 5000, 0.008: 40}), h(commit, "1", map[float64]float64{0.004: 3000, 0.032: 10})}
	runCases(t, EtcdSlowDisk, []tcase{
		{name: "fast SSD", snap: snap("prometheus", nil, fast)},
		{name: "slow fsync", snap: snap("prometheus", nil, append(fast, h(fsync, "2", map[float64]float64{0.008: 900, 1.024: 100}))),
			want: expect{Reason: "EtcdHighFsyncDurations", Severity: checks.Warning, Contains: []string{"WAL fsync latency on 10.0.0.2:2379 is", "threshold 500ms"}}},
		{name: "very slow fsync and slow commits", snap: snap("prometheus", nil, []snapshot.Histogram{
			h(fsync, "1", map[float64]float64{0.008: 900, 4.096: 100}), h(commit, "1", map[float64]float64{0.008: 900, 0.512: 100})}),
			want: expect{Reason: "EtcdHighFsyncDurations", Severity: checks.Critical, Contains: []string{"also backend commit p99"}}},
		{name: "slow commits only", snap: snap("prometheus", nil, []snapshot.Histogram{h(commit, "3", map[float64]float64{0.008: 900, 0.512: 100})}),
			want: expect{Reason: "EtcdHighCommitDurations", Severity: checks.Warning}},
		{name: "few samples", snap: snap("prometheus", nil, []snapshot.Histogram{h(fsync, "1", map[float64]float64{4.096: 3})})},
	})
}
