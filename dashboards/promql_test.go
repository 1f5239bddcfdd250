package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// How PromQL is validated here, and why so.
//
// Syntax: every expression is written into a temporary rule file, one rule
// group per expression named after where it comes from, and checked with
// `promtool check rules`, which parses it with Prometheus's own parser and
// names the group of every error. The alternative, importing
// github.com/prometheus/prometheus/promql/parser, would add the Prometheus
// module to go.mod for a test: `go mod tidy` then grows the module graph
// from ~250 to ~345 modules and the module cache by about 0.8 GB (see
// ../shared/DEPENDENCIES.md), and pins a Prometheus version that also
// constrains k8s.io/*. promtool is already required by the rules tests.
//
// Metric names: a small PromQL tokenizer (metricNames below) finds the
// metric names an expression selects: identifiers outside label matchers
// and grouping clauses that are not keywords, functions or aggregations,
// plus {__name__="..."} matchers. It needs no promtool, so that half runs
// everywhere. Every name must be exported by patrold (the list below, which
// mirrors the daemon's registry), recorded by rules/prometheus, or one of
// a few standard series.

// exported are the metrics patrold exports, with their types. Histograms
// are selected through their _bucket, _sum and _count series.
var exported = map[string]string{
	"patrol_sweep_duration_seconds":                       "histogram",
	"patrol_sweeps_total":                                 "counter",
	"patrol_last_successful_sweep_timestamp_seconds":      "gauge",
	"patrol_check_duration_seconds":                       "histogram",
	"patrol_check_runs_total":                             "counter",
	"patrol_findings":                                     "gauge",
	"patrol_health_score":                                 "gauge",
	"patrol_collector_errors_total":                       "counter",
	"patrol_config_last_reload_successful":                "gauge",
	"patrol_config_last_reload_success_timestamp_seconds": "gauge",
	"patrol_leader":                                       "gauge",
	"patrol_build_info":                                   "gauge",
	"patrol_events_emitted_total":                         "counter",
	"patrol_remediation_actions_total":                    "counter",
	"patrol_remediation_guard_refusals_total":             "counter",
	"patrol_remediation_pending_approvals":                "gauge",
}

// standard are the series from elsewhere that dashboards and rules may
// use, each with its source. Add to it deliberately.
var standard = map[string]string{
	"up":                            "Prometheus (scrape health)",
	"ALERTS":                        "Prometheus (alert state)",
	"ALERTS_FOR_STATE":              "Prometheus (alert state)",
	"scrape_duration_seconds":       "Prometheus (scrape)",
	"process_resident_memory_bytes": "client_golang's process collector, which patrold registers",
	"process_cpu_seconds_total":     "client_golang's process collector, which patrold registers",
	"kube_deployment_status_replicas_available": "kube-state-metrics",
	"kube_deployment_spec_replicas":             "kube-state-metrics",
}

// query is one PromQL expression and where it was found.
type query struct {
	Where string
	Expr  string
}

// expressions returns every PromQL expression of a dashboard: panel
// targets (nested rows included), annotation queries, and the series
// selectors of label_values() template variables.
func expressions(t *testing.T, d dashboard) []query {
	t.Helper()
	var out []query
	for _, p := range panels(d.Raw) {
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			m, _ := tg.(map[string]any)
			expr, _ := m["expr"].(string)
			if strings.TrimSpace(expr) == "" {
				t.Errorf("%s: panel %q query %v has no expr", d.File, p["title"], m["refId"])
				continue
			}
			out = append(out, query{fmt.Sprintf("%s: panel %q query %v", d.File, p["title"], m["refId"]), expr})
		}
	}
	anns, _ := d.Raw["annotations"].(map[string]any)
	list, _ := anns["list"].([]any)
	for _, a := range list {
		m, _ := a.(map[string]any)
		if expr, _ := m["expr"].(string); expr != "" {
			out = append(out, query{fmt.Sprintf("%s: annotation %q", d.File, m["name"]), expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Definition
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &obj) == nil && obj.Query != "" {
			if q != "" && obj.Query != q {
				t.Errorf("%s: variable %s: definition %q and query %q differ", d.File, v.Name, q, obj.Query)
			}
			q = obj.Query
		}
		sel, err := labelValuesSelector(q)
		if err != nil {
			t.Errorf("%s: variable %s: %v", d.File, v.Name, err)
			continue
		}
		if sel != "" {
			out = append(out, query{fmt.Sprintf("%s: variable %s", d.File, v.Name), sel})
		}
	}
	return out
}

// labelValuesSelector returns the series selector of Grafana's
// label_values(selector, label), or "" for label_values(label).
func labelValuesSelector(q string) (string, error) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ")") {
		return "", fmt.Errorf("%q: want label_values(selector, label)", q)
	}
	inner := q[len("label_values(") : len(q)-1]
	depth, quote := 0, byte(0)
	last := -1
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{' || c == '(' || c == '[':
			depth++
		case c == '}' || c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			last = i
		}
	}
	if last < 0 {
		return "", nil
	}
	return strings.TrimSpace(inner[:last]), nil
}

