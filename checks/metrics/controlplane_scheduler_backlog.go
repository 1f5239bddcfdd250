package metrics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// SchedulerBacklog fires when the scheduler does not keep up: pods pile
// up in its active and backoff queues, or scheduling attempts are slow.
var SchedulerBacklog = checks.New(checks.Meta{
	ID:    "controlplane.scheduler_backlog",
	Title: "Scheduler backlog",
	Description: "Pods wait in the scheduler's active and backoff queues (scheduler_pending_pods) above `max_pending` for longer than `for`, " +
		"or the 99th percentile of successful scheduling attempts (scheduler_scheduling_attempt_duration_seconds{result=\"scheduled\"}) is above " +
		"`max_attempt_latency`. Pods that cannot fit anywhere sit in the unschedulable queue and are reported per pod by pod.unschedulable; " +
		"this check is about the scheduler itself falling behind (CPU-starved, slow API server, expensive affinity or topology-spread rules, " +
		"or too low --kube-api-qps), which delays every new pod in the cluster.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsScheduler},
	Params: []checks.Param{
		{Name: "max_pending", Type: checks.Int, Default: "50", Description: "pods in the active and backoff queues together tolerated for `for`"},
		{Name: "for", Type: checks.Duration, Default: "10m", Description: "how long the backlog must last (with scrapes, the scrapes decide)"},
		{Name: "max_attempt_latency", Type: checks.Duration, Default: "1s", Description: "p99 latency of successful scheduling attempts (algorithm and binding) that fires"},
		{Name: "min_attempts", Type: checks.Int, Default: "10", Description: "ignore the latency with fewer attempts in the window"},
	},
	Remedy: "Check the scheduler's CPU and its client throttling (kubectl logs -n kube-system kube-scheduler-NODE | grep -i throttl), " +
		"the API server's latency (controlplane.apiserver_latency), and pods with heavy inter-pod affinity or topology spread constraints.",
	Priority: 55,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	pending := series(env, "scheduler_pending_pods")
	attempts := histograms(env, "scheduler_scheduling_attempt_duration_seconds")
	if len(pending) == 0 && len(attempts) == 0 {
		return missing(env, snapshot.KindMetricsScheduler, "scheduler_pending_pods")
	}
	var parts []string
	var ev []checks.Evidence
	reason := ""

	// active + backoff per scheduler instance (scraped replicas keep their
	// instance label; Prometheus sums them), per timestamp
	type sched struct {
		byQueue map[string]*snapshot.Series
		backlog map[int64]float64
	}
	insts := map[string]*sched{}
	var names []string
	for _, s := range pending {
		in := s.Labels["instance"]
		x := insts[in]
		if x == nil {
			x = &sched{byQueue: map[string]*snapshot.Series{}, backlog: map[int64]float64{}}
			insts[in] = x
			names = append(names, in)
		}
		x.byQueue[s.Labels["queue"]] = s
		if q := s.Labels["queue"]; q == "active" || q == "backoff" {
			for _, p := range s.Samples {
				x.backlog[p.T] += p.V
			}
		}
	}
	sort.Strings(names)
	limit := float64(env.Params.Int("max_pending"))
	for _, in := range names {
		x := insts[in]
		if len(x.backlog) == 0 {
			continue
		}
		sum := &snapshot.Series{Name: "scheduler_pending_pods", Labels: map[string]string{"queue": "active+backoff"}, Source: pending[0].Source}
		for t, v := range x.backlog {
			sum.Samples = append(sum.Samples, snapshot.Sample{T: t, V: v})
		}
		sortSamples(sum.Samples)
		ok, since := sustained(sum, env.Params.Duration("for"), func(v float64) bool { return v > limit })
		if !ok {
			continue
		}
		reason = "SchedulerBacklog"
		l, _ := sum.Last()
		txt := fmt.Sprintf("%s pods wait in the scheduler's active and backoff queues (since %s)", count(l.V), since.Format(time.RFC3339))
		if u := x.byQueue["unschedulable"]; u != nil {
			if ul, ok := u.Last(); ok && ul.V > 0 {
				txt += fmt.Sprintf("; %s more are unschedulable", count(ul.V))
			}
		}
		parts = append(parts, txt)
		for _, q := range []string{"active", "backoff", "unschedulable", "gated"} {
			if s := x.byQueue[q]; s != nil {
				if l, ok := s.Last(); ok {
					ev = append(ev, seriesEvidence(s, count(l.V), "pods in the "+q+" queue"))
				}
			}
		}
		break // one scheduler leads at a time
	}

	minN := float64(env.Params.Int("min_attempts"))
	maxLat := env.Params.Duration("max_attempt_latency").Seconds()
	for _, h := range attempts {
		if h.Labels["result"] != "scheduled" || h.Total() < minN {
			continue
		}
		p, atLeast := quantile(h, 0.99)
		if !above(p, atLeast, maxLat) {
			continue
		}
		if reason == "" {
			reason = "SchedulingSlow"
		}
		parts = append(parts, fmt.Sprintf("successful scheduling attempts take %s at p99 %s (%s attempts)", latencyText(p, atLeast), window(h.Covered(), h.Window == 0), count(h.Total())))
		ev = append(ev, histEvidence(h, "p99="+latencyText(p, atLeast), fmt.Sprintf("%s attempts", count(h.Total()))))
	}
	if reason == "" {
		return nil
	}
	for _, s := range series(env, "scheduler_schedule_attempts_total") {
		if s.Labels["result"] != "error" {
			continue
		}
		if inc, cov, ok := s.Increase(0); ok && inc > 0 {
			ev = append(ev, seriesEvidence(s, count(inc), "scheduling attempts that failed with an error "+window(cov, lifetime(s))))
		}
	}
	ev = append(ev, threshold("max_pending", fmt.Sprint(env.Params.Int("max_pending")), "for "+shortDur(env.Params.Duration("for"))))
	return []checks.Finding{env.Finding(cluster(env), reason, "the scheduler is falling behind: "+strings.Join(parts, "; "), ev...)}
})

func sortSamples(ss snapshot.Samples) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].T < ss[j-1].T; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}
