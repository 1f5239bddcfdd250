package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// APIServerLatency fires when the API server's request latency breaks the
// Kubernetes API call latency SLO of SIG Scalability
// (kubernetes/community sig-scalability/slos/api_call_latency.md): the
// 99th percentile per (resource, verb) must stay within 1s for mutating
// calls and single-object reads, 5s for namespace-scoped lists and 30s
// for cluster-scoped lists. The same thresholds are kubernetes-mixin's
// read and write latency SLOs.
var APIServerLatency = checks.New(checks.Meta{
	ID:    "controlplane.apiserver_latency",
	Title: "API server latency above SLO",
	Description: "The 99th percentile latency of API requests, per verb, scope and resource, is above the Kubernetes API call latency SLO " +
		"(SIG Scalability: 1s for mutating requests and single-object reads, 5s for namespace-scoped LISTs, 30s for cluster-scoped LISTs). " +
		"It reads apiserver_request_sli_duration_seconds (without webhook and priority-and-fairness queue time; apiserver_request_duration_seconds " +
		"before Kubernetes 1.27) over the last 5 minutes (Prometheus) or between two scrapes; watches, proxies, exec, attach, logs and port-forwards are excluded. " +
		"A slow API server slows every controller, kubectl and deployment pipeline, and is usually caused by etcd, admission webhooks, huge LISTs or overload.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsAPIServer},
	Params: []checks.Param{
		{Name: "quantile", Type: checks.Float, Default: "0.99", Description: "the latency quantile compared with the thresholds (the SLO's 99th percentile)"},
		{Name: "mutating", Type: checks.Duration, Default: "1s", Description: "threshold for POST, PUT, PATCH, APPLY and DELETE (SLO: 1s)"},
		{Name: "single_object", Type: checks.Duration, Default: "1s", Description: "threshold for GET of one object (scope resource; SLO: 1s)"},
		{Name: "namespace_list", Type: checks.Duration, Default: "5s", Description: "threshold for namespace-scoped LIST (SLO: 5s)"},
		{Name: "cluster_list", Type: checks.Duration, Default: "30s", Description: "threshold for cluster-scoped LIST (SLO: 30s)"},
		{Name: "min_requests", Type: checks.Int, Default: "10", Description: "ignore verb/resource pairs with fewer requests in the window: a percentile of a handful of requests is noise"},
		{Name: "min_slow_requests", Type: checks.Int, Default: "5", Description: "ignore pairs with fewer requests slower than their threshold in the window: two slow GETs among eighty on a busy small cluster make a p99 above 1s but no trend"},
	},
	Remedy: "Find the slow verb and resource in the evidence; then check etcd latency (controlplane.etcd_slow_disk), slow admission webhooks " +
		"(apiserver_admission_webhook_admission_duration_seconds), and clients listing large collections without pagination or resourceVersion=0 " +
		"(kubectl get --raw /metrics | grep apiserver_request_sli_duration_seconds).",
	Priority: 40,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	hs := histograms(env, "apiserver_request_sli_duration_seconds")
	if len(hs) == 0 {
		hs = histograms(env, "apiserver_request_duration_seconds")
	}
	if len(hs) == 0 {
		return missing(env, snapshot.KindMetricsAPIServer, "apiserver_request_sli_duration_seconds")
	}
	q := env.Params.Float("quantile")
	minReq := float64(env.Params.Int("min_requests"))
	minSlow := float64(env.Params.Int("min_slow_requests"))
	type slow struct {
		h        *snapshot.Histogram
		p, limit float64
		what     string
		n        float64
	}
	var found []slow
	for _, h := range hs {
		limit, what := latencySLO(env, h.Labels["verb"], h.Labels["scope"], h.Labels["resource"])
		if limit <= 0 {
			continue
		}
		n := h.Total()
		if n < minReq {
			continue
		}
		p, atLeast := quantile(h, q)
		if !above(p, atLeast, limit) || n*h.FractionAbove(limit) < minSlow {
			continue
		}
		found = append(found, slow{h, p, limit, what, n})
	}
	if len(found) == 0 {
		return nil
	}
	sortByWorst(found, func(s slow) float64 { return s.p / s.limit }, func(s slow) string { return s.what })
	qs := quantileName(q)
	var items []string
	var ev []checks.Evidence
	for i, s := range found {
		val := seconds(s.p)
		if s.p >= lastFinite(s.h) {
			val = "≥ " + val
		}
		items = append(items, fmt.Sprintf("%s %s", s.what, val))
		if i < 5 {
			ev = append(ev, histEvidence(s.h, qs+"="+val, fmt.Sprintf("%s requests %s; %s of them slower than %s",
				count(s.n), window(s.h.Covered(), s.h.Window == 0), percent(s.h.FractionAbove(s.limit)), seconds(s.limit))))
		}
	}
	w := found[0]
	val := seconds(w.p)
	if w.p >= lastFinite(w.h) {
		val = "at least " + val
	}
	msg := fmt.Sprintf("%s latency of %s is %s %s, above the %s SLO (%s requests)%s",
		qs, w.what, val, window(w.h.Covered(), w.h.Window == 0), seconds(w.limit), count(w.n), more(items, 3))
	ev = append(ev, threshold("quantile", qs, "SLO: 1s mutating and single-object reads, 5s namespace LIST, 30s cluster LIST"))
	return []checks.Finding{env.Finding(cluster(env), "KubeAPILatencyHigh", msg, ev...)}
})

// latencySLO returns the threshold for a request kind and a readable name
// ("LIST pods (cluster scope)"); 0 for requests outside the SLO.
func latencySLO(env *checks.Env, verb, scope, resource string) (float64, string) {
	if resource == "" {
		return 0, ""
	}
	what := verb + " " + resource
	switch verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE":
		return env.Params.Duration("mutating").Seconds(), what
	case "GET", "LIST":
		switch scope {
		case "resource":
			return env.Params.Duration("single_object").Seconds(), what
		case "namespace":
			return env.Params.Duration("namespace_list").Seconds(), what + " (namespace scope)"
		case "cluster":
			return env.Params.Duration("cluster_list").Seconds(), what + " (cluster scope)"
		}
	}
	// WATCH, CONNECT and DELETECOLLECTION (many objects) are outside the SLO.
	return 0, ""
}

// lastFinite is a histogram's highest finite bucket bound: a quantile
// there means "at least this much".
func lastFinite(h *snapshot.Histogram) float64 {
	for i := len(h.Buckets) - 1; i >= 0; i-- {
		if !math.IsInf(h.Buckets[i].UpperBound, 1) {
			return h.Buckets[i].UpperBound
		}
	}
	return math.Inf(1)
}

// quantileName renders 0.99 as p99, 0.999 as p99.9.
func quantileName(q float64) string {
	return "p" + fmt.Sprintf("%g", q*100)
}
