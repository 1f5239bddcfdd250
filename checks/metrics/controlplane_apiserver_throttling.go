package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerThrottling fires when the API server sheds load: it terminates
// requests in self-defense, API Priority and Fairness rejects them, or a
// priority level runs at its seat limit.
var APIServerThrottling = checks.New(checks.Meta{
	ID:    "controlplane.apiserver_throttling",
	Title: "API server throttling requests",
	Description: "The API server is overloaded and sheds load: it terminates requests in self-defense (apiserver_request_terminations_total above " +
		"kubernetes-mixin's KubeAPITerminatedRequests ratio of 20%), API Priority and Fairness rejects requests with 429 " +
		"(apiserver_flowcontrol_rejected_requests_total: queue full, concurrency limit, time-out), or a priority level keeps all its seats busy " +
		"(apiserver_flowcontrol_current_executing_seats against apiserver_flowcontrol_current_limit_seats). Throttled clients retry and slow down: " +
		"controllers lag, kubectl times out, and the flow schema in the evidence names the client class that is hit.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsAPIServer},
	Params: []checks.Param{
		{Name: "terminated_ratio", Type: checks.Float, Default: "0.2", Description: "share of requests terminated by the server that fires (kubernetes-mixin KubeAPITerminatedRequests: 20%)"},
		{Name: "max_rejected", Type: checks.Int, Default: "10", Description: "priority-and-fairness rejections tolerated per window (a short burst is APF doing its job)"},
		{Name: "seat_utilization", Type: checks.Float, Default: "0.9", Description: "share of a priority level's seats in use that counts as saturated"},
		{Name: "window", Type: checks.Duration, Default: "5m", Description: "window of the rejection count and the sustained saturation"},
	},
	Remedy: "Find the flow schema and priority level in the evidence and the clients behind it (kubectl get flowschemas; " +
		"kubectl get --raw /debug/api_priority_and_fairness/dump_priority_levels); throttle or fix the noisy client, or raise the level's " +
		"nominalConcurrencyShares, or --max-requests-inflight / --max-mutating-requests-inflight.",
	Priority: 45,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	win := env.Params.Duration("window")
	var parts []string
	var ev []checks.Evidence
	reason := ""

	// Requests over the window, for shares.
	var reqs float64
	for _, s := range series(env, "apiserver_request_total") {
		if inc, _, ok := s.Increase(win); ok {
			reqs += inc
		}
	}

	// Rejected by API Priority and Fairness.
	type rej struct {
		s   *snapshot.Series
		n   float64
		cov time.Duration
	}
	var rejs []rej
	var rejected, rawRejected float64
	var rejCov time.Duration
	for _, s := range series(env, "apiserver_flowcontrol_rejected_requests_total") {
		inc, cov, ok := s.Increase(win)
		if !ok || inc <= 0 {
			continue
		}
		rejected += perWindow(inc, cov, win)
		rawRejected += inc
		rejCov = cov
		rejs = append(rejs, rej{s, inc, cov})
	}
	if rejected > float64(env.Params.Int("max_rejected")) {
		reason = "APIPriorityAndFairnessRejected"
		sortByWorst(rejs, func(r rej) float64 { return r.n }, func(r rej) string { return snapshot.MetricSelector("", r.s.Labels) })
		w := rejs[0].s.Labels
		share := ""
		if reqs > 0 && !lifetime(rejs[0].s) {
			share = fmt.Sprintf(" (%s of all requests)", percent(min(rawRejected/reqs, 1)))
		}
		parts = append(parts, fmt.Sprintf("API Priority and Fairness rejected %s requests %s%s, most at priority level %s (flow schema %s, reason %s)",
			count(rejected), perWindowText(rejCov, win, lifetime(rejs[0].s)), share, w["priority_level"], w["flow_schema"], w["reason"]))
		for i, r := range rejs {
			if i == 3 {
				break
			}
			ev = append(ev, seriesEvidence(r.s, count(r.n), "requests rejected "+window(r.cov, lifetime(r.s))))
		}
	}

	// Terminated in self-defense, as a share of all requests; the API
	// server counts priority-and-fairness rejections among them, so those
	// are taken out when they were reported above.
	var term float64
	var termCov time.Duration
	var termSeries []*snapshot.Series
	for _, s := range series(env, "apiserver_request_terminations_total") {
		inc, cov, ok := s.Increase(win)
		if !ok || inc <= 0 {
			continue
		}
		term += inc
		termCov = cov
		termSeries = append(termSeries, s)
	}
	other := term
	if reason != "" {
		other = max(term-rawRejected, 0)
	}
	if other > 0 && other/(reqs+other) > env.Params.Float("terminated_ratio") {
		what := "the API server terminated %s of %s requests in self-defense %s"
		if reason == "" {
			reason = "KubeAPITerminatedRequests"
		} else {
			what = "it also terminated %s more of %s requests in self-defense %s"
		}
		parts = append(parts, fmt.Sprintf(what, count(other), count(reqs+other), window(termCov, lifetime(termSeries[0]))))
		for i, s := range termSeries {
			if i == 3 {
				break
			}
			inc, _, _ := s.Increase(win)
			ev = append(ev, seriesEvidence(s, count(inc), "requests terminated"))
		}
	}

	// Priority levels at their seat limit.
	limits := map[string]float64{}
	for _, s := range series(env, "apiserver_flowcontrol_current_limit_seats") {
		if l, ok := s.Last(); ok {
			limits[s.Labels["instance"]+"/"+s.Labels["priority_level"]] = l.V
		}
	}
	util := env.Params.Float("seat_utilization")
	var sat []string
	for _, s := range series(env, "apiserver_flowcontrol_current_executing_seats") {
		pl := s.Labels["priority_level"]
		limit := limits[s.Labels["instance"]+"/"+pl]
		if pl == "exempt" || limit <= 0 {
			continue
		}
		ok, since := sustained(s, win, func(v float64) bool { return v >= util*limit })
		if !ok {
			continue
		}
		l, _ := s.Last()
		sat = append(sat, fmt.Sprintf("%s (%s of %s seats on %s since %s)", pl, count(l.V), count(limit), s.Labels["instance"], since.Format(time.RFC3339)))
		ev = append(ev, seriesEvidence(s, count(l.V), fmt.Sprintf("seats in use of a limit of %s", count(limit))))
	}
	if len(sat) > 0 {
		if reason == "" {
			reason = "PriorityLevelSaturated"
		}
		parts = append(parts, "priority levels at their seat limit: "+strings.Join(sat, ", "))
	}
	if reason == "" {
		return nil
	}
	for _, s := range series(env, "apiserver_flowcontrol_current_inqueue_requests") {
		if l, ok := s.Last(); ok && l.V > 0 {
			ev = append(ev, seriesEvidence(s, count(l.V), "requests waiting in the priority level's queues"))
		}
	}
	ev = append(ev, threshold("max_rejected", fmt.Sprint(env.Params.Int("max_rejected")), "per "+shortDur(win)))
	return []checks.Finding{env.Finding(cluster(env), reason, strings.Join(parts, "; "), ev...)}
})

// perWindow scales an increase observed over covered to the window: a
// longer observation is averaged down to the window, a shorter one is
// taken as it is (never extrapolated up: a single event seen in ten seconds
// is one event, not thirty per five minutes).
func perWindow(inc float64, covered, window time.Duration) float64 {
	if covered > window && covered > 0 {
		return inc * window.Seconds() / covered.Seconds()
	}
	return inc
}

// perWindowText says what a perWindow count covers.
func perWindowText(covered, win time.Duration, life bool) string {
	if covered > win {
		return "per " + shortDur(win) + " on average " + window(covered, life)
	}
	return window(covered, life)
}
