package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

const sli = "apiserver_request_sli_duration_seconds"

func sliHist(verb, scope, resource string, at map[float64]float64) snapshot.Histogram {
	return hist(sli, ls("verb", verb, "scope", scope, "resource", resource), 5*time.Minute, sliBounds, obs(sliBounds, at))
}

func TestAPIServerLatency(t *testing.T) {
	healthy := []snapshot.Histogram{
		sliHist("GET", "resource", "pods", map[float64]float64{0.05: 5000, 0.1: 20}),
		sliHist("LIST", "cluster", "pods", map[float64]float64{0.4: 100, 2: 5}),         // 5% at 2s: p99 well under 30s
		sliHist("LIST", "namespace", "configmaps", map[float64]float64{0.1: 300, 4: 2}), // p99 < 5s
		sliHist("PUT", "resource", "leases", map[float64]float64{0.05: 2000, 0.2: 10}),  // fast writes
		sliHist("POST", "namespace", "events", map[float64]float64{0.05: 500}),          // fast creates
		sliHist("LIST", "cluster", "secrets", map[float64]float64{45: 3}),               // slow but only 3 requests
		sliHist("DELETECOLLECTION", "namespace", "pods", map[float64]float64{60: 50}),   // outside the SLO
		sliHist("GET", "", "", map[float64]float64{math.Inf(1): 100}),                   // non-resource request
		sliHist("PATCH", "resource", "nodes", map[float64]float64{0.8: 991, 1.25: 9}),   // 0.9% slower than 1s: p99 within the SLO
	}
	slowList := sliHist("LIST", "cluster", "pods", map[float64]float64{0.4: 900, 45: 100})
	slowPatch := sliHist("PATCH", "resource", "nodes", map[float64]float64{0.1: 900, 2: 100})
	slowNSList := sliHist("LIST", "namespace", "configmaps", map[float64]float64{0.1: 100, 8: 50})
	huge := sliHist("LIST", "cluster", "events", map[float64]float64{0.4: 10, math.Inf(1): 90})
	old := hist("apiserver_request_duration_seconds", ls("verb", "GET", "scope", "resource", "resource", "pods"), 5*time.Minute,
		[]float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
		obs([]float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}, map[float64]float64{0.025: 50, 3: 50}))
	lifetimeSlow := slowPatch
	lifetimeSlow.Window, lifetimeSlow.Start = 0, ms(72*time.Hour)

	runCases(t, APIServerLatency, []tcase{
		{name: "healthy", snap: snap("prometheus", nil, healthy)},
		{name: "slow cluster list", snap: snap("prometheus", nil, append(healthy[1:], slowList)),
			want: expect{Reason: "KubeAPILatencyHigh", Severity: checks.Warning, Contains: []string{"p99 latency of LIST pods (cluster scope) is", "over the last 5m", "above the 30s SLO"}}},
		{name: "worst first, others listed", snap: snap("prometheus", nil, []snapshot.Histogram{slowList, slowPatch, slowNSList}),
			want: expect{Reason: "KubeAPILatencyHigh", Contains: []string{"PATCH nodes is", "above the 1s SLO", "also LIST configmaps (namespace scope)", "LIST pods (cluster scope)"}}},
		{name: "beyond the last bucket", snap: snap("prometheus", nil, []snapshot.Histogram{huge}),
			want: expect{Reason: "KubeAPILatencyHigh", Contains: []string{"is at least 60s"}}},
		{name: "raised threshold", snap: snap("prometheus", nil, []snapshot.Histogram{slowPatch}), params: map[string]string{"mutating": "3s"}},
		{name: "fallback histogram", snap: snap("prometheus", nil, []snapshot.Histogram{old}),
			want: expect{Reason: "KubeAPILatencyHigh", Contains: []string{"GET pods is"}}},
		{name: "lifetime histogram of a single scrape", snap: snap("scrape", nil, []snapshot.Histogram{lifetimeSlow}),
			want: expect{Reason: "KubeAPILatencyHigh", Contains: []string{"since the process started 3d ago"}}},
		{name: "prometheus preferred over scrape", snap: func() *snapshot.Snapshot {
			s := snap("prometheus", nil, []snapshot.Histogram{healthy[0]})
			sc := slowPatch
			sc.Source = "scrape"
			s.Metrics.Histograms = append(s.Metrics.Histograms, sc)
			return s
		}()},
	})
}

