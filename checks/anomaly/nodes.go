package anomaly

import (
	"github.com/kubepatrol/patrol/checks"
)

// nodeObject resolves a node_exporter series to the cluster Node it runs
// on: by a node or nodename label, by node_uname_info's nodename for the
// same instance, or by the instance's host against node names and
// internal IPs; a host that is not a node of the cluster is a Host. It is
// the rule the metric checks use (checks/metrics), so that the findings of
// both land on the same object.
func nodeObject(env *checks.Env, uname, labels map[string]string) (checks.ObjectRef, string) {
	return checks.NodeOf(env, labels, uname)
}

// unameMap maps node_exporter instances to their host names
// (node_uname_info's nodename).
func unameMap(env *checks.Env) map[string]string {
	m := map[string]string{}
	for _, s := range history(env, "node_uname_info") {
		if n := s.Labels["nodename"]; n != "" {
			m[s.Labels["instance"]] = n
		}
	}
	return m
}
