package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Runbooks: one Markdown file per alert in runbooks/<AlertName>.md, with the
// sections Meaning, Impact, Diagnosis and Mitigation. The runbooks of
// kubernetes-mixin alerts start with a YAML front matter that names the
// kubepatrol checks diagnosing the alert and the alert labels that name its
// object:
//
//	---
//	alert: KubePodCrashLooping
//	severity: warning
//	object: pod
//	checks: [pod.crash_looping, pod.restarting]
//	---
//
// Their commands use shell-style placeholders ($NAMESPACE, $POD, $NODE…)
// that Fill replaces with an alert's label values, so a filled runbook is a
// script for one object.

//go:embed runbooks/*.md
var runbookFiles embed.FS

// Runbook is one alert's runbook.
type Runbook struct {
	Alert    string   `yaml:"alert"`
	Severity string   `yaml:"severity"`
	Summary  string   `yaml:"summary"`
	Checks   []string `yaml:"checks"`
	// Object names the kind the alert is about (pod, deployment,
	// statefulset, daemonset, job, cronjob, hpa, pvc, pdb, node, quota,
	// namespace, apiservice or cluster); Fill and ObjectOf read its name
	// from the alert's labels.
	Object string `yaml:"object"`
	// File is the runbook's path in the repository (rules/runbooks/X.md).
	File string `yaml:"-"`
	// Body is the Markdown after the front matter.
	Body string `yaml:"-"`
	// Sections holds each "## " section's text by title.
	Sections map[string]string `yaml:"-"`
}

// RunbookSections are the sections every runbook has, in order.
var RunbookSections = []string{"Meaning", "Impact", "Diagnosis", "Mitigation"}

var (
	runbooksOnce sync.Once
	runbooks     map[string]*Runbook
	runbooksErr  error
)

// Runbooks returns every embedded runbook, sorted by alert name.
func Runbooks() ([]*Runbook, error) {
	loadRunbooks()
	if runbooksErr != nil {
		return nil, runbooksErr
	}
	out := make([]*Runbook, 0, len(runbooks))
	for _, r := range runbooks {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alert < out[j].Alert })
	return out, nil
}

// LookupRunbook returns the runbook of an alert (case-insensitive).
func LookupRunbook(alert string) (*Runbook, error) {
	loadRunbooks()
	if runbooksErr != nil {
		return nil, runbooksErr
	}
	if r, ok := runbooks[strings.ToLower(alert)]; ok {
		return r, nil
	}
	var near []string
	for _, r := range runbooks {
		if strings.Contains(strings.ToLower(r.Alert), strings.ToLower(alert)) {
			near = append(near, r.Alert)
		}
	}
	sort.Strings(near)
	if len(near) > 0 {
		return nil, fmt.Errorf("no runbook for alert %q; did you mean %s?", alert, strings.Join(near, ", "))
	}
	return nil, fmt.Errorf("no runbook for alert %q (see `patrol runbook --list`)", alert)
}

func loadRunbooks() {
	runbooksOnce.Do(func() {
		runbooks = map[string]*Runbook{}
		files, err := fs.Glob(runbookFiles, "runbooks/*.md")
		if err != nil {
			runbooksErr = err
			return
		}
		var errs []error
		for _, f := range files {
			data, err := runbookFiles.ReadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r, err := ParseRunbook("rules/"+f, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			runbooks[strings.ToLower(r.Alert)] = r
		}
		runbooksErr = errors.Join(errs...)
	})
}

// ParseRunbook reads one runbook file; file names it in errors.
func ParseRunbook(file string, data []byte) (*Runbook, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	r := &Runbook{File: file}
	if rest, ok := strings.CutPrefix(text, "---\n"); ok {
		fm, body, ok := strings.Cut(rest, "\n---\n")
		if !ok {
			return nil, fmt.Errorf("%s:1:1: front matter is not closed by a --- line", file)
		}
		if _, err := decodeStrict(file, []byte(fm), r); err != nil {
			return nil, err
		}
		text = body
	}
	r.File = file
	r.Body = strings.TrimLeft(text, "\n")
	title, _, _ := strings.Cut(r.Body, "\n")
	name := strings.TrimSuffix(path.Base(file), ".md")
	if r.Alert == "" {
		r.Alert = name
	}
	if r.Alert != name {
		return nil, fmt.Errorf("%s: front matter names alert %q, the file %q", file, r.Alert, name)
	}
	if title != "# "+r.Alert {
		return nil, fmt.Errorf("%s: the first line after the front matter must be %q, got %q", file, "# "+r.Alert, title)
	}
	r.Sections = map[string]string{}
	var cur string
	var b strings.Builder
	flush := func() {
		if cur != "" {
			r.Sections[cur] = strings.TrimSpace(b.String())
		}
		b.Reset()
	}
	inCode := false
	for _, line := range strings.Split(r.Body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "## ") {
			flush()
			cur = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			continue
		}
		if cur != "" {
			b.WriteString(line + "\n")
		}
	}
	flush()
	var missing []string
	for _, s := range RunbookSections {
		if strings.TrimSpace(r.Sections[s]) == "" {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: sections missing or empty: %s", file, strings.Join(missing, ", "))
	}
	return r, nil
}

// Placeholders the runbooks use, and the alert labels (kube-state-metrics
// and kubelet names) that fill them.
var placeholderLabels = map[string][]string{
	"NAMESPACE":   {"namespace", "exported_namespace"},
	"POD":         {"pod", "exported_pod"},
	"CONTAINER":   {"container"},
	"NODE":        {"node", "instance_node"},
	"DEPLOYMENT":  {"deployment"},
	"STATEFULSET": {"statefulset"},
	"DAEMONSET":   {"daemonset"},
	"JOB":         {"job_name"},
	"CRONJOB":     {"cronjob", "owner_name"},
	"HPA":         {"horizontalpodautoscaler", "hpa"},
	"PVC":         {"persistentvolumeclaim"},
	"PV":          {"persistentvolume"},
	"PDB":         {"poddisruptionbudget"},
	"QUOTA":       {"resourcequota"},
	"APISERVICE":  {"name", "apiservice"},
}

// RunbookVars maps an alert's labels to the runbooks' placeholders.
func RunbookVars(labels map[string]string) map[string]string {
	out := map[string]string{}
	for ph, ls := range placeholderLabels {
		for _, l := range ls {
			if v := labels[l]; v != "" {
				out[ph] = v
				break
			}
		}
	}
	return out
}

var rePlaceholder = regexp.MustCompile(`\$\{?([A-Z][A-Z_]*)\}?`)

// Fill replaces the placeholders of s that vars knows; the others stay.
func Fill(s string, vars map[string]string) string {
	return rePlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok && v != "" {
			return v
		}
		return m
	})
}

// Placeholders lists the placeholders a runbook's body uses.
func (r *Runbook) Placeholders() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range rePlaceholder.FindAllStringSubmatch(r.Body, -1) {
		if _, known := placeholderLabels[m[1]]; known && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// Commands returns the shell commands of a section's ```sh blocks, one per
// line, comments and blank lines dropped.
func (r *Runbook) Commands(section string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(r.Sections[section], "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			in = !in && (t == "```sh" || t == "```bash" || t == "```shell")
			continue
		}
		if in && t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, t)
		}
	}
	return out
}
