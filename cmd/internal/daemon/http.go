package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
)

// Handler serves patrold's endpoints on one port:
//
//	/metrics           Prometheus self-metrics (own registry)
//	/healthz           200 while the process serves
//	/readyz            200 once the first full sweep is done, else 503
//	/report            the latest report as a self-contained HTML page
//	/api/v1/report     the latest report as JSON (the `patrol inspect -o json` schema)
//	/api/v1/findings   the latest findings as JSON, filtered by
//	                   ?check= (ID or family), ?severity= (at or above),
//	                   ?namespace=, ?state= (pending|firing|unknown|resolved)
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("/healthz", get(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	mux.HandleFunc("/readyz", get(func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready: waiting for the first full sweep", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	mux.HandleFunc("/report", get(func(w http.ResponseWriter, _ *http.Request) {
		r := d.Latest()
		if r == nil {
			http.Error(w, "no report yet: waiting for the first sweep", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := report.HTML(w, r); err != nil {
			d.log.Warn("cannot render the HTML report", "err", err)
		}
	}))
	mux.HandleFunc("/api/v1/report", get(func(w http.ResponseWriter, req *http.Request) {
		if bad := unknownParams(req.URL.Query()); bad != "" {
			http.Error(w, bad, http.StatusBadRequest)
			return
		}
		r := d.Latest()
		if r == nil {
			http.Error(w, "no report yet: waiting for the first sweep", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = report.JSON(w, r)
	}))
	mux.HandleFunc("/api/v1/findings", get(d.findings))
	if d.remediation != nil {
		d.remediation.engine.Register(mux, d.remediation.http)
	}
	mux.HandleFunc("/{$}", get(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "patrold — kubepatrol's inspection daemon\n\n/metrics\n/healthz\n/readyz\n/report\n/api/v1/report\n/api/v1/findings?check=&severity=&namespace=&state=\n"+d.remediationIndex())
	}))
	return mux
}

func (d *Daemon) remediationIndex() string {
	if d.remediation == nil {
		return ""
	}
	return "POST " + d.remediation.http.WebhookPath + " (Alertmanager webhook)\n/api/v1/evidence?state=&playbook=&target=&limit=\n/api/v1/evidence/{id}?format=json|markdown\nPOST /api/v1/evidence/{id}/approve\n/api/v1/remediation\nPOST /api/v1/remediation/pause|resume\n"
}

// Latest returns the latest report, or nil before the first sweep.
func (d *Daemon) Latest() *report.Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.latest
}

// FindingsResponse is the body of /api/v1/findings: the report's header
// and its findings, filtered. Each finding has the schema of a finding in
// `patrol inspect -o json`.
type FindingsResponse struct {
	Schema      string            `json:"schema"`
	Cluster     string            `json:"cluster"`
	CollectedAt time.Time         `json:"collectedAt"`
	SnapshotID  string            `json:"snapshotID"`
	TraceID     string            `json:"traceID,omitempty"`
	Filters     map[string]string `json:"filters,omitempty"`
	Findings    []checks.Finding  `json:"findings"`
}

var findingParams = map[string]bool{"check": true, "severity": true, "namespace": true, "state": true}

func (d *Daemon) findings(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	for k := range q {
		if !findingParams[k] {
			http.Error(w, fmt.Sprintf("unknown query parameter %q (known: check, severity, namespace, state)", k), http.StatusBadRequest)
			return
		}
		if len(q[k]) > 1 {
			http.Error(w, fmt.Sprintf("query parameter %q given %d times; give it once", k, len(q[k])), http.StatusBadRequest)
			return
		}
	}
	var minSev checks.Severity
	if s := q.Get("severity"); s != "" {
		var err error
		if minSev, err = checks.ParseSeverity(s); err != nil {
			http.Error(w, "severity: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	check := q.Get("check")
	if check != "" {
		if _, err := catalog.Select(catalog.All(), []string{check}, nil); err != nil {
			http.Error(w, "check: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	state := q.Get("state")
	switch state {
	case "", "pending", "firing", "unknown", "resolved":
	default:
		http.Error(w, fmt.Sprintf("state: unknown state %q (want pending, firing, unknown or resolved)", state), http.StatusBadRequest)
		return
	}
	ns := q.Get("namespace")

	r := d.Latest()
	if r == nil {
		http.Error(w, "no report yet: waiting for the first sweep", http.StatusServiceUnavailable)
		return
	}
	var pool []checks.Finding
	if state == "resolved" {
		d.mu.Lock()
		for _, t := range d.life.InState(analysis.Resolved) {
			f := t.Finding
			at := *t.ResolvedAt
			f.Evidence = append(f.Evidence[:len(f.Evidence):len(f.Evidence)], checks.Evidence{
				Type: EvLifecycle, Path: "state", Value: string(analysis.Resolved), Time: &at,
				Message: "resolved at " + at.Format(time.RFC3339) + " (first seen " + t.ActiveAt.Format(time.RFC3339) + ")",
			})
			pool = append(pool, f)
		}
		d.mu.Unlock()
	} else {
		pool = r.Findings
	}
	out := FindingsResponse{
		Schema: report.Schema, Cluster: r.Cluster, CollectedAt: r.CollectedAt, SnapshotID: r.SnapshotID, TraceID: r.TraceID,
		Findings: []checks.Finding{},
	}
	for k := range q {
		if out.Filters == nil {
			out.Filters = map[string]string{}
		}
		out.Filters[k] = q.Get(k)
	}
	for _, f := range pool {
		if check != "" && !matchCheck(check, f.Check) {
			continue
		}
		if minSev != "" && f.Severity.Rank() < minSev.Rank() {
			continue
		}
		if ns != "" && f.Object.Namespace != ns {
			continue
		}
		if state != "" && state != "resolved" && stateOf(&f) != state {
			continue
		}
		out.Findings = append(out.Findings, f)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// matchCheck matches a check ID against an ID or a family ("pod" or
// "pod."), as catalog.Select does.
func matchCheck(sel, id string) bool {
	sel = strings.TrimSuffix(sel, "*")
	return id == sel || strings.HasPrefix(id, strings.TrimSuffix(sel, ".")+".")
}

func unknownParams(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	var ks []string
	for k := range q {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return fmt.Sprintf("unknown query parameter %q (this endpoint takes none)", ks[0])
}

// get allows GET and HEAD only.
func get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}
