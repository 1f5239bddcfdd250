package controlplane_test

import (
	"context"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/controlplane"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestWebhookMissingServiceNeedsFullView: a Service absent from a snapshot
// that does not hold the cluster's Services (collected for one namespace)
// is not reported missing; with the full list, or a Namespace list lacking
// its namespace, it is.
func TestWebhookMissingServiceNeedsFullView(t *testing.T) {
	old := now.Add(-30 * 24 * time.Hour)
	hook := snapshot.WebhookConfiguration{
		Meta: snapshot.Meta{Name: "istio-sidecar-injector", CreationTimestamp: old},
		Kind: snapshot.KindMutatingWebhook,
		Webhooks: []snapshot.Webhook{{Name: "namespace.sidecar-injector.istio.io", FailurePolicy: "Fail",
			Service: &snapshot.ServiceRef{Namespace: "istio-system", Name: "istiod", Port: 443}, Rules: []string{"CREATE /v1 pods"}}},
	}
	appSvc := snapshot.Service{Meta: snapshot.Meta{Namespace: "shop", Name: "web", CreationTimestamp: old}}
	kubeSvc := snapshot.Service{Meta: snapshot.Meta{Namespace: "default", Name: "kubernetes", CreationTimestamp: old}}
	ns := func(names ...string) []snapshot.Namespace {
		var out []snapshot.Namespace
		for _, n := range names {
			out = append(out, snapshot.Namespace{Meta: snapshot.Meta{Name: n}})
		}
		return out
	}
	tests := []struct {
		name       string
		services   []snapshot.Service
		namespaces []snapshot.Namespace
		want       int
	}{
		{"scoped to shop", []snapshot.Service{appSvc}, nil, 0},
		{"scoped, namespace still listed", []snapshot.Service{appSvc}, ns("default", "shop", "istio-system"), 0},
		{"cluster-wide services", []snapshot.Service{appSvc, kubeSvc}, nil, 1},
		{"namespace deleted", []snapshot.Service{appSvc}, ns("default", "shop"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "prod", Source: snapshot.SourceLive, CollectedAt: now,
				WebhookConfigs: []snapshot.WebhookConfiguration{hook}, Services: tt.services, Namespaces: tt.namespaces}
			r := checks.Runner{Checks: []checks.Check{controlplane.WebhookServiceUnavailable}}
			fs := r.Run(context.Background(), s).Findings
			if len(fs) != tt.want {
				t.Fatalf("got %d findings, want %d: %+v", len(fs), tt.want, fs)
			}
			if tt.want == 1 && (fs[0].Reason != "ServiceNotFound" || fs[0].Severity != checks.Critical) {
				t.Errorf("got %s/%s", fs[0].Reason, fs[0].Severity)
			}
		})
	}
}