// ruleQueries returns the expr of every rule in ../rules/prometheus.
func ruleQueries(t *testing.T) (qs []query, recorded map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "rules", "prometheus", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	recorded = map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				name := r.Alert
				if r.Record != "" {
					name = r.Record
					recorded[r.Record] = true
				}
				qs = append(qs, query{fmt.Sprintf("%s: group %s rule %s", filepath.Base(f), g.Name, name), r.Expr})
			}
		}
	}
	if len(qs) == 0 {
		t.Fatal("no rules found in ../rules/prometheus")
	}
	return qs, recorded
}

func allQueries(t *testing.T) (qs []query, recorded map[string]bool) {
	t.Helper()
	for _, d := range loadDashboards(t) {
		qs = append(qs, expressions(t, d)...)
	}
	rq, recorded := ruleQueries(t)
	return append(qs, rq...), recorded
}

var grafanaVarRef = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))`)

// toPromQL replaces Grafana's variables so that the expression is plain
// PromQL: interval macros by durations, the _s/_ms macros by numbers, and
// any other variable (which belongs in a label matcher's string) by ".*".
// A variable used anywhere else then fails to parse, as it should.
func toPromQL(expr string) string {
	return grafanaVarRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVarRef.FindStringSubmatch(m)
		switch name := sub[1] + sub[2]; name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__range_s", "__interval_ms", "__range_ms":
			return "300"
		default:
			return ".*"
		}
	})
}

// promtool returns promtool's path, skipping the test without it unless
// KUBEPATROL_REQUIRE_PROMTOOL is set (CI sets it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("KUBEPATROL_REQUIRE_PROMTOOL") != "" {
		t.Fatalf("promtool not found and KUBEPATROL_REQUIRE_PROMTOOL is set: install Debian's prometheus package (make deps): %v", err)
	}
	t.Skip("promtool not found: install Debian's prometheus package (make deps) to parse the PromQL; " +
		"set KUBEPATROL_REQUIRE_PROMTOOL=1 to make this a failure")
	return ""
}

// parseWithPromtool checks that every expression parses, with Prometheus's
// parser through `promtool check rules`. It returns promtool's report.
func parseWithPromtool(t *testing.T, qs []query) (string, error) {
	t.Helper()
	bin := promtool(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	var file struct {
		Groups []group `yaml:"groups"`
	}
	for i, q := range qs {
		file.Groups = append(file.Groups, group{
			Name:  fmt.Sprintf("%03d %s", i, q.Where),
			Rules: []rule{{Record: fmt.Sprintf("kubepatrol_validate:expr_%03d", i), Expr: toPromQL(q.Expr)}},
		})
	}
	data, err := yaml.Marshal(&file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "expressions.rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "check", "rules", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestPromQLParses: every expression of the dashboards and rules parses.
func TestPromQLParses(t *testing.T) {
	qs, _ := allQueries(t)
	out, err := parseWithPromtool(t, qs)
	if err != nil {
		t.Fatalf("promtool check rules on the %d expressions of dashboards/ and rules/prometheus/: %v\n%s", len(qs), err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(qs)); !strings.Contains(out, want) {
		t.Fatalf("promtool: want %q, got:\n%s", want, out)
	}
	t.Logf("%d expressions parse", len(qs))
}

// TestPromtoolRejectsBadPromQL: the promtool path does report a syntax
// error, with the expression's origin.
func TestPromtoolRejectsBadPromQL(t *testing.T) {
	out, err := parseWithPromtool(t, []query{
		{"good", `sum by (cluster) (patrol_health_score)`},
		{"unclosed", `sum(rate(patrol_sweeps_total[$__rate_interval])`},
		{"variable outside a string", `topk($cluster, patrol_health_score)`},
	})
	if err == nil {
		t.Fatalf("promtool accepted invalid PromQL:\n%s", out)
	}
	for _, want := range []string{`"001 unclosed"`, `"002 variable outside a string"`} {
		if !strings.Contains(out, want) {
			t.Errorf("promtool output does not name %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"000 good"`) {
		t.Errorf("promtool reported the valid expression:\n%s", out)
	}
}

