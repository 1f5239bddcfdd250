package actions

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/remediation"
)

var (
	_ remediation.Action = (*Cordon)(nil)
	_ remediation.Action = (*Uncordon)(nil)
	_ remediation.Action = (*Drain)(nil)
	_ remediation.Action = (*Restart)(nil)
	_ remediation.Action = (*DeletePod)(nil)
	_ remediation.Action = (*Scale)(nil)
	_ remediation.Action = (*Annotate)(nil)
	_ remediation.Pager  = (*PagerDuty)(nil)
	_ remediation.Pager  = (*Slack)(nil)
	_ remediation.Pager  = (*Webhook)(nil)
)

// TestClusterRegistry: every action the playbooks may name is there under
// its own Name(), and docs/actions.md has a section for it and for each
// pager.
func TestClusterRegistry(t *testing.T) {
	all := Cluster(newFakeCluster(t), Options{})
	want := []string{"annotate", "cordon", "delete_pod", "drain", "restart", "scale", "uncordon"}
	var got []string
	for name, a := range all {
		if a.Name() != name {
			t.Errorf("key %q holds %q", name, a.Name())
		}
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	doc, err := os.ReadFile("../../docs/actions.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(want, "pagerduty", "slack", "webhook") {
		if !strings.Contains(string(doc), "### `"+name+"`") {
			t.Errorf("docs/actions.md has no section ### `%s`", name)
		}
	}
}
