package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/rules"
)

var update = flag.Bool("update", false, "regenerate components/prometheus-operator/prometheusrule.yaml from rules/prometheus")

// object is one manifest of a kustomize build: its identity, the generic
// tree and the YAML document it came from.
type object struct {
	Kind, Name, Namespace string
	Raw                   map[string]any
	YAML                  []byte
}

func (o object) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// decode strictly decodes the manifest into a typed API object: an
// unknown or misspelt field is an error.
func (o object) decode(t *testing.T, into any) {
	t.Helper()
	if err := sigsyaml.UnmarshalStrict(o.YAML, into); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

// kubectl returns kubectl's path ($KUBECTL, else kubectl on the PATH),
// skipping the test without it unless KUBEPATROL_REQUIRE_KUBECTL is set
// (CI sets it).
func kubectl(t *testing.T) string {
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
	t.Skip("kubectl not found: install kubectl (1.27 or later, for kustomize v5) to build the manifests; " +
		"set KUBEPATROL_REQUIRE_KUBECTL=1 to make this a failure")
	return ""
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		data, err := prometheusRule()
		if err == nil {
			err = os.WriteFile(prometheusRulePath, data, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "-update:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

var builds = map[string][]object{}

// build runs `kubectl kustomize dir` once per directory and splits the
// output into objects.
func build(t *testing.T, dir string) []object {
	t.Helper()
	if objs, ok := builds[dir]; ok {
		return objs
	}
	bin := kubectl(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	var objs []object
	for _, doc := range bytes.Split(stdout.Bytes(), []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var raw map[string]any
		if err := sigsyaml.Unmarshal(doc, &raw); err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, doc)
		}
		meta, _ := raw["metadata"].(map[string]any)
		o := object{Raw: raw, YAML: doc}
		o.Kind, _ = raw["kind"].(string)
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
		objs = append(objs, o)
	}
	builds[dir] = objs
	return objs
}

func find(t *testing.T, objs []object, kind, namespace, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name && o.Namespace == namespace {
			return o
		}
	}
	t.Fatalf("no %s %s/%s in the build", kind, namespace, name)
	return object{}
}

func ids(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.String())
	}
	sort.Strings(out)
	return out
}

var baseObjects = []string{
	"ClusterRole/kubepatrol-events",
	"ClusterRole/kubepatrol-lease-reader",
	"ClusterRole/kubepatrol-read",
	"ClusterRole/kubepatrol-remediation",
	"ClusterRoleBinding/kubepatrol-events",
	"ClusterRoleBinding/kubepatrol-read",
	"ConfigMap/kubepatrol/patrold-config",
	"Deployment/kubepatrol/patrold",
	"Namespace/kubepatrol",
	"PodDisruptionBudget/kubepatrol/patrold",
	"Role/kubepatrol/patrold-leader-election",
	"RoleBinding/kube-node-lease/kubepatrol-lease-reader",
	"RoleBinding/kube-system/kubepatrol-lease-reader",
	"RoleBinding/kubepatrol/patrold-leader-election",
	"Service/kubepatrol/patrold",
	"ServiceAccount/kubepatrol/patrold",
}

// TestKustomizeBuilds: the base and each overlay build, with exactly the
// expected objects, and the base needs no CRD.
func TestKustomizeBuilds(t *testing.T) {
	for dir, extra := range map[string][]string{
		".":                            nil,
		"base":                         nil,
		"overlays/remediation":         {"ClusterRoleBinding/kubepatrol-remediation"},
		"overlays/prometheus-operator": {"PrometheusRule/kubepatrol/kubepatrol", "ServiceMonitor/kubepatrol/patrold"},
	} {
		t.Run(dir, func(t *testing.T) {
			want := append(slices.Clone(baseObjects), extra...)
			sort.Strings(want)
			got := ids(build(t, dir))
			if !slices.Equal(got, want) {
				t.Errorf("kubectl kustomize %s:\n got  %q\n want %q", dir, got, want)
			}
			for _, o := range build(t, dir) {
				labels, _ := o.Raw["metadata"].(map[string]any)["labels"].(map[string]any)
				if o.Kind != "Namespace" && labels["app.kubernetes.io/part-of"] != "kubepatrol" {
					t.Errorf("%s: label app.kubernetes.io/part-of=kubepatrol is missing", o)
				}
			}
		})
	}
	for _, o := range build(t, ".") {
		if api, _ := o.Raw["apiVersion"].(string); strings.Contains(api, "monitoring.coreos.com") {
			t.Errorf("%s: the base must apply without the Prometheus Operator's CRDs", o)
		}
	}
}