// TestPromQLMetricsExist: every metric an expression selects is exported
// by patrold, recorded by the rules, or a known standard series.
func TestPromQLMetricsExist(t *testing.T) {
	qs, recorded := allQueries(t)
	for _, q := range qs {
		for _, err := range checkMetrics(toPromQL(q.Expr), recorded) {
			t.Errorf("%s: %v\n    %s", q.Where, err, q.Expr)
		}
	}
}

// TestUnknownMetricIsRejected: the metric check does catch a made-up
// name, a bare histogram name and a __name__ regex.
func TestUnknownMetricIsRejected(t *testing.T) {
	recorded := map[string]bool{"cluster:patrol_health_score:max": true}
	for expr, want := range map[string]string{
		`sum(rate(patrol_sweeps_totl{job="patrold"}[5m]))`:                     `unknown metric "patrol_sweeps_totl"`,
		`max by (cluster) (patrol_made_up_score) > 1`:                          `unknown metric "patrol_made_up_score"`,
		`histogram_quantile(0.9, rate(patrol_check_duration_seconds[5m]))`:     `histogram "patrol_check_duration_seconds"`,
		`cluster:patrol_health_score:min`:                                      `unknown metric "cluster:patrol_health_score:min"`,
		`count({__name__=~"patrol_.*"})`:                                       `__name__ matcher`,
		`kube_deployment_status_replicas_availble{deployment="patrold"}`:       `unknown metric "kube_deployment_status_replicas_availble"`,
		`patrol_findings{severity="critical"} and on (cluster) fake_up_metric`: `unknown metric "fake_up_metric"`,
	} {
		errs := checkMetrics(expr, recorded)
		if len(errs) == 0 {
			t.Errorf("%s: accepted, want an error containing %q", expr, want)
			continue
		}
		if msg := errors.Join(errs...).Error(); !strings.Contains(msg, want) {
			t.Errorf("%s: error %q, want it to contain %q", expr, msg, want)
		}
	}
	for _, expr := range []string{
		`histogram_quantile(0.99, sum by (le) (rate(patrol_check_duration_seconds_bucket[5m])))`,
		`cluster:patrol_health_score:max < 60`,
		`absent(up{job="patrold"})`,
	} {
		if errs := checkMetrics(expr, recorded); len(errs) > 0 {
			t.Errorf("%s: %v", expr, errors.Join(errs...))
		}
	}
}

// TestEveryExportedMetricIsCharted: each metric patrold exports appears on
// at least one dashboard.
func TestEveryExportedMetricIsCharted(t *testing.T) {
	used := map[string]bool{}
	for _, d := range loadDashboards(t) {
		for _, q := range expressions(t, d) {
			names, err := metricNames(toPromQL(q.Expr))
			if err != nil {
				continue // reported by TestPromQLMetricsExist
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}
	var missing []string
	for m, typ := range exported {
		if used[m] || typ == "histogram" && (used[m+"_bucket"] || used[m+"_count"] || used[m+"_sum"]) {
			continue
		}
		missing = append(missing, m)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exported metrics on no dashboard: %s", strings.Join(missing, ", "))
	}
}

// checkMetrics returns an error for each metric name in expr that is not
// exported, recorded or standard.
func checkMetrics(expr string, recorded map[string]bool) []error {
	names, err := metricNames(expr)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, n := range names {
		if typ, ok := exported[n]; ok {
			if typ == "histogram" {
				errs = append(errs, fmt.Errorf("histogram %q has no series of that name: select %s_bucket, _sum or _count", n, n))
			}
			continue
		}
		if base, ok := histogramBase(n); ok && exported[base] == "histogram" {
			continue
		}
		if recorded[n] || standard[n] != "" {
			continue
		}
		errs = append(errs, fmt.Errorf("unknown metric %q: not exported by patrold, not recorded by rules/prometheus, not in the standard list", n))
	}
	return errs
}

func histogramBase(name string) (string, bool) {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b, true
		}
	}
	return "", false
}

