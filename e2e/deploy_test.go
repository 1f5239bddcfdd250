//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// patroldSA is the user name of patrold's ServiceAccount.
const patroldSA = "system:serviceaccount:kubepatrol:patrold"

// kubectlE2E returns kubectl's path ($KUBECTL, else kubectl on the PATH);
// without it the test is skipped unless KUBEPATROL_REQUIRE_KUBECTL is set
// (CI sets it).
func kubectlE2E(t *testing.T) string {
	t.Helper()
	name := "kubectl"
	if k := os.Getenv("KUBECTL"); k != "" {
		name = k
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("KUBEPATROL_REQUIRE_KUBECTL") != "" {
		t.Fatalf("kubectl not found and KUBEPATROL_REQUIRE_KUBECTL is set: %v", err)
	}
	t.Skip("kubectl not found: the deploy/ manifests are applied with kubectl; set KUBEPATROL_REQUIRE_KUBECTL=1 to make this a failure")
	return ""
}

// runKubectl runs kubectl with the admin kubeconfig and stdin, returning
// its combined output.
func runKubectl(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := kubectlOutput(t, stdin, args...)
	return stdout + stderr, err
}

// kubectlOutput is runKubectl with stdout and stderr apart.
func kubectlOutput(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlE2E(t), append([]string{"--kubeconfig", adminKubeconfig}, args...)...)
	cmd.Dir = repoRoot
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// manifests builds a kustomization of deploy/ and returns its documents
// whose kind is in kinds (all when kinds is empty), as one YAML stream.
func manifests(t *testing.T, dir string, kinds ...string) []byte {
	t.Helper()
	out, err := runKubectl(t, nil, "kustomize", filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
	var keep []string
	for _, doc := range strings.Split(out, "\n---\n") {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		if len(kinds) == 0 || contains(kinds, head.Kind) {
			keep = append(keep, doc)
		}
	}
	return []byte(strings.Join(keep, "\n---\n"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDeployManifests: deploy/ and its overlays apply to a real API server
// (server-side dry run: admission, validation and RBAC escalation checks);
// then patrold's RBAC, applied for real, lets its ServiceAccount read
// everything the snapshot reads, and nothing it must not: a `patrol
// inspect` as the ServiceAccount has no coverage gap, and `kubectl auth
// can-i` answers as the roles intend, before and after the remediation
// overlay.
func TestDeployManifests(t *testing.T) {
	// The dry run of a namespaced object needs its namespace to exist, and
	// a dry-run Namespace is not created: create it first, for real.
	if out, err := runKubectl(t, manifests(t, "deploy", "Namespace"), "apply", "-f", "-"); err != nil {
		t.Fatalf("create the kubepatrol namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() { deleteDeployObjects(t) })

	for _, dir := range []string{"deploy", "deploy/overlays/remediation"} {
		out, err := runKubectl(t, nil, "apply", "--dry-run=server", "-k", filepath.Join(repoRoot, dir))
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s", dir, err, out)
		}
		t.Logf("kubectl apply --dry-run=server -k %s:\n%s", dir, strings.TrimSpace(out))
		if strings.Contains(out, "Warning") {
			t.Errorf("kubectl apply -k %s printed warnings (deprecated API, pod security):\n%s", dir, out)
		}
	}

	// patrold's RBAC for real (no Deployment: the image is not pulled here).
	rbac := manifests(t, "deploy", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
	if out, err := runKubectl(t, rbac, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply RBAC: %v\n%s", err, out)
	}
	canI := func(want bool, args ...string) {
		t.Helper()
		// stdout is yes or no; warnings (a namespace given for a
		// cluster-scoped kind) go to stderr.
		out, stderr, _ := kubectlOutput(t, nil, append([]string{"auth", "can-i", "--as", patroldSA}, args...)...)
		if got := strings.TrimSpace(out); got != "yes" && got != "no" {
			t.Errorf("kubectl auth can-i %s: %q %s", strings.Join(args, " "), got, stderr)
		} else if (got == "yes") != want {
			t.Errorf("kubectl auth can-i %s as patrold: %s, want %v", strings.Join(args, " "), got, want)
		}
	}
	for _, a := range [][]string{
		{"list", "pods", "-A"}, {"watch", "nodes"}, {"list", "events.events.k8s.io", "-A"}, {"watch", "endpointslices.discovery.k8s.io", "-A"},
		{"list", "apiservices.apiregistration.k8s.io"}, {"list", "leases", "-n", "kube-node-lease"}, {"watch", "leases", "-n", "kube-system"},
		{"get", "/readyz"}, {"get", "/version"}, {"get", "/metrics"},
		{"create", "events", "-n", "default"}, {"create", "leases", "-n", "kubepatrol"}, {"update", "leases/patrold", "-n", "kubepatrol"},
	} {
		canI(true, a...)
	}
	for _, a := range [][]string{
		{"list", "secrets", "-A"}, {"get", "configmaps", "-n", "kube-system"}, {"list", "leases", "-n", "default"},
		{"update", "leases/other", "-n", "kubepatrol"}, {"update", "leases/patrold", "-n", "kube-system"},
		{"get", "pods", "--subresource=log", "-n", "default"}, {"create", "pods", "--subresource=exec", "-n", "default"},
		{"delete", "events", "-n", "default"}, {"patch", "nodes"}, {"delete", "pods", "-n", "default"},
		{"create", "pods", "--subresource=eviction", "-n", "default"}, {"patch", "deployments", "-n", "default"},
	} {
		canI(false, a...)
	}

	// The read role covers the collector: an inspection as patrold's
	// ServiceAccount is refused nothing. (Gaps for other reasons are the
	// collector's, and TestBaseline catches them as an admin.)
	r, _ := inspect(t, adminKubeconfig, "--as", patroldSA, "--as-group", "system:serviceaccounts", "--as-group", "system:serviceaccounts:kubepatrol")
	for _, c := range r.Coverage {
		if c.Reason == "Forbidden" {
			t.Errorf("inspecting as patrold's ServiceAccount: %s is Forbidden: %s (deploy/base/rbac-read.yaml lacks it)", c.Kind, c.Message)
		} else {
			t.Logf("inspecting as patrold's ServiceAccount: coverage gap %s %s: %s", c.Kind, c.Reason, c.Message)
		}
	}

	// The remediation overlay adds the write verbs, and only them.
	binding := manifests(t, "deploy/overlays/remediation", "ClusterRoleBinding")
	if out, err := runKubectl(t, binding, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply the remediation overlay's bindings: %v\n%s", err, out)
	}
	for _, a := range [][]string{
		{"patch", "nodes"}, {"create", "pods", "--subresource=eviction", "-n", "default"}, {"delete", "pods", "-n", "default"},
		{"patch", "deployments", "-n", "default"}, {"update", "statefulsets", "--subresource=scale", "-n", "default"},
	} {
		canI(true, a...)
	}
	for _, a := range [][]string{{"delete", "nodes"}, {"list", "secrets", "-A"}, {"update", "deployments", "-n", "default"}, {"delete", "deployments", "-n", "default"}} {
		canI(false, a...)
	}
}

// deleteDeployObjects removes what TestDeployManifests created and waits
// until the namespace is gone, so that the tests after it see the cluster
// as before.
func deleteDeployObjects(t *testing.T) {
	if keep {
		return
	}
	all := manifests(t, "deploy/overlays/remediation", "ClusterRole", "ClusterRoleBinding", "RoleBinding")
	if out, err := runKubectl(t, all, "delete", "--ignore-not-found", "--wait=false", "-f", "-"); err != nil {
		t.Errorf("delete RBAC: %v\n%s", err, out)
	}
	// An empty namespace goes in seconds; a loaded cluster's namespace
	// controller may take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := kube.CoreV1().Namespaces().Delete(ctx, "kubepatrol", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace kubepatrol: %v", err)
		return
	}
	for {
		_, err := kube.CoreV1().Namespaces().Get(ctx, "kubepatrol", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("namespace kubepatrol still present after 4m (last error: %v)", err)
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}
