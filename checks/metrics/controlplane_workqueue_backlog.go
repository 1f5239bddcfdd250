package metrics

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// WorkqueueBacklog fires when kube-controller-manager's controllers fall
// behind: a work queue stays deep, its items wait long, or a worker is
// stuck on one item.
var WorkqueueBacklog = checks.New(checks.Meta{
	ID:    "controlplane.workqueue_backlog",
	Title: "Controller work queue backlog",
	Description: "A kube-controller-manager work queue holds more than `max_depth` items for longer than `for` (workqueue_depth), its items wait " +
		"longer than `max_queue_latency` at p99 before a worker takes them (workqueue_queue_duration_seconds), or a worker has been busy with " +
		"one item for longer than `max_processing` (workqueue_longest_running_processor_seconds: a stuck controller). " +
		"A backlogged controller reacts late: Deployments roll out slowly, Endpoints lag behind pods, garbage piles up.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsControllerManager},
	Params: []checks.Param{
		{Name: "max_depth", Type: checks.Int, Default: "100", Description: "items a queue may hold for `for`"},
		{Name: "for", Type: checks.Duration, Default: "10m", Description: "how long the depth must stay above max_depth (with scrapes, the scrapes decide)"},
		{Name: "max_queue_latency", Type: checks.Duration, Default: "10s", Description: "p99 time items wait in a queue that fires (the histogram's highest bucket is 10s, so larger values cannot be told apart)"},
		{Name: "max_processing", Type: checks.Duration, Default: "10m", Description: "time one worker may spend on one item before it counts as stuck"},
		{Name: "min_items", Type: checks.Int, Default: "10", Description: "ignore the queue latency of queues with fewer items in the window"},
	},
	Remedy: "Find the controller in the evidence and read its log lines in kube-controller-manager (kubectl logs -n kube-system kube-controller-manager-NODE | grep NAME); " +
		"check the controller-manager's client throttling (--kube-api-qps/--kube-api-burst, --concurrent-*-syncs) and the API server's latency.",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	depths := series(env, "workqueue_depth")
	waits := histograms(env, "workqueue_queue_duration_seconds")
	if len(depths) == 0 && len(waits) == 0 {
		return missing(env, snapshot.KindMetricsControllerManager, "workqueue_depth")
	}
	type hit struct {
		queue, text string
		score       float64
		ev          checks.Evidence
		reason      string
	}
	var hits []hit
	maxDepth := float64(env.Params.Int("max_depth"))
	for _, s := range depths {
		ok, since := sustained(s, env.Params.Duration("for"), func(v float64) bool { return v > maxDepth })
		if !ok {
			continue
		}
		l, _ := s.Last()
		hits = append(hits, hit{s.Labels["name"], fmt.Sprintf("queue %q holds %s items (above %s since %s)", s.Labels["name"], count(l.V), count(maxDepth), since.Format("15:04:05Z07:00")),
			l.V / maxDepth, seriesEvidence(s, count(l.V), "items waiting"), "WorkqueueBacklog"})
	}
	maxWait := env.Params.Duration("max_queue_latency").Seconds()
	minN := float64(env.Params.Int("min_items"))
	for _, h := range waits {
		if h.Total() < minN {
			continue
		}
		p, atLeast := quantile(h, 0.99)
		if !above(p, atLeast, maxWait) {
			continue
		}
		hits = append(hits, hit{h.Labels["name"], fmt.Sprintf("items of queue %q wait %s at p99 %s", h.Labels["name"], latencyText(p, atLeast), window(h.Covered(), h.Window == 0)),
			p / maxWait, histEvidence(h, "p99="+latencyText(p, atLeast), fmt.Sprintf("%s items", count(h.Total()))), "WorkqueueSlow"})
	}
	maxProc := env.Params.Duration("max_processing").Seconds()
	for _, s := range series(env, "workqueue_longest_running_processor_seconds") {
		l, ok := s.Last()
		if !ok || l.V <= maxProc {
			continue
		}
		hits = append(hits, hit{s.Labels["name"], fmt.Sprintf("a worker of queue %q has been busy with one item for %s", s.Labels["name"], node.Round(secondsDur(l.V))),
			100 + l.V/maxProc, seriesEvidence(s, seconds(l.V), "longest-running worker"), "WorkqueueWorkerStuck"})
	}
	if len(hits) == 0 {
		return nil
	}
	sortByWorst(hits, func(h hit) float64 { return h.score }, func(h hit) string { return h.queue + h.text })
	var texts []string
	var ev []checks.Evidence
	for i, h := range hits {
		texts = append(texts, h.text)
		if i < 5 {
			ev = append(ev, h.ev)
		}
	}
	msg := "kube-controller-manager is falling behind: " + texts[0]
	if len(texts) > 1 {
		rest := texts[1:]
		if len(rest) > 3 {
			msg += fmt.Sprintf("; %d more, e.g. %s", len(rest), strings.Join(rest[:3], "; "))
		} else {
			msg += "; " + strings.Join(rest, "; ")
		}
	}
	ev = append(ev, threshold("max_depth", count(maxDepth), fmt.Sprintf("for %s; p99 wait %s; stuck after %s",
		shortDur(env.Params.Duration("for")), seconds(maxWait), node.Round(secondsDur(maxProc)))))
	return []checks.Finding{env.Finding(cluster(env), hits[0].reason, msg, ev...)}
})