func codes(window time.Duration, perCode map[string][]float64) []snapshot.Series {
	var out []snapshot.Series
	for c, v := range perCode {
		out = append(out, rate("apiserver_request_total", ls("code", c), window, v...))
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestAPIServerErrors(t *testing.T) {
	five := 5 * time.Minute
	day3 := 864 // 3 days of 5-minute samples
	breakdown := []snapshot.Series{
		rate(snapshot.SeriesAPIServer5xx, ls("code", "503", "verb", "LIST", "resource", "pods"), time.Hour, 4),
		rate(snapshot.SeriesAPIServer5xx, ls("code", "500", "verb", "PATCH", "resource", "nodes"), time.Hour, 0.5),
	}
	// 3% of errors in the last 5 minutes only: the ratio fires, the burn rate does not
	spike := codes(five, map[string][]float64{"200": repeat(100, day3), "503": append(repeat(0, day3-1), 3.5)})
	// 20% of errors for the last 2 hours: 1h/5m burn at 20× the 1% budget
	burning := codes(five, map[string][]float64{"200": repeat(80, day3), "503": append(repeat(0, day3-24), repeat(20, 24)...)})
	// 2% of errors for 3 days: the 3d/6h window (1×) fires, and the ratio
	slowBurn := codes(five, map[string][]float64{"200": repeat(98, day3), "500": repeat(2, day3)})
	healthy := codes(five, map[string][]float64{"200": repeat(100, day3), "201": repeat(10, day3), "500": repeat(0.05, day3), "404": repeat(3, day3)})
	// only 40 minutes of history: no burn window is covered
	young := codes(five, map[string][]float64{"200": repeat(90, 8), "503": repeat(10, 8)})

	runCases(t, APIServerErrors, []tcase{
		{name: "healthy 3 days", snap: snap("prometheus", healthy, nil)},
		{name: "5xx spike", snap: snap("prometheus", append(spike, breakdown...), nil),
			want: expect{Reason: "KubeAPIErrorsHigh", Severity: checks.Critical, Contains: []string{"3.4% of API requests failed with 5xx over the last 5m", "failing: 503 LIST pods, 500 PATCH nodes"}}},
		{name: "fast burn", snap: snap("prometheus", burning, nil),
			want: expect{Reason: "KubeAPIErrorBudgetBurn", Severity: checks.Critical, Contains: []string{"burns its 99% availability error budget 20.0× too fast", "over the last 1h"}}},
		{name: "slow burn", snap: snap("prometheus", slowBurn, nil),
			want: expect{Reason: "KubeAPIErrorBudgetBurn", Severity: checks.Warning, Contains: []string{"over the last 3d and 2.0% over the last 6h"}}},
		{name: "slow burn with a laxer SLO", snap: snap("prometheus", slowBurn, nil), params: map[string]string{"slo": "0.95", "warning_ratio": "0.05"}},
		{name: "young prometheus: ratio only", snap: snap("prometheus", young, nil),
			want: expect{Reason: "KubeAPIErrorsHigh", Severity: checks.Critical, Contains: []string{"10% of API requests"}}},
		{name: "too few requests", snap: snap("prometheus", codes(five, map[string][]float64{"200": {0.1}, "500": {0.1}}), nil)},
		{name: "two scrapes", snap: snap("scrape", append(codes(10*time.Second, map[string][]float64{"200": {48}, "503": {2}}),
			rate(snapshot.SeriesAPIServer5xx, ls("code", "503", "verb", "GET", "resource", "leases"), 10*time.Second, 2)), nil),
			want: expect{Reason: "KubeAPIErrorsHigh", Severity: checks.Critical, Contains: []string{"4.0% of API requests failed with 5xx over the last 10s (20 of 500)", "503 GET leases"}}},
		{name: "lifetime totals", snap: snap("scrape", []snapshot.Series{
			counter("apiserver_request_total", ls("code", "200"), 48*time.Hour, 1e6),
			counter("apiserver_request_total", ls("code", "500"), 48*time.Hour, 25)}, nil)},
		{name: "lifetime totals failing", snap: snap("scrape", []snapshot.Series{
			counter("apiserver_request_total", ls("code", "200"), 48*time.Hour, 1e6),
			counter("apiserver_request_total", ls("code", "503"), 48*time.Hour, 2e4)}, nil),
			want: expect{Reason: "KubeAPIErrorsHigh", Severity: checks.Warning, Contains: []string{"since the process started 2d ago"}}},
	})
}

func TestAPIServerThrottling(t *testing.T) {
	five := 5 * time.Minute
	req := rate("apiserver_request_total", ls("code", "200"), five, 100)
	seats := func(pl string, limit float64, used ...float64) []snapshot.Series {
		return []snapshot.Series{
			gauge("apiserver_flowcontrol_current_limit_seats", ls("instance", "10.0.0.1:6443", "priority_level", pl), time.Minute, limit),
			gauge("apiserver_flowcontrol_current_executing_seats", ls("instance", "10.0.0.1:6443", "priority_level", pl), time.Minute, used...),
		}
	}
	healthy := append([]snapshot.Series{req,
		rate("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "workload-low", "flow_schema", "service-accounts", "reason", "queue-full"), five, 0.01)},
		append(seats("workload-low", 56, 10, 12, 30, 55, 20, 11), seats("exempt", 2, 2, 2, 2, 2, 2, 2)...)...)

	runCases(t, APIServerThrottling, []tcase{
		{name: "healthy: a few rejections, a seat spike, exempt at its nominal limit", snap: snap("prometheus", healthy, nil)},
		{name: "rejections", snap: snap("prometheus", append(healthy,
			rate("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "global-default", "flow_schema", "global-default", "reason", "time-out"), five, 0.5)), nil),
			want: expect{Reason: "APIPriorityAndFairnessRejected", Contains: []string{"rejected 153 requests over the last 5m", "priority level global-default (flow schema global-default, reason time-out)"}}},
		{name: "terminations", snap: snap("prometheus", []snapshot.Series{req,
			rate("apiserver_request_terminations_total", ls("verb", "LIST", "resource", "pods", "code", "429"), five, 40)}, nil),
			want: expect{Reason: "KubeAPITerminatedRequests", Contains: []string{"terminated 12000 of 42000 requests"}}},
		{name: "saturated priority level", snap: snap("prometheus", append([]snapshot.Series{req}, seats("workload-low", 56, 10, 56, 56, 55, 56, 56, 56, 56)...), nil),
			want: expect{Reason: "PriorityLevelSaturated", Contains: []string{"workload-low (56 of 56 seats on 10.0.0.1:6443"}}},
		{name: "rejections are counted as terminations too", snap: snap("scrape", []snapshot.Series{
			rate("apiserver_request_total", ls("code", "429"), 8*time.Second, 375),
			rate("apiserver_request_total", ls("code", "200"), 8*time.Second, 16),
			rate("apiserver_request_terminations_total", ls("verb", "LIST", "resource", "pods", "code", "429"), 8*time.Second, 375),
			rate("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "fault-apf-tiny", "flow_schema", "fault-apf-flood", "reason", "concurrency-limit"), 8*time.Second, 375)}, nil),
			want: expect{Reason: "APIPriorityAndFairnessRejected", Contains: []string{"rejected 3000 requests over the last 8s (96% of all requests), most at priority level fault-apf-tiny"}, Excludes: []string{"terminated"}}},
		{name: "one rejection between two scrapes", snap: snap("scrape", []snapshot.Series{
			rate("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "workload-low", "flow_schema", "x", "reason", "queue-full"), 10*time.Second, 0.1)}, nil)},
		{name: "old burst in lifetime totals", snap: snap("scrape", []snapshot.Series{
			counter("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "workload-low", "flow_schema", "x", "reason", "queue-full"), 72*time.Hour, 500)}, nil)},
		{name: "sustained lifetime rejections", snap: snap("scrape", []snapshot.Series{
			counter("apiserver_flowcontrol_rejected_requests_total", ls("priority_level", "workload-low", "flow_schema", "x", "reason", "queue-full"), 24*time.Hour, 100000)}, nil),
			want: expect{Reason: "APIPriorityAndFairnessRejected", Contains: []string{"per 5m on average since the process started 24h ago"}}},
	})
}

func TestClientCertExpiring(t *testing.T) {
	bounds := []float64{0, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 345600, 604800, 2592000, 7776000, 15552000, 31104000}
	certs := func(at map[float64]float64) snapshot.Histogram {
		return hist("apiserver_client_certificate_expiration_seconds", nil, 5*time.Minute, bounds, obs(bounds, at))
	}
	life := certs(map[float64]float64{43200: 50, 31104000: 1000})
	life.Window, life.Start = 0, ms(400*24*time.Hour)
	runCases(t, ClientCertExpiring, []tcase{
		{name: "long-lived certificates", snap: snap("prometheus", nil, []snapshot.Histogram{certs(map[float64]float64{31104000: 1000, math.Inf(1): 50})})},
		{name: "a few expire within days", snap: snap("prometheus", nil, []snapshot.Histogram{certs(map[float64]float64{345600: 30, 31104000: 1000})}),
			want: expect{Reason: "KubeClientCertificateExpiration", Severity: checks.Warning, Contains: []string{"expire within", "30 of 1030 requests"}}},
		{name: "expiring within hours", snap: snap("prometheus", nil, []snapshot.Histogram{certs(map[float64]float64{43200: 50, 31104000: 1000})}),
			want: expect{Reason: "KubeClientCertificateExpiration", Severity: checks.Critical}},
		{name: "lifetime totals are ignored", snap: snap("scrape", nil, []snapshot.Histogram{life})},
	})
}