// PromQL words that are not metric names.
var (
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	groupingKeywords = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	aggregations = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true,
	}
)

// token is one PromQL token: kind is 'i' (identifier), 's' (string), 'n'
// (number or duration) or the punctuation character itself.
type token struct {
	kind byte
	text string
}

// lexPromQL splits expr into tokens. It knows just enough of PromQL for
// metricNames: strings with escapes, comments, numbers and durations,
// identifiers (with colons), and single-character punctuation.
func lexPromQL(expr string) ([]token, error) {
	var toks []token
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			toks = append(toks, token{'s', expr[i+1 : j]})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			j := i + 1
			for j < len(expr) && (isIdent(expr[j]) || expr[j] == '.' ||
				(expr[j] == '+' || expr[j] == '-') && (expr[j-1] == 'e' || expr[j-1] == 'E') && !strings.ContainsAny(expr[i:j], "xX")) {
				j++
			}
			toks = append(toks, token{'n', expr[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			toks = append(toks, token{'i', expr[i:j]})
			i = j
		default:
			toks = append(toks, token{c, string(c)})
			i++
		}
	}
	return toks, nil
}

// metricNames returns the distinct metric names expr selects, in order of
// appearance.
func metricNames(expr string) ([]string, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	// skip returns the index just past the bracket that closes toks[i].
	skip := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(toks); j++ {
			switch toks[j].kind {
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %q", string(open))
	}
	for i := 0; i < len(toks); {
		tk := toks[i]
		switch tk.kind {
		case '{':
			end, err := skip(i, '{', '}')
			if err != nil {
				return nil, err
			}
			// label matchers: only __name__ names a metric
			for j := i + 1; j < end-1; j++ {
				if toks[j].kind != 'i' || toks[j].text != "__name__" {
					continue
				}
				if j+2 < end && toks[j+1].kind == '=' && toks[j+2].kind == 's' {
					add(toks[j+2].text)
					continue
				}
				return nil, fmt.Errorf("__name__ matcher other than __name__=\"name\": the metric cannot be checked, select it by name")
			}
			i = end
		case '[':
			end, err := skip(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = end
		case 'i':
			next := byte(0)
			if i+1 < len(toks) {
				next = toks[i+1].kind
			}
			lower := strings.ToLower(tk.text)
			switch {
			case groupingKeywords[tk.text] && next == '(':
				end, err := skip(i+1, '(', ')')
				if err != nil {
					return nil, err
				}
				i = end
				continue
			case promqlKeywords[tk.text], aggregations[tk.text], lower == "inf", lower == "nan":
			case next == '(':
				// a function call, including start() and end() after @
			default:
				add(tk.text)
			}
			i++
		default:
			i++
		}
	}
	return names, nil
}

// TestMetricNames: the tokenizer finds the metric names and nothing else.
func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`rate(patrol_sweeps_total{job="patrold", result="success"}[5m])`, []string{"patrol_sweeps_total"}},
		{`sum by (cluster, group) (a) / on (cluster) group_left (version) b`, []string{"a", "b"}},
		{`sum(a) without (instance) > ignoring (job) b`, []string{"a", "b"}},
		{`{__name__="up", job="x"}`, []string{"up"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m:1m])))`, []string{"h_bucket"}},
		{`time() - max(b offset 1h30m) @ end()`, []string{"b"}},
		{`label_replace(c, "dst", "$1", "src", "(.*)")`, []string{"c"}},
		{`x > bool 3 unless y and z or w`, []string{"x", "y", "z", "w"}},
		{`topk(5, count_values("version", v)) or vector(0)`, []string{"v"}},
		{`NaN + Inf + 1e-3 + 0x1F + .5`, nil},
		{"# a comment mentioning not_a_metric\nfoo", []string{"foo"}},
		{`absent(up{job="patrold"} == 1) or on () absent(up{job='p"q'})`, []string{"up"}},
		{`level:metric:operations{by="on"} * atan2 other`, []string{"level:metric:operations", "other"}},
		{`sum by (le) (x) and on() group_right y`, []string{"x", "y"}},
		{"`raw ${string}` and clamp(z, 0, 1)", []string{"z"}},
	} {
		got, err := metricNames(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`foo{a="b"`, `x[5m`, `"unterminated`, `{__name__!="x"}`} {
		if got, err := metricNames(bad); err == nil {
			t.Errorf("%s: got %q, want an error", bad, got)
		}
	}
}
