//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepatrol/patrol/e2e/scenarios"
)

var (
	patroldOnce sync.Once
	patroldBin  string
	patroldErr  error
)

// buildPatrold builds bin/patrold once per run.
func buildPatrold(t *testing.T) string {
	t.Helper()
	patroldOnce.Do(func() {
		start := time.Now()
		patroldBin = filepath.Join(repoRoot, "bin", "patrold")
		build := exec.Command("go", "build", "-o", patroldBin, "./cmd/patrold")
		build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stderr, os.Stderr
		patroldErr = build.Run()
		logf("built bin/patrold in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if patroldErr != nil {
		t.Fatalf("go build ./cmd/patrold: %v", patroldErr)
	}
	return patroldBin
}

// patrold is one patrold process; name names its log file.
type patrold struct {
	name string
	// id is its leader election identity, when it has one.
	id   string
	cmd  *exec.Cmd
	addr string
	done chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startPatrold writes config to a file and starts bin/patrold on it with
// the admin kubeconfig; its log goes to <reportDir>/<test>-<name>.log.
func startPatrold(t *testing.T, name, config string) *patrold {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return launchPatrold(t, name, path, freeAddr(t))
}

// launchPatrold starts bin/patrold on a config file and address with the
// admin kubeconfig and extra environment (KEY=value); its log goes to
// <reportDir>/<test>-<name>.log. t's cleanup kills it.
func launchPatrold(t *testing.T, name, configPath, addr string, env ...string) *patrold {
	t.Helper()
	bin := buildPatrold(t)
	logPath := filepath.Join(reportDir, unsafeName.ReplaceAllString(t.Name(), "_")+"-"+name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", configPath, "--kubeconfig", adminKubeconfig, "--listen", addr, "-v")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &patrold{name: name, cmd: cmd, addr: addr, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		logFile.Close()
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *patrold) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
	}
}

// get fetches a path; a connection error is status 0.
func (p *patrold) get(path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the first sample of name whose labels
// contain all of labels, or -1.
func (p *patrold) metric(name string, labels ...string) float64 {
	code, body := p.get("/metrics")
	if code != 200 {
		return -1
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			return v
		}
	}
	return -1
}

func (p *patrold) leading() bool { return p.metric("patrol_leader") == 1 }

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// TestDaemonLeaderElection runs two patrold replicas on one Lease against
// the real API server: exactly one leads at any moment; when the leader is
// killed (SIGKILL: it cannot release the Lease) the other takes over
// within the lease duration; when a leader stops gracefully (SIGTERM) it
// releases the Lease and the other takes over at once.
func TestDaemonLeaderElection(t *testing.T) {
	ctx := context.Background()
	lease := fmt.Sprintf("patrold-e2e-%d", time.Now().Unix())
	const (
		leaseDuration = 8 * time.Second
		retryPeriod   = time.Second
	)
	t.Cleanup(func() {
		_ = kube.CoordinationV1().Leases("default").Delete(ctx, lease, metav1.DeleteOptions{})
	})
	config := func(id string) string {
		return fmt.Sprintf(`cluster: e2e
groups:
  - name: all
    schedule: "@every 1m"
    jitter: 0s
leader_election:
  enabled: true
  namespace: default
  name: %s
  identity: %s
  lease_duration: %s
  renew_deadline: 5s
  retry_period: %s
`, lease, id, leaseDuration, retryPeriod)
	}
	replicas := map[string]*patrold{}
	for _, id := range []string{"replica-a", "replica-b"} {
		replicas[id] = startPatrold(t, id, config(id))
		replicas[id].id = id
	}
	holder := func() string {
		l, err := kube.CoordinationV1().Leases("default").Get(ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}

	// Watch the whole test: never two replicas leading at once.
	var both atomic.Int32
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			n := 0
			for _, r := range replicas {
				if r.leading() {
					n++
				}
			}
			if n > 1 {
				both.Add(1)
			}
		}
	}()
	defer func() {
		close(stop)
		<-watched
		if n := both.Load(); n > 0 {
			t.Errorf("two replicas reported patrol_leader 1 at once (%d samples)", n)
		}
	}()

	var leader, follower *patrold
	waitUntil(t, time.Minute, "one leader", func() bool {
		h := holder()
		r, ok := replicas[h]
		if !ok || !r.leading() {
			return false
		}
		leader = r
		for name, o := range replicas {
			if name != h {
				follower = o
			}
		}
		return true
	})
	if follower.leading() {
		t.Fatal("both replicas lead")
	}
	for _, r := range replicas { // both inspect and serve
		waitUntil(t, 2*time.Minute, r.name+" ready", func() bool { c, _ := r.get("/readyz"); return c == 200 })
	}
	t.Logf("%s leads the Lease default/%s; %s follows", leader.id, lease, follower.id)

	// The leader dies without releasing: the follower waits out the lease.
	killed := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	took := waitUntil(t, 3*leaseDuration, "takeover after SIGKILL", func() bool { return follower.leading() && holder() == follower.id })
	t.Logf("takeover after the leader was killed: %s (lease duration %s)", took.Round(100*time.Millisecond), leaseDuration)
	if limit := leaseDuration + 2*retryPeriod + 2*time.Second; took > limit {
		t.Errorf("takeover took %s, more than the lease duration allows (%s)", took, limit)
	}
	if since := time.Since(killed); since < leaseDuration-2*retryPeriod {
		t.Errorf("took over after %s, before the dead leader's lease (%s) could have expired", since, leaseDuration)
	}

	// The killed replica comes back as a follower.
	id := leader.id
	back := startPatrold(t, id+"-restarted", config(id))
	back.id = id
	replicas[id] = back
	waitUntil(t, time.Minute, "restarted replica serving", func() bool { c, _ := back.get("/healthz"); return c == 200 })
	time.Sleep(2 * retryPeriod)
	if back.leading() || holder() != follower.id {
		t.Errorf("the restarted replica took the lease from a live leader (holder %q)", holder())
	}

	// The new leader stops gracefully and releases: the other takes over
	// well within the lease duration.
	newLeader := follower
	if err := newLeader.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-newLeader.done:
		if err != nil {
			t.Errorf("patrold did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("patrold did not stop within 30s of SIGTERM")
	}
	took = waitUntil(t, 3*leaseDuration, "takeover after release", func() bool { return back.leading() && holder() == back.id })
	t.Logf("takeover after a graceful stop (lease released): %s", took.Round(100*time.Millisecond))
	if took > leaseDuration-time.Second {
		t.Errorf("takeover after release took %s: the lease was not released", took)
	}
}

// TestDaemonSweepsLiveCluster starts patrold on the live cluster, injects a
// crash-looping pod, and reads the finding back from /api/v1/findings with
// its trace and lifecycle evidence, a Warning Event on the pod, and the
// self-metrics.
func TestDaemonSweepsLiveCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("patrold-e2e-%d", time.Now().Unix())
	p := startPatrold(t, "sweeper", fmt.Sprintf(`cluster: e2e
state_file: %s
groups:
  - name: pods
    schedule: "*/5 * * * * *"
    jitter: 2s
    checks: [pod]
  - name: rest
    schedule: "@every 30s"
    skip: [pod]
events:
  enabled: true
`, filepath.Join(t.TempDir(), "state.json")))

	readyIn := waitUntil(t, 2*time.Minute, "patrold ready", func() bool { c, _ := p.get("/readyz"); return c == 200 })
	t.Logf("patrold ready (first full sweep) %s after start", readyIn.Round(100*time.Millisecond))
	code, body := p.get("/api/v1/report")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil {
		t.Fatalf("/api/v1/report: %d %v", code, err)
	}
	for _, c := range rep.Coverage {
		if c.Reason != "NotServed" {
			t.Errorf("coverage gap for an admin: %s %s: %s", c.Kind, c.Reason, c.Message)
		}
	}
	if len(rep.Checks) < 40 {
		t.Errorf("the report covers %d checks; want every enabled check from both groups", len(rep.Checks))
	}

	// Inject: a pod on a kwok node whose container is in CrashLoopBackOff.
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Wait for the namespace to go, so that later tests see a clean
		// cluster.
		bg := context.Background()
		err := kube.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{})
		for start := time.Now(); err == nil && time.Since(start) < time.Minute; time.Sleep(500 * time.Millisecond) {
			_, err = kube.CoreV1().Namespaces().Get(bg, ns, metav1.GetOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
	node, err := scenarios.KwokNode(ctx, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger-writer", Namespace: ns,
			Annotations: map[string]string{scenarios.KwokStatusAnnotation: "custom"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/ledger/writer:1.0"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(time.Now().Add(-30 * time.Minute))
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.1.0.1", PodIP: "10.244.9.9", StartTime: &started,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: started},
			{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: started},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "registry.example/ledger/writer:1.0", RestartCount: 9,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: "back-off 5m0s restarting failed container=app pod=ledger-writer_" + ns}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: "panic: ledger database unreachable",
				StartedAt: metav1.NewTime(time.Now().Add(-70 * time.Second)), FinishedAt: metav1.NewTime(time.Now().Add(-68 * time.Second))}},
		}},
	}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	injected := time.Now()

	// The finding arrives through the watch and the next pods sweep.
	var found FindingsResponse
	took := waitUntil(t, time.Minute, "the crash-loop finding on /api/v1/findings", func() bool {
		code, body := p.get("/api/v1/findings?check=pod.crash_looping&namespace=" + ns + "&severity=critical")
		found = FindingsResponse{}
		return code == 200 && json.Unmarshal([]byte(body), &found) == nil && len(found.Findings) == 1
	})
	t.Logf("finding served %s after the fault was injected", took.Round(100*time.Millisecond))
	f := found.Findings[0]
	if f.Object.Name != "ledger-writer" || f.Reason != "CrashLoopBackOff" {
		t.Errorf("finding %s", f)
	}
	var traceID, state string
	for _, e := range f.Evidence {
		switch e.Type {
		case "trace":
			traceID = e.Value
		case "lifecycle":
			state = e.Value
		}
	}
	if len(traceID) != 32 || state != "firing" {
		t.Errorf("evidence: trace %q lifecycle %q", traceID, state)
	}
	if found.TraceID == "" {
		t.Error("findings response without the sweep's trace ID")
	}

	// Filters and errors.
	if code, _ := p.get("/api/v1/findings?severity=urgent"); code != 400 {
		t.Errorf("?severity=urgent: %d, want 400", code)
	}
	if code, body := p.get("/report"); code != 200 || !strings.Contains(body, "ledger-writer") {
		t.Errorf("/report: %d", code)
	}

	// The only replica leads (no election configured) and emits one
	// Warning Event on the pod.
	waitUntil(t, 30*time.Second, "the Warning Event on the pod", func() bool {
		evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=ledger-writer,source=patrold"})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "CrashLoopBackOff" && strings.Contains(e.Message, "pod.crash_looping") {
				return true
			}
		}
		return false
	})
	time.Sleep(6 * time.Second) // another pods sweep: no second Event
	evs, _ := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "source=patrold"})
	if len(evs.Items) != 1 {
		t.Errorf("%d Events from patrold, want exactly 1 (one per finding episode)", len(evs.Items))
	}

	// Self-metrics.
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"patrol_findings", []string{`check="pod.crash_looping"`, `state="firing"`}},
		{"patrol_sweeps_total", []string{`group="pods"`, `result="success"`}},
		{"patrol_last_successful_sweep_timestamp_seconds", []string{`group="rest"`}},
		{"patrol_events_emitted_total", []string{`reason="CrashLoopBackOff"`}},
		{"patrol_health_score", []string{`namespace=""`}},
		{"patrol_config_last_reload_successful", nil},
		{"patrol_build_info", nil},
	} {
		if v := p.metric(m.name, m.labels...); v <= 0 {
			t.Errorf("%s%v = %v", m.name, m.labels, v)
		}
	}

	// Healing resolves it.
	if err := kube.CoreV1().Pods(ns).Delete(ctx, "ledger-writer", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the finding resolved", func() bool {
		code, body := p.get("/api/v1/findings?state=resolved&namespace=" + ns)
		var r FindingsResponse
		return code == 200 && json.Unmarshal([]byte(body), &r) == nil && len(r.Findings) == 1
	})
	t.Logf("injected→resolved round trip %s", time.Since(injected).Round(100*time.Millisecond))

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("patrold exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("patrold did not stop within 30s of SIGTERM")
	}
}

// FindingsResponse is the body of patrold's /api/v1/findings.
type FindingsResponse struct {
	Cluster  string    `json:"cluster"`
	TraceID  string    `json:"traceID"`
	Findings []Finding `json:"findings"`
}
