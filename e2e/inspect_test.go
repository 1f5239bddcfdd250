//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepatrol/patrol/e2e/scenarios"
)

// The tests of this file run in this order (go test runs top-level tests
// in source order): the baseline (its inspection ran in TestMain, before any
// test touched the cluster), the fault scenarios, the restricted user, and
// the API server outage, which restarts the API server when done.

// TestBaseline: on a healthy cluster kubepatrol reports nothing at all, sees
// everything, and only reads.
// The inspection ran in TestMain, right after the baseline fleet settled.
func TestBaseline(t *testing.T) {
	r := baselineRun.report(t)
	if len(r.Findings) > 0 {
		for _, f := range r.Findings {
			t.Errorf("false positive on a healthy cluster: %s", f)
			for _, e := range f.Evidence {
				t.Logf("    evidence %s %s = %s %s", e.Type, e.Path, e.Value, e.Message)
			}
		}
	}
	// NotServed (an API the server does not have) and NotCollected (a
	// source that was not asked for, such as Prometheus) are no blind spots.
	for _, c := range r.Coverage {
		if c.Reason != "NotServed" && c.Reason != "NotCollected" {
			t.Errorf("coverage gap for an admin on a healthy cluster: %s %s: %s", c.Kind, c.Reason, c.Message)
		}
	}
	if r.Complete != nil && !*r.Complete {
		t.Errorf("healthy cluster, admin: the report says its coverage is incomplete")
	}
	if r.Score == nil || r.Grade != "A" {
		t.Errorf("healthy cluster: want a score and grade A, got score %v grade %q", r.Score, r.Grade)
	}

	// Read-only: every request the inspector made is a get, list or watch.
	reqs := baselineAudit
	if len(reqs) == 0 {
		t.Errorf("no request of patrol inspect in the API server's audit log (%s)", filepath.Join(clusterDir, "logs", "audit.log"))
	}
	verbs := map[string]int{}
	resources := map[string]int{}
	for _, e := range reqs {
		verbs[e.Verb]++
		resources[e.resource()]++
		if e.Verb != "get" && e.Verb != "list" && e.Verb != "watch" {
			t.Errorf("patrol inspect wrote to the cluster: %s %s (%d)", e.Verb, e.RequestURI, e.Code())
		}
	}
	t.Logf("patrol inspect made %d API requests (audit log): verbs %v; resources %s", len(reqs), verbs, sortedCounts(resources))
}

// TestScenarios injects each fault and checks that kubepatrol reports it,
// with evidence. The scenarios run in parallel: most of them wait for a
// controller or for a check's time threshold.
func TestScenarios(t *testing.T) {
	c := scenarios.Clients{Kube: kube}
	for _, s := range scenarios.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), s.Timeout+3*time.Minute)
			defer cancel()
			if err := scenarios.Purge(ctx, s, c); err != nil {
				t.Fatalf("purge leftovers of an earlier run: %v", err)
			}
			start := time.Now()
			cleanup, err := s.Apply(ctx, c)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			t.Cleanup(func() {
				if keep {
					return
				}
				cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer ccancel()
				if err := cleanup(cctx); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			if err := scenarios.WaitVisible(ctx, s, c); err != nil {
				t.Fatal(err)
			}
			t.Logf("fault visible after %s", time.Since(start).Round(100*time.Millisecond))
			var args []string
			if len(s.Config) > 0 {
				t.Logf("check parameters overridden: %v", s.Config)
				args = append(args, "--config", writeConfig(t, s.Config))
			}
			r, _ := inspect(t, inspectorKubeconfig, args...)
			assertExpected(t, r, s)
		})
	}
}

// assertExpected checks that every expectation of s has a firing finding
// with the expected severity and non-empty evidence, and logs the other
// findings about the scenario's objects.
func assertExpected(t *testing.T, r *Report, s *scenarios.Scenario) {
	t.Helper()
	matched := map[int]bool{}
	for _, want := range s.Expect {
		var found []int
		for i, f := range r.Findings {
			if want.Matches(f.Check, f.Object.Kind, f.Object.Namespace, f.Object.Name) {
				found = append(found, i)
			}
		}
		if len(found) == 0 {
			t.Errorf("missing finding: %s", want)
			continue
		}
		for _, i := range found {
			matched[i] = true
			f := r.Findings[i]
			switch {
			case f.Status != "firing":
				t.Errorf("%s: status %q, want firing: %s", want, f.Status, f)
			case f.Severity != want.Severity:
				t.Errorf("%s: severity %q, want %q: %s", want, f.Severity, want.Severity, f)
			case len(f.Evidence) == 0:
				t.Errorf("%s: no evidence: %s", want, f)
			case f.Message == "" || f.Reason == "":
				t.Errorf("%s: empty reason or message: %s", want, f)
			default:
				t.Logf("found: %s", f)
				for _, e := range f.Evidence {
					if e.Value == "" && e.Message == "" {
						t.Errorf("%s: empty evidence item %+v", want, e)
					}
				}
			}
		}
	}
	// Other findings about this scenario's objects: secondary symptoms,
	// or false positives worth a look.
	for i, f := range r.Findings {
		if matched[i] {
			continue
		}
		if f.Object.Namespace == s.Namespace() || (f.Object.Namespace == "" && strings.HasPrefix(f.Object.Name, "fault-") && belongsTo(f, s)) {
			t.Logf("also reported: %s", f)
		}
	}
}

