package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
	"github.com/kubepatrol/patrol/rules"
)

// DiagnoseOptions say what to diagnose and how much log to read.
type DiagnoseOptions struct {
	// Source is the cluster (kubectl flags) or a recorded snapshot.
	Source Source
	// Target is KIND/NAME; Namespace applies to namespaced kinds (default:
	// the kubeconfig's namespace, else "default").
	Target    string
	Namespace string
	Settings  Settings
	// Logs fetches container logs from a live cluster.
	Logs bool
	// TailLines and LimitBytes bound each container's log read (defaults
	// 300 lines, 256 KiB); MaxPods bounds the pods read (default 3, the
	// failing ones first).
	TailLines  int64
	LimitBytes int64
	MaxPods    int
	// LogTimeout bounds each log read (default 10s).
	LogTimeout time.Duration
	Now        time.Time
	Logger     *slog.Logger
	// LogSource replaces the live log reader (tests).
	LogSource LogSource
}

// LogSource reads one container's log: the current run or the previous
// one (after a crash).
type LogSource interface {
	Logs(ctx context.Context, ns, pod, container string, previous bool, tail, limit int64) ([]string, bool, error)
}

// Diagnosed is a diagnosis with the snapshot, findings and incidents it
// was made from (the runbook command reuses them).
type Diagnosed struct {
	Diagnosis *analysis.Diagnosis
	Snapshot  *snapshot.Snapshot
	Findings  []checks.Finding
	Incidents []analysis.Incident
}

// Diagnose collects a snapshot, runs the checks, groups incidents and
// diagnoses one object, with its containers' logs when the source is live.
func Diagnose(ctx context.Context, o DiagnoseOptions) (*Diagnosed, error) {
	ns := o.Namespace
	if ns == "" && o.Source.Kube != nil && o.Source.Path == "" {
		if n, _, err := o.Source.Kube.ToRawKubeConfigLoader().Namespace(); err == nil {
			ns = n
		}
	}
	target, err := analysis.ParseTarget(o.Target, ns)
	if err != nil {
		return nil, err
	}
	s, err := Snapshot(ctx, o.Source)
	if err != nil {
		return nil, err
	}
	return DiagnoseSnapshot(ctx, s, target, o)
}

// DiagnoseSnapshot diagnoses target in an already collected snapshot.
func DiagnoseSnapshot(ctx context.Context, s *snapshot.Snapshot, target checks.ObjectRef, o DiagnoseOptions) (*Diagnosed, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := checks.Runner{Checks: o.Settings.Checks, Params: o.Settings.Params, Logger: log}
	return diagnoseWith(ctx, s, target, o, r.Run(ctx, s))
}

// diagnoseWith diagnoses target given the checks' result over s.
func diagnoseWith(ctx context.Context, s *snapshot.Snapshot, target checks.ObjectRef, o DiagnoseOptions, res checks.Result) (*Diagnosed, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	fs, _, _ := analysis.Suppress(res.Findings, o.Settings.Suppressions, now)
	metas := MetasOf(o.Settings.Checks)
	incs := analysis.Incidents(s, fs, analysis.IncidentOptions{Checks: metas})
	in := analysis.DiagnosisInput{Snapshot: s, Findings: fs, Incidents: incs, Target: target, Checks: metas}
	d, err := analysis.Diagnose(in)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Source != snapshot.SourceLive:
		in.LogsNote = "container logs are not part of a recorded snapshot; diagnose the live cluster to read them"
	case !o.Logs:
		in.LogsNote = "logs not read (--logs=false)"
	default:
		ls := o.LogSource
		if ls == nil {
			cs, err := o.clientset()
			if err != nil {
				in.LogsNote = "logs not read: " + err.Error()
				break
			}
			ls = kubeLogs{cs: cs}
		}
		in.Logs = fetchLogs(ctx, ls, s, d, o, log)
		if len(in.Logs) == 0 {
			in.LogsNote = "no container to read logs from"
		}
	}
	if in.Logs != nil || in.LogsNote != "" {
		if d, err = analysis.Diagnose(in); err != nil {
			return nil, err
		}
	}
	d.Runbooks = RunbookStepsFor(d)
	return &Diagnosed{Diagnosis: d, Snapshot: s, Findings: fs, Incidents: incs}, nil
}

