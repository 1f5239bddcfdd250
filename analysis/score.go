// Package analysis turns findings into judgements: health scores and
// grades per cluster, namespace and node, and suppressions with owners,
// reasons and expiry dates. Everything here is a pure function of a
// snapshot and its findings.
package analysis

import (
	"math"
	"sort"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Weight is how much one object's worst finding costs it: a critical
// object counts as fully broken, a warning as half, an info as a tenth.
func Weight(s checks.Severity) float64 {
	switch s {
	case checks.Critical:
		return 1
	case checks.Warning:
		return 0.5
	case checks.Info:
		return 0.1
	}
	return 0
}

// ClusterPenalty is subtracted from the cluster score for each firing
// finding of a cluster-wide check (control plane, admission webhooks,
// aggregated APIs, DNS, kube-proxy): these break the whole cluster no
// matter how many healthy pods dilute the per-kind sections.
var ClusterPenalty = map[checks.Severity]float64{checks.Critical: 15, checks.Warning: 5, checks.Info: 1}

// clusterWide reports whether a check judges the cluster as a whole.
func clusterWide(id string) bool {
	for _, p := range []string{"controlplane.", "webhook.", "apiservice.", "dns.", "kubeproxy."} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// scoredKinds are the kinds whose objects are scored; events, leases and
// endpoint slices are inputs, not things an operator runs.
var scoredKinds = []snapshot.Kind{
	snapshot.KindNode, snapshot.KindPod, snapshot.KindDeployment, snapshot.KindStatefulSet,
	snapshot.KindDaemonSet, snapshot.KindJob, snapshot.KindCronJob, snapshot.KindHPA,
	snapshot.KindPDB, snapshot.KindPVC, snapshot.KindPV, snapshot.KindService,
	snapshot.KindResourceQuota, snapshot.KindNamespace,
}

// Scored reports whether objects of kind k count towards health scores.
func Scored(k snapshot.Kind) bool {
	for _, x := range scoredKinds {
		if x == k {
			return true
		}
	}
	return false
}

// Score is a health score with its grade.
type Score struct {
	Name     string         `json:"name"`
	Score    float64        `json:"score"`
	Grade    string         `json:"grade"`
	Findings map[string]int `json:"findings,omitempty"` // by severity
}

// Grade maps a score to A–F: A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, else F.
func Grade(score float64) string {
	switch {
	case score >= 90:
		return "A"
	case score >= 80:
		return "B"
	case score >= 70:
		return "C"
	case score >= 60:
		return "D"
	}
	return "F"
}

// Scores are the health scores of one snapshot.
type Scores struct {
	// Cluster is nil when nothing could be scored (the snapshot saw no
	// object at all, e.g. the API server was unreachable).
	Cluster    *Score  `json:"cluster"`
	Namespaces []Score `json:"namespaces,omitempty"`
	// Nodes lists only nodes that scored below 100, worst first.
	Nodes []Score `json:"nodes,omitempty"`
}

type section struct {
	total   float64
	penalty map[string]float64 // object key -> worst weight
}

type scope struct {
	sections map[snapshot.Kind]*section
	counts   map[string]int
}

func newScope() *scope {
	return &scope{sections: map[snapshot.Kind]*section{}, counts: map[string]int{}}
}

func (sc *scope) add(k snapshot.Kind, n float64) {
	s := sc.sections[k]
	if s == nil {
		s = &section{penalty: map[string]float64{}}
		sc.sections[k] = s
	}
	s.total += n
}

func (sc *scope) hit(f *checks.Finding) {
	sc.counts[string(f.Severity)]++
	s := sc.sections[snapshot.Kind(f.Object.Kind)]
	if s == nil {
		return
	}
	k := f.Object.String()
	if w := Weight(f.Severity); w > s.penalty[k] {
		s.penalty[k] = w
	}
}

// value is the mean over sections of 100 × (1 − Σ penalties / objects).
func (sc *scope) value() (float64, bool) {
	var sum float64
	n := 0
	for _, s := range sc.sections {
		if s.total <= 0 {
			continue
		}
		var p float64
		for _, w := range s.penalty {
			p += w
		}
		sum += 100 * math.Max(0, 1-p/s.total)
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// Compute scores a snapshot's firing findings. The formula, documented in
// docs/report.md:
//
//   - every scored kind present in a scope is a section;
//     section = 100 × (1 − Σ worst-weight of each object with findings / objects);
//     weights: critical 1, warning 0.5, info 0.1;
//   - scope score = mean of its sections;
//   - the cluster score additionally loses ClusterPenalty per firing
//     cluster-wide finding, floored at 0;
//   - a node's scope is the node and the pods bound to it.
func Compute(s *snapshot.Snapshot, fs []checks.Finding) Scores {
	cluster := newScope()
	nss := map[string]*scope{}
	nodes := map[string]*scope{}
	for _, k := range scoredKinds {
		cluster.add(k, float64(s.Count(k)))
	}
	nsScope := func(ns string) *scope {
		sc := nss[ns]
		if sc == nil {
			sc = newScope()
			nss[ns] = sc
		}
		return sc
	}
	countNS := func(k snapshot.Kind, m *snapshot.Meta) { nsScope(m.Namespace).add(k, 1) }
	for i := range s.Pods {
		countNS(snapshot.KindPod, &s.Pods[i].Meta)
	}
	for i := range s.Deployments {
		countNS(snapshot.KindDeployment, &s.Deployments[i].Meta)
	}
	for i := range s.StatefulSets {
		countNS(snapshot.KindStatefulSet, &s.StatefulSets[i].Meta)
	}
	for i := range s.DaemonSets {
		countNS(snapshot.KindDaemonSet, &s.DaemonSets[i].Meta)
	}
	for i := range s.Jobs {
		countNS(snapshot.KindJob, &s.Jobs[i].Meta)
	}
	for i := range s.CronJobs {
		countNS(snapshot.KindCronJob, &s.CronJobs[i].Meta)
	}
	for i := range s.HPAs {
		countNS(snapshot.KindHPA, &s.HPAs[i].Meta)
	}
	for i := range s.PDBs {
		countNS(snapshot.KindPDB, &s.PDBs[i].Meta)
	}
	for i := range s.PVCs {
		countNS(snapshot.KindPVC, &s.PVCs[i].Meta)
	}
	for i := range s.Services {
		countNS(snapshot.KindService, &s.Services[i].Meta)
	}
	for i := range s.ResourceQuotas {
		countNS(snapshot.KindResourceQuota, &s.ResourceQuotas[i].Meta)
	}
	for i := range s.Nodes {
		sc := newScope()
		sc.add(snapshot.KindNode, 1)
		nodes[s.Nodes[i].Name] = sc
	}
	for i := range s.Pods {
		if sc := nodes[s.Pods[i].NodeName]; sc != nil {
			sc.add(snapshot.KindPod, 1)
		}
	}

	var clusterPenalty float64
	for i := range fs {
		f := &fs[i]
		if f.Status != checks.Firing {
			continue
		}
		cluster.hit(f)
		if clusterWide(f.Check) {
			clusterPenalty += ClusterPenalty[f.Severity]
		}
		if f.Object.Namespace != "" {
			nsScope(f.Object.Namespace).hit(f)
		}
		node := f.Node
		if f.Object.Kind == string(snapshot.KindNode) {
			node = f.Object.Name
		}
		if sc := nodes[node]; sc != nil {
			sc.hit(f)
		}
	}

	var out Scores
	if v, ok := cluster.value(); ok {
		v = math.Max(0, v-clusterPenalty)
		out.Cluster = &Score{Name: s.Cluster, Score: round1(v), Grade: Grade(v), Findings: cluster.counts}
	}
	for name, sc := range nss {
		if v, ok := sc.value(); ok {
			out.Namespaces = append(out.Namespaces, Score{Name: name, Score: round1(v), Grade: Grade(v), Findings: sc.counts})
		}
	}
	for name, sc := range nodes {
		if v, ok := sc.value(); ok && v < 100 {
			out.Nodes = append(out.Nodes, Score{Name: name, Score: round1(v), Grade: Grade(v), Findings: sc.counts})
		}
	}
	sortScores(out.Namespaces)
	sortScores(out.Nodes)
	return out
}

func sortScores(ss []Score) {
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Score != ss[j].Score {
			return ss[i].Score < ss[j].Score
		}
		return ss[i].Name < ss[j].Name
	})
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
