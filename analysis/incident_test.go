package analysis_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/file"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var update = flag.Bool("update", false, "rewrite the incident golden files")

// metas is the catalogue's descriptors by ID.
func metas() map[string]checks.Meta {
	m := map[string]checks.Meta{}
	for _, c := range catalog.All() {
		m[c.Meta().ID] = c.Meta()
	}
	return m
}

// runFixture loads a testdata/incidents fixture at its `# at:` time and
// runs the whole catalogue over it.
func runFixture(t *testing.T, path string) (*snapshot.Snapshot, []checks.Finding) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "#")), "at:"); ok {
			if at, err = time.Parse(time.RFC3339, strings.TrimSpace(v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	fh.Close()
	s, err := file.Load(path, file.Options{At: at, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res := (&checks.Runner{Checks: catalog.All()}).Run(context.Background(), s)
	return s, res.Findings
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./analysis -run TestIncidentsGolden -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

// TestIncidentsGolden runs the catalogue and the grouping over every
// multi-fault fixture under testdata/incidents and compares the incidents
// with the .golden.json beside it.
func TestIncidentsGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "incidents", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			s, fs := runFixture(t, f)
			incs := analysis.Incidents(s, fs, analysis.IncidentOptions{Checks: metas()})
			if incs == nil {
				incs = []analysis.Incident{}
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			if err := enc.Encode(incs); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden.json", b.Bytes())
			checkInvariants(t, fs, incs)
		})
	}
}

// checkInvariants: every finding is in at most one incident; every
// incident holds at least two findings on two objects; IDs are unique;
// confidences lie in (0, 1].
func checkInvariants(t *testing.T, fs []checks.Finding, incs []analysis.Incident) {
	t.Helper()
	seen := map[string]string{}
	ids := map[string]bool{}
	for _, in := range incs {
		if ids[in.ID] {
			t.Errorf("duplicate incident ID %s", in.ID)
		}
		ids[in.ID] = true
		keys := []string{}
		if in.RootCause.Check != "" {
			obj := in.RootCause.Object
			if in.RootCause.FindingObject != nil {
				obj = *in.RootCause.FindingObject
			}
			keys = append(keys, in.RootCause.Check+"|"+obj.String())
		}
		objs := map[string]bool{}
		for _, m := range in.Members {
			keys = append(keys, m.Check+"|"+m.Object.String())
			objs[m.Object.String()] = true
			if m.Link.Confidence <= 0 || m.Link.Confidence > 1 {
				t.Errorf("%s: member %s %s: confidence %v", in.ID, m.Check, m.Object, m.Link.Confidence)
			}
		}
		if len(keys) < 2 {
			t.Errorf("%s: fewer than two findings", in.ID)
		}
		for _, k := range keys {
			if other, ok := seen[k]; ok {
				t.Errorf("finding %s in two incidents: %s and %s", k, other, in.ID)
			}
			seen[k] = in.ID
		}
		if in.Confidence <= 0 || in.Confidence > 1 {
			t.Errorf("%s: confidence %v", in.ID, in.Confidence)
		}
		if in.NextStep.Action == "" {
			t.Errorf("%s: no next step", in.ID)
		}
	}
	firing := map[string]bool{}
	for _, f := range fs {
		if f.Status == checks.Firing {
			firing[f.Key()] = true
		}
	}
	for k := range seen {
		if !firing[k] {
			t.Errorf("incident member %s is not a firing finding", k)
		}
	}
}

// TestIncidentsExpected states what a person would conclude from each
// fixture; the golden files hold the detail.
func TestIncidentsExpected(t *testing.T) {
	type want struct {
		root    string   // root cause object
		rule    string   // incident rule
		holds   []string // objects (check|kind/ns/name prefixes) it must hold
		notHold []string // objects it must not hold
	}
	cases := map[string]struct {
		incidents []want
		alone     []string // findings in no incident
	}{
		"node-down": {
			incidents: []want{
				{root: "Node/worker-4", rule: "node",
					holds:   []string{"Deployment/shop/api", "Deployment/shop/web", "Deployment/kube-system/coredns", "Service/shop/api"},
					notHold: []string{"Deployment/reports/report-gen", "Pod/default/debug-tools"}},
				{root: "Deployment/reports/report-gen", rule: "workload",
					holds: []string{"Pod/reports/report-gen-"}},
			},
			alone: []string{"Pod/default/debug-tools"},
		},
		"healthy": {},
		"controlplane-down": {
			incidents: []want{
				{root: "Lease/kube-system/kube-controller-manager", rule: "controlplane",
					holds:   []string{"Pod/kube-system/kube-controller-manager-cp-1", "Deployment/shop/web", "Deployment/shop/api"},
					notHold: []string{"Deployment/shop/worker", "Pod/shop/worker-"}},
				{root: "Deployment/shop/worker", rule: "workload", holds: []string{"Pod/shop/worker-"}},
			},
		},
		"configmap-missing": {
			incidents: []want{
				{root: "ConfigMap/shop/shop-config", rule: "config",
					holds:   []string{"Deployment/shop/cart", "Deployment/shop/checkout", "Deployment/shop/orders", "Pod/shop/cart-", "Pod/shop/orders-"},
					notHold: []string{"Deployment/shop/frontend", "Deployment/billing/invoices"}},
				{root: "Secret/billing/stripe-key", rule: "config", holds: []string{"Deployment/billing/invoices", "Pod/billing/invoices-"}},
			},
		},
		"webhook-outage": {
			incidents: []want{
				{root: "Deployment/policy-system/policy-guard", rule: "webhook",
					holds: []string{"ValidatingWebhookConfiguration/policy-guard", "Service/policy-system/policy-guard",
						"Deployment/shop/web", "Deployment/shop/api", "StatefulSet/data/cache", "Pod/policy-system/policy-guard-"}},
			},
		},
		"unrelated": {
			incidents: []want{
				{root: "Deployment/analytics/spark-driver", rule: "workload", holds: []string{"Pod/analytics/spark-driver-"}},
				{root: "Deployment/docs/docs", rule: "workload", holds: []string{"Pod/docs/docs-"}, notHold: []string{"Deployment/landing/landing", "Pod/landing/"}},
				{root: "Deployment/landing/landing", rule: "workload", holds: []string{"Pod/landing/landing-"}, notHold: []string{"Pod/docs/"}},
			},
			alone: []string{"Pod/batch/batch-runner", "PersistentVolumeClaim/scratch/scratch-data", "Node/worker-3"},
		},
		"registry-outage": {
			incidents: []want{
				{root: "Registry/registry.corp.example:5000", rule: "registry",
					holds:   []string{"Deployment/shop/cart", "Deployment/billing/invoices", "Deployment/search/indexer", "Pod/search/indexer-"},
					notHold: []string{"Deployment/shop/frontend"}},
			},
		},
		"quota-exhausted": {
			incidents: []want{
				{root: "ResourceQuota/team-a/compute", rule: "quota",
					holds: []string{"Deployment/team-a/api", "Deployment/team-a/worker", "HorizontalPodAutoscaler/team-a/worker"}},
			},
		},
		"storageclass-missing": {
			incidents: []want{
				{root: "StorageClass/fast-ssd", rule: "storageclass",
					holds: []string{"PersistentVolumeClaim/streaming/data-kafka-0", "PersistentVolumeClaim/streaming/data-kafka-2",
						"Pod/streaming/kafka-1", "StatefulSet/streaming/kafka"}},
			},
		},
		"dns-down": {
			incidents: []want{
				{root: "Deployment/kube-system/coredns", rule: "dns",
					holds: []string{"Service/kube-system/kube-dns", "Pod/kube-system/coredns-", "Pod/shop/checkout-", "Deployment/shop/checkout",
						"Pod/shop/cart-", "Deployment/shop/cart"}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, fs := runFixture(t, filepath.Join("..", "testdata", "incidents", name+".yaml"))
			incs := analysis.Incidents(s, fs, analysis.IncidentOptions{Checks: metas()})
			if len(incs) != len(tc.incidents) {
				for _, in := range incs {
					t.Logf("got %s %s: %s", in.ID, in.Rule, in.Title)
				}
				t.Fatalf("%d incidents, want %d", len(incs), len(tc.incidents))
			}
			for i, w := range tc.incidents {
				in, ok := byRoot(incs, w.root)
				if !ok {
					t.Errorf("no incident rooted at %s", w.root)
					continue
				}
				if in.Rule != w.rule {
					t.Errorf("incident %d: rule %s, want %s", i, in.Rule, w.rule)
				}
				for _, h := range w.holds {
					if !holds(in, h) {
						t.Errorf("incident %d (%s) does not hold %s", i, in.Title, h)
					}
				}
				for _, h := range w.notHold {
					if holds(in, h) {
						t.Errorf("incident %d (%s) wrongly holds %s", i, in.Title, h)
					}
				}
			}
			if name == "node-down" && incs[0].RootCause.Object.String() != "Node/worker-4" {
				t.Errorf("the node incident (critical workloads) must rank first, got %s", incs[0].Title)
			}
			if name == "controlplane-down" && incs[0].Rule != "controlplane" {
				t.Errorf("control-plane faults rank first, got %s", incs[0].Title)
			}
			of := analysis.IncidentOf(incs)
			for _, a := range tc.alone {
				for k, id := range of {
					if strings.Contains(k, "|"+a) {
						t.Errorf("%s should be in no incident, is in %s", k, id)
					}
				}
			}
		})
	}
}

func byRoot(incs []analysis.Incident, root string) (analysis.Incident, bool) {
	for _, in := range incs {
		if in.RootCause.Object.String() == root {
			return in, true
		}
	}
	return analysis.Incident{}, false
}

func holds(in analysis.Incident, prefix string) bool {
	if strings.HasPrefix(in.RootCause.Object.String(), prefix) {
		return true
	}
	if fo := in.RootCause.FindingObject; fo != nil && strings.HasPrefix(fo.String(), prefix) {
		return true
	}
	for _, m := range in.Members {
		if strings.HasPrefix(m.Object.String(), prefix) {
			return true
		}
	}
	return false
}