func belongsTo(f Finding, s *scenarios.Scenario) bool {
	for _, e := range s.Expect {
		if e.Name == f.Object.Name {
			return true
		}
	}
	return false
}

// TestRestrictedUser: a user who may not read pods and nodes gets a report
// whose coverage names them Forbidden, and every check that needs them
// reports unknown, never healthy.
func TestRestrictedUser(t *testing.T) {
	ctx := context.Background()
	forbidden := map[string]bool{"pods": true, "nodes": true}
	rules, err := readAllExcept(ctx, forbidden)
	if err != nil {
		t.Fatal(err)
	}
	const name = "kubepatrol-e2e-restricted"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "kubepatrol-restricted"}},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	// A fault the restricted user cannot see: a crash-looping pod.
	s := scenarios.PodCrashLooping()
	if err := scenarios.Purge(ctx, s, scenarios.Clients{Kube: kube}); err != nil {
		t.Fatal(err)
	}
	cleanup, err := s.Apply(ctx, scenarios.Clients{Kube: kube})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cleanup(context.Background()) })

	r, _ := inspect(t, restrictedKubeconfig)
	gaps := map[string]string{}
	for _, c := range r.Coverage {
		gaps[c.Kind] = c.Reason
	}
	for _, kind := range []string{"Pod", "Node"} {
		if gaps[kind] != "Forbidden" {
			t.Errorf("coverage: %s is %q, want Forbidden (coverage: %+v)", kind, gaps[kind], r.Coverage)
		}
	}
	if r.Complete != nil && *r.Complete {
		t.Errorf("report claims complete coverage without pods and nodes")
	}

	needs := checksRequiring(t, "Pod", "Node")
	if len(needs) == 0 {
		t.Fatal("no check requires Pod or Node according to patrol checks list")
	}
	runs := map[string]string{}
	for _, run := range r.Checks {
		runs[run.Check] = run.Result
	}
	unknown := map[string]bool{}
	for _, f := range r.Findings {
		if f.Status == "unknown" {
			unknown[f.Check] = true
		}
		if f.Status == "firing" && slices.Contains(needs, f.Check) {
			t.Errorf("check %s fired although it cannot read what it needs: %s", f.Check, f)
		}
	}
	for _, id := range needs {
		if !unknown[id] {
			t.Errorf("check %s needs pods or nodes, which are forbidden: want an unknown finding, got none (run result %q)", id, runs[id])
		}
		if res, ok := runs[id]; ok && res != "unknown" {
			t.Errorf("check %s: run result %q, want unknown", id, res)
		}
	}
	if r.Grade == "A" {
		t.Errorf("report grades the cluster A while pods and nodes could not be read (score %v)", fmtScore(r.Score))
	}
	t.Logf("restricted: grade %q score %s, %d unknown checks of %d needing pods or nodes", r.Grade, fmtScore(r.Score), len(unknown), len(needs))
}

