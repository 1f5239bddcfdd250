package pod

import (
	"fmt"
	"iter"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Pod phases.
const (
	phasePending   = "Pending"
	phaseRunning   = "Running"
	phaseSucceeded = "Succeeded"
	phaseFailed    = "Failed"
)

func ref(p *snapshot.Pod) checks.ObjectRef { return checks.Ref(snapshot.KindPod, &p.Meta) }

// terminal reports whether the pod has finished for good (Succeeded or
// Failed): its containers will not run again.
func terminal(p *snapshot.Pod) bool { return p.Phase == phaseSucceeded || p.Phase == phaseFailed }

// active reports whether the pod is meant to be running: not finished and
// not being deleted.
func active(p *snapshot.Pod) bool { return !terminal(p) && p.DeletionTimestamp == nil }

// ctr is a container of a pod with where its status lives.
type ctr struct {
	*snapshot.Container
	// init is true for a classic init container (one that must complete
	// before the app containers start); sidecars are false.
	init bool
	// inInit is true for every container of spec.initContainers,
	// sidecars included.
	inInit bool
}

// path is where the container's status lives:
// status.containerStatuses[app], status.initContainerStatuses[migrate].
func (c ctr) path() string {
	if c.inInit {
		return "status.initContainerStatuses[" + c.Name + "]"
	}
	return "status.containerStatuses[" + c.Name + "]"
}

// label names the container for people: "container app", "init container
// migrate", "sidecar container proxy".
func (c ctr) label() string {
	switch {
	case c.init:
		return "init container " + c.Name
	case c.Sidecar:
		return "sidecar container " + c.Name
	}
	return "container " + c.Name
}

// containers yields the init containers (in order) and then the app
// containers.
func containers(p *snapshot.Pod) iter.Seq[ctr] {
	return func(yield func(ctr) bool) {
		for i := range p.InitContainers {
			c := &p.InitContainers[i]
			if !yield(ctr{Container: c, init: !c.Sidecar, inInit: true}) {
				return
			}
		}
		for i := range p.Containers {
			if !yield(ctr{Container: &p.Containers[i]}) {
				return
			}
		}
	}
}

// longRunning yields the containers expected to keep running: sidecars
// and app containers.
func longRunning(p *snapshot.Pod) iter.Seq[ctr] {
	return func(yield func(ctr) bool) {
		for c := range containers(p) {
			if !c.init && !yield(c) {
				return
			}
		}
	}
}

func waiting(c ctr, reasons ...string) bool {
	if c.State.State != snapshot.StateWaiting {
		return false
	}
	for _, r := range reasons {
		if c.State.Reason == r {
			return true
		}
	}
	return len(reasons) == 0
}

// Waiting reasons the kubelet uses for image problems.
var imageReasons = []string{
	"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
	"RegistryUnavailable", "ImageInspectError", "SignatureValidationFailed",
}

// Waiting reasons the kubelet uses when it cannot create or start a
// container from its spec.
var configReasons = []string{
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
	"PreCreateHookError", "PreStartHookError",
}

// Terminated reasons the runtime uses when the container process could not
// be started at all (bad command, bad mount): a configuration error, not a
// crash of the application.
var startErrorReasons = []string{"StartError", "ContainerCannotRun"}

func isOneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// waitingSince estimates when a container started waiting: the end of its
// last run, else when the kubelet started the pod, else the pod's creation.
func waitingSince(p *snapshot.Pod, c ctr) time.Time {
	t := p.CreationTimestamp
	if p.StartTime != nil && p.StartTime.After(t) {
		t = *p.StartTime
	}
	if f := c.LastState.FinishedAt; f != nil && f.After(t) {
		t = *f
	}
	return t
}

// scheduledAt returns when the pod was bound to a node, if known.
func scheduledAt(p *snapshot.Pod) time.Time {
	if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok && c.Status == "True" && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime
	}
	if p.StartTime != nil {
		return *p.StartTime
	}
	return p.CreationTimestamp
}

