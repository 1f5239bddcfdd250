// Package controlplane holds the cluster-wide checks: control-plane
// leases and health, admission webhooks, aggregated APIs, namespace
// deletion, quotas, certificates and event bursts.
package controlplane

import "github.com/kubepatrol/patrol/checks"

// Checks lists the control-plane and cluster checks.
func Checks() []checks.Check {
	return []checks.Check{
		LeaderLeaseStale, WebhookServiceUnavailable, APIServiceUnavailable, NamespaceStuckTerminating,
		QuotaNearLimit, QuotaExceeded, WarningBurst,
		APIServerUnhealthy, CertificateExpiring,
	}
}