// TestAPIServerDown runs last: the API server is stopped, and the report
// must say that the cluster could not be read, never that it is healthy.
// Then the API server is restarted (up.sh restarts only what is missing).
func TestAPIServerDown(t *testing.T) {
	pidFile := filepath.Join(clusterDir, "run", "kube-apiserver.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM, as an operator or a supervisor would. The API server stops
	// listening at once but drains its clients' watches for up to a minute
	// before it exits; after 10 s it is killed.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop kube-apiserver (pid %d): %v", pid, err)
	}
	if !waitExit(pid, 10*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitExit(pid, 10*time.Second) {
			t.Fatalf("kube-apiserver (pid %d) still running after SIGKILL", pid)
		}
	}
	restarted := false
	t.Cleanup(func() {
		if restarted {
			return
		}
		if err := script("cluster/up.sh", []string{"NODES=0"}); err != nil {
			t.Errorf("restart the API server: %v", err)
		}
	})

	r, _ := inspect(t, inspectorKubeconfig, "--request-timeout", "5s")
	unreachable := 0
	for _, c := range r.Coverage {
		if c.Reason == "Unreachable" || c.Reason == "Timeout" {
			unreachable++
		}
	}
	unknown := 0
	for _, f := range r.Findings {
		if f.Status == "unknown" {
			unknown++
		}
	}
	if unreachable == 0 && unknown == 0 {
		t.Errorf("API server down: the report has no Unreachable coverage and no unknown finding: %+v", r.Coverage)
	}
	if r.Score != nil || (r.Grade != "?" && r.Grade != "") {
		t.Errorf("API server down: the report claims a score %s grade %q", fmtScore(r.Score), r.Grade)
	}
	if r.Complete != nil && *r.Complete {
		t.Errorf("API server down: the report claims complete coverage")
	}
	t.Logf("API server down: %d coverage gaps (%d Unreachable/Timeout), %d unknown findings, grade %q", len(r.Coverage), unreachable, unknown, r.Grade)

	// Back up (up.sh restarts only the API server, etcd kept the data):
	// the next report sees the cluster again.
	if err := script("cluster/up.sh", []string{"NODES=0"}); err != nil {
		t.Fatalf("restart the API server: %v", err)
	}
	restarted = true
	r, _ = inspect(t, inspectorKubeconfig)
	for _, c := range r.Coverage {
		if c.Reason == "Unreachable" || c.Reason == "Timeout" {
			t.Errorf("API server restarted: still %s for %s: %s", c.Reason, c.Kind, c.Message)
		}
	}
	if r.Score == nil {
		t.Errorf("API server restarted: the report still has no score")
	}
}

// waitExit waits until the process pid is gone.
func waitExit(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// readAllExcept returns ClusterRole rules that allow get, list and watch
// on every resource the API server serves, except the given core ones.
func readAllExcept(ctx context.Context, except map[string]bool) ([]rbacv1.PolicyRule, error) {
	_, lists, err := kube.Discovery().ServerGroupsAndResources()
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]string{}
	for _, l := range lists {
		gv, err := schemaGroup(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			base := strings.SplitN(r.Name, "/", 2)[0]
			if gv == "" && except[base] {
				continue
			}
			if !slices.Contains(r.Verbs, "list") && !slices.Contains(r.Verbs, "get") {
				continue
			}
			if !slices.Contains(byGroup[gv], r.Name) {
				byGroup[gv] = append(byGroup[gv], r.Name)
			}
		}
	}
	var rules []rbacv1.PolicyRule
	for g, rs := range byGroup {
		sort.Strings(rs)
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: rs, Verbs: []string{"get", "list", "watch"}})
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].APIGroups[0] < rules[j].APIGroups[0] })
	return rules, nil
}

func schemaGroup(groupVersion string) (string, error) {
	if groupVersion == "v1" {
		return "", nil
	}
	g, _, ok := strings.Cut(groupVersion, "/")
	if !ok {
		return "", fmt.Errorf("unexpected groupVersion %q", groupVersion)
	}
	return g, nil
}

// checksRequiring lists the IDs of the checks that read any of kinds,
// from `patrol checks list -o json`.
func checksRequiring(t *testing.T, kinds ...string) []string {
	t.Helper()
	out, err := exec.Command(patrolBin, "checks", "list", "-o", "json").Output()
	if err != nil {
		t.Fatalf("patrol checks list -o json: %v", err)
	}
	var metas []struct {
		ID       string   `json:"id"`
		Requires []string `json:"requires"`
	}
	if err := json.Unmarshal(out, &metas); err != nil {
		var wrapped struct {
			Checks []struct {
				ID       string   `json:"id"`
				Requires []string `json:"requires"`
			} `json:"checks"`
		}
		if err2 := json.Unmarshal(out, &wrapped); err2 != nil {
			t.Fatalf("patrol checks list -o json: %v", err)
		}
		metas = wrapped.Checks
	}
	var ids []string
	for _, m := range metas {
		for _, k := range m.Requires {
			if slices.Contains(kinds, k) {
				ids = append(ids, m.ID)
				break
			}
		}
	}
	return ids
}

func fmtScore(s *float64) string {
	if s == nil {
		return "null"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64)
}

// auditEvent is one line of the API server's audit log (up.sh audits only
// the inspector user).
type auditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	Stage      string `json:"stage"`
	ObjectRef  *struct {
		Resource    string `json:"resource"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (e auditEvent) Code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func (e auditEvent) resource() string {
	if e.ObjectRef == nil {
		return "nonResource:" + strings.SplitN(e.RequestURI, "?", 2)[0]
	}
	r := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		r += "/" + e.ObjectRef.Subresource
	}
	return r
}

// readAudit reads the completed requests of the inspector user so far.
func readAudit() ([]auditEvent, error) {
	f, err := os.Open(filepath.Join(clusterDir, "logs", "audit.log"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Stage == "ResponseComplete" {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
