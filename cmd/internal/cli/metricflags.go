package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepatrol/patrol/checks/anomaly"
	"github.com/kubepatrol/patrol/collectors/prom"
)

// metricFlags are the metric sources of inspect and snapshot save.
type metricFlags struct {
	promURL, promTokenFile, promCA, promMatchers string
	promInsecure                                 bool
	scrape                                       []string
	interval                                     time.Duration
	insecure                                     bool
}

func (m *metricFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.promURL, "prometheus-url", "", "read control-plane and node metrics from this Prometheus (e.g. http://prometheus:9090)")
	f.StringVar(&m.promTokenFile, "prometheus-token-file", "", "bearer token file for --prometheus-url")
	f.StringVar(&m.promCA, "prometheus-ca-file", "", "CA certificate file for --prometheus-url")
	f.BoolVar(&m.promInsecure, "prometheus-insecure-skip-verify", false, "do not verify the Prometheus server's certificate")
	f.StringVar(&m.promMatchers, "prometheus-matchers", "", `label matchers added to every query when one Prometheus holds several clusters, e.g. cluster="prod-eu1"`)
	f.StringArrayVar(&m.scrape, "scrape", nil, "scrape /metrics directly: apiserver (through the kubeconfig), or etcd=URL, scheduler=URL, controller-manager=URL (repeatable)")
	f.DurationVar(&m.interval, "scrape-interval", 10*time.Second, "time between the two scrapes that give rates (0: one scrape, lifetime totals)")
	f.BoolVar(&m.insecure, "scrape-insecure-skip-verify", false, "do not verify the certificates of scraped URLs (scheduler and controller-manager serve self-signed ones)")
}

func (m *metricFlags) prometheus() prom.Options {
	return prom.Options{URL: m.promURL, BearerTokenFile: m.promTokenFile, CAFile: m.promCA,
		InsecureSkipVerify: m.promInsecure, Matchers: m.promMatchers,
		// The anomaly checks need each signal's history, not just its
		// latest values.
		Extra: anomaly.Signals}
}
