// Package dashboards holds kubepatrol's Grafana dashboards as JSON files:
// fleet.json (health score by cluster and namespace, findings, the daemon,
// remediation) and checks.json (check and sweep durations and results,
// collector errors, staleness). Import them into Grafana and pick a
// Prometheus data source; they select the scrape job job="patrold".
//
// The package has no Go code of its own. Its tests hold the dashboards to
// the project's rules: every file parses, UIDs are unique, the data source
// is the ${datasource} variable everywhere, every template variable is used
// and defined, and every PromQL expression here and in rules/prometheus/
// parses (with promtool, Prometheus's own parser) and selects only metrics
// that kubepatrol exports, that its recording rules record, or a short list
// of standard Prometheus and kube-state-metrics series.
package dashboards
