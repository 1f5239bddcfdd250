package node

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// KubeletVersionSkew fires on kubelets outside the version skew policy:
// newer than kube-apiserver, or more minor versions older than supported.
var KubeletVersionSkew = checks.New(checks.Meta{
	ID:    "node.kubelet_version_skew",
	Title: "Kubelet version outside the supported skew",
	Description: "The node's kubelet is newer than the API server, or more minor versions older than the version skew policy allows (3 since Kubernetes 1.28). " +
		"Unsupported pairs break in subtle ways (API fields dropped, features half-enabled) and block the next control-plane upgrade.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindNode},
	Params: []checks.Param{
		{Name: "max_minor_skew", Type: checks.Int, Default: "3",
			Description: "how many minor versions a kubelet may lag behind kube-apiserver (3 since 1.28, 2 before)"},
	},
	Remedy:   "Upgrade the node's kubelet (or replace the node from a current image) to within the supported skew of the control plane; never upgrade kubelets before the API server.",
	Priority: 30,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	server, src, ok := apiServerVersion(env)
	if !ok {
		// A recorded dump without the server version nor a kube-apiserver
		// pod: nothing to compare with.
		return nil
	}
	maxSkew := env.Params.Int("max_minor_skew")
	var out []checks.Finding
	for i := range env.Snap.Nodes {
		n := &env.Snap.Nodes[i]
		if virtualNode(n) {
			continue // no kubelet: the version is whatever the provider or simulator reports
		}
		kv, ok := parseVersion(n.KubeletVersion)
		if !ok || kv.major != server.major {
			continue
		}
		var reason, msg string
		switch lag := server.minor - kv.minor; {
		case lag < 0:
			reason = "KubeletNewerThanAPIServer"
			msg = fmt.Sprintf("kubelet %s on node %s is newer than the API server %s: kubelets must not be newer than kube-apiserver",
				n.KubeletVersion, n.Name, server.raw)
		case lag > maxSkew:
			reason = "KubeletTooOld"
			msg = fmt.Sprintf("kubelet %s on node %s is %d minor versions behind the API server %s; the supported skew is %d",
				n.KubeletVersion, n.Name, lag, server.raw, maxSkew)
		default:
			continue
		}
		f := env.Finding(checks.Ref(snapshot.KindNode, &n.Meta), reason, msg,
			checks.Evidence{Type: checks.EvField, Path: "status.nodeInfo.kubeletVersion", Value: n.KubeletVersion},
			checks.Evidence{Type: checks.EvField, Path: "apiserver.version", Value: server.raw, Source: src},
			checks.Evidence{Type: checks.EvThreshold, Path: "max_minor_skew", Value: strconv.Itoa(maxSkew),
				Message: "kubelet may be at most this many minor versions older than kube-apiserver, never newer"})
		f.Node = n.Name
		out = append(out, f)
	}
	return out
})

// version is a parsed Kubernetes version.
type version struct {
	major, minor, patch int
	raw                 string
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// parseVersion reads major.minor[.patch] from a Kubernetes version string,
// ignoring vendor suffixes: "v1.32.2", "v1.30.4+k3s1", "v1.29.8-eks-a737599",
// "v1.30.5-gke.1014001", "1.28".
func parseVersion(s string) (version, bool) {
	s = strings.TrimSpace(s)
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	v := version{raw: s}
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.patch, _ = strconv.Atoi(m[3])
	}
	return v, true
}

// apiServerVersion returns the server version the snapshot recorded, or,
// for recorded dumps that have none, the oldest kube-apiserver static pod's
// image tag (the skew policy is relative to the oldest API server).
func apiServerVersion(env *checks.Env) (version, string, bool) {
	if v, ok := parseVersion(env.Snap.Version); ok {
		return v, "snapshot (GET /version)", true
	}
	var best version
	var src string
	found := false
	for _, p := range env.Index.PodsByNamespace["kube-system"] {
		if p.Labels["component"] != "kube-apiserver" && !strings.HasPrefix(p.Name, "kube-apiserver-") {
			continue
		}
		for _, c := range p.Containers {
			if c.Name != "kube-apiserver" {
				continue
			}
			_, tag, ok := cutTag(c.Image)
			if !ok {
				continue
			}
			v, ok := parseVersion(tag)
			if !ok {
				continue
			}
			if !found || v.minor < best.minor || (v.minor == best.minor && v.patch < best.patch) {
				best, src, found = v, "image of pod kube-system/"+p.Name, true
			}
		}
	}
	return best, src, found
}

// cutTag splits "registry:5000/kube-apiserver:v1.32.2@sha256:…" into
// repository and tag.
func cutTag(image string) (repo, tag string, ok bool) {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image, "", false
	}
	return image[:i], image[i+1:], true
}
