package rules

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Playbook files: a file holds one or more playbooks, YAML documents
// separated by `---`. Each is decoded strictly (an unknown field is an
// error), defaulted, then validated; every error names file:line:col of
// the offending value, and all of a file's errors are reported at once.
// See docs/playbooks.md for the format.

//go:embed playbooks/*.yaml
var builtinPlaybookFiles embed.FS

// Defaults applied to a playbook before it is validated.
const (
	DefaultTriggerSeverity = "warning"
	DefaultVerifyInterval  = Duration("30s")
	DefaultVerifyTimeout   = Duration("10m")
)

var (
	playbookName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	stepName     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	checkID      = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)
	kindName     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	alertName    = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	scaleDelta   = regexp.MustCompile(`^[+-][0-9]+$`)
)

// BuiltinPlaybooks returns the playbooks shipped in rules/playbooks/, each
// with File set to its path in the repository ("rules/playbooks/x.yaml").
// They ship with `enabled: false`: every run is a dry run until an
// operator enables them.
func BuiltinPlaybooks() ([]*Playbook, error) {
	return loadPlaybooks(fsSource{fsys: builtinPlaybookFiles, prefix: "rules/"}, []string{"playbooks"})
}

// LoadPlaybooks reads playbooks from files and directories: a directory
// contributes its *.yaml and *.yml files (not its subdirectories), in
// name order. Playbook names must be unique across all of them. Loading
// is all or nothing: on any error it returns no playbook and every error.
func LoadPlaybooks(paths ...string) ([]*Playbook, error) {
	return loadPlaybooks(osSource{}, paths)
}

// LoadPlaybooksFS is LoadPlaybooks over fsys; errors name files by their
// path in fsys.
func LoadPlaybooksFS(fsys fs.FS, paths ...string) ([]*Playbook, error) {
	return loadPlaybooks(fsSource{fsys: fsys}, paths)
}

// ParsePlaybook parses data holding exactly one playbook; file names it
// in errors and becomes the playbook's File.
func ParsePlaybook(file string, data []byte) (*Playbook, error) {
	pbs, err := ParsePlaybooks(file, data)
	if err != nil {
		return nil, err
	}
	if len(pbs) != 1 {
		return nil, fmt.Errorf("%s: holds %d playbooks, want one (LoadPlaybooks reads files with several)", file, len(pbs))
	}
	return pbs[0], nil
}

