package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateDaemon = flag.Bool("update", false, "rewrite golden files")

func TestDaemonConfigGood(t *testing.T) {
	c, err := LoadDaemonConfig(filepath.Join("..", "testdata", "daemon", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "prod-eu-1" || !c.InCluster || c.Listen != ":8080" {
		t.Errorf("cluster %q in_cluster %v listen %q", c.Cluster, c.InCluster, c.Listen)
	}
	if len(c.Groups) != 3 || c.Groups[0].Name != "fast" || c.Groups[0].Jitter.Value() != 5*time.Second {
		t.Fatalf("groups %+v", c.Groups)
	}
	// Group defaults come from the top level.
	if g := c.Groups[1]; g.Jitter.Value() != 10*time.Second || g.CheckTimeout.Value() != 10*time.Second {
		t.Errorf("workloads group defaults: jitter %s timeout %s", g.Jitter, g.CheckTimeout)
	}
	if c.Groups[2].CheckTimeout.Value() != 30*time.Second {
		t.Errorf("slow check_timeout %s", c.Groups[2].CheckTimeout)
	}
	if c.Lifecycle.Checks["pod.crash_looping"].KeepFiringFor.Value() != 15*time.Minute {
		t.Errorf("lifecycle %+v", c.Lifecycle)
	}
	if c.Reports.MaxAge.Value() != 48*time.Hour {
		t.Errorf("reports.max_age = %s", c.Reports.MaxAge)
	}
	ins := c.Inspection()
	if ins.Checks["node.not_ready"].Params["for"] != "5m" || len(ins.Suppressions) != 1 {
		t.Errorf("inspection sections: %+v", ins)
	}
	if p := ins.Positions.Pos("checks.node.memory_pressure.severity"); !strings.HasSuffix(p, "good.yaml:61:15") {
		t.Errorf("position of checks.node.memory_pressure.severity = %s", p)
	}
	for _, g := range c.Groups {
		if _, err := CronParser.Parse(g.Schedule); err != nil {
			t.Errorf("group %s: %v", g.Name, err)
		}
	}
}

func TestDaemonConfigDefaults(t *testing.T) {
	c, err := LoadDaemonConfig(filepath.Join("..", "testdata", "daemon", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 1 || c.Groups[0].Name != "all" || c.Groups[0].Schedule != DefaultSchedule {
		t.Errorf("default group %+v", c.Groups)
	}
	if c.Listen != DefaultListen || c.Events.Enabled || c.LeaderElection.Enabled {
		t.Errorf("defaults: %+v", c)
	}
	le := c.LeaderElection
	if le.Namespace != "kube-system" || le.Name != "patrold" || le.LeaseDuration.Value() != 15*time.Second ||
		le.RenewDeadline.Value() != 10*time.Second || le.RetryPeriod.Value() != 2*time.Second {
		t.Errorf("leader election defaults %+v", le)
	}
	if c.Lifecycle.ResolvedRetention.Value() != time.Hour || c.Reports.Keep != 24 || c.Events.Severity != "critical" {
		t.Errorf("lifecycle/reports/events defaults %+v %+v %+v", c.Lifecycle, c.Reports, c.Events)
	}
	empty, err := ParseDaemonConfig("empty.yaml", nil)
	if err != nil || len(empty.Groups) != 1 {
		t.Fatalf("empty config: %v %v", empty, err)
	}
}

// TestDaemonConfigBad compares each bad fixture's errors with its .err
// golden file (go test ./rules -update rewrites them): every error names
// file:line:col.
func TestDaemonConfigBad(t *testing.T) {
	for _, name := range []string{"bad-unknown-field", "bad-values", "bad-types", "bad-syntax", "bad-both-sources"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "daemon")
			data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseDaemonConfig(name+".yaml", data)
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			golden := filepath.Join(dir, name+".err")
			if *updateDaemon {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, name+".yaml:") {
					t.Errorf("error without a position: %s", line)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "0s": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "1w1d": 8 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "5", "-5m", "2 minutes", "1x"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): no error", in)
		}
	}
}
