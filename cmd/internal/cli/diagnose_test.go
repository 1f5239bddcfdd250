package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDiagnoseCommand(t *testing.T) {
	fx := td("incidents", "configmap-missing.yaml")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"table", []string{"diagnose", "deployment/cart", "-n", "shop"}, 0, "likely cause ConfigMap shop/shop-config does not exist", ""},
		{"kind and name as two arguments", []string{"diagnose", "deploy", "cart", "-n", "shop"}, 0, "Deployment/shop/cart", ""},
		{"markdown", []string{"diagnose", "pod/" + "cart-bbdff4c05-b2n4m", "-n", "shop", "-o", "markdown"}, 0, "# Diagnosis: `Pod/shop/cart-bbdff4c05-b2n4m`", ""},
		{"not found", []string{"diagnose", "deployment/nope", "-n", "shop"}, ExitError_, "", "Deployment/shop/nope not found"},
		{"bad kind", []string{"diagnose", "widget/x"}, ExitError_, "", `cannot diagnose kind "widget"`},
		{"bad format", []string{"diagnose", "deployment/cart", "-o", "html"}, ExitError_, "", `unknown format "html"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append(tc.args, "--snapshot", fx, "--at", "2026-03-02T10:00:00Z")...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
		})
	}
	code, out, _ := run(t, "diagnose", "deployment/cart", "-n", "shop", "--snapshot", fx, "--at", "2026-03-02T10:00:00Z", "-o", "json")
	var d struct {
		Schema   string `json:"schema"`
		Incident *struct {
			RootCause struct {
				Object struct{ Kind, Name string }
			} `json:"rootCause"`
		} `json:"incident"`
		LogsNote string `json:"logsNote"`
		Runbooks []struct {
			Alert    string   `json:"alert"`
			Commands []string `json:"commands"`
		} `json:"runbooks"`
	}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if d.Schema != "kubepatrol.io/diagnosis/v1" || d.Incident == nil || d.Incident.RootCause.Object.Name != "shop-config" || d.LogsNote == "" {
		t.Errorf("diagnosis %+v", d)
	}
	if len(d.Runbooks) == 0 || !strings.Contains(strings.Join(d.Runbooks[0].Commands, "\n"), "kubectl -n shop get deployment cart") {
		t.Errorf("runbook steps not filled for the object: %+v", d.Runbooks)
	}
}

func TestRunbookCommand(t *testing.T) {
	code, out, _ := run(t, "runbook", "--list")
	if code != 0 || !strings.Contains(out, "KubePodCrashLooping") || !strings.Contains(out, "PatrolDaemonDown") {
		t.Errorf("--list: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "runbook", "KubeNodeNotReady")
	if code != 0 || !strings.Contains(out, "# KubeNodeNotReady") || !strings.Contains(out, "## Mitigation") || !strings.Contains(out, "$NODE") {
		t.Errorf("plain: exit %d\n%s", code, out)
	}
	code, out, errs := run(t, "runbook", "KubeNodeUnreachable", "--labels", "node=worker-4",
		"--snapshot", td("incidents", "node-down.yaml"), "--at", "2026-03-02T10:00:00Z")
	for _, want := range []string{"# KubeNodeUnreachable: what kubepatrol found", "**node.unreachable** (Node unreachable): firing",
		"Incident `inc-", "kubectl get pods -A -o wide --field-selector spec.nodeName=worker-4", "## Remediation playbook", "Playbook `node-not-ready` proposes (dry run, nothing executed)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("labels: exit %d, output lacks %q\n%s\n%s", code, want, out, errs)
		}
	}
	code, out, _ = run(t, "runbook", "KubePodCrashLooping", "--labels", "namespace=reports,pod=nope", "--snapshot", td("incidents", "node-down.yaml"))
	if code == 0 {
		t.Errorf("a pod that does not exist: exit 0\n%s", out)
	}
	code, _, errs = run(t, "runbook", "KubeFlying")
	if code != ExitError_ || !strings.Contains(errs, `no runbook for alert "KubeFlying"`) {
		t.Errorf("unknown alert: exit %d %s", code, errs)
	}
	code, out, _ = run(t, "runbook", "KubeQuotaExceeded", "--labels", "namespace=team-a,resourcequota=compute",
		"--snapshot", td("incidents", "quota-exhausted.yaml"), "--at", "2026-03-02T10:00:00Z", "-o", "json")
	var r struct {
		Checks  []struct{ Check, Result string }
		Runbook string `json:"runbook"`
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || len(r.Checks) != 1 || r.Checks[0].Result != "firing" ||
		!strings.Contains(r.Runbook, "kubectl -n team-a describe resourcequota compute") {
		t.Errorf("json: exit %d %v %+v", code, err, r.Checks)
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, _ := run(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "patrol") || len(out) < 500 {
			t.Errorf("%s: exit %d, %d bytes", sh, code, len(out))
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"inspect", "--check", "pod.cr"}, []string{"pod.crash_looping"}, []string{"node.not_ready"}},
		{[]string{"inspect", "--skip", "node.not_ready,pod.oo"}, []string{"node.not_ready,pod.oom_killed"}, nil},
		{[]string{"inspect", "--check", "dn"}, []string{"dns\t", "dns.coredns_unavailable"}, nil},
		{[]string{"runbook", "KubePodC"}, []string{"KubePodCrashLooping"}, []string{"KubeNodeNotReady"}},
		{[]string{"runbook", "kubenode"}, []string{"KubeNodeNotReady", "KubeNodeUnreachable"}, nil},
		{[]string{"diagnose", "dep"}, []string{"deployment/"}, []string{"pod/"}},
		{[]string{"diagnose", "-o", ""}, []string{"markdown"}, nil},
	} {
		code, out, _ := run(t, append([]string{"__complete"}, append(tc.args[:len(tc.args)-1:len(tc.args)-1], tc.args[len(tc.args)-1])...)...)
		for _, w := range tc.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("complete %v: want %q in\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("complete %v: %q should not be offered", tc.args, w)
			}
		}
	}
}

// TestKubectlPlugin: installed as kubectl-patrol the command names itself
// "kubectl patrol", and kubectl's completion helper kubectl_complete-patrol
// is answered by cobra's completion.
func TestKubectlPlugin(t *testing.T) {
	old := os.Args[0]
	defer func() { os.Args[0] = old }()
	os.Args[0] = "/usr/local/bin/kubectl-patrol"
	code, out, _ := run(t, "--help")
	if code != 0 || !strings.Contains(out, "kubectl patrol [command]") {
		t.Errorf("help as a plugin: exit %d\n%s", code, out)
	}
	os.Args[0] = "/usr/local/bin/kubectl_complete-patrol"
	code, out, _ = run(t, "runbook", "KubeJobF")
	if code != 0 || !strings.Contains(out, "KubeJobFailed") {
		t.Errorf("plugin completion: exit %d\n%s", code, out)
	}
	if got := PluginCompletionArgs("/bin/patrol", []string{"inspect"}); len(got) != 1 || got[0] != "inspect" {
		t.Errorf("plain invocation changed: %v", got)
	}
}
