package anomaly

import (
	"net"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// nodeObject resolves a node_exporter series to the cluster Node it runs
// on: by a node or nodename label, by node_uname_info's nodename for the
// same instance, or by the instance's host against node names and
// internal IPs; a host that is not a node of the cluster is a Host. It is
// the rule the metric checks use (checks/metrics), so that the findings of
// both land on the same object.
func nodeObject(env *checks.Env, uname, labels map[string]string) (checks.ObjectRef, string) {
	var cands []string
	for _, k := range []string{"node", "nodename", "kubernetes_node"} {
		if v := labels[k]; v != "" {
			cands = append(cands, v)
		}
	}
	inst := labels["instance"]
	if n := uname[inst]; n != "" {
		cands = append(cands, n)
	}
	host := inst
	if h, _, err := net.SplitHostPort(inst); err == nil {
		host = h
	}
	if host != "" {
		cands = append(cands, host)
	}
	for _, c := range cands {
		if n := env.Index.Nodes[c]; n != nil {
			return checks.Ref(snapshot.KindNode, &n.Meta), n.Name
		}
		if i := strings.IndexByte(c, '.'); i > 0 {
			if n := env.Index.Nodes[c[:i]]; n != nil {
				return checks.Ref(snapshot.KindNode, &n.Meta), n.Name
			}
		}
	}
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if host != "" && n.InternalIP == host {
			return checks.Ref(snapshot.KindNode, &n.Meta), n.Name
		}
	}
	name := inst
	if len(cands) > 0 && cands[0] != host {
		name = cands[0]
	}
	if name == "" {
		name = "unknown"
	}
	return checks.ObjectRef{Kind: "Host", Name: name}, ""
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
