package pod

import (
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestParseMissingRef(t *testing.T) {
	tests := []struct {
		msg  string
		want missingRef
		ok   bool
	}{
		{`configmap "app-config" not found`, missingRef{Kind: "ConfigMap", Name: "app-config"}, true},
		{`Error: configmap "app-config" not found`, missingRef{Kind: "ConfigMap", Name: "app-config"}, true},
		{`secret "db-credentials" not found`, missingRef{Kind: "Secret", Name: "db-credentials"}, true},
		{`secrets "tls" not found`, missingRef{Kind: "Secret", Name: "tls"}, true},
		{`MountVolume.SetUp failed for volume "config" : configmap "nginx-conf" not found`, missingRef{Kind: "ConfigMap", Name: "nginx-conf"}, true},
		{`couldn't find key DB_HOST in ConfigMap default/app-config`, missingRef{Kind: "ConfigMap", Name: "app-config", Key: "DB_HOST"}, true},
		{`couldn't find key password in Secret prod/db`, missingRef{Kind: "Secret", Name: "db", Key: "password"}, true},
		{`container has runAsNonRoot and image will run as root`, missingRef{}, false},
		{`failed to sync configmap cache: timed out waiting for the condition`, missingRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			got, ok := parseMissingRef(tt.msg)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseMissingRef(%q) = %+v, %v; want %+v, %v", tt.msg, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPullHint(t *testing.T) {
	tests := []struct {
		reason, msg, want string
	}{
		{"ErrImagePull", `failed to resolve reference "x:1": x:1: not found`, "the image or tag does not exist in the registry"},
		{"ErrImagePull", `manifest unknown: manifest unknown`, "the image or tag does not exist in the registry"},
		{"ErrImagePull", `unexpected status from GET request to https://ghcr.io/token: 401 Unauthorized`, "the registry rejected the pull credentials (check imagePullSecrets)"},
		{"ErrImagePull", `pull access denied for foo, repository does not exist or may require 'docker login'`, "the repository does not exist or requires credentials"},
		{"ErrImagePull", `429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.`, "the registry is rate-limiting pulls"},
		{"ErrImagePull", `dial tcp: lookup harbor.local on 10.96.0.10:53: no such host`, "the registry cannot be reached from the node"},
		{"ErrImagePull", `x509: certificate signed by unknown authority`, "the node does not trust the registry's TLS certificate"},
		{"ErrImagePull", `no match for platform in manifest: not found`, "the image has no build for the node's platform"},
		{"ImagePullBackOff", `Back-off pulling image "x"`, ""},
		{"InvalidImageName", `anything`, "the image reference is malformed"},
		{"ErrImagePull", `sha256:4040401abc digest mismatch`, ""},
	}
	for _, tt := range tests {
		if got := pullHint(tt.reason, tt.msg); got != tt.want {
			t.Errorf("pullHint(%q, %q) = %q, want %q", tt.reason, tt.msg, got, tt.want)
		}
	}
}

func TestInsufficient(t *testing.T) {
	got := insufficient("0/5 nodes are available: 2 Insufficient nvidia.com/gpu, 1 Insufficient cpu, 3 Insufficient memory. preemption: 0/5 nodes are available: 2 Insufficient memory.")
	want := []string{"nvidia.com/gpu", "cpu", "memory"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestEvictionResource(t *testing.T) {
	tests := []struct{ reason, msg, want string }{
		{"Evicted", "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91368Ki.", "memory"},
		{"Evicted", "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9Gi.", "ephemeral-storage"},
		{"Evicted", "The node had condition: [DiskPressure]. ", "DiskPressure"},
		{"Evicted", "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ", "ephemeral-storage"},
		{"Evicted", `Usage of EmptyDir volume "cache" exceeds the limit "1Gi". `, "ephemeral-storage"},
		{"OutOfmemory", "Pod was rejected: Node didn't have enough resource: memory", "memory"},
		{"NodeAffinity", "Pod Predicate NodeAffinity failed", ""},
	}
	for _, tt := range tests {
		if got := evictionResource(tt.reason, tt.msg); got != tt.want {
			t.Errorf("evictionResource(%q, %q) = %q, want %q", tt.reason, tt.msg, got, tt.want)
		}
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		name string
		v    int64
		want string
	}{
		{"cpu", 250, "250m"},
		{"cpu", 2000, "2"},
		{"memory", 256 << 20, "256Mi"},
		{"memory", 1 << 30, "1Gi"},
		{"memory", 500e6, "500M"},
		{"memory", 24<<30 + 64<<20, "24.1Gi"},
		{"memory", 1536 << 20, "1536Mi"},
		{"nvidia.com/gpu", 1, "1"},
		{"pods", 110, "110"},
	}
	for _, tt := range tests {
		if got := quantity(tt.name, tt.v); got != tt.want {
			t.Errorf("quantity(%q, %d) = %q, want %q", tt.name, tt.v, got, tt.want)
		}
	}
}

func TestTermination(t *testing.T) {
	tests := []struct {
		s    snapshot.ContainerState
		want string
	}{
		{snapshot.ContainerState{ExitCode: 1, Reason: "Error"}, "exit code 1 (Error)"},
		{snapshot.ContainerState{ExitCode: 137, Reason: "OOMKilled"}, "exit code 137 (OOMKilled)"},
		{snapshot.ContainerState{ExitCode: 137, Reason: "Error"}, "exit code 137 (Error, SIGKILL)"},
		{snapshot.ContainerState{ExitCode: 0, Reason: "Completed"}, "exit code 0 (Completed)"},
		{snapshot.ContainerState{ExitCode: 127}, "exit code 127 (command not found)"},
	}
	for _, tt := range tests {
		if got := termination(tt.s); got != tt.want {
			t.Errorf("termination(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestDurTextAndClip(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 30 * time.Second: "30s"} {
		if got := durText(d); got != want {
			t.Errorf("durText(%v) = %q, want %q", d, got, want)
		}
	}
	if got := clipMiddle("abcdefghijklmnopqrstuvwxyz", 11); got != "abcde … xyz" {
		t.Errorf("clipMiddle = %q", got)
	}
	if got := clipMiddle("line one\nline two", 100); got != "line one" {
		t.Errorf("clipMiddle multi-line = %q", got)
	}
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"  short  ", 5, "short"},
		{"héllo", 5, "héllo"}, // 6 bytes, 5 runes
		{"héllo!", 5, "héll…"},
		{"\xff\xfe", 2, "\xff\xfe"},
		{"\xff\xfe\xfd", 2, "\ufffd…"},
	} {
		if got := clip(tc.s, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestEventContainer(t *testing.T) {
	for _, tc := range []struct{ fieldPath, want string }{
		{"spec.containers{app}", "app"},
		{"spec.initContainers{migrate}", "migrate"},
		{"spec.ephemeralContainers{debugger-x7k2}", "debugger-x7k2"},
		{"", ""},
		{"spec.containers", ""},
		{"metadata.name", ""},
	} {
		e := &snapshot.Event{FieldPath: tc.fieldPath}
		if got := eventContainer(e); got != tc.want {
			t.Errorf("eventContainer(%q) = %q, want %q", tc.fieldPath, got, tc.want)
		}
	}
	byText := func(m string) bool { return m == "mentions app" }
	for _, tc := range []struct {
		fieldPath, msg string
		want           bool
	}{
		{"spec.containers{app}", "anything", true},
		{"spec.containers{sidecar}", "mentions app", false},
		{"", "mentions app", true},
		{"", "mentions nothing", false},
	} {
		e := &snapshot.Event{FieldPath: tc.fieldPath, Message: tc.msg}
		if got := forContainer(e, "app", byText); got != tc.want {
			t.Errorf("forContainer(%q, %q) = %v, want %v", tc.fieldPath, tc.msg, got, tc.want)
		}
	}
	for msg, named := range map[string]bool{
		"Back-off restarting failed container app in pod web-1_shop(1f2e)":                true,
		"back-off 5m0s restarting failed container=app pod=web-1_shop(1f2e)":              true,
		"Back-off restarting failed container":                                            false,
		"Back-off restarting failed container istio-proxy in pod checkout_shop(0a1b2c3d)": true,
	} {
		if got := reNamedBackOff.MatchString(msg); got != named {
			t.Errorf("reNamedBackOff(%q) = %v, want %v", msg, got, named)
		}
	}
}