// podEvents returns the events about the pod's current incarnation (same
// UID when both sides carry one, not older than the pod) whose reason is one
// of reasons (any when none), oldest first.
func podEvents(env *checks.Env, p *snapshot.Pod, reasons ...string) []*snapshot.Event {
	var out []*snapshot.Event
	for _, e := range env.Index.EventsFor(snapshot.KindPod, p.Namespace, p.Name) {
		if e.Involved.UID != "" && p.UID != "" && e.Involved.UID != p.UID {
			continue
		}
		if !p.CreationTimestamp.IsZero() && !e.LastTime.IsZero() && e.LastTime.Before(p.CreationTimestamp) {
			continue
		}
		if len(reasons) > 0 && !isOneOf(e.Reason, reasons) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// latestPodEvent returns the newest event of the pod's current incarnation
// with one of reasons whose message satisfies match (nil matches all).
func latestPodEvent(env *checks.Env, p *snapshot.Pod, match func(*snapshot.Event) bool, reasons ...string) *snapshot.Event {
	evs := podEvents(env, p, reasons...)
	for i := len(evs) - 1; i >= 0; i-- {
		if match == nil || match(evs[i]) {
			return evs[i]
		}
	}
	return nil
}

func eventEvidence(e *snapshot.Event) checks.Evidence {
	v := e.Reason
	if e.Count > 1 {
		v = fmt.Sprintf("%s (x%d)", e.Reason, e.Count)
	}
	t := e.LastTime
	ev := checks.Evidence{Type: checks.EvEvent, Path: "events[" + e.Reason + "]", Value: v,
		Message: clip(e.Message, 1024), Source: e.Source}
	if !t.IsZero() {
		ev.Time = &t
	}
	return ev
}

func conditionEvidence(c snapshot.Condition) checks.Evidence {
	ev := checks.Evidence{Type: checks.EvCondition, Path: "status.conditions[" + c.Type + "]",
		Value: c.Status, Message: checks.JoinNonEmpty(c.Reason, c.Message)}
	if !c.LastTransitionTime.IsZero() {
		t := c.LastTransitionTime
		ev.Time = &t
	}
	return ev
}

func fieldEvidence(path, value, msg string, t *time.Time) checks.Evidence {
	return checks.Evidence{Type: checks.EvField, Path: path, Value: value, Message: msg, Time: t}
}

func thresholdEvidence(name, value, msg string) checks.Evidence {
	return checks.Evidence{Type: checks.EvThreshold, Path: "params." + name, Value: value, Message: msg}
}

// stateEvidence renders a container state (state or lastState).
func stateEvidence(c ctr, last bool) checks.Evidence {
	s, which := c.State, "state"
	if last {
		s, which = c.LastState, "lastState"
	}
	path := c.path() + "." + which + "." + s.State
	var t *time.Time
	switch s.State {
	case snapshot.StateTerminated:
		t = s.FinishedAt
		return fieldEvidence(path, termination(s), clip(s.Message, 1024), t)
	case snapshot.StateRunning:
		return fieldEvidence(path, "running", "", s.StartedAt)
	}
	return fieldEvidence(path, s.Reason, clip(s.Message, 1024), nil)
}

func restartEvidence(c ctr) checks.Evidence {
	return fieldEvidence(c.path()+".restartCount", strconv.Itoa(int(c.RestartCount)), "", nil)
}

// termination renders a terminated state: "exit code 1 (Error)",
// "exit code 137 (OOMKilled)", "exit code 139 (Error, SIGSEGV)".
func termination(s snapshot.ContainerState) string {
	var parts []string
	if s.Reason != "" {
		parts = append(parts, s.Reason)
	}
	if m := exitMeaning(s.ExitCode); m != "" && s.Reason != "OOMKilled" {
		parts = append(parts, m)
	}
	if s.Signal != 0 && s.ExitCode == 0 {
		parts = append(parts, fmt.Sprintf("signal %d", s.Signal))
	}
	out := fmt.Sprintf("exit code %d", s.ExitCode)
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// exitMeaning explains the exit codes shells and runtimes give meaning to.
func exitMeaning(code int32) string {
	switch code {
	case 126:
		return "command not executable"
	case 127:
		return "command not found"
	case 128 + 6:
		return "SIGABRT"
	case 128 + 9:
		return "SIGKILL"
	case 128 + 11:
		return "SIGSEGV"
	case 128 + 15:
		return "SIGTERM"
	}
	return ""
}

// firstLine returns the first non-empty line of s, clipped to n runes.
func firstLine(s string, n int) string {
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return clip(l, n)
		}
	}
	return ""
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s // no more runes than bytes
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// clipMiddle keeps the head and the tail of a long one-line message: the
// runtime's errors put the object first and the root cause last.
func clipMiddle(s string, n int) string {
	s = firstLine(s, 1<<20)
	if len(s) <= n {
		return s // no more runes than bytes
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	head := n / 2
	tail := n - head - 3
	return strings.TrimSpace(string(r[:head])) + " … " + strings.TrimSpace(string(r[len(r)-tail:]))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// moreContainers renders " (and 2 more containers)" for aggregated findings.
func moreContainers(n int) string {
	if n <= 0 {
		return ""
	}
	return " (and " + plural(n, "more container", "more containers") + ")"
}

// round renders a duration for people (checks.Round).
func round(d time.Duration) string { return checks.Round(d) }

// quantity renders a resource amount as Kubernetes would write it: CPU in
// cores or millicores, bytes in binary or decimal units.
func quantity(name string, v int64) string {
	if strings.Contains(name, "cpu") {
		if v%1000 == 0 {
			return strconv.FormatInt(v/1000, 10)
		}
		return strconv.FormatInt(v, 10) + "m"
	}
	if name != "memory" && name != "ephemeral-storage" && !strings.HasPrefix(name, "hugepages-") {
		return strconv.FormatInt(v, 10)
	}
	if v > 10<<30 && v%(1<<30) != 0 {
		return strconv.FormatFloat(float64(v)/(1<<30), 'f', 1, 64) + "Gi"
	}
	units := []struct {
		s string
		n int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"Ki", 1 << 10}, {"k", 1e3}}
	for _, u := range units {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.s
		}
	}
	switch {
	case v >= 1<<30:
		return strconv.FormatFloat(float64(v)/(1<<30), 'f', 1, 64) + "Gi"
	case v >= 1<<20:
		return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) + "Mi"
	}
	return strconv.FormatInt(v, 10)
}

// podRequests sums the pod's effective requests as the scheduler sees them:
// the sum over app containers and sidecars, or the largest init container
// when that is larger.
func podRequests(p *snapshot.Pod) snapshot.Resources {
	sum := snapshot.Resources{}
	for _, c := range p.Containers {
		for k, v := range c.Requests {
			sum[k] += v
		}
	}
	for _, c := range p.InitContainers {
		if c.Sidecar {
			for k, v := range c.Requests {
				sum[k] += v
			}
		}
	}
	for _, c := range p.InitContainers {
		if c.Sidecar {
			continue
		}
		for k, v := range c.Requests {
			if v > sum[k] {
				sum[k] = v
			}
		}
	}
	return sum
}

// renderResources renders "cpu=2, memory=8Gi" in name order.
func renderResources(r snapshot.Resources) string {
	names := make([]string, 0, len(r))
	for k := range r {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, k+"="+quantity(k, r[k]))
	}
	return strings.Join(parts, ", ")
}

