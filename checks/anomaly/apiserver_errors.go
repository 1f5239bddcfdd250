package anomaly

import (
	"math"
	"sort"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerErrors fires when the share of resource requests the API server
// answers with 5xx is anomalously high for this cluster.
var APIServerErrors = (&family{
	id:    "anomaly.apiserver_errors",
	title: "API server error ratio anomaly",
	description: "The share of resource requests answered with a 5xx code (from apiserver_request_total by code: 3 days of 5-minute rates) " +
		"is anomalously high for this cluster: the combined detector scores one of the latest points (`within`) at or above `page_score` " +
		"above its baseline. Steps with fewer than `min_requests` requests are not judged. It sees a rise long before the error budget " +
		"burns (controlplane.apiserver_errors), on clusters whose usual error ratio is far from the SLO.",
	kind: snapshot.KindMetricsAPIServer, reason: "APIServerErrorsAnomaly",
	series: "apiserver_request_total",
	input:  errorRatio,
	what:   func(map[string]string, string) string { return "the API server's 5xx error ratio" },
	format: percent, dir: Up,
	params: []checks.Param{{Name: "min_requests", Type: checks.Float, Default: "100",
		Description: "requests a 5-minute step needs for its error ratio to be judged (fewer: the ratio is noise)"}},
	remedy: "Find what fails: controlplane.apiserver_errors names the verbs and resources (apiserver_request_total{code=~\"5..\"}); " +
		"then the API server's log, etcd's health and the admission webhooks.",
	priority: 35,
}).check()

// errorRatio derives the 5xx share per step from the request rates by
// code; a step with fewer than min_requests requests is NaN.
func errorRatio(env *checks.Env) []*snapshot.Series {
	minReq := env.Params.Float("min_requests")
	return sumByTime(env, "apiserver_request_total", "apiserver_request_total:5xx_ratio", func(code string, v float64, acc *[2]float64) {
		acc[1] += v
		if len(code) == 3 && code[0] == '5' {
			acc[0] += v
		}
	}, func(s *snapshot.Series, acc [2]float64) float64 {
		if acc[1]*s.Window.Seconds() < minReq || acc[1] <= 0 {
			return math.NaN()
		}
		return acc[0] / acc[1]
	})
}

// sumByTime folds the series called name (by code) into one series named
// out, aligned on their sample times: add accumulates each sample, value
// turns a step's accumulator into the output value.
func sumByTime(env *checks.Env, name, out string, add func(code string, v float64, acc *[2]float64), value func(s *snapshot.Series, acc [2]float64) float64) []*snapshot.Series {
	in := history(env, name)
	if len(in) == 0 {
		return nil
	}
	acc := map[int64]*[2]float64{}
	for _, s := range in {
		for _, x := range s.Samples {
			if !finite(x.V) {
				continue
			}
			a := acc[x.T]
			if a == nil {
				a = &[2]float64{}
				acc[x.T] = a
			}
			add(s.Labels["code"], x.V, a)
		}
	}
	ts := make([]int64, 0, len(acc))
	for t := range acc {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	res := &snapshot.Series{Name: out, Source: in[0].Source, Type: snapshot.Gauge, Window: in[0].Window, Samples: make(snapshot.Samples, len(ts))}
	for i, t := range ts {
		res.Samples[i] = snapshot.Sample{T: t, V: value(res, *acc[t])}
	}
	return []*snapshot.Series{res}
}