// readGrants is what patrold reads: the kinds of collectors/kube (informers
// and one-shot lists), by API group.
var readGrants = map[string][]string{
	"":                             {"events", "namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "resourcequotas", "services"},
	"events.k8s.io":                {"events"},
	"apps":                         {"daemonsets", "deployments", "replicasets", "statefulsets"},
	"batch":                        {"cronjobs", "jobs"},
	"autoscaling":                  {"horizontalpodautoscalers"},
	"policy":                       {"poddisruptionbudgets"},
	"storage.k8s.io":               {"storageclasses"},
	"discovery.k8s.io":             {"endpointslices"},
	"admissionregistration.k8s.io": {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
	"apiregistration.k8s.io":       {"apiservices"},
}

// grants flattens rules into "group/resource: verbs" and nonResourceURLs
// into "url: verbs", sorted, failing on wildcards.
func grants(t *testing.T, who string, rs []rbacv1.PolicyRule) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range rs {
		for _, s := range slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs, r.ResourceNames) {
			if strings.Contains(s, "*") {
				t.Errorf("%s: wildcard %q in %+v", who, s, r)
			}
		}
		suffix := ""
		if len(r.ResourceNames) > 0 {
			suffix = "(" + strings.Join(r.ResourceNames, ",") + ")"
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := g + "/" + res + suffix
				out[k] = append(out[k], r.Verbs...)
			}
		}
		for _, u := range r.NonResourceURLs {
			out[u] = append(out[u], r.Verbs...)
		}
	}
	for k := range out {
		slices.Sort(out[k])
		out[k] = slices.Compact(out[k])
	}
	return out
}

func clusterRole(t *testing.T, objs []object, name string) rbacv1.ClusterRole {
	t.Helper()
	var cr rbacv1.ClusterRole
	find(t, objs, "ClusterRole", "", name).decode(t, &cr)
	return cr
}

func equalGrants(t *testing.T, who string, got, want map[string][]string) {
	t.Helper()
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s: %s: verbs %q, want %q", who, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: grants %s %q, which patrold does not need", who, k, v)
		}
	}
}

// TestRBACLeastPrivilege: patrold's roles grant exactly what the code
// uses: get/list/watch on the collected kinds, get on four API server
// URLs, leases read in two namespaces, Events created, its own Lease, and
// (unbound) the remediation verbs. Every binding's subject is patrold's
// ServiceAccount.
func TestRBACLeastPrivilege(t *testing.T) {
	objs := build(t, ".")
	rw := []string{"get", "list", "watch"}

	want := map[string][]string{"/readyz": {"get"}, "/livez": {"get"}, "/metrics": {"get"}, "/version": {"get"}}
	for g, rs := range readGrants {
		for _, r := range rs {
			want[g+"/"+r] = rw
		}
	}
	equalGrants(t, "ClusterRole kubepatrol-read", grants(t, "kubepatrol-read", clusterRole(t, objs, "kubepatrol-read").Rules), want)

	equalGrants(t, "ClusterRole kubepatrol-lease-reader",
		grants(t, "kubepatrol-lease-reader", clusterRole(t, objs, "kubepatrol-lease-reader").Rules),
		map[string][]string{"coordination.k8s.io/leases": rw})

	equalGrants(t, "ClusterRole kubepatrol-events",
		grants(t, "kubepatrol-events", clusterRole(t, objs, "kubepatrol-events").Rules),
		map[string][]string{"/events": {"create"}})

	var role rbacv1.Role
	find(t, objs, "Role", "kubepatrol", "patrold-leader-election").decode(t, &role)
	equalGrants(t, "Role patrold-leader-election", grants(t, "patrold-leader-election", role.Rules),
		map[string][]string{"coordination.k8s.io/leases": {"create"}, "coordination.k8s.io/leases(patrold)": {"get", "update"}})

	equalGrants(t, "ClusterRole kubepatrol-remediation",
		grants(t, "kubepatrol-remediation", clusterRole(t, objs, "kubepatrol-remediation").Rules),
		map[string][]string{
			"/nodes":                  {"patch"},
			"/pods/eviction":          {"create"},
			"/pods":                   {"delete"},
			"apps/deployments":        {"patch"},
			"apps/statefulsets":       {"patch"},
			"apps/deployments/scale":  {"get", "patch", "update"},
			"apps/statefulsets/scale": {"get", "patch", "update"},
		})

	// Bindings: which role each binds, where, and to whom.
	bound := map[string]string{}
	for _, o := range objs {
		switch o.Kind {
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding // same shape as ClusterRoleBinding
			o.decode(t, &b)
			bound[o.String()] = b.RoleRef.Kind + "/" + b.RoleRef.Name
			if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != "patrold" || b.Subjects[0].Namespace != "kubepatrol" {
				t.Errorf("%s: subjects %+v, want only ServiceAccount kubepatrol/patrold", o, b.Subjects)
			}
		}
	}
	wantBound := map[string]string{
		"ClusterRoleBinding/kubepatrol-read":                  "ClusterRole/kubepatrol-read",
		"ClusterRoleBinding/kubepatrol-events":                "ClusterRole/kubepatrol-events",
		"RoleBinding/kube-node-lease/kubepatrol-lease-reader": "ClusterRole/kubepatrol-lease-reader",
		"RoleBinding/kube-system/kubepatrol-lease-reader":     "ClusterRole/kubepatrol-lease-reader",
		"RoleBinding/kubepatrol/patrold-leader-election":      "Role/patrold-leader-election",
	}
	if fmt.Sprint(bound) != fmt.Sprint(wantBound) {
		t.Errorf("base bindings:\n got  %v\n want %v (the remediation role must stay unbound in the base)", bound, wantBound)
	}

	var crb rbacv1.ClusterRoleBinding
	find(t, build(t, "overlays/remediation"), "ClusterRoleBinding", "", "kubepatrol-remediation").decode(t, &crb)
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "kubepatrol-remediation" ||
		len(crb.Subjects) != 1 || crb.Subjects[0].Name != "patrold" || crb.Subjects[0].Namespace != "kubepatrol" {
		t.Errorf("overlays/remediation: binding %+v", crb)
	}
}

