package file

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestClusterInfoDumpFolder(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "testdata", "file", "dump"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 1 || len(s.Pods) != 1 || len(s.Events) != 1 {
		t.Fatalf("got %d nodes, %d pods, %d events; want 1 each", len(s.Nodes), len(s.Pods), len(s.Events))
	}
	if s.Pods[0].Containers[0].Requests["cpu"] != 250 {
		t.Errorf("cpu request = %d millicores, want 250", s.Pods[0].Containers[0].Requests["cpu"])
	}
	// "now" of a recording is its newest timestamp: the event's lastTimestamp.
	if want := time.Date(2026, 3, 2, 9, 59, 30, 0, time.UTC); !s.CollectedAt.Equal(want) {
		t.Errorf("CollectedAt = %s, want %s", s.CollectedAt, want)
	}
	if s.Version != "v1.32.2" {
		t.Errorf("server version from kubectl version -o json = %q", s.Version)
	}
	if s.Cluster != "dump" || s.Source != snapshot.SourceFile || s.ID == "" {
		t.Errorf("cluster %q source %q id %q", s.Cluster, s.Source, s.ID)
	}
	// An empty typed list means the kind was collected and is empty:
	// no coverage gap. Kinds absent from the dump are NotCollected.
	gaps := map[snapshot.Kind]snapshot.CoverageReason{}
	for _, c := range s.Coverage {
		gaps[c.Kind] = c.Reason
	}
	if _, ok := gaps[snapshot.KindDeployment]; ok {
		t.Error("Deployment was in the dump (an empty list) but is reported as a gap")
	}
	if gaps[snapshot.KindService] != snapshot.NotCollected {
		t.Errorf("Service gap = %q, want NotCollected", gaps[snapshot.KindService])
	}
}

func TestAtOverridesTime(t *testing.T) {
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Load(filepath.Join("..", "..", "testdata", "file", "dump"), Options{At: at, Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.CollectedAt.Equal(at) || s.Cluster != "prod" {
		t.Errorf("got %s %q", s.CollectedAt, s.Cluster)
	}
}

func TestMalformedInputNamesFileAndPosition(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"syntax.json", "syntax.json:4:3: invalid character ']'"},
		{"type.yaml", "type.yaml:4:3: items[0] (Pod default/x): Pod: json: cannot unmarshal string into Go struct field PodSpec.spec.containers"},
		{"indent.yaml", "indent.yaml: line 5: mapping values are not allowed in this context"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("..", "..", "testdata", "file", "bad", tc.file), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMixedListAndMultiDocYAML(t *testing.T) {
	dir := t.TempDir()
	doc := `apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns, creationTimestamp: "2026-01-01T00:00:00Z"}
---
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: e, namespace: ns}
regarding: {kind: Pod, namespace: ns, name: a}
reason: BackOff
note: Back-off restarting failed container
type: Warning
eventTime: "2026-01-02T00:00:00.000000Z"
reportingController: kubelet
reportingInstance: n1
action: Restart
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d, namespace: ns}
  spec: {selector: {matchLabels: {app: d}}, template: {metadata: {labels: {app: d}}, spec: {containers: [{name: c, image: i}]}}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: ignored, namespace: ns}
- apiVersion: storage.k8s.io/v1
  kind: StorageClassList
  items:
  - apiVersion: storage.k8s.io/v1
    kind: StorageClass
    metadata: {name: fast}
    provisioner: ebs.csi.aws.com
`
	p := filepath.Join(dir, "mixed.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.StorageClasses) != 1 {
		t.Errorf("a list nested in a list was dropped: %d storage classes", len(s.StorageClasses))
	}
	if len(s.Pods) != 1 || len(s.Events) != 1 || len(s.Deployments) != 1 {
		t.Fatalf("pods %d events %d deployments %d", len(s.Pods), len(s.Events), len(s.Deployments))
	}
	if e := s.Events[0]; e.Message != "Back-off restarting failed container" || e.Source != "kubelet" || e.Involved.Name != "a" {
		t.Errorf("events.k8s.io event projected as %+v", e)
	}
	if s.Deployments[0].Replicas != 1 || s.Deployments[0].ProgressDeadlineSeconds != 600 {
		t.Errorf("defaults not applied: %+v", s.Deployments[0])
	}
}

func TestOwnSnapshotRoundTrip(t *testing.T) {
	in, err := Load(filepath.Join("..", "..", "testdata", "file", "dump"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := snapshot.Write(&b, in); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "snap.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || !out.CollectedAt.Equal(in.CollectedAt) || len(out.Pods) != 1 || len(out.Coverage) != len(in.Coverage) {
		t.Errorf("round trip changed the snapshot: %+v", out)
	}
}

func TestOwnSnapshotGzip(t *testing.T) {
	in, err := Load(filepath.Join("..", "..", "testdata", "file", "dump"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "snap.json.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := snapshot.Writer(f, true)
	if err := snapshot.Write(w, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || len(out.Nodes) != 1 {
		t.Errorf("gzip round trip: %+v", out)
	}
}
