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

// TestNamespaceStuckTerminatingScope: the content of a namespace the
// snapshot did not collect is not judged (no "nothing remains" claim), and
// a namespace deleted moments ago is quiet.
func TestNamespaceStuckTerminatingScope(t *testing.T) {
	deleted := func(ago time.Duration) *time.Time { d := now.Add(-ago); return &d }
	ns := []snapshot.Namespace{
		{Meta: snapshot.Meta{Name: "old-tenant", DeletionTimestamp: deleted(2 * time.Hour)}, Phase: "Terminating"},
		{Meta: snapshot.Meta{Name: "ci-1", DeletionTimestamp: deleted(time.Minute)}, Phase: "Terminating"},
		{Meta: snapshot.Meta{Name: "shop"}, Phase: "Active"},
	}
	for _, tc := range []struct {
		scope, want string
	}{
		{"", "none of the collected objects remains"},
		{"shop", "its content was not collected"},
	} {
		s := &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Cluster: "prod", Source: snapshot.SourceLive, CollectedAt: now,
			Namespace: tc.scope, Namespaces: ns}
		r := checks.Runner{Checks: []checks.Check{controlplane.NamespaceStuckTerminating}}
		fs := r.Run(context.Background(), s).Findings
		if len(fs) != 1 || fs[0].Object.Name != "old-tenant" {
			t.Fatalf("scope %q: want one finding on old-tenant, got %+v", tc.scope, fs)
		}
		if !strings.Contains(fs[0].Message, tc.want) {
			t.Errorf("scope %q: message %q lacks %q", tc.scope, fs[0].Message, tc.want)
		}
	}
}
