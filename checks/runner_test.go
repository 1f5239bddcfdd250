package checks

import (
	"context"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func nodeSnap(src snapshot.Source, gaps ...snapshot.Coverage) *snapshot.Snapshot {
	return &snapshot.Snapshot{Cluster: "c", Source: src, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Nodes: []snapshot.Node{{Meta: snapshot.Meta{Name: "n1"}}}, Coverage: gaps}
}

func fires(id string, sev Severity, prio int) Check {
	return New(Meta{ID: id, Title: id, Severity: sev, Priority: prio, Requires: []snapshot.Kind{snapshot.KindNode}},
		func(ctx context.Context, env *Env) []Finding {
			var out []Finding
			for i := range env.Snap.Nodes {
				out = append(out, env.Finding(Ref(snapshot.KindNode, &env.Snap.Nodes[i].Meta), "Bad", "bad"))
			}
			return out
		})
}

func TestRunnerIsolatesPanicsAndTimeouts(t *testing.T) {
	panics := New(Meta{ID: "x.panics", Requires: []snapshot.Kind{snapshot.KindNode}}, func(context.Context, *Env) []Finding {
		var m map[string]int
		m["boom"]++
		return nil
	})
	slow := New(Meta{ID: "x.slow", Requires: []snapshot.Kind{snapshot.KindNode}}, func(ctx context.Context, _ *Env) []Finding {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	r := Runner{Checks: []Check{panics, slow, fires("x.ok", Warning, 0)}, Timeout: 50 * time.Millisecond}
	res := r.Run(context.Background(), nodeSnap(snapshot.SourceLive))
	got := map[string]RunResult{}
	for _, run := range res.Runs {
		got[run.Check] = run.Result
	}
	want := map[string]RunResult{"x.panics": ResultError, "x.slow": ResultTimeout, "x.ok": ResultFindings}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s, want %s", id, got[id], w)
		}
	}
	if len(res.Findings) != 1 || res.Findings[0].Check != "x.ok" {
		t.Errorf("findings %+v", res.Findings)
	}
}

func TestRunnerNeverClaimsHealthWithoutData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		snap   *snapshot.Snapshot
		result RunResult
		status Status
	}{
		{"forbidden", nodeSnap(snapshot.SourceLive, snapshot.Coverage{Kind: snapshot.KindNode, Reason: snapshot.Forbidden}), ResultUnknown, Unknown},
		{"unreachable", nodeSnap(snapshot.SourceLive, snapshot.Coverage{Kind: snapshot.KindNode, Reason: snapshot.Unreachable}), ResultUnknown, Unknown},
		{"timeout", nodeSnap(snapshot.SourceLive, snapshot.Coverage{Kind: snapshot.KindNode, Reason: snapshot.Timeout}), ResultUnknown, Unknown},
		{"not in a recording", nodeSnap(snapshot.SourceFile, snapshot.Coverage{Kind: snapshot.KindNode, Reason: snapshot.NotCollected}), ResultSkipped, ""},
		{"not served", nodeSnap(snapshot.SourceLive, snapshot.Coverage{Kind: snapshot.KindNode, Reason: snapshot.NotServed}), ResultFindings, Firing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Runner{Checks: []Check{fires("x.node", Critical, 0)}}
			res := r.Run(context.Background(), tc.snap)
			if res.Runs[0].Result != tc.result {
				t.Fatalf("result %s, want %s", res.Runs[0].Result, tc.result)
			}
			if tc.status == "" {
				if len(res.Findings) != 0 {
					t.Errorf("findings %+v", res.Findings)
				}
				return
			}
			if len(res.Findings) != 1 || res.Findings[0].Status != tc.status {
				t.Fatalf("findings %+v", res.Findings)
			}
			if tc.status == Unknown && (res.Findings[0].Object.Kind != "Cluster" || len(res.Findings[0].Evidence) == 0) {
				t.Errorf("unknown finding %+v", res.Findings[0])
			}
		})
	}
}

func TestRunnerSkipsLiveOnlyChecksOnRecordings(t *testing.T) {
	c := New(Meta{ID: "x.live", LiveOnly: true, Requires: []snapshot.Kind{snapshot.KindControlPlane}}, func(context.Context, *Env) []Finding {
		t.Error("ran a live-only check on a recording")
		return nil
	})
	res := (&Runner{Checks: []Check{c}}).Run(context.Background(), nodeSnap(snapshot.SourceFile))
	if res.Runs[0].Result != ResultSkipped {
		t.Errorf("%+v", res.Runs[0])
	}
}

func TestMarkPrimary(t *testing.T) {
	r := Runner{Checks: []Check{fires("a.symptom", Warning, 10), fires("b.cause", Warning, 90), fires("c.worse", Info, 99)}}
	res := r.Run(context.Background(), nodeSnap(snapshot.SourceLive))
	by := map[string]Finding{}
	for _, f := range res.Findings {
		by[f.Check] = f
	}
	if p := by["b.cause"]; p.ExplainedBy != "" || len(p.PrimaryOf) != 2 {
		t.Errorf("primary %+v", p)
	}
	for _, id := range []string{"a.symptom", "c.worse"} {
		if by[id].ExplainedBy != "b.cause" {
			t.Errorf("%s explained by %q", id, by[id].ExplainedBy)
		}
	}
}

func TestParamsAndDurations(t *testing.T) {
	m := Meta{ID: "x.p", Params: []Param{{Name: "for", Type: Duration, Default: "1d"}, {Name: "pct", Type: Float, Default: "90%"}}}
	p, err := ResolveParams(m, map[string]string{"for": "1w2d"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration("for") != 9*24*time.Hour || p.Float("pct") != 90 {
		t.Errorf("for %s pct %v", p.Duration("for"), p.Float("pct"))
	}
	if _, err := ResolveParams(m, map[string]string{"for": "soon"}); err == nil {
		t.Error("bad duration accepted")
	}
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "2d12h": 60 * time.Hour, "0.5d": 12 * time.Hour} {
		if d, err := ParseDuration(in); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
}

func TestIgnoreAnnotation(t *testing.T) {
	s := nodeSnap(snapshot.SourceLive)
	s.Nodes = append(s.Nodes,
		snapshot.Node{Meta: snapshot.Meta{Name: "n2", Annotations: map[string]string{IgnoreAnnotation: "true"}}},
		snapshot.Node{Meta: snapshot.Meta{Name: "n3", Annotations: map[string]string{IgnoreAnnotation: "x.other, a"}}},
		snapshot.Node{Meta: snapshot.Meta{Name: "n4", Annotations: map[string]string{IgnoreAnnotation: "false"}}})
	r := Runner{Checks: []Check{fires("a.one", Warning, 0), fires("b.two", Warning, 0)}}
	got := map[string]bool{}
	for _, f := range r.Run(context.Background(), s).Findings {
		got[f.Check+"/"+f.Object.Name] = true
	}
	want := map[string]bool{"a.one/n1": true, "b.two/n1": true, "b.two/n3": true, "a.one/n4": true, "b.two/n4": true}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missing %s", k)
		}
	}
}
