package daemon

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

var daemonTestdata = filepath.Join("..", "..", "..", "testdata", "daemon")

func TestLoadConfigGood(t *testing.T) {
	c, err := LoadConfig(filepath.Join(daemonTestdata, "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(g Group) map[string]bool {
		m := map[string]bool{}
		for _, c := range g.Checks {
			m[c.Meta().ID] = true
		}
		return m
	}
	fast, slow := ids(c.Groups[0]), ids(c.Groups[2])
	if !fast["node.not_ready"] || !fast["pod.crash_looping"] || fast["pod.restarting"] || fast["node.network_unavailable"] {
		t.Errorf("fast group: %v", fast)
	}
	if slow["node.not_ready"] || !slow["pod.restarting"] {
		t.Errorf("slow group skips node and controlplane: %v", slow)
	}
	if p := c.Policies.For("pod.crash_looping"); p.For != 3*time.Minute || p.KeepFiringFor != 15*time.Minute {
		t.Errorf("crash_looping policy %+v", p)
	}
	if p := c.Policies.For("node.not_ready"); p.For != 0 || p.KeepFiringFor != 5*time.Minute {
		t.Errorf("node.not_ready policy %+v (for overridden, keep_firing_for inherited)", p)
	}
	if p := c.Policies.For("pod.oom_killed"); p.For != time.Minute {
		t.Errorf("default policy %+v", p)
	}
	if c.EventSeverity != "critical" || len(c.Settings.Suppressions) != 1 {
		t.Errorf("events %q suppressions %d", c.EventSeverity, len(c.Settings.Suppressions))
	}
	if err := CheckFile(filepath.Join(daemonTestdata, "minimal.yaml")); err != nil {
		t.Errorf("minimal.yaml: %v", err)
	}
}

// TestLoadConfigBad compares the errors of the fixtures that only the
// catalogue can judge with their golden .err files (-update rewrites).
func TestLoadConfigBad(t *testing.T) {
	for _, name := range []string{"bad-catalog"} {
		t.Run(name, func(t *testing.T) {
			wd, _ := os.Getwd()
			defer os.Chdir(wd)
			if err := os.Chdir(daemonTestdata); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(name + ".yaml")
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(name+".err", []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(name + ".err")
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func reloadOK(h *harness) float64 { return testutil.ToFloat64(h.d.metrics.ReloadOK) }

// TestReloadAllOrNothing: a bad config, or one that changes a setting that
// needs a restart, keeps the running config; a good one replaces it whole.
func TestReloadAllOrNothing(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	before := h.d.cfg.Load()
	if reloadOK(h) != 1 {
		t.Fatal("initial load not reported as successful")
	}

	for name, body := range map[string]string{
		"syntax":        "groups: [\n",
		"unknown field": podsConfig + "colour: blue\n",
		"unknown check": strings.Replace(podsConfig, "[pod]", "[pod, pod.flying]", 1),
		"bad schedule":  strings.Replace(podsConfig, "@every 1m", "@every never", 1),
		"restart only":  podsConfig + "listen: \":9999\"\n",
	} {
		writeFile(t, h.cfg, body)
		err := h.d.Reload()
		if err == nil {
			t.Errorf("%s: reload succeeded", name)
		}
		if h.d.cfg.Load() != before {
			t.Errorf("%s: the running config was replaced", name)
		}
		if reloadOK(h) != 0 {
			t.Errorf("%s: patrol_config_last_reload_successful = %v", name, reloadOK(h))
		}
		if name == "restart only" && !strings.Contains(err.Error(), "changing listen requires a restart") {
			t.Errorf("restart only: %v", err)
		}
	}

	h.clock.Step(time.Hour)
	writeFile(t, h.cfg, `cluster: test
jitter: 0s
groups:
  - name: nodes
    schedule: "*/15 * * * * *"
    checks: [node]
  - name: pods
    schedule: "@every 5m"
    checks: [pod.crash_looping]
`)
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	after := h.d.cfg.Load()
	if after == before || len(after.Groups) != 2 || after.Groups[0].Name != "nodes" || len(after.Groups[1].Checks) != 1 {
		t.Errorf("new config not applied: %+v", after.Groups)
	}
	if reloadOK(h) != 1 || testutil.ToFloat64(h.d.metrics.ReloadTime) != float64(t0.Add(time.Hour).Unix()) {
		t.Errorf("reload metrics: ok %v time %v", reloadOK(h), testutil.ToFloat64(h.d.metrics.ReloadTime))
	}
	select {
	case <-h.d.reloadCh:
	default:
		t.Error("the scheduler was not told to restart its groups")
	}
}

// TestReloadOnFileChangeAndSignal: the config is reloaded when its file
// changes (polled) and on request (SIGHUP in main).
func TestReloadOnFileChangeAndSignal(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	sig := make(chan struct{}, 1)
	h.d.opt.Reload, h.d.opt.ReloadPoll = sig, 10*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.d.watchConfig(ctx)

	time.Sleep(20 * time.Millisecond)
	writeFile(t, h.cfg, strings.Replace(podsConfig, "@every 1m", "@every 2m", 1)+"# changed\n")
	eventually(t, "reload on file change", func() bool { return h.d.cfg.Load().Groups[0].Spec == "@every 2m" })

	// The same content again, then a signal: reloaded too (a new pointer).
	cur := h.d.cfg.Load()
	sig <- struct{}{}
	eventually(t, "reload on signal", func() bool { return h.d.cfg.Load() != cur })
}
