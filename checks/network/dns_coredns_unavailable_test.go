package network

import (
	"context"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestCoreDNSUnavailable(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	old := now.Add(-30 * 24 * time.Hour)
	dep := func(name string, replicas, available int32) snapshot.Deployment {
		d := snapshot.Deployment{Meta: snapshot.Meta{Namespace: "kube-system", Name: name, CreationTimestamp: old,
			Labels: map[string]string{"k8s-app": "kube-dns"}}, Replicas: replicas, AvailableReplicas: available}
		if available == 0 && replicas > 0 {
			d.Conditions = []snapshot.Condition{{Type: "Available", Status: "False", Reason: "MinimumReplicasUnavailable", LastTransitionTime: now.Add(-20 * time.Minute)}}
		}
		return d
	}
	svc := snapshot.Service{Meta: snapshot.Meta{Namespace: "kube-system", Name: "kube-dns", CreationTimestamp: old},
		ClusterIP: "10.96.0.10", Selector: map[string]string{"k8s-app": "kube-dns"}}
	slice := func(ready bool) snapshot.EndpointSlice {
		return snapshot.EndpointSlice{Meta: snapshot.Meta{Namespace: "kube-system", Name: "kube-dns-x"}, ServiceName: "kube-dns",
			Endpoints: []snapshot.Endpoint{{Address: "10.244.0.2", Ready: ready}}}
	}
	sliceGap := []snapshot.Coverage{{Kind: snapshot.KindEndpointSlice, Reason: snapshot.Forbidden}}
	tests := []struct {
		name   string
		s      snapshot.Snapshot
		reason string
	}{
		{"no cluster DNS at all", snapshot.Snapshot{}, ""},
		{"healthy", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("coredns", 2, 2)}, Services: []snapshot.Service{svc},
			EndpointSlices: []snapshot.EndpointSlice{slice(true)}}, ""},
		{"deployment down but endpoints ready elsewhere", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("kube-dns", 2, 0)}, Services: []snapshot.Service{svc},
			EndpointSlices: []snapshot.EndpointSlice{slice(true)}}, ""},
		{"down", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("coredns", 2, 0)}, Services: []snapshot.Service{svc},
			EndpointSlices: []snapshot.EndpointSlice{slice(false)}}, "DNSUnavailable"},
		{"down, endpoints unreadable", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("coredns", 2, 0)}, Services: []snapshot.Service{svc},
			Coverage: sliceGap}, "DNSUnavailable"},
		{"scaled to zero", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("coredns", 0, 0)}, Services: []snapshot.Service{svc}}, "DNSScaledToZero"},
		{"service routes nowhere", snapshot.Snapshot{Deployments: []snapshot.Deployment{dep("coredns", 2, 2)}, Services: []snapshot.Service{svc}}, "DNSServiceNoEndpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.Source, s.CollectedAt, s.Cluster = snapshot.SourceLive, now, "test"
			r := checks.Runner{Checks: []checks.Check{CoreDNSUnavailable}}
			fs := r.Run(context.Background(), &s).Findings
			if tt.reason == "" {
				if len(fs) != 0 {
					t.Fatalf("want quiet, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Reason != tt.reason || fs[0].Severity != checks.Critical {
				t.Fatalf("want one critical %s, got %+v", tt.reason, fs)
			}
		})
	}
}
