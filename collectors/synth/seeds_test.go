package synth_test

import (
	"context"
	"testing"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/synth"
)

// TestKnownAnswerVariants repeats the known-answer test on fleets of other
// sizes, seeds and fault rates (a healthy fleet must be silent), briefly.
func TestKnownAnswerVariants(t *testing.T) {
	for _, v := range []synth.Options{
		{Nodes: 120, Pods: 3500, Seed: 1, FaultRate: 0},
		{Nodes: 60, Pods: 1500, Seed: 2, FaultRate: 0.06},
		{Nodes: 9, Pods: 250, Seed: 3, FaultRate: 0.05},
		{Nodes: 300, Pods: 4000, Seed: 4, FaultRate: 0.01},
		{Nodes: 2, Pods: 40, Seed: 5, FaultRate: 0.1},
	} {
		g := synth.Generate(v)
		res := (&checks.Runner{Checks: catalog.All()}).Run(context.Background(), g.Snapshot)
		fired := map[string]bool{}
		for _, f := range res.Findings {
			if f.Status != checks.Firing {
				t.Errorf("%+v: %s: %s %s", v, f.Check, f.Status, f.Message)
				continue
			}
			fired[f.Key()] = true
			if _, _, ok := g.Explains(f.Check, f.Object.Kind, f.Object.Namespace, f.Object.Name); !ok {
				t.Errorf("seed %d: unexplained %s %s: %s", v.Seed, f.Check, f.Object, f.Message)
			}
		}
		for _, e := range g.Expected {
			if !fired[e.Key()] && catalog.ByID()[e.Check] != nil {
				t.Errorf("seed %d: missing %s %s/%s/%s (%s) %s", v.Seed, e.Check, e.Kind, e.Namespace, e.Name, e.Fault, e.Note)
			}
		}
	}
}