// nodeHealth describes the state of the node a pod is bound to.
type nodeHealth struct {
	// known is false when the snapshot has no Node data to judge by.
	known bool
	gone  bool
	// ready is the node's Ready condition, when the node exists.
	ready snapshot.Condition
	node  *snapshot.Node
}

func nodeOf(env *checks.Env, name string) nodeHealth {
	if name == "" {
		return nodeHealth{}
	}
	if n := env.Index.Nodes[name]; n != nil {
		h := nodeHealth{known: true, node: n}
		h.ready, _ = snapshot.FindCondition(n.Conditions, "Ready")
		return h
	}
	if _, gap := env.Snap.Gap(snapshot.KindNode); gap || len(env.Snap.Nodes) == 0 {
		return nodeHealth{}
	}
	return nodeHealth{known: true, gone: true}
}

// bad reports whether the node is gone, NotReady or unreachable.
func (h nodeHealth) bad() bool {
	return h.known && (h.gone || h.ready.Status == "False" || h.ready.Status == "Unknown")
}

// describe renders the node's problem: "no longer exists", "is NotReady
// (KubeletNotReady: ...)", "is unreachable (Kubelet stopped posting node
// status.)"; empty when the node is healthy or unknown.
func (h nodeHealth) describe() string {
	switch {
	case !h.known:
		return ""
	case h.gone:
		return "no longer exists"
	case h.ready.Status == "Unknown":
		return "is unreachable (" + firstNonEmpty(h.ready.Message, "Ready=Unknown") + ")"
	case h.ready.Status == "False":
		return "is NotReady (" + firstNonEmpty(checks.JoinNonEmpty(h.ready.Reason, firstLine(h.ready.Message, 160)), "Ready=False") + ")"
	}
	return ""
}