// MetasOf describes a catalogue by check ID.
func MetasOf(cs []checks.Check) map[string]checks.Meta {
	m := make(map[string]checks.Meta, len(cs))
	for _, c := range cs {
		m[c.Meta().ID] = c.Meta()
	}
	return m
}

func (o DiagnoseOptions) clientset() (kubernetes.Interface, error) {
	if o.Source.Kube == nil {
		return nil, errors.New("no cluster")
	}
	cfg, err := o.Source.Kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// kubeLogs reads logs through the API server (GET pods/log).
type kubeLogs struct{ cs kubernetes.Interface }

func (k kubeLogs) Logs(ctx context.Context, ns, pod, container string, previous bool, tail, limit int64) ([]string, bool, error) {
	req := k.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &tail, LimitBytes: &limit,
	})
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	return readLines(rc, limit)
}

// readLines reads at most limit bytes of lines; truncated reports whether
// the limit was reached.
func readLines(r io.Reader, limit int64) ([]string, bool, error) {
	sc := bufio.NewScanner(io.LimitReader(r, limit+1))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var lines []string
	var n int64
	for sc.Scan() {
		n += int64(len(sc.Bytes())) + 1
		lines = append(lines, sc.Text())
	}
	return lines, n >= limit, sc.Err()
}

// fetchLogs reads the logs of the diagnosed pod, or of up to MaxPods of a
// controller's pods (failing first): every container's current run, and
// the previous run of containers that restarted.
func fetchLogs(ctx context.Context, ls LogSource, s *snapshot.Snapshot, d *analysis.Diagnosis, o DiagnoseOptions, log *slog.Logger) []analysis.ContainerLogs {
	tail, limit, maxPods, timeout := o.TailLines, o.LimitBytes, o.MaxPods, o.LogTimeout
	if tail <= 0 {
		tail = 300
	}
	if limit <= 0 {
		limit = 256 << 10
	}
	if maxPods <= 0 {
		maxPods = 3
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	byName := map[string]*snapshot.Pod{}
	for i := range s.Pods {
		byName[s.Pods[i].Namespace+"/"+s.Pods[i].Name] = &s.Pods[i]
	}
	var pods []*snapshot.Pod
	if d.Object.Kind == string(snapshot.KindPod) {
		if p := byName[d.Object.Namespace+"/"+d.Object.Name]; p != nil {
			pods = append(pods, p)
		}
	} else {
		for _, c := range d.Children {
			if c.Object.Kind == string(snapshot.KindPod) {
				if p := byName[c.Object.Namespace+"/"+c.Object.Name]; p != nil {
					pods = append(pods, p)
				}
			}
		}
		sort.SliceStable(pods, func(i, j int) bool { return podTrouble(pods[i]) > podTrouble(pods[j]) })
	}
	if len(pods) > maxPods {
		pods = pods[:maxPods]
	}
	var out []analysis.ContainerLogs
	for _, p := range pods {
		for _, list := range [][]snapshot.Container{p.InitContainers, p.Containers} {
			for _, c := range list {
				if !c.HasStatus && c.State.State == "" {
					continue // never started: nothing to read
				}
				runs := []bool{false}
				if c.RestartCount > 0 || c.LastState.State == snapshot.StateTerminated {
					runs = append(runs, true)
				}
				for _, prev := range runs {
					cctx, cancel := context.WithTimeout(ctx, timeout)
					lines, trunc, err := ls.Logs(cctx, p.Namespace, p.Name, c.Name, prev, tail, limit)
					cancel()
					cl := analysis.ContainerLogs{Pod: p.Name, Container: c.Name, Previous: prev, Lines: lines, Truncated: trunc}
					if err != nil {
						cl.Error = oneLine(err.Error())
						log.Info("logs unavailable", "pod", p.Name, "container", c.Name, "previous", prev, "err", err)
					}
					if err == nil && len(lines) == 0 {
						cl.Error = "no log lines"
					}
					out = append(out, cl)
				}
			}
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:299] + "…"
	}
	return s
}

// podTrouble ranks pods for log reading: crash loops first, then other
// unready pods.
func podTrouble(p *snapshot.Pod) int {
	r := 0
	for _, c := range p.Containers {
		if c.RestartCount > 0 {
			r += 2
		}
		if !c.Ready {
			r++
		}
	}
	return r
}

// objectKinds maps a runbook's object to the finding kinds it covers.
var objectKinds = map[string][]string{
	"pod": {"Pod"}, "deployment": {"Deployment"}, "statefulset": {"StatefulSet"}, "daemonset": {"DaemonSet"},
	"job": {"Job"}, "cronjob": {"CronJob"}, "hpa": {"HorizontalPodAutoscaler"}, "pvc": {"PersistentVolumeClaim"},
	"pv": {"PersistentVolume"}, "pdb": {"PodDisruptionBudget"}, "node": {"Node"}, "quota": {"ResourceQuota"},
	"apiservice": {"APIService"}, "namespace": {"Namespace"},
}

// VarsFor derives runbook placeholder values from a finding's object.
func VarsFor(f *checks.Finding) map[string]string {
	v := map[string]string{}
	if f.Object.Namespace != "" {
		v["NAMESPACE"] = f.Object.Namespace
	}
	if f.Node != "" {
		v["NODE"] = f.Node
	}
	key := map[string]string{"Pod": "POD", "Node": "NODE", "Deployment": "DEPLOYMENT", "StatefulSet": "STATEFULSET",
		"DaemonSet": "DAEMONSET", "Job": "JOB", "CronJob": "CRONJOB", "HorizontalPodAutoscaler": "HPA",
		"PersistentVolumeClaim": "PVC", "PersistentVolume": "PV", "PodDisruptionBudget": "PDB", "ResourceQuota": "QUOTA",
		"APIService": "APISERVICE", "Namespace": "NAMESPACE"}[f.Object.Kind]
	if key != "" {
		v[key] = f.Object.Name
	}
	if c := analysis.PlaceholdersFor(f).Container; c != "" {
		v["CONTAINER"] = c
	}
	return v
}

// RunbookStepsFor picks the runbooks whose checks fire in a diagnosis, on
// an object of the runbook's kind, and fills their diagnosis commands for
// that object: at most three runbooks, the object's own findings first.
func RunbookStepsFor(d *analysis.Diagnosis) []analysis.RunbookSteps {
	books, err := rules.Runbooks()
	if err != nil {
		return nil
	}
	var out []analysis.RunbookSteps
	seen := map[string]int{}
	for i := range d.Findings {
		f := &d.Findings[i]
		if f.Status != checks.Firing || f.ExplainedBy != "" {
			continue
		}
		for _, rb := range books {
			if !containsStr(rb.Checks, f.Check) || !containsStr(objectKinds[rb.Object], f.Object.Kind) {
				continue
			}
			if j, ok := seen[rb.Alert]; ok {
				if !containsStr(out[j].Matched, f.Check) {
					out[j].Matched = append(out[j].Matched, f.Check)
				}
				continue
			}
			if len(out) == 3 {
				continue
			}
			vars := VarsFor(f)
			var cmds []string
			for _, c := range rb.Commands("Diagnosis") {
				if strings.HasPrefix(c, "patrol diagnose ") {
					continue // this is the diagnosis
				}
				cmds = append(cmds, rules.Fill(c, vars))
			}
			if len(cmds) > 8 {
				cmds = cmds[:8]
			}
			seen[rb.Alert] = len(out)
			out = append(out, analysis.RunbookSteps{Alert: rb.Alert, File: rb.File, Matched: []string{f.Check}, Commands: cmds})
		}
	}
	return out
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// PlaybookProposer proposes a remediation plan, as a dry run, for an alert
// and its diagnosis. kubepatrol has none built in yet: the remediation
// engine and rules/playbooks will provide one, and `patrol runbook` shows
// its proposal when RunbookOptions.Proposer is set.
type PlaybookProposer interface {
	Propose(ctx context.Context, alert string, labels map[string]string, d *analysis.Diagnosis) (*PlaybookProposal, error)
}

// PlaybookProposal is a proposed remediation: which playbook and the steps
// it would take, none of them executed.
type PlaybookProposal struct {
	Playbook string   `json:"playbook"`
	DryRun   bool     `json:"dryRun"`
	Steps    []string `json:"steps"`
	// Status is "proposed", "none" (no playbook matches) or "unavailable"
	// (no proposer configured).
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// RunbookOptions say which alert to look up and, with labels, which object
// to check.
type RunbookOptions struct {
	Alert  string
	Labels map[string]string
	// Diagnose carries the source, settings and log bounds; its Target is
	// derived from the labels.
	Diagnose DiagnoseOptions
	Proposer PlaybookProposer
}

// CheckResult is how one of the runbook's checks judged the alert's object.
type CheckResult struct {
	Check    string           `json:"check"`
	Title    string           `json:"title,omitempty"`
	Result   string           `json:"result"`
	Detail   string           `json:"detail,omitempty"`
	Findings []checks.Finding `json:"findings,omitempty"`
}

// RunbookReport is a runbook filled in for one alert instance.
type RunbookReport struct {
	Alert    string            `json:"alert"`
	File     string            `json:"file"`
	Severity string            `json:"severity,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Object is the alert's object, when its labels name one.
	Object *checks.ObjectRef `json:"object,omitempty"`
	// Checks are the runbook's checks and what each found (only with
	// labels).
	Checks    []CheckResult       `json:"checks,omitempty"`
	Diagnosis *analysis.Diagnosis `json:"diagnosis,omitempty"`
	// Runbook is the Markdown with every placeholder the labels and the
	// diagnosis could fill filled; Unfilled lists the others.
	Runbook  string            `json:"runbook"`
	Vars     map[string]string `json:"vars,omitempty"`
	Unfilled []string          `json:"unfilled,omitempty"`
	Playbook *PlaybookProposal `json:"playbook,omitempty"`
}

// runbookTargets maps a runbook's object to its placeholder and kind.
var runbookTargets = map[string][2]string{
	"pod": {"POD", "pod"}, "deployment": {"DEPLOYMENT", "deployment"}, "statefulset": {"STATEFULSET", "statefulset"},
	"daemonset": {"DAEMONSET", "daemonset"}, "job": {"JOB", "job"}, "cronjob": {"CRONJOB", "cronjob"},
	"hpa": {"HPA", "hpa"}, "pvc": {"PVC", "pvc"}, "pdb": {"PDB", "pdb"}, "node": {"NODE", "node"},
}

// Runbook looks up an alert's runbook and, when labels are given, runs the
// checks it names and a diagnosis of the alert's object against the
// cluster (or a recording), filling the runbook in with what it found.
func Runbook(ctx context.Context, o RunbookOptions) (*RunbookReport, error) {
	rb, err := rules.LookupRunbook(o.Alert)
	if err != nil {
		return nil, err
	}
	out := &RunbookReport{Alert: rb.Alert, File: rb.File, Severity: rb.Severity, Summary: rb.Summary, Labels: o.Labels}
	vars := rules.RunbookVars(o.Labels)
	if len(o.Labels) == 0 {
		out.Runbook = rb.Body
		out.Unfilled = rb.Placeholders()
		return out, nil
	}
	do := o.Diagnose
	s, err := Snapshot(ctx, do.Source)
	if err != nil {
		return nil, err
	}
	log := do.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := (&checks.Runner{Checks: do.Settings.Checks, Params: do.Settings.Params, Logger: log}).Run(ctx, s)
	metas := MetasOf(do.Settings.Checks)

	var d *analysis.Diagnosis
	if t, ok := runbookTargets[rb.Object]; ok && vars[t[0]] != "" {
		target, err := analysis.ParseTarget(t[1]+"/"+vars[t[0]], vars["NAMESPACE"])
		if err != nil {
			return nil, err
		}
		out.Object = &target
		dd, err := diagnoseWith(ctx, s, target, do, res)
		if err != nil {
			return nil, err
		}
		d = dd.Diagnosis
		out.Diagnosis = d
	}
	now := do.Now
	if now.IsZero() {
		now = time.Now()
	}
	fs, _, _ := analysis.Suppress(res.Findings, do.Settings.Suppressions, now)
	runs := map[string]checks.Run{}
	for _, r := range res.Runs {
		runs[r.Check] = r
	}
	for _, id := range rb.Checks {
		cr := CheckResult{Check: id, Title: metas[id].Title, Result: "not run", Detail: "not enabled in this configuration"}
		if r, ok := runs[id]; ok {
			cr.Result, cr.Detail = string(r.Result), r.Detail
		}
		for _, f := range fs {
			if f.Check != id {
				continue
			}
			if d != nil && !aboutDiagnosis(d, f) {
				continue
			}
			cr.Findings = append(cr.Findings, f)
		}
		switch {
		case len(cr.Findings) > 0:
			cr.Result = "firing"
			if len(cr.Findings) > 10 {
				cr.Detail = fmt.Sprintf("%d findings, first 10 shown", len(cr.Findings))
				cr.Findings = cr.Findings[:10]
			}
		case cr.Result == string(checks.ResultFindings):
			cr.Result, cr.Detail = string(checks.ResultOK), "fires elsewhere, not on this object"
		}
		out.Checks = append(out.Checks, cr)
	}

	// Fill what the diagnosis learnt: the pod's node, a failing pod of a
	// controller, the container a finding names.
	if d != nil {
		if vars["NODE"] == "" && d.Node != "" {
			vars["NODE"] = d.Node
		}
		for _, c := range d.Children {
			if vars["POD"] == "" && c.Object.Kind == "Pod" {
				vars["POD"] = c.Object.Name
			}
		}
		for i := range d.Findings {
			for k, v := range VarsFor(&d.Findings[i]) {
				if vars[k] == "" && (k == "CONTAINER" || k == "NODE") {
					vars[k] = v
				}
			}
		}
	}
	out.Vars = vars
	out.Runbook = rules.Fill(rb.Body, vars)
	for _, ph := range rb.Placeholders() {
		if vars[ph] == "" {
			out.Unfilled = append(out.Unfilled, ph)
		}
	}
	if o.Proposer == nil {
		out.Playbook = &PlaybookProposal{Status: "unavailable",
			Detail: "remediation playbooks are not part of this build; the runbook's Mitigation section is the plan"}
	} else {
		p, err := o.Proposer.Propose(ctx, rb.Alert, o.Labels, d)
		if err != nil {
			return nil, fmt.Errorf("playbook proposal: %w", err)
		}
		out.Playbook = p
	}
	return out, nil
}

// aboutDiagnosis reports whether a finding is about the diagnosed object or
// what the diagnosis shows around it.
func aboutDiagnosis(d *analysis.Diagnosis, f checks.Finding) bool {
	for _, x := range d.Findings {
		if x.Key() == f.Key() {
			return true
		}
	}
	return false
}
