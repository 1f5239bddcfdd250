package checks

import (
	"net"
	"strings"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// NodeOf resolves a node_exporter series to the cluster Node it runs on:
// by a node or nodename label, by node_uname_info's nodename for the same
// instance, or by the instance's host against node names and internal IPs.
// A host that is not a node of the cluster is reported as kind Host.
func NodeOf(env *Env, labels map[string]string, uname map[string]string) (ObjectRef, string) {
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
			return Ref(snapshot.KindNode, &n.Meta), n.Name
		}
		if i := strings.IndexByte(c, '.'); i > 0 {
			if n := env.Index.Nodes[c[:i]]; n != nil {
				return Ref(snapshot.KindNode, &n.Meta), n.Name
			}
		}
	}
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if host != "" && n.InternalIP == host {
			return Ref(snapshot.KindNode, &n.Meta), n.Name
		}
	}
	name := inst
	if len(cands) > 0 && cands[0] != host {
		name = cands[0]
	}
	if name == "" {
		name = "unknown"
	}
	return ObjectRef{Kind: "Host", Name: name}, ""
}