func (h nodeHealth) evidence(name string) checks.Evidence {
	switch {
	case h.gone:
		return checks.Evidence{Type: checks.EvRelation, Path: "spec.nodeName", Value: name,
			Message: "node " + name + " is not in the cluster's Node list"}
	case h.node != nil:
		ev := checks.Evidence{Type: checks.EvRelation, Path: "node/" + name + "/status.conditions[Ready]",
			Value: firstNonEmpty(h.ready.Status, "missing"), Message: checks.JoinNonEmpty(h.ready.Reason, h.ready.Message)}
		if !h.ready.LastTransitionTime.IsZero() {
			t := h.ready.LastTransitionTime
			ev.Time = &t
		}
		return ev
	}
	return checks.Evidence{}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// missingRef is a ConfigMap, Secret or key a kubelet message says is missing.
type missingRef struct {
	Kind string // ConfigMap or Secret
	Name string
	Key  string // set when the object exists but lacks the key
}

func (m missingRef) String() string {
	if m.Key != "" {
		return fmt.Sprintf("key %q in %s %s", m.Key, m.Kind, m.Name)
	}
	return fmt.Sprintf("%s %q", m.Kind, m.Name)
}

var (
	// configmap "app-config" not found; secrets "db" not found;
	// ConfigMap "x" not found.
	reNotFound = regexp.MustCompile(`(?i)\b(configmap|secret)s?\s+"([^"]+)"\s+not found`)
	// couldn't find key DB_HOST in ConfigMap default/app-config
	reMissingKey = regexp.MustCompile(`(?i)couldn't find key\s+"?([^\s"]+)"?\s+in\s+(configmap|secret)\s+"?([^\s"]+?)"?(?:\s|$|[.,;:])`)
)

// parseMissingRef extracts the missing ConfigMap, Secret or key from a
// kubelet message.
func parseMissingRef(msg string) (missingRef, bool) {
	if m := reMissingKey.FindStringSubmatch(msg); m != nil {
		name := m[3]
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		return missingRef{Kind: kindWord(m[2]), Name: name, Key: m[1]}, true
	}
	if m := reNotFound.FindStringSubmatch(msg); m != nil {
		return missingRef{Kind: kindWord(m[1]), Name: m[2]}, true
	}
	return missingRef{}, false
}

func kindWord(s string) string {
	if strings.EqualFold(s, "secret") {
		return "Secret"
	}
	return "ConfigMap"
}

// refEvidence cross-checks a missing object with the pod's spec: whether
// the pod references it and whether the reference is optional.
func refEvidence(p *snapshot.Pod, m missingRef) checks.Evidence {
	for _, r := range p.ConfigRefs {
		if r.Kind == m.Kind && r.Name == m.Name {
			msg := fmt.Sprintf("the pod spec references %s %s (required)", r.Kind, r.Name)
			if r.Optional {
				msg = fmt.Sprintf("the pod spec references %s %s as optional", r.Kind, r.Name)
			}
			return checks.Evidence{Type: checks.EvRelation, Path: "spec (configRefs)", Value: r.Kind + "/" + r.Name, Message: msg}
		}
	}
	return checks.Evidence{Type: checks.EvRelation, Path: "spec (configRefs)", Value: m.Kind + "/" + m.Name,
		Message: "not among the ConfigMaps and Secrets the pod spec references through volumes, envFrom or env"}
}

// failing reports whether a container is in an error state another pod
// check owns: an image, create or start error, a crash loop, or a failed
// init container.
func failing(c ctr) bool {
	switch {
	case waiting(c, imageReasons...), waiting(c, configReasons...), waiting(c, "CrashLoopBackOff"):
		return true
	case c.State.State == snapshot.StateTerminated && isOneOf(c.State.Reason, startErrorReasons):
		return true
	case c.init && c.State.State == snapshot.StateTerminated && c.State.ExitCode != 0:
		return true
	}
	return false
}

// Kubelet events that explain why a scheduled pod's containers are not
// created yet, most specific first.
var creationFailures = []string{
	"FailedAttachVolume", "FailedMount", "FailedCreatePodSandBox", "FailedCreatePodContainer",
	"NetworkNotReady", "FailedSync", "FailedMapVolume",
}

// blocker is the container that holds a scheduled pod in creation.
type blocker struct {
	c ctr
	// reason is ContainerCreating, PodInitializing (an init container
	// still running) or the waiting reason the kubelet reported.
	reason string
	since  time.Time
	// noStatus is true when the kubelet reported no container status.
	noStatus bool
}

// creationBlocker finds the container that keeps a scheduled pod from
// running: the first init container still being created or still running,
// else the first app container being created. ok is false when nothing is
// being created or a container is failing (other checks own that).
func creationBlocker(env *checks.Env, p *snapshot.Pod) (blocker, bool) {
	if p.NodeName == "" || !active(p) {
		return blocker{}, false
	}
	var first ctr
	anyStatus, some := false, false
	for c := range containers(p) {
		if failing(c) {
			return blocker{}, false
		}
		if !some {
			first, some = c, true
		}
		anyStatus = anyStatus || c.HasStatus
	}
	if !some {
		return blocker{}, false
	}
	if !anyStatus {
		// The kubelet has reported nothing yet: only its failure events
		// can say that creation is stuck.
		if p.Phase != phasePending || len(podEvents(env, p, creationFailures...)) == 0 {
			return blocker{}, false
		}
		return blocker{c: first, reason: "ContainerCreating", since: scheduledAt(p), noStatus: true}, true
	}
	creating := func(c ctr) bool {
		return waiting(c, "ContainerCreating", "PodInitializing") || (c.HasStatus && c.State.State == "")
	}
	for c := range containers(p) {
		if !c.init {
			continue
		}
		switch {
		case c.State.State == snapshot.StateTerminated:
			continue // completed (failures returned above)
		case c.State.State == snapshot.StateRunning:
			since := scheduledAt(p)
			if c.State.StartedAt != nil {
				since = *c.State.StartedAt
			}
			return blocker{c: c, reason: "PodInitializing", since: since}, true
		case creating(c):
			return blocker{c: c, reason: firstNonEmpty(c.State.Reason, "ContainerCreating"), since: waitingSince(p, c)}, true
		}
		return blocker{}, false
	}
	for c := range containers(p) {
		if !c.init && creating(c) {
			return blocker{c: c, reason: firstNonEmpty(c.State.Reason, "ContainerCreating"), since: waitingSince(p, c)}, true
		}
	}
	return blocker{}, false
}

// durText renders a parameter duration without zero units: 24h, 5m, 1h30m.
func durText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// eventContainer returns the container an event is about, from its
// fieldPath (spec.containers{app}, spec.initContainers{migrate}); "" when
// the event carries no container fieldPath.
func eventContainer(e *snapshot.Event) string {
	fp := e.FieldPath
	i := strings.IndexByte(fp, '{')
	if i < 0 || !strings.HasPrefix(fp, "spec.") || !strings.HasSuffix(fp, "}") {
		return ""
	}
	return fp[i+1 : len(fp)-1]
}

// forContainer reports whether an event concerns the container name: by
// the event's fieldPath when it has one, else (older recorders, events
// recorded without involvedObject.fieldPath) by text, a test of the
// message; a nil text accepts every event without a fieldPath.
func forContainer(e *snapshot.Event, name string, text func(string) bool) bool {
	if c := eventContainer(e); c != "" {
		return c == name
	}
	return text == nil || text(e.Message)
}

// reNamedBackOff matches back-off messages that name their container:
// "Back-off restarting failed container app in pod web-1_ns(uid)" and
// "back-off 5m0s restarting failed container=app pod=web-1_ns(uid)".
var reNamedBackOff = regexp.MustCompile(`restarting failed container[= ]\S+ (in )?pod`)

// backOffEvent returns the latest "Back-off restarting failed container"
// event about container name: by fieldPath, else by the container name in
// the message, else one that names no container at all (older kubelets).
func backOffEvent(env *checks.Env, p *snapshot.Pod, name string) *snapshot.Event {
	isBackOff := func(e *snapshot.Event) bool { return strings.Contains(e.Message, "restarting failed container") }
	names := func(m string) bool {
		return strings.Contains(m, "container "+name+" ") || strings.Contains(m, "container="+name+" ")
	}
	if e := latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return isBackOff(e) && forContainer(e, name, names)
	}, "BackOff"); e != nil {
		return e
	}
	return latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return isBackOff(e) && eventContainer(e) == "" && !reNamedBackOff.MatchString(e.Message)
	}, "BackOff")
}