// TestDeployment: two hardened replicas of patrold, probes on the HTTP
// port, resources, the config from the ConfigMap, writable mounts for the
// state and reports; the Service, PodDisruptionBudget and ServiceMonitor
// select its pods and port.
func TestDeployment(t *testing.T) {
	objs := build(t, ".")
	var d appsv1.Deployment
	find(t, objs, "Deployment", "kubepatrol", "patrold").decode(t, &d)
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0, so that a rollout never leaves fewer than 2 replicas", ru)
	}
	if spec.ServiceAccountName != "patrold" {
		t.Errorf("serviceAccountName %q", spec.ServiceAccountName)
	}
	find(t, objs, "ServiceAccount", "kubepatrol", "patrold")
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser and the RuntimeDefault seccomp profile", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("containers: %d, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/kubepatrol/patrold:") {
		t.Errorf("image %q", c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container securityContext %+v: want a read-only root fs, no privilege escalation, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v: want http 8080", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("probe %s: %+v", name, p)
		}
	}

	// The config: --config names a file in the ConfigMap's mount.
	var configArg string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			configArg = v
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
		if m.SubPath != "" {
			t.Errorf("volume mount %s uses subPath: the kubelet then never updates it", m.Name)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	cm := volumes["config"].ConfigMap
	if cm == nil {
		t.Fatalf("no config volume from a ConfigMap: %+v", spec.Volumes)
	}
	var configMap corev1.ConfigMap
	find(t, objs, "ConfigMap", "kubepatrol", cm.Name).decode(t, &configMap)
	file := strings.TrimPrefix(configArg, mounts["config"].MountPath+"/")
	data, ok := configMap.Data[file]
	if configArg == "" || !ok {
		t.Fatalf("--config=%q is not a key of ConfigMap %s mounted at %s (keys: %v)", configArg, cm.Name, mounts["config"].MountPath, slices.Sorted(mapsKeys(configMap.Data)))
	}
	cfg, err := rules.ParseDaemonConfig(configArg, []byte(data))
	if err != nil {
		t.Fatalf("the example config is invalid:\n%v", err)
	}
	all := catalog.All()
	for _, g := range cfg.Groups {
		sel, err := catalog.Select(all, g.Checks, g.Skip)
		if err != nil || len(sel) == 0 {
			t.Errorf("config group %s: selects %d checks: %v", g.Name, len(sel), err)
		}
	}
	if !cfg.InCluster {
		t.Errorf("config: in_cluster must be true in a pod")
	}
	if _, port, _ := strings.Cut(cfg.Listen, ":"); port != "8080" {
		t.Errorf("config listen %q, want port 8080 (the container port)", cfg.Listen)
	}
	le := cfg.LeaderElection
	if !le.Enabled || le.Namespace != "kubepatrol" || le.Name != "patrold" {
		t.Errorf("config leader_election %+v: want enabled, Lease kubepatrol/patrold (what the Role allows)", le)
	}
	writable := func(path string) bool {
		for name, m := range mounts {
			if !m.ReadOnly && volumes[name].EmptyDir != nil && strings.HasPrefix(path, m.MountPath+"/") {
				return true
			}
		}
		return false
	}
	for _, p := range []string{cfg.StateFile, cfg.Reports.Dir + "/x"} {
		if !writable(p) {
			t.Errorf("config path %s is not on a writable volume (the root file system is read-only)", p)
		}
	}

	podLabels := d.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !selects(d.Spec.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	var svc corev1.Service
	find(t, objs, "Service", "kubepatrol", "patrold").decode(t, &svc)
	if !selects(svc.Spec.Selector) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service: selector %v, ports %+v: want the pods, port http 8080 to http", svc.Spec.Selector, svc.Spec.Ports)
	}
	var pdb policyv1.PodDisruptionBudget
	find(t, objs, "PodDisruptionBudget", "kubepatrol", "patrold").decode(t, &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget %+v: want minAvailable 1 over the pods", pdb.Spec)
	}

	sm := find(t, build(t, "overlays/prometheus-operator"), "ServiceMonitor", "kubepatrol", "patrold").Raw
	var smSpec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port string `json:"port"`
			Path string `json:"path"`
		} `json:"endpoints"`
	}
	remarshal(t, sm["spec"], &smSpec)
	for k, v := range smSpec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v", smSpec.Selector.MatchLabels, svc.Labels)
		}
	}
	if len(smSpec.Selector.MatchLabels) == 0 || !slices.Equal(smSpec.NamespaceSelector.MatchNames, []string{"kubepatrol"}) ||
		len(smSpec.Endpoints) != 1 || smSpec.Endpoints[0].Port != "http" || smSpec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor spec %+v: want the Service in kubepatrol, port http, /metrics", smSpec)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func remarshal(t *testing.T, from, into any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