// ParsePlaybooks parses every playbook in data, one per YAML document.
// Empty documents are skipped, but a file without any playbook is an
// error. Names must be unique within the file.
func ParsePlaybooks(file string, data []byte) ([]*Playbook, error) {
	var (
		out  []*Playbook
		errs []error
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", file, yamlErr(err)))
			break
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue // an empty document, e.g. after a trailing ---
		}
		p, err := decodePlaybook(file, doc.Content[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	if len(errs) == 0 && len(out) == 0 {
		errs = append(errs, fmt.Errorf("%s: holds no playbook", file))
	}
	errs = append(errs, duplicateNames(out)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// decodePlaybook strictly decodes one document (decodeStrict's approach,
// per document), defaults and validates it.
func decodePlaybook(file string, root *yaml.Node) (*Playbook, error) {
	p := &Playbook{File: file}
	pos := Positions{"": at(file, root)}
	var errs []error
	walk(file, root, reflectPlaybook, "", pos, &errs)
	if len(errs) > 0 {
		return nil, capErrors(file, root, errs)
	}
	if err := root.Decode(p); err != nil {
		msg := yamlErr(err)
		if lines := strings.Split(msg, "\n"); len(lines) > maxDocErrors {
			msg = strings.Join(lines[:maxDocErrors], "\n") + fmt.Sprintf("\n  and %d more errors", len(lines)-maxDocErrors)
		}
		return nil, fmt.Errorf("%s: %s", file, msg)
	}
	p.Positions = pos
	p.setDefaults()
	if err := p.Validate(); err != nil {
		return nil, capErrors(file, root, unjoinErrors(err))
	}
	return p, nil
}

// maxDocErrors bounds the errors reported for one document: YAML aliases
// can repeat one bad value thousands of times.
const maxDocErrors = 100

func capErrors(file string, root *yaml.Node, errs []error) error {
	if len(errs) > maxDocErrors {
		n := len(errs) - maxDocErrors
		errs = append(errs[:maxDocErrors:maxDocErrors], fmt.Errorf("%s: and %d more errors in the playbook", at(file, root), n))
	}
	return errors.Join(errs...)
}

// unjoinErrors splits an errors.Join result.
func unjoinErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// duplicateNames reports playbooks whose name an earlier one has,
// naming both positions.
func duplicateNames(pbs []*Playbook) []error {
	var errs []error
	first := map[string]*Playbook{}
	for _, p := range pbs {
		if q, dup := first[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: playbook name %q already defined at %s", p.Positions.Pos("name"), p.Name, q.Positions.Pos("name")))
			continue
		}
		first[p.Name] = p
	}
	return errs
}

// IsEnabled reports whether the playbook may write; a disabled playbook
// only dry-runs.
func (p *Playbook) IsEnabled() bool { return p != nil && p.Enabled }

// IsEnabled reports whether the step runs: a step is on unless it says
// `enabled: false`.
func (s Step) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// LabelMatchers returns the alert trigger as label matchers: the
// alertname (when set) as `alertname="…"`, then its matchers. An alert
// matches the trigger when every matcher matches its labels.
func (a AlertTrigger) LabelMatchers() ([]*Matcher, error) {
	var out []*Matcher
	if a.Alertname != "" {
		out = append(out, &Matcher{Name: "alertname", Type: MatchEqual, Value: a.Alertname})
	}
	for _, s := range a.Matchers {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// CheckRef is one check ID or family referenced by a playbook.
type CheckRef struct {
	// ID is the check ID ("node.not_ready") or family ("node").
	ID string
	// Field is where it is referenced ("verify.checks[0]").
	Field string
	// Pos is the file:line:col of the reference.
	Pos string
}

// CheckRefs lists every check reference of the playbook (trigger,
// diagnosis, verify) with its position, so that a caller holding the
// check catalogue can reject unknown IDs (the catalogue is not importable
// from rules).
func (p *Playbook) CheckRefs() []CheckRef {
	var out []CheckRef
	add := func(field string, ids []string) {
		for i, id := range ids {
			f := fmt.Sprintf("%s[%d]", field, i)
			out = append(out, CheckRef{ID: id, Field: f, Pos: p.Positions.Pos(f)})
		}
	}
	add("trigger.checks", p.Trigger.Checks)
	add("diagnosis.checks", p.Diagnosis.Checks)
	if p.Verify != nil {
		add("verify.checks", p.Verify.Checks)
	}
	return out
}

// CheckIDs lists the distinct check IDs and families the playbook
// references, in order of first reference; CheckRefs has their positions.
func (p *Playbook) CheckIDs() []string {
	var out []string
	for _, r := range p.CheckRefs() {
		if !slices.Contains(out, r.ID) {
			out = append(out, r.ID)
		}
	}
	return out
}

// ValidateCheckIDs reports every check reference that known rejects
// (known is the catalogue's lookup of an ID or family), with file:line:col.
func (p *Playbook) ValidateCheckIDs(known func(id string) bool) error {
	var errs []error
	for _, r := range p.CheckRefs() {
		if !known(r.ID) {
			errs = append(errs, fmt.Errorf("%s: %s: unknown check or family %q", r.Pos, r.Field, r.ID))
		}
	}
	return errors.Join(errs...)
}

// TargetLabels returns the alert labels that name an object of kind
// (following kube-state-metrics and the kubernetes-mixin), and whether
// the kind has defaults. Cluster-scoped kinds have no namespace label.
func TargetLabels(kind string) (name, namespace string, ok bool) {
	l, ok := kindLabels[kind]
	return l.name, l.namespace, ok
}

var kindLabels = map[string]struct{ name, namespace string }{
	"Node":                  {"node", ""},
	"Namespace":             {"namespace", ""},
	"PersistentVolume":      {"persistentvolume", ""},
	"Pod":                   {"pod", "namespace"},
	"Deployment":            {"deployment", "namespace"},
	"StatefulSet":           {"statefulset", "namespace"},
	"DaemonSet":             {"daemonset", "namespace"},
	"ReplicaSet":            {"replicaset", "namespace"},
	"Job":                   {"job_name", "namespace"},
	"CronJob":               {"cronjob", "namespace"},
	"PersistentVolumeClaim": {"persistentvolumeclaim", "namespace"},
}

// clusterScoped kinds take no namespace filter.
var clusterScoped = []string{"Node", "Namespace", "PersistentVolume"}

func (p *Playbook) setDefaults() {
	if p.Trigger.Severity == "" {
		p.Trigger.Severity = DefaultTriggerSeverity
	}
	t := &p.Target
	if t.Kind == "" {
		t.Kind = p.Trigger.Object.Kind
	}
	if l, ok := kindLabels[t.Kind]; ok {
		if t.NameLabel == "" {
			t.NameLabel = l.name
		}
		if t.NamespaceLabel == "" {
			t.NamespaceLabel = l.namespace
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Risk == "" {
			s.Risk = "low"
			if a, ok := actionSpecs[s.Action]; ok && a.risk != "" {
				s.Risk = a.risk
			}
		}
	}
	if v := p.Verify; v != nil {
		if v.Interval == "" {
			v.Interval = DefaultVerifyInterval
		}
		if v.Timeout == "" {
			v.Timeout = DefaultVerifyTimeout
		}
	}
}

// Validate checks the playbook (after defaults) without the check
// catalogue; see ValidateCheckIDs for that. Errors carry file:line:col
// and are joined.
func (p *Playbook) Validate() error {
	v := &playbookValidator{p: p}
	v.header()
	v.trigger()
	v.target()
	v.diagnosis()
	v.steps()
	v.verify()
	v.escalate()
	v.guards()
	return errors.Join(v.errs...)
}

type playbookValidator struct {
	p    *Playbook
	errs []error
}

func (v *playbookValidator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", v.p.Positions.Pos(path), fmt.Sprintf(format, args...)))
}

// set reports whether path was written in the file.
func (v *playbookValidator) set(path string) bool {
	_, ok := v.p.Positions[path]
	return ok
}

func (v *playbookValidator) header() {
	p := v.p
	if p.APIVersion != PlaybookAPIVersion {
		v.fail("apiVersion", "apiVersion: want %q, got %q", PlaybookAPIVersion, p.APIVersion)
	}
	if p.Kind != PlaybookKind {
		v.fail("kind", "kind: want %q, got %q", PlaybookKind, p.Kind)
	}
	switch {
	case p.Name == "":
		v.fail("name", "name: a playbook needs a name (lower kebab case)")
	case !playbookName.MatchString(p.Name):
		v.fail("name", "name %q: want lower kebab case (node-not-ready)", p.Name)
	}
}

func (v *playbookValidator) severity(path, s string) {
	switch s {
	case "info", "warning", "critical":
	default:
		v.fail(path, "%s: unknown severity %q (want info, warning or critical)", path, s)
	}
}

func (v *playbookValidator) checks(path string, ids []string) {
	for i, id := range ids {
		if !checkID.MatchString(id) {
			v.fail(fmt.Sprintf("%s[%d]", path, i), "%s[%d]: check ID %q: want area.condition or a family in lower snake case (node.not_ready, node)", path, i, id)
		}
	}
}

func (v *playbookValidator) duration(path string, d Duration) Duration {
	if _, err := ParseDuration(string(d)); err != nil {
		v.fail(path, "%s: %v", path, err)
		return ""
	}
	return d
}

// positive checks a duration that must be set and above zero.
func (v *playbookValidator) positive(path string, d Duration) {
	if v.duration(path, d) != "" && d.Value() <= 0 {
		v.fail(path, "%s: must be positive, got %q", path, d)
	}
}

func (v *playbookValidator) trigger() {
	t := v.p.Trigger
	if len(t.Alerts) == 0 && len(t.Checks) == 0 {
		v.fail("trigger", "trigger: needs at least one alert or check")
	}
	for i, a := range t.Alerts {
		p := fmt.Sprintf("trigger.alerts[%d]", i)
		if a.Alertname == "" && len(a.Matchers) == 0 {
			v.fail(p, "%s: needs an alertname or matchers", p)
		}
		if a.Alertname != "" && !alertName.MatchString(a.Alertname) {
			v.fail(p+".alertname", "%s.alertname %q: not a valid alert name", p, a.Alertname)
		}
		for j, s := range a.Matchers {
			if _, err := ParseMatcher(s); err != nil {
				v.fail(fmt.Sprintf("%s.matchers[%d]", p, j), "%s.matchers[%d]: %v", p, j, err)
			}
		}
	}
	v.checks("trigger.checks", t.Checks)
	v.severity("trigger.severity", t.Severity)
	o := t.Object
	if o.Kind != "" && !kindName.MatchString(o.Kind) {
		v.fail("trigger.object.kind", "trigger.object.kind %q: want a Kubernetes kind (Node, Pod, Deployment…)", o.Kind)
	}
	for i, ns := range o.Namespaces {
		p := fmt.Sprintf("trigger.object.namespaces[%d]", i)
		if len(validation.IsDNS1123Label(ns)) > 0 {
			v.fail(p, "%s: namespace %q: want a lowercase RFC 1123 label (kube-system)", p, ns)
		}
	}
	if len(o.Namespaces) > 0 && slices.Contains(clusterScoped, v.p.Target.Kind) {
		v.fail("trigger.object.namespaces", "trigger.object.namespaces: %s is cluster-scoped and has no namespace", v.p.Target.Kind)
	}
	for i, n := range o.Names {
		p := fmt.Sprintf("trigger.object.names[%d]", i)
		if n == "" {
			v.fail(p, "%s: empty name pattern", p)
		} else if _, err := path.Match(n, ""); err != nil {
			v.fail(p, "%s: name pattern %q: %v (want a glob such as worker-*)", p, n, err)
		}
	}
}

// kindPath is where the target kind was written: target.kind, or the
// trigger's object kind it defaults to.
func (v *playbookValidator) kindPath() string {
	if v.set("target.kind") {
		return "target.kind"
	}
	return "trigger.object.kind"
}

func (v *playbookValidator) target() {
	p := v.p
	t := p.Target
	if t.Kind == "" {
		return // steps need one; a page-only playbook does not
	}
	if o := p.Trigger.Object.Kind; o != "" && o != t.Kind {
		v.fail("target.kind", "target.kind %q differs from trigger.object.kind %q", t.Kind, o)
	}
	if !kindName.MatchString(t.Kind) {
		if v.set("target.kind") {
			v.fail("target.kind", "target.kind %q: want a Kubernetes kind (Node, Pod, Deployment…)", t.Kind)
		}
		return
	}
	if t.NameLabel == "" {
		v.fail(v.kindPath(), "target: kind %s has no default name label; set target.name_label", t.Kind)
	}
	for _, f := range []struct{ path, v string }{{"target.name_label", t.NameLabel}, {"target.namespace_label", t.NamespaceLabel}} {
		if f.v != "" && !labelName.MatchString(f.v) {
			v.fail(f.path, "%s %q: not a valid label name", f.path, f.v)
		}
	}
	if t.NamespaceLabel != "" && slices.Contains(clusterScoped, t.Kind) {
		v.fail("target.namespace_label", "target.namespace_label: %s is cluster-scoped and has no namespace", t.Kind)
	}
}

func (v *playbookValidator) diagnosis() {
	d := v.p.Diagnosis
	v.checks("diagnosis.checks", d.Checks)
	if d.Require && len(d.Checks) == 0 {
		v.fail("diagnosis.require", "diagnosis.require: needs diagnosis.checks to confirm the fault")
	}
	if d.Wait != "" {
		v.duration("diagnosis.wait", d.Wait)
		if !d.Require {
			v.fail("diagnosis.wait", "diagnosis.wait: only a required diagnosis waits (set require: true)")
		}
	}
}

func (v *playbookValidator) steps() {
	p := v.p
	if len(p.Steps) == 0 {
		if p.Escalate == nil {
			v.fail("steps", "playbook %q has no steps: a page-only playbook needs escalate.pagers", p.Name)
		}
		return
	}
	kind := p.Target.Kind
	if kind == "" {
		v.fail("steps", "steps need a target kind: set trigger.object.kind or target.kind")
	}
	seen := map[string]int{}
	for i, s := range p.Steps {
		sp := fmt.Sprintf("steps[%d]", i)
		switch {
		case s.Name == "":
			v.fail(sp, "%s: a step needs a name (lower snake case)", sp)
		case !stepName.MatchString(s.Name):
			v.fail(sp+".name", "%s.name %q: want lower snake case (drain_node)", sp, s.Name)
		default:
			if j, dup := seen[s.Name]; dup {
				v.fail(sp+".name", "%s.name %q already used by steps[%d]", sp, s.Name, j)
			} else {
				seen[s.Name] = i
			}
		}
		v.action(sp, s, kind)
		switch s.Risk {
		case "low", "high":
		default:
			v.fail(sp+".risk", "%s.risk: unknown risk %q (want low or high)", sp, s.Risk)
		}
		switch s.When {
		case "":
		case "node_gone":
			if kind != "" && kind != "Pod" {
				v.fail(sp+".when", "%s.when: node_gone applies to Pod targets, not %s", sp, kind)
			}
		default:
			v.fail(sp+".when", "%s.when: unknown condition %q (want node_gone or nothing)", sp, s.When)
		}
	}
}

// action checks a step's action, the kinds it acts on and its params.
func (v *playbookValidator) action(sp string, s Step, kind string) {
	a, ok := actionSpecs[s.Action]
	if !ok {
		if s.Action == "" {
			v.fail(sp, "%s: a step needs an action (%s)", sp, strings.Join(actionNames(), ", "))
		} else {
			v.fail(sp+".action", "%s.action: unknown action %q (known: %s)", sp, s.Action, strings.Join(actionNames(), ", "))
		}
		return
	}
	if kind != "" && len(a.kinds) > 0 && !slices.Contains(a.kinds, kind) {
		v.fail(sp+".action", "%s.action: %s acts on %s, not on the target kind %s", sp, s.Action, strings.Join(a.kinds, ", "), kind)
	}
	v.params(sp, s, a)
}

func (v *playbookValidator) params(sp string, s Step, a actionSpec) {
	for _, k := range sortedKeys(s.Params) {
		pp := sp + ".params." + k
		check, ok := a.params[k]
		if !ok {
			if len(a.params) == 0 {
				v.fail(pp, "%s.params: %s takes no parameters, got %q", sp, s.Action, k)
			} else {
				v.fail(pp, "%s.params: unknown parameter %q for %s (known: %s)", sp, k, s.Action, strings.Join(sortedKeys(a.params), ", "))
			}
			continue
		}
		if err := check(s.Params[k]); err != nil {
			v.fail(pp, "%s.params.%s: %v", sp, k, err)
		}
	}
	if a.cross != nil {
		for _, e := range a.cross(s.Params) {
			v.fail(sp+".params."+e.param, "%s.params: %s", sp, e.msg)
		}
	}
}

func (v *playbookValidator) verify() {
	vf := v.p.Verify
	if vf == nil {
		return
	}
	if len(vf.Checks) == 0 {
		v.fail("verify", "verify: needs checks to re-run on the target")
	}
	v.checks("verify.checks", vf.Checks)
	v.positive("verify.timeout", vf.Timeout)
	v.positive("verify.interval", vf.Interval)
	if it, to := vf.Interval.Value(), vf.Timeout.Value(); it > 0 && to > 0 && it > to {
		v.fail("verify.interval", "verify.interval (%s) is longer than verify.timeout (%s)", vf.Interval, vf.Timeout)
	}
}

func (v *playbookValidator) escalate() {
	e := v.p.Escalate
	if e == nil {
		return
	}
	if len(e.Pagers) == 0 {
		v.fail("escalate", "escalate: needs pagers (names from the daemon config's remediation.pagers)")
	}
	seen := map[string]bool{}
	for i, name := range e.Pagers {
		p := fmt.Sprintf("escalate.pagers[%d]", i)
		switch {
		case strings.TrimSpace(name) == "":
			v.fail(p, "%s: empty pager name", p)
		case seen[name]:
			v.fail(p, "%s: pager %q listed twice", p, name)
		}
		seen[name] = true
	}
	if e.Severity != "" {
		v.severity("escalate.severity", e.Severity)
	}
}

func (v *playbookValidator) guards() {
	g := v.p.Guards
	v.duration("guards.cooldown", g.Cooldown)
	if r := g.RateLimit; r != nil {
		if r.Max < 1 {
			v.fail("guards.rate_limit.max", "guards.rate_limit.max: must be at least 1, got %d", r.Max)
		}
		v.positive("guards.rate_limit.per", r.Per)
	}
	if g.MaxUnhealthy != "" {
		if _, err := ParseFraction(g.MaxUnhealthy); err != nil {
			v.fail("guards.max_unhealthy", "guards.max_unhealthy: %v", err)
		}
	}
}

// ParseFraction parses a fraction written as a percentage ("30%") or a
// number ("0.3"); it must lie in (0, 1].
func ParseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(p), 100
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a fraction such as 30%% or 0.3, got %q", s)
	}
	f /= scale
	if f <= 0 || f > 1 {
		return 0, fmt.Errorf("fraction %q out of range: want more than 0 and at most 1 (100%%)", s)
	}
	return f, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// source reads playbook files from the OS or an fs.FS.
type source interface {
	stat(name string) (fs.FileInfo, error)
	readDir(name string) ([]fs.DirEntry, error)
	readFile(name string) ([]byte, error)
	join(dir, name string) string
	// display is the name errors and Playbook.File use.
	display(name string) string
}

type osSource struct{}

func (osSource) stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osSource) readDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osSource) readFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osSource) join(dir, name string) string               { return filepath.Join(dir, name) }
func (osSource) display(name string) string                 { return name }

type fsSource struct {
	fsys   fs.FS
	prefix string
}

func (s fsSource) stat(name string) (fs.FileInfo, error)      { return fs.Stat(s.fsys, name) }
func (s fsSource) readDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(s.fsys, name) }
func (s fsSource) readFile(name string) ([]byte, error)       { return fs.ReadFile(s.fsys, name) }
func (s fsSource) join(dir, name string) string               { return path.Join(dir, name) }
func (s fsSource) display(name string) string                 { return s.prefix + name }

// loadPlaybooks expands paths into files, parses each and checks that
// names are unique across files.
func loadPlaybooks(src source, paths []string) ([]*Playbook, error) {
	var (
		files []string
		errs  []error
	)
	for _, p := range paths {
		fi, err := src.stat(p)
		if err != nil {
			errs = append(errs, pathErr(src.display(p), err))
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := src.readDir(p)
		if err != nil {
			errs = append(errs, pathErr(src.display(p), err))
			continue
		}
		for _, e := range entries {
			ext := path.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, src.join(p, e.Name()))
			}
		}
	}
	var out []*Playbook
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue // named twice, e.g. as a file and through its directory
		}
		seen[f] = true
		data, err := src.readFile(f)
		if err != nil {
			errs = append(errs, pathErr(src.display(f), err))
			continue
		}
		pbs, err := ParsePlaybooks(src.display(f), data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, pbs...)
	}
	errs = append(errs, duplicateNames(out)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// pathErr names the file first, as every loader error does.
func pathErr(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", name, err)
}

var reflectPlaybook = reflect.TypeOf(Playbook{})

// actionSpec says which kinds an action acts on (none: any kind), its
// default risk, its parameters with their checks, and the checks that
// span parameters.
type actionSpec struct {
	kinds  []string
	risk   string
	params map[string]func(string) error
	cross  func(params map[string]string) []paramErr
}

type paramErr struct{ param, msg string }

var actionSpecs = map[string]actionSpec{
	"cordon":   {kinds: []string{"Node"}},
	"uncordon": {kinds: []string{"Node"}},
	"drain": {kinds: []string{"Node"}, risk: "high", params: map[string]func(string) error{
		"timeout":                      durationParam,
		"grace_period":                 intParam(-1),
		"delete_emptydir_data":         boolParam,
		"force":                        boolParam,
		"skip_wait_for_delete_timeout": durationParam,
	}},
	"restart": {kinds: []string{"Deployment", "StatefulSet", "DaemonSet"}},
	"delete_pod": {kinds: []string{"Pod"}, params: map[string]func(string) error{
		"force":             boolParam,
		"only_if_node_gone": boolParam,
	}},
	"scale": {kinds: []string{"Deployment", "StatefulSet", "ReplicaSet"}, params: map[string]func(string) error{
		"replicas": intParam(0),
		"delta":    deltaParam,
		"min":      intParam(0),
		"max":      intParam(0),
	}, cross: scaleCross},
	"annotate": {params: map[string]func(string) error{
		"key":   annotationKeyParam,
		"value": func(string) error { return nil },
	}, cross: func(p map[string]string) []paramErr {
		if _, ok := p["key"]; !ok {
			return []paramErr{{"", "annotate needs a key"}}
		}
		return nil
	}},
	"page": {params: map[string]func(string) error{
		"pagers":   pagersParam,
		"severity": severityParam,
		"summary":  func(string) error { return nil },
	}},
}

// actionNames lists the known actions in order.
func actionNames() []string { return sortedKeys(actionSpecs) }

func durationParam(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("want a positive duration (e.g. 5m), got %q", s)
	}
	return nil
}

