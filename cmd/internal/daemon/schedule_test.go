package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/utils/clock"

	"github.com/kubepatrol/patrol/rules"
)

// manualClock is a Clock whose time moves only when the test advances it,
// and which tells how many timers wait on it.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	ch      chan time.Time
	at      time.Time
	stopped bool
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d)}
	c.timers = append(c.timers, t)
	return t
}

// waiters counts the timers not yet fired or stopped.
func (c *manualClock) waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
func (t *manualTimer) Reset(d time.Duration) bool { panic("not used") }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func group(t *testing.T, spec string) *Group {
	t.Helper()
	s, err := rules.CronParser.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &Group{Name: "g", Spec: spec, Schedule: s}
}

func TestNextRun(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		now    time.Duration // after t0 (10:00:00)
		offset time.Duration
		want   time.Duration // after t0
	}{
		{"*/30 * * * * *", 5 * time.Second, 0, 30 * time.Second},
		{"*/30 * * * * *", 30 * time.Second, 0, time.Minute},
		{"*/5 * * * *", 0, 0, 5 * time.Minute},
		{"0 */5 * * * *", 0, 7 * time.Second, 7 * time.Second},
		{"0 */5 * * * *", 7 * time.Second, 7 * time.Second, 5*time.Minute + 7*time.Second},
		{"@every 1m", 0, 0, time.Minute},
		{"@every 1m", 0, 13 * time.Second, time.Minute},
		{"@hourly", 20 * time.Minute, 0, time.Hour},
	} {
		t.Run(fmt.Sprintf("%s+%s@%s", tc.spec, tc.offset, tc.now), func(t *testing.T) {
			got := NextRun(group(t, tc.spec), t0.Add(tc.now), tc.offset)
			if want := t0.Add(tc.want); !got.Equal(want) {
				t.Errorf("NextRun = %s, want %s", got.Format(time.TimeOnly), want.Format(time.TimeOnly))
			}
		})
	}
}

func TestJitterOffset(t *testing.T) {
	j := 30 * time.Second
	a := jitterOffset("replica-a/prod", "fast", j)
	if a != jitterOffset("replica-a/prod", "fast", j) {
		t.Fatal("jitter offset is not deterministic")
	}
	seen := map[time.Duration]bool{}
	for i := range 20 {
		o := jitterOffset(fmt.Sprintf("replica-%d/prod", i), "fast", j)
		if o < 0 || o >= j {
			t.Fatalf("offset %s outside [0, %s)", o, j)
		}
		seen[o] = true
	}
	if len(seen) < 15 {
		t.Errorf("20 daemons share only %d distinct offsets: no spread", len(seen))
	}
	if jitterOffset("x", "fast", 0) != 0 {
		t.Error("zero jitter must give zero offset")
	}
}

func sweeps(h *harness, group, result string) int {
	return int(testutil.ToFloat64(h.d.metrics.Sweeps.WithLabelValues("test", group, result)))
}

// TestScheduling runs the daemon on a manual clock: the first full sweep
// makes it ready, then each group runs on its own cron schedule.
func TestScheduling(t *testing.T) {
	h := newHarness(t, `cluster: test
jitter: 0s
groups:
  - name: fast
    schedule: "*/30 * * * * *"
    checks: [pod.crash_looping]
  - name: slow
    schedule: "0 */2 * * * *"
    checks: [pod.oom_killed]
`, fixture(t, "pod/crash_looping.yaml"))
	mc := &manualClock{now: t0}
	h.d.clock, h.src.clock = mc, mc
	ready := make(chan struct{})
	h.d.opt.Ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.schedule(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if code, _ := h.get(t, "/readyz"); code != 503 && h.d.ready.Load() == false {
		t.Errorf("/readyz before the first sweep: %d", code)
	}
	<-ready
	if sweeps(h, "fast", SweepSuccess) != 1 || sweeps(h, "slow", SweepSuccess) != 1 {
		t.Fatalf("first full sweep: fast %d slow %d", sweeps(h, "fast", SweepSuccess), sweeps(h, "slow", SweepSuccess))
	}
	want := map[string]int{"fast": 1, "slow": 1}
	for step := 1; step <= 4; step++ { // 10:00:30, 10:01:00, 10:01:30, 10:02:00
		eventually(t, "both groups waiting", func() bool { return mc.waiters() == 2 })
		mc.advance(30 * time.Second)
		want["fast"]++
		if step == 4 {
			want["slow"]++
		}
		eventually(t, fmt.Sprintf("sweeps after step %d", step), func() bool {
			return sweeps(h, "fast", SweepSuccess) == want["fast"] && sweeps(h, "slow", SweepSuccess) == want["slow"]
		})
	}
}

// TestSchedulingJitter: a group with jitter runs at its fixed offset after
// each activation, not before.
func TestSchedulingJitter(t *testing.T) {
	h := newHarness(t, `cluster: test
groups:
  - name: fast
    schedule: "@every 1m"
    jitter: 20s
    checks: [pod.crash_looping]
`, fixture(t, "pod/crash_looping.yaml"))
	mc := &manualClock{now: t0}
	h.d.clock, h.src.clock = mc, mc
	offset := jitterOffset(h.d.identity(), "fast", 20*time.Second)
	cfg := h.d.cfg.Load()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.d.loop(ctx, ctx, cfg, &cfg.Groups[0])
	eventually(t, "timer", func() bool { return mc.waiters() == 1 })
	// @every 1m from t0−offset is t0−offset+1m; plus offset: t0+1m.
	mc.advance(time.Minute - time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := sweeps(h, "fast", SweepSuccess); n != 0 {
		t.Fatalf("swept %d times before its time", n)
	}
	mc.advance(time.Second)
	eventually(t, "the jittered sweep", func() bool { return sweeps(h, "fast", SweepSuccess) == 1 })
	if offset >= 20*time.Second {
		t.Errorf("offset %s", offset)
	}
}

// TestSweepNeverOverlaps: while a sweep is still collecting, the next run
// of the same group is skipped and counted.
func TestSweepNeverOverlaps(t *testing.T) {
	h := newHarness(t, podsConfig, fixture(t, "pod/crash_looping.yaml"))
	block := make(chan struct{})
	h.src.block = block
	cfg := h.d.cfg.Load()
	g := &cfg.Groups[0]
	done := make(chan struct{})
	go func() { defer close(done); h.d.trySweep(context.Background(), cfg, g) }()
	eventually(t, "first sweep collecting", func() bool { return h.src.calls.Load() == 1 })
	h.d.trySweep(context.Background(), cfg, g) // returns at once
	h.d.trySweep(context.Background(), cfg, g)
	if n := sweeps(h, "pods", SweepSkipped); n != 2 {
		t.Errorf("skipped = %d, want 2", n)
	}
	close(block)
	<-done
	if n := sweeps(h, "pods", SweepSuccess); n != 1 {
		t.Errorf("success = %d, want 1", n)
	}
	h.d.trySweep(context.Background(), cfg, g) // free again
	if n := sweeps(h, "pods", SweepSuccess); n != 2 {
		t.Errorf("success after the slow sweep = %d, want 2", n)
	}
}
