// Package network holds the checks over Services, EndpointSlices, cluster
// DNS and kube-proxy.
package network

import "github.com/kubepatrol/patrol/checks"

// Checks lists the network checks.
func Checks() []checks.Check {
	return []checks.Check{ServiceNoEndpoints, CoreDNSUnavailable, KubeProxyUnavailable}
}
