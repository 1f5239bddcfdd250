package controlplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/controlplane"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// TestWebhookMissingServiceNeedsFullView: a Service absent from a snapshot
// collected for another namespace (Snapshot.Namespace) is not reported
// missing; absent from a cluster-wide snapshot, or from the snapshot of its
// own namespace, it is.
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
		scope      string
		services   []snapshot.Service
		namespaces []snapshot.Namespace
		want       int
		gone       bool
	}{
		{"scoped to shop", "shop", []snapshot.Service{appSvc}, nil, 0, false},
		{"scoped to shop, namespaces listed", "shop", []snapshot.Service{appSvc}, ns("shop"), 0, false},
		{"scoped to istio-system", "istio-system", nil, nil, 1, false},
		{"cluster-wide services", "", []snapshot.Service{appSvc, kubeSvc}, nil, 1, false},
		{"cluster-wide, no default service", "", []snapshot.Service{appSvc}, nil, 1, false},
		{"namespace deleted", "", []snapshot.Service{appSvc}, ns("default", "shop"), 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "prod", Source: snapshot.SourceLive, CollectedAt: now,
				Namespace: tt.scope, WebhookConfigs: []snapshot.WebhookConfiguration{hook}, Services: tt.services, Namespaces: tt.namespaces}
			r := checks.Runner{Checks: []checks.Check{controlplane.WebhookServiceUnavailable}}
			fs := r.Run(context.Background(), s).Findings
			if len(fs) != tt.want {
				t.Fatalf("got %d findings, want %d: %+v", len(fs), tt.want, fs)
			}
			if tt.want == 1 && (fs[0].Reason != "ServiceNotFound" || fs[0].Severity != checks.Critical) {
				t.Errorf("got %s/%s", fs[0].Reason, fs[0].Severity)
			}
			if tt.want == 1 && strings.Contains(fs[0].Message, "namespace is gone") != tt.gone {
				t.Errorf("namespace gone = %v, message: %s", !tt.gone, fs[0].Message)
			}
		})
	}
}