func intParam(min int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		if n < min {
			return fmt.Errorf("want at least %d, got %d", min, n)
		}
		return nil
	}
}

func boolParam(s string) error {
	if s != "true" && s != "false" {
		return fmt.Errorf("want true or false, got %q", s)
	}
	return nil
}

func deltaParam(s string) error {
	if !scaleDelta.MatchString(s) {
		return fmt.Errorf("want a signed change of replicas such as +1 or -2, got %q", s)
	}
	if n, err := strconv.Atoi(s); err != nil || n == 0 {
		return fmt.Errorf("want a non-zero change of replicas such as +1 or -2, got %q", s)
	}
	return nil
}

func annotationKeyParam(s string) error {
	if len(validation.IsQualifiedName(strings.ToLower(s))) > 0 {
		return fmt.Errorf("annotation key %q: want [prefix/]name, the prefix a DNS subdomain and the name at most 63 letters, digits, '-', '_' or '.' (kubepatrol.io/drained-by)", s)
	}
	return nil
}

func pagersParam(s string) error {
	for _, name := range strings.Split(s, ",") {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("want a comma-separated list of pager names, got %q", s)
		}
	}
	return nil
}

func severityParam(s string) error {
	switch s {
	case "info", "warning", "critical":
		return nil
	}
	return fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// scaleCross: exactly one of replicas and delta; min at most max; an
// absolute replica count within [min, max].
func scaleCross(p map[string]string) []paramErr {
	_, hasReplicas := p["replicas"]
	_, hasDelta := p["delta"]
	var errs []paramErr
	switch {
	case hasReplicas && hasDelta:
		errs = append(errs, paramErr{"delta", "scale takes replicas or delta, not both"})
	case !hasReplicas && !hasDelta:
		errs = append(errs, paramErr{"", "scale needs replicas (an absolute count) or delta (+1, -2)"})
	}
	num := func(k string) (int, bool) {
		s, ok := p[k]
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil
	}
	lo, hasMin := num("min")
	hi, hasMax := num("max")
	if hasMin && hasMax && lo > hi {
		errs = append(errs, paramErr{"min", fmt.Sprintf("min (%d) is above max (%d)", lo, hi)})
	}
	if n, ok := num("replicas"); ok && ((hasMin && n < lo) || (hasMax && n > hi)) {
		errs = append(errs, paramErr{"replicas", fmt.Sprintf("replicas (%d) outside min/max", n)})
	}
	return errs
}