const prometheusRulePath = "components/prometheus-operator/prometheusrule.yaml"

// prometheusRule renders the PrometheusRule from the rule files: their
// groups, as written (comments included), under spec.
func prometheusRule() ([]byte, error) {
	files, err := filepath.Glob(filepath.Join("..", "rules", "prometheus", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var sources, groups []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		_, body, ok := strings.Cut(string(data), "\ngroups:\n")
		if !ok {
			return nil, fmt.Errorf("%s: no top-level groups:", f)
		}
		sources = append(sources, "rules/prometheus/"+filepath.Base(f))
		for _, line := range strings.SplitAfter(body, "\n") {
			if strings.TrimSpace(line) == "" {
				groups = append(groups, strings.TrimLeft(line, " "))
			} else {
				groups = append(groups, "  "+line)
			}
		}
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("no rule files in ../rules/prometheus")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated from %s by `go test ./deploy -update`: edit the rules there.\n", strings.Join(sources, ", "))
	b.WriteString(`# Prometheus selects PrometheusRules by label (spec.ruleSelector of the
# Prometheus resource): add its label in your overlay if it has one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: kubepatrol
  namespace: kubepatrol
  labels:
    app.kubernetes.io/name: patrold
    app.kubernetes.io/part-of: kubepatrol
spec:
  groups:
`)
	b.WriteString(strings.Join(groups, ""))
	return b.Bytes(), nil
}

// TestPrometheusRuleInSync: the Prometheus Operator component carries the
// same rules as rules/prometheus; -update rewrites it (first, so that the
// builds of the other tests see the new file).
func TestPrometheusRuleInSync(t *testing.T) {
	want, err := prometheusRule()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatalf("%v (go test ./deploy -update generates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with rules/prometheus: run go test ./deploy -update", prometheusRulePath)
	}
	// And it is the same rules once parsed, not just the same text.
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := sigsyaml.Unmarshal(got, &pr); err != nil {
		t.Fatalf("%s: %v", prometheusRulePath, err)
	}
	var src struct {
		Groups []map[string]any `json:"groups"`
	}
	data, err := os.ReadFile(filepath.Join("..", "rules", "prometheus", "patrol.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(data, &src); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(pr.Spec.Groups)
	b, _ := json.Marshal(src.Groups)
	if !bytes.Equal(a, b) || len(src.Groups) == 0 {
		t.Errorf("the PrometheusRule's groups differ from rules/prometheus/patrol.rules.yaml")
	}
}
