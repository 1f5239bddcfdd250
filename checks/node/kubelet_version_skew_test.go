package node

import (
	"context"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in                  string
		major, minor, patch int
		ok                  bool
	}{
		{"v1.32.2", 1, 32, 2, true},
		{"v1.30.4+k3s1", 1, 30, 4, true},
		{"v1.29.8-eks-a737599", 1, 29, 8, true},
		{"v1.30.5-gke.1014001", 1, 30, 5, true},
		{"v1.31.1+rke2r1", 1, 31, 1, true},
		{"1.28", 1, 28, 0, true},
		{" v1.27.16 ", 1, 27, 16, true},
		{"fake", 0, 0, 0, false},
		{"kwok-v0.6.1", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		v, ok := parseVersion(tt.in)
		if ok != tt.ok || v.major != tt.major || v.minor != tt.minor || v.patch != tt.patch {
			t.Errorf("parseVersion(%q) = %d.%d.%d %v, want %d.%d.%d %v", tt.in, v.major, v.minor, v.patch, ok, tt.major, tt.minor, tt.patch, tt.ok)
		}
	}
}

func TestCutTag(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"registry.k8s.io/kube-apiserver:v1.32.2", "registry.k8s.io/kube-apiserver", "v1.32.2"},
		{"localhost:5000/kube-apiserver:v1.31.0", "localhost:5000/kube-apiserver", "v1.31.0"},
		{"registry.k8s.io/kube-apiserver:v1.32.2@sha256:abcd", "registry.k8s.io/kube-apiserver", "v1.32.2"},
		{"localhost:5000/kube-apiserver", "localhost:5000/kube-apiserver", ""},
	}
	for _, tt := range tests {
		repo, tag, _ := cutTag(tt.in)
		if repo != tt.repo || tag != tt.tag {
			t.Errorf("cutTag(%q) = %q, %q; want %q, %q", tt.in, repo, tag, tt.repo, tt.tag)
		}
	}
}

// TestSkewAgainstSnapshotVersion: a live snapshot's /version wins over any
// pod image, and the skew limit is a parameter.
func TestSkewAgainstSnapshotVersion(t *testing.T) {
	nodes := []snapshot.Node{
		{Meta: snapshot.Meta{Name: "a"}, KubeletVersion: "v1.31.4"},
		{Meta: snapshot.Meta{Name: "b"}, KubeletVersion: "v1.29.10-eks-7f9249a"},
		{Meta: snapshot.Meta{Name: "c"}, KubeletVersion: "v1.28.15"},
		{Meta: snapshot.Meta{Name: "d"}, KubeletVersion: "v1.33.0"},
	}
	s := &snapshot.Snapshot{Source: snapshot.SourceLive, Version: "v1.32.2-eks-bc803b4", CollectedAt: time.Now(), Nodes: nodes}
	for _, tt := range []struct {
		maxSkew string
		want    map[string]string
	}{
		{"3", map[string]string{"c": "KubeletTooOld", "d": "KubeletNewerThanAPIServer"}},
		{"2", map[string]string{"b": "KubeletTooOld", "c": "KubeletTooOld", "d": "KubeletNewerThanAPIServer"}},
	} {
		p, err := checks.ResolveParams(KubeletVersionSkew.Meta(), map[string]string{"max_minor_skew": tt.maxSkew})
		if err != nil {
			t.Fatal(err)
		}
		r := checks.Runner{Checks: []checks.Check{KubeletVersionSkew}, Params: map[string]checks.Params{KubeletVersionSkew.Meta().ID: p}}
		got := map[string]string{}
		for _, f := range r.Run(context.Background(), s).Findings {
			got[f.Object.Name] = f.Reason
		}
		if len(got) != len(tt.want) {
			t.Errorf("max_minor_skew=%s: got %v, want %v", tt.maxSkew, got, tt.want)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("max_minor_skew=%s: node %s: got %q, want %q", tt.maxSkew, k, got[k], v)
			}
		}
	}
}
