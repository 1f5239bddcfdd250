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

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// run runs one check over a live snapshot with the given control plane.
func run(t *testing.T, c checks.Check, src snapshot.Source, cp *snapshot.ControlPlane) ([]checks.Finding, checks.Run) {
	t.Helper()
	s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "prod", Source: src, CollectedAt: now, ControlPlane: cp}
	r := checks.Runner{Checks: []checks.Check{c}}
	res := r.Run(context.Background(), s)
	return res.Findings, res.Runs[0]
}

func TestAPIServerUnhealthy(t *testing.T) {
	ok := func(n string) snapshot.HealthCheck { return snapshot.HealthCheck{Name: n, OK: true} }
	bad := func(n, m string) snapshot.HealthCheck { return snapshot.HealthCheck{Name: n, Message: m} }
	tests := []struct {
		name     string
		cp       *snapshot.ControlPlane
		reason   string
		severity checks.Severity
		contains []string
	}{
		{name: "healthy", cp: &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{ok("ping"), ok("etcd"), ok("informer-sync")}}},
		{name: "nothing read", cp: nil},
		{name: "etcd failing", cp: &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{ok("ping"), bad("etcd", "failed: reason withheld"), ok("informer-sync")}},
			reason: "EtcdUnhealthy", severity: checks.Critical, contains: []string{"etcd failed: reason withheld", "writes fail"}},
		{name: "etcd-readiness and informer sync", cp: &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{bad("etcd-readiness", "failed: reason withheld"), bad("informer-sync", "failed: reason withheld")}},
			reason: "EtcdUnhealthy", severity: checks.Critical, contains: []string{"2 failing checks", "etcd-readiness", "informer-sync"}},
		{name: "post-start hook", cp: &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{ok("etcd"), bad("poststarthook/rbac/bootstrap-roles", "failed: reason withheld")}},
			reason: "APIServerNotReady", severity: checks.Critical, contains: []string{"poststarthook/rbac/bootstrap-roles"}},
		{name: "shutting down", cp: &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{ok("etcd"), bad("shutdown", "failed: reason withheld")}},
			reason: "APIServerShuttingDown", severity: checks.Warning},
		{name: "readyz error", cp: &snapshot.ControlPlane{ReadyzError: "the server is currently unable to handle the request"},
			reason: "ReadyzFailed", severity: checks.Critical, contains: []string{"unable to handle the request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := run(t, controlplane.APIServerUnhealthy, snapshot.SourceLive, tt.cp)
			if tt.reason == "" {
				if len(fs) != 0 {
					t.Fatalf("want no finding, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("want 1 finding, got %d: %+v", len(fs), fs)
			}
			f := fs[0]
			if f.Reason != tt.reason || f.Severity != tt.severity {
				t.Errorf("got %s/%s, want %s/%s", f.Reason, f.Severity, tt.reason, tt.severity)
			}
			if f.Object.Kind != "Cluster" || f.Object.Name != "prod" {
				t.Errorf("object = %v", f.Object)
			}
			for _, c := range tt.contains {
				if !strings.Contains(f.Message, c) {
					t.Errorf("message %q lacks %q", f.Message, c)
				}
			}
			if len(f.Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

func TestCertificateExpiring(t *testing.T) {
	day := 24 * time.Hour
	cert := func(subject string, issuedAgo, left time.Duration) *snapshot.Certificate {
		return &snapshot.Certificate{Subject: "CN=" + subject, Issuer: "CN=kubernetes", Source: "test",
			NotBefore: now.Add(-issuedAgo), NotAfter: now.Add(left)}
	}
	tests := []struct {
		name      string
		cp        *snapshot.ControlPlane
		reason    string
		severity  checks.Severity
		contains  []string
		wantSince bool
	}{
		{name: "fresh kubeadm certs", cp: &snapshot.ControlPlane{ServingCert: cert("kube-apiserver", 30*day, 335*day), ClientCert: cert("kubernetes-admin", 30*day, 335*day)}},
		{name: "no certificates", cp: &snapshot.ControlPlane{}},
		{name: "serving cert in 20 days", cp: &snapshot.ControlPlane{ServingCert: cert("kube-apiserver", 345*day, 20*day)},
			reason: "CertificateExpiring", severity: checks.Warning, contains: []string{"API server serving certificate", "expires in 20d"}},
		{name: "client cert in 3 days", cp: &snapshot.ControlPlane{ServingCert: cert("kube-apiserver", 30*day, 335*day), ClientCert: cert("kubernetes-admin", 362*day, 3*day)},
			reason: "CertificateExpiring", severity: checks.Critical, contains: []string{"kubeconfig client certificate", "expires in 3d"}},
		{name: "both, worst first", cp: &snapshot.ControlPlane{ServingCert: cert("kube-apiserver", 350*day, 15*day), ClientCert: cert("kubernetes-admin", 360*day, 5*day)},
			reason: "CertificateExpiring", severity: checks.Critical, contains: []string{"client certificate (CN=kubernetes-admin) expires in 5d", "serving certificate expires in 15d"}},
		{name: "already expired", cp: &snapshot.ControlPlane{ServingCert: cert("kube-apiserver", 367*day, -2*day)},
			reason: "CertificateExpired", severity: checks.Critical, contains: []string{"expired 2d ago"}, wantSince: true},
		{name: "short-lived rotating client cert", cp: &snapshot.ControlPlane{ClientCert: cert("oidc:alice", 11*time.Hour, time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := run(t, controlplane.CertificateExpiring, snapshot.SourceLive, tt.cp)
			if tt.reason == "" {
				if len(fs) != 0 {
					t.Fatalf("want no finding, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("want 1 finding, got %d: %+v", len(fs), fs)
			}
			f := fs[0]
			if f.Reason != tt.reason || f.Severity != tt.severity {
				t.Errorf("got %s/%s, want %s/%s", f.Reason, f.Severity, tt.reason, tt.severity)
			}
			for _, c := range tt.contains {
				if !strings.Contains(f.Message, c) {
					t.Errorf("message %q lacks %q", f.Message, c)
				}
			}
			if (f.Since != nil) != tt.wantSince {
				t.Errorf("since = %v, want set: %v", f.Since, tt.wantSince)
			}
		})
	}
}

// TestLiveOnlySkippedOnFiles: recorded snapshots never judge the API
// server's own health.
func TestLiveOnlySkippedOnFiles(t *testing.T) {
	cp := &snapshot.ControlPlane{Readyz: []snapshot.HealthCheck{{Name: "etcd", Message: "failed"}},
		ServingCert: &snapshot.Certificate{Subject: "CN=x", NotAfter: now.Add(-time.Hour)}}
	for _, c := range []checks.Check{controlplane.APIServerUnhealthy, controlplane.CertificateExpiring} {
		fs, run := run(t, c, snapshot.SourceFile, cp)
		if len(fs) != 0 || run.Result != checks.ResultSkipped {
			t.Errorf("%s on a file snapshot: %d findings, result %s", c.Meta().ID, len(fs), run.Result)
		}
	}
}

// TestControlPlaneCoverage: when /readyz was forbidden the runner reports
// unknown instead of health.
func TestControlPlaneCoverage(t *testing.T) {
	s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "prod", Source: snapshot.SourceLive, CollectedAt: now,
		Coverage: []snapshot.Coverage{{Kind: snapshot.KindControlPlane, Reason: snapshot.Forbidden, Message: "/readyz: forbidden"}}}
	r := checks.Runner{Checks: []checks.Check{controlplane.APIServerUnhealthy}}
	res := r.Run(context.Background(), s)
	if len(res.Findings) != 1 || res.Findings[0].Status != checks.Unknown {
		t.Fatalf("want one unknown finding, got %+v", res.Findings)
	}
}
