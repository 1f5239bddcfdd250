package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ClientCertExpiring fires when clients authenticate to the API server
// with certificates about to expire (kubernetes-mixin
// KubeClientCertificateExpiration: the 1st percentile of the remaining
// lifetime below 7 days warns, below 1 day is critical).
var ClientCertExpiring = checks.New(checks.Meta{
	ID:    "controlplane.client_cert_expiring",
	Title: "Client certificates about to expire",
	Description: "Some clients present certificates to the API server that expire soon: the `quantile` of the remaining lifetime of the client " +
		"certificates seen in the window (apiserver_client_certificate_expiration_seconds) is below `warning` (critical below `critical`), " +
		"as kubernetes-mixin's KubeClientCertificateExpiration (1st percentile below 7 days / 1 day). These are usually kubelets whose " +
		"certificate rotation is off or broken, or kubeconfigs of components and people issued by hand; they lose access when it expires. " +
		"Needs a window of requests (Prometheus, or two scrapes): lifetime totals of a single scrape would remember certificates long since rotated.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindMetricsAPIServer},
	Params: []checks.Param{
		{Name: "quantile", Type: checks.Float, Default: "0.01", Description: "quantile of the remaining lifetime compared with the thresholds (kubernetes-mixin: 1st percentile)"},
		{Name: "warning", Type: checks.Duration, Default: "7d", Description: "remaining lifetime below which the check warns"},
		{Name: "critical", Type: checks.Duration, Default: "1d", Description: "remaining lifetime below which the check is critical"},
	},
	Remedy: "Find the client: the API server logs the user of each request at -v=3+, or check kubelets (kubeadm certs check-expiration; " +
		"ls /var/lib/kubelet/pki on nodes; rotateCertificates: true in the kubelet config) and renew the certificate before it expires.",
	Priority: 60,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	hs := histograms(env, "apiserver_client_certificate_expiration_seconds")
	q := env.Params.Float("quantile")
	warn, crit := env.Params.Duration("warning").Seconds(), env.Params.Duration("critical").Seconds()
	for _, h := range hs {
		if h.Window == 0 || h.Total() <= 0 {
			continue
		}
		p := h.Quantile(q)
		if math.IsNaN(p) || p >= warn {
			continue
		}
		below := h.Total() * (1 - h.FractionAbove(warn))
		msg := fmt.Sprintf("client certificates presented to the API server %s expire within %s (%s of %s requests used one with less than %s left): those clients will lose access",
			window(h.Covered(), false), node.Round(secondsDur(math.Max(p, 0))), count(below), count(h.Total()), node.Round(secondsDur(warn)))
		f := env.Finding(cluster(env), "KubeClientCertificateExpiration", msg,
			histEvidence(h, fmt.Sprintf("p%g=%s", q*100, node.Round(secondsDur(math.Max(p, 0)))), "remaining lifetime of client certificates at request time"),
			threshold("warning", node.Round(secondsDur(warn)), "critical below "+node.Round(secondsDur(crit))))
		if p < crit {
			f.Severity = checks.Critical
		}
		return []checks.Finding{f}
	}
	return nil
})
