package workload

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// This file holds the helpers the workload checks share: why a controller's
// pods are not ready (trouble), owner lookups, and the rendering of
// durations, conditions and events as evidence.

// trouble is why one pod of a workload is not ready, in the words the
// scheduler, the kubelet or the runtime used.
type trouble struct {
	pod *snapshot.Pod
	// reason is CamelCase: CrashLoopBackOff, ImagePullBackOff,
	// Unschedulable, CreateContainerConfigError, NotReady, Evicted…
	reason string
	// detail is one line naming the container and the cause.
	detail string
	// since estimates when the pod stopped being ready (zero if unknown).
	since time.Time
	// rank orders troubles: the higher, the more likely the cause.
	rank int
	// ev is the pod-level evidence of the cause (container state, event).
	ev []checks.Evidence
}

// Waiting reasons the kubelet uses for image problems.
var imageReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"RegistryUnavailable": true, "ImageInspectError": true, "SignatureValidationFailed": true,
}

// Waiting reasons the kubelet uses when it cannot create a container from
// its spec.
var configReasons = map[string]bool{
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"PreCreateHookError": true, "PreStartHookError": true,
}

// podTrouble explains why p is not ready. It returns false for a ready
// pod, a finished pod (Succeeded, or Failed: an evicted or failed pod no
// longer counts as a replica and its controller replaces it) and a pod
// within its deletion grace period: those are not faults of the workload.
func podTrouble(env *checks.Env, p *snapshot.Pod) (trouble, bool) {
	if p.Phase == "Succeeded" || p.Phase == "Failed" {
		return trouble{}, false
	}
	if p.DeletionTimestamp == nil && podReady(p) {
		return trouble{}, false
	}
	t := trouble{pod: p, since: notReadySince(p)}
	nc, down := nodeDown(env, p.NodeName)
	if p.DeletionTimestamp != nil {
		// deletionTimestamp already includes the grace period; a pod
		// still there well after it is stuck (a dead node, a finalizer).
		if env.Age(*p.DeletionTimestamp) < stuckTerminating {
			return trouble{}, false
		}
		t.reason, t.rank = "Terminating", 65
		if podReady(p) || p.DeletionTimestamp.Before(t.since) {
			t.since = *p.DeletionTimestamp
		}
		t.detail = fmt.Sprintf("stuck terminating for %s", round(env.Age(*p.DeletionTimestamp)))
		switch {
		case down:
			t.detail += fmt.Sprintf(" on node %s, which is %s", p.NodeName, nodeState(nc))
			t.ev = append(t.ev, nodeEvidence(p.NodeName, nc))
		case len(p.Finalizers) > 0:
			t.detail += " (finalizers: " + strings.Join(p.Finalizers, ", ") + ")"
		}
		return t, true
	}
	if down {
		t.reason, t.rank = "NodeNotReady", 88
		if nc.Status == "Unknown" {
			t.reason = "NodeUnreachable"
		}
		t.detail = fmt.Sprintf("its node %s is %s", p.NodeName, nodeState(nc))
		if !nc.LastTransitionTime.IsZero() {
			t.since = nc.LastTransitionTime
		}
		t.ev = append(t.ev, nodeEvidence(p.NodeName, nc))
		return t, true
	}
	if c, ok := snapshot.FindCondition(p.Conditions, "PodScheduled"); ok && c.Status == "False" {
		t.reason, t.rank = firstNonEmpty(c.Reason, "Unschedulable"), 80
		t.detail = oneLine(c.Message, 400)
		if !c.LastTransitionTime.IsZero() {
			t.since = c.LastTransitionTime
		}
		t.ev = append(t.ev, conditionEvidence(c))
		if e := env.Index.LatestEvent(snapshot.KindPod, p.Namespace, p.Name, "FailedScheduling"); e != nil {
			if t.detail == "" {
				t.detail = oneLine(e.Message, 400)
			}
			t.ev = append(t.ev, eventEvidence(e))
		}
		if t.detail == "" {
			t.detail = "not scheduled"
		}
		return t, true
	}
	if p.NodeName == "" && p.Phase == "Pending" {
		t.reason, t.rank, t.detail = "Pending", 20, "not scheduled yet"
		if e := env.Index.LatestEvent(snapshot.KindPod, p.Namespace, p.Name, "FailedScheduling"); e != nil {
			t.reason, t.rank, t.detail = "FailedScheduling", 80, oneLine(e.Message, 400)
			t.ev = append(t.ev, eventEvidence(e))
		}
		return t, true
	}
	// Classic init containers run in order while the pod is Pending; the
	// first unfinished one is what the pod waits on.
	if p.Phase == "Pending" {
		for i := range p.InitContainers {
			c := &p.InitContainers[i]
			if c.Sidecar || c.State.State == snapshot.StateTerminated && c.State.ExitCode == 0 {
				continue
			}
			mergeTrouble(&t, containerTrouble(env, p, c, "init container", "status.initContainerStatuses["+c.Name+"]"))
			return t, true
		}
	}
	best := trouble{}
	for _, list := range []struct {
		cs    []snapshot.Container
		label string
		path  string
	}{{p.InitContainers, "sidecar container", "status.initContainerStatuses"}, {p.Containers, "container", "status.containerStatuses"}} {
		for i := range list.cs {
			c := &list.cs[i]
			if list.label == "sidecar container" && !c.Sidecar {
				continue
			}
			if c.Ready {
				continue
			}
			if ct := containerTrouble(env, p, c, list.label, list.path+"["+c.Name+"]"); ct.rank > best.rank {
				best = ct
			}
		}
	}
	if best.rank > 0 {
		mergeTrouble(&t, best)
		return t, true
	}
	if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && c.Status != "True" {
		t.reason, t.rank = "NotReady", 10
		t.detail = firstNonEmpty(oneLine(checks.JoinNonEmpty(c.Reason, c.Message), 300), "pod is not ready")
		t.ev = append(t.ev, conditionEvidence(c))
		return t, true
	}
	return trouble{}, false
}

func mergeTrouble(t *trouble, c trouble) {
	t.reason, t.detail, t.rank = c.reason, c.detail, c.rank
	t.ev = append(t.ev, c.ev...)
	if !c.since.IsZero() && (t.since.IsZero() || c.since.Before(t.since)) {
		t.since = c.since
	}
}

// containerTrouble explains one container that is not ready.
func containerTrouble(env *checks.Env, p *snapshot.Pod, c *snapshot.Container, label, path string) trouble {
	name := label + " " + c.Name
	t := trouble{}
	switch c.State.State {
	case snapshot.StateWaiting:
		r := firstNonEmpty(c.State.Reason, "Waiting")
		t.reason = r
		t.ev = append(t.ev, fieldEvidence(path+".state.waiting", r, oneLine(c.State.Message, 1024), nil))
		switch {
		case r == "CrashLoopBackOff":
			t.rank = 90
			t.detail = name + " " + crashDetail(c)
			if c.LastState.State == snapshot.StateTerminated {
				t.ev = append(t.ev, fieldEvidence(path+".lastState.terminated", termination(c.LastState),
					oneLine(c.LastState.Message, 1024), c.LastState.FinishedAt))
			}
			if c.RestartCount > 0 {
				// Restarts back off 10s, 20s, 40s… up to 5m: that many
				// restarts took at least this long.
				t.since = env.Now.Add(-backoffSpan(c.RestartCount))
			}
		case imageReasons[r]:
			t.rank = 85
			msg := c.State.Message
			// The kubelet's "Failed to pull image …" event carries the
			// registry's answer; the waiting message only says Back-off.
			if e := podEventFor(env, p, c.Name, func(m string) bool {
				return strings.Contains(m, "pull image") || strings.Contains(m, "Failed to pull")
			}, "Failed"); e != nil {
				msg = e.Message
				t.ev = append(t.ev, eventEvidence(e))
			}
			t.detail = fmt.Sprintf("%s image %q: %s", name, c.Image, firstNonEmpty(oneLine(msg, 300), r))
		case configReasons[r]:
			t.rank = 85
			t.detail = name + ": " + firstNonEmpty(oneLine(c.State.Message, 300), r)
		case r == "ContainerCreating" || r == "PodInitializing" || r == "Waiting":
			t.rank = 30
			t.detail = name + " is " + r
			if e := podEventFor(env, p, c.Name, nil,
				"FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox", "FailedSync"); e != nil {
				t.reason, t.rank = e.Reason, 70
				t.detail = name + " cannot start: " + oneLine(e.Message, 300)
				t.ev = append(t.ev, eventEvidence(e))
			}
		default:
			t.rank = 60
			t.detail = name + ": " + firstNonEmpty(oneLine(c.State.Message, 300), r)
		}
	case snapshot.StateTerminated:
		t.reason = firstNonEmpty(c.State.Reason, "Terminated")
		t.rank = 75
		if c.State.ExitCode == 0 {
			t.rank = 40
		}
		t.detail = name + " " + termination(c.State)
		if m := oneLine(c.State.Message, 200); m != "" {
			t.detail += ": " + m
		}
		t.ev = append(t.ev, fieldEvidence(path+".state.terminated", termination(c.State), oneLine(c.State.Message, 1024), c.State.FinishedAt))
	case snapshot.StateRunning:
		if label == "init container" {
			t.reason, t.rank, t.detail = "PodInitializing", 25, name+" is still running"
			break
		}
		t.reason, t.rank = "NotReady", 40
		t.detail = name + " is running but not ready"
		if e := podEventFor(env, p, c.Name, nil, "Unhealthy"); e != nil {
			t.reason, t.rank = "Unhealthy", 50
			t.detail += ": " + oneLine(e.Message, 300)
			t.ev = append(t.ev, eventEvidence(e))
		}
		if c.RestartCount > 0 && c.LastState.State == snapshot.StateTerminated {
			t.detail += fmt.Sprintf(" (restarted %d times, last %s)", c.RestartCount, termination(c.LastState))
		}
	default:
		t.reason, t.rank, t.detail = "ContainerCreating", 20, name+" has not started"
		if e := podEventFor(env, p, c.Name, nil,
			"FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"); e != nil {
			t.reason, t.rank = e.Reason, 70
			t.detail = name + " cannot start: " + oneLine(e.Message, 300)
			t.ev = append(t.ev, eventEvidence(e))
		}
	}
	return t
}

// crashDetail renders a crash-looping container's last run: "was
// OOMKilled (exit code 137), restarted 12 times" or "last ended with exit
// code 1 (Error): panic: …, restarted 4 times".
func crashDetail(c *snapshot.Container) string {
	var s string
	switch {
	case c.LastState.State != snapshot.StateTerminated:
		s = "is in CrashLoopBackOff"
	case c.LastState.Reason == "OOMKilled":
		s = fmt.Sprintf("was OOMKilled (exit code %d)", c.LastState.ExitCode)
	default:
		s = "last ended with " + termination(c.LastState)
		if m := oneLine(c.LastState.Message, 200); m != "" {
			s += ": " + m
		}
	}
	if c.RestartCount > 0 {
		s += fmt.Sprintf(", restarted %d times", c.RestartCount)
	}
	return s
}

// failedContainer returns the container whose termination failed a pod.
func failedContainer(p *snapshot.Pod) (*snapshot.Container, string, bool) {
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.State.State == snapshot.StateTerminated && (c.State.ExitCode != 0 || c.State.Reason == "OOMKilled") {
			return c, "status.containerStatuses[" + c.Name + "]", true
		}
	}
	for i := range p.InitContainers {
		c := &p.InitContainers[i]
		if c.State.State == snapshot.StateTerminated && c.State.ExitCode != 0 {
			return c, "status.initContainerStatuses[" + c.Name + "]", true
		}
	}
	return nil, "", false
}

// backoffSpan is the shortest time n restarts can take under the kubelet's
// crash back-off (10s doubling up to 5m).
func backoffSpan(n int32) time.Duration {
	var d, step time.Duration = 0, 10 * time.Second
	for i := int32(0); i < n && i < 1000; i++ {
		d += step
		if step *= 2; step > 5*time.Minute {
			step = 5 * time.Minute
		}
	}
	return d
}

// notReadySince estimates when a pod stopped being ready: the Ready
// condition's last transition, else its creation. It is never earlier than
// the pod's creation.
func notReadySince(p *snapshot.Pod) time.Time {
	t := p.CreationTimestamp
	if c, ok := snapshot.FindCondition(p.Conditions, "Ready"); ok && c.Status != "True" && c.LastTransitionTime.After(t) {
		t = c.LastTransitionTime
	}
	return t
}

// troubles returns the troubles of pods, worst first; pods for which skip
// returns true are left out.
func troubles(env *checks.Env, pods []*snapshot.Pod, skip func(*snapshot.Pod) bool) []trouble {
	var out []trouble
	for _, p := range pods {
		if skip != nil && skip(p) {
			continue
		}
		if t, ok := podTrouble(env, p); ok {
			// The estimate never predates the pod.
			if t.since.Before(p.CreationTimestamp) {
				t.since = p.CreationTimestamp
			}
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.rank != b.rank {
			return a.rank > b.rank
		}
		if !a.since.Equal(b.since) {
			return a.since.Before(b.since)
		}
		return a.pod.Name < b.pod.Name
	})
	return out
}

// earliest returns the earliest known since of ts (zero when none).
func earliest(ts []trouble) time.Time {
	var t time.Time
	for _, x := range ts {
		if !x.since.IsZero() && (t.IsZero() || x.since.Before(t)) {
			t = x.since
		}
	}
	return t
}

// summarize renders troubles as one clause: the worst pod in full, then
// counts of the others by reason: `pod web-7d9c-x2k4q CrashLoopBackOff:
// container app exited with exit code 1 (Error), restarted 9 times (and 2
// more pods: 1 CrashLoopBackOff, 1 Unschedulable)`.
func summarize(ts []trouble) string {
	if len(ts) == 0 {
		return ""
	}
	w := ts[0]
	s := fmt.Sprintf("pod %s %s: %s", w.pod.Name, w.reason, w.detail)
	if len(ts) == 1 {
		return s
	}
	counts := map[string]int{}
	var order []string
	for _, t := range ts[1:] {
		if counts[t.reason] == 0 {
			order = append(order, t.reason)
		}
		counts[t.reason]++
	}
	var parts []string
	for _, r := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
	}
	return s + fmt.Sprintf(" (and %s: %s)", plural(len(ts)-1, "more pod", "more pods"), strings.Join(parts, ", "))
}

// troubleEvidence renders the worst trouble in full and up to four more as
// relations.
func troubleEvidence(ts []trouble) []checks.Evidence {
	var out []checks.Evidence
	for i, t := range ts {
		if i >= 5 {
			out = append(out, checks.Evidence{Type: checks.EvRelation, Path: "pods",
				Value: fmt.Sprintf("+%d", len(ts)-i), Message: "more pods not ready"})
			break
		}
		ev := checks.Evidence{Type: checks.EvRelation, Path: "pod/" + t.pod.Name, Value: t.reason, Message: t.detail}
		if !t.since.IsZero() {
			ev.Time = at(t.since)
		}
		if t.pod.NodeName != "" {
			ev.Source = "node/" + t.pod.NodeName
		}
		out = append(out, ev)
		if i == 0 {
			for _, e := range t.ev {
				if !strings.HasPrefix(e.Path, "node/") {
					e.Path = "pod/" + t.pod.Name + "." + e.Path
				}
				out = append(out, e)
			}
		}
	}
	return out
}

// ownedBy indexes objects by their controller's UID.
type ownedBy map[string][]*snapshot.ReplicaSet

type replicaSetsByOwnerKey struct{}

// replicaSetsByOwner indexes ReplicaSets by their controlling Deployment,
// once per snapshot.
func replicaSetsByOwner(env *checks.Env) ownedBy {
	return checks.Shared(env.Index, replicaSetsByOwnerKey{}, func() ownedBy { return indexReplicaSets(env.Snap) })
}

func indexReplicaSets(s *snapshot.Snapshot) ownedBy {
	m := ownedBy{}
	for i := range s.ReplicaSets {
		rs := &s.ReplicaSets[i]
		if o, ok := rs.Controller(); ok && o.Kind == "Deployment" {
			key := o.UID
			if key == "" {
				key = checks.NN(rs.Namespace, o.Name)
			}
			m[key] = append(m[key], rs)
		}
	}
	return m
}

// of returns the ReplicaSets of d.
func (m ownedBy) of(d *snapshot.Deployment) []*snapshot.ReplicaSet {
	if rs := m[d.UID]; d.UID != "" && len(rs) > 0 {
		return rs
	}
	return m[checks.NN(d.Namespace, d.Name)]
}

// revision returns a ReplicaSet's deployment revision (0 if unknown).
func revision(rs *snapshot.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
	return n
}

// newestReplicaSet returns the ReplicaSet with the highest revision (the
// one a rollout is moving to), else the newest.
func newestReplicaSet(rss []*snapshot.ReplicaSet) *snapshot.ReplicaSet {
	var best *snapshot.ReplicaSet
	var bestRev int64
	for _, rs := range rss {
		if best == nil {
			best, bestRev = rs, revision(rs)
			continue
		}
		if a := revision(rs); a > bestRev || a == bestRev && rs.CreationTimestamp.After(best.CreationTimestamp) {
			best, bestRev = rs, a
		}
	}
	return best
}

// podsOf returns the pods controlled by the object with uid.
func podsOf(env *checks.Env, uid string) []*snapshot.Pod {
	if uid == "" {
		return nil
	}
	return env.Index.PodsByOwnerUID[uid]
}

// deploymentPods returns the pods of every ReplicaSet of d.
func deploymentPods(env *checks.Env, rss []*snapshot.ReplicaSet) []*snapshot.Pod {
	var out []*snapshot.Pod
	for _, rs := range rss {
		out = append(out, podsOf(env, rs.UID)...)
	}
	return out
}

// stuckTerminating is how long past its deletionTimestamp a pod may still
// exist before it counts as stuck.
const stuckTerminating = 5 * time.Minute

// podReady reports whether the pod's Ready condition is True.
func podReady(p *snapshot.Pod) bool {
	c, ok := snapshot.FindCondition(p.Conditions, "Ready")
	return ok && c.Status == "True"
}

// nodeState renders a node's Ready condition for people: "NotReady
// (KubeletNotReady: container runtime is down)" or "unreachable (Kubelet
// stopped posting node status.)".
func nodeState(c snapshot.Condition) string {
	if c.Status == "Unknown" {
		return "unreachable (" + firstNonEmpty(oneLine(c.Message, 200), "node status unknown") + ")"
	}
	if r := oneLine(checks.JoinNonEmpty(c.Reason, c.Message), 200); r != "" {
		return "NotReady (" + r + ")"
	}
	return "NotReady"
}

func nodeEvidence(name string, c snapshot.Condition) checks.Evidence {
	e := conditionEvidence(c)
	e.Path = "node/" + name + "." + e.Path
	return e
}

// nodeDown reports whether the node a pod runs on is not Ready (or
// unknown): the node's own checks explain its pods.
func nodeDown(env *checks.Env, name string) (snapshot.Condition, bool) {
	n := env.Index.Nodes[name]
	if n == nil {
		return snapshot.Condition{}, false
	}
	c, ok := snapshot.FindCondition(n.Conditions, "Ready")
	if !ok || c.Status == "True" {
		return c, false
	}
	return c, true
}

// freshEvent returns the newest event about an object with one of reasons
// that was still being reported within window of now.
func freshEvent(env *checks.Env, kind snapshot.Kind, ns, name string, window time.Duration, reasons ...string) *snapshot.Event {
	e := env.Index.LatestEvent(kind, ns, name, reasons...)
	if e == nil || env.Age(e.LastTime) > window {
		return nil
	}
	return e
}

// podEventFor returns the newest event about pod p with one of reasons
// that concerns container name and whose message satisfies match (nil
// matches all). An event with a container fieldPath (spec.containers{app})
// concerns that container only; one without (pod-level events such as
// FailedMount, older recorders) concerns every container.
func podEventFor(env *checks.Env, p *snapshot.Pod, name string, match func(string) bool, reasons ...string) *snapshot.Event {
	evs := env.Index.EventsFor(snapshot.KindPod, p.Namespace, p.Name)
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Involved.UID != "" && p.UID != "" && e.Involved.UID != p.UID {
			continue // an earlier pod of the same name
		}
		if !slices.Contains(reasons, e.Reason) || (match != nil && !match(e.Message)) {
			continue
		}
		if c := fieldPathContainer(e.FieldPath); c != "" && c != name {
			continue
		}
		return e
	}
	return nil
}

// fieldPathContainer returns the container an event's fieldPath names
// (spec.containers{app} → app), or "".
func fieldPathContainer(fp string) string {
	i := strings.IndexByte(fp, '{')
	if i < 0 || !strings.HasPrefix(fp, "spec.") || !strings.HasSuffix(fp, "}") {
		return ""
	}
	return fp[i+1 : len(fp)-1]
}

// eventStart returns when an event series began.
func eventStart(e *snapshot.Event) time.Time {
	if !e.FirstTime.IsZero() {
		return e.FirstTime
	}
	return e.LastTime
}

func at(t time.Time) *time.Time { return &t }

func conditionEvidence(c snapshot.Condition) checks.Evidence {
	ev := checks.Evidence{Type: checks.EvCondition, Path: "status.conditions[" + c.Type + "]",
		Value: c.Status, Message: checks.JoinNonEmpty(c.Reason, c.Message)}
	if !c.LastTransitionTime.IsZero() {
		ev.Time = at(c.LastTransitionTime)
	}
	return ev
}

func eventEvidence(e *snapshot.Event) checks.Evidence {
	v := e.Reason
	if e.Count > 1 {
		v = fmt.Sprintf("%s (x%d)", e.Reason, e.Count)
	}
	ev := checks.Evidence{Type: checks.EvEvent, Path: "events[" + e.Reason + "]", Value: v,
		Message: oneLine(e.Message, 1024), Source: e.Source}
	if !e.LastTime.IsZero() {
		ev.Time = at(e.LastTime)
	}
	return ev
}

func fieldEvidence(path, value, msg string, t *time.Time) checks.Evidence {
	return checks.Evidence{Type: checks.EvField, Path: path, Value: value, Message: msg, Time: t}
}

func thresholdEvidence(name, value, msg string) checks.Evidence {
	return checks.Evidence{Type: checks.EvThreshold, Path: "params." + name, Value: value, Message: msg}
}

// termination renders a terminated state: "exit code 1 (Error)",
// "exit code 137 (OOMKilled)".
func termination(s snapshot.ContainerState) string {
	out := fmt.Sprintf("exit code %d", s.ExitCode)
	var parts []string
	if s.Reason != "" {
		parts = append(parts, s.Reason)
	}
	switch s.ExitCode {
	case 126:
		parts = append(parts, "command not executable")
	case 127:
		parts = append(parts, "command not found")
	case 137:
		if s.Reason != "OOMKilled" {
			parts = append(parts, "SIGKILL")
		}
	case 139:
		parts = append(parts, "SIGSEGV")
	case 143:
		parts = append(parts, "SIGTERM")
	}
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// oneLine flattens s to one line clipped to n runes.
func oneLine(s string, n int) string {
	if !flat(s) {
		s = strings.Join(strings.Fields(s), " ")
	}
	if len(s) <= n {
		return s // no more runes than bytes
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// flat reports whether s is already one line of words separated by single
// spaces, as joining its strings.Fields would make it.
func flat(s string) bool {
	space := true // a space at the start would be leading
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (r != ' ' || space) {
			return false
		}
		space = sp
	}
	return s == "" || !space
}

func joinSemi(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// round renders a duration for people (checks.Round).
func round(d time.Duration) string { return checks.Round(d) }

// finishedCondition returns the Job's terminal condition, if any:
// Complete, SuccessCriteriaMet, Failed or FailureTarget with status True.
func finishedCondition(j *snapshot.Job) (snapshot.Condition, bool) {
	for _, t := range []string{"Failed", "FailureTarget", "Complete", "SuccessCriteriaMet"} {
		if c, ok := snapshot.FindCondition(j.Conditions, t); ok && c.Status == "True" {
			return c, true
		}
	}
	return snapshot.Condition{}, false
}

// jobFailed returns the Job's Failed (or FailureTarget) condition when true.
func jobFailed(j *snapshot.Job) (snapshot.Condition, bool) {
	for _, t := range []string{"Failed", "FailureTarget"} {
		if c, ok := snapshot.FindCondition(j.Conditions, t); ok && c.Status == "True" {
			return c, true
		}
	}
	return snapshot.Condition{}, false
}

// jobSucceeded reports whether the Job completed.
func jobSucceeded(j *snapshot.Job) bool {
	for _, t := range []string{"Complete", "SuccessCriteriaMet"} {
		if c, ok := snapshot.FindCondition(j.Conditions, t); ok && c.Status == "True" {
			return true
		}
	}
	return false
}

// jobsByCronJob indexes Jobs by their controlling CronJob (UID, and
// namespace/name for dumps without UIDs), oldest first.
func jobsByCronJob(s *snapshot.Snapshot) map[string][]*snapshot.Job {
	m := map[string][]*snapshot.Job{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		o, ok := j.Controller()
		if !ok || o.Kind != "CronJob" {
			continue
		}
		if o.UID != "" {
			m[o.UID] = append(m[o.UID], j)
		}
		k := "name:" + checks.NN(j.Namespace, o.Name)
		m[k] = append(m[k], j)
	}
	for _, js := range m {
		sort.SliceStable(js, func(a, b int) bool { return js[a].CreationTimestamp.Before(js[b].CreationTimestamp) })
	}
	return m
}

// cronJobJobs returns the Jobs of a CronJob, oldest first.
func cronJobJobs(m map[string][]*snapshot.Job, c *snapshot.CronJob) []*snapshot.Job {
	if c.UID != "" {
		if js := m[c.UID]; len(js) > 0 {
			return js
		}
	}
	return m["name:"+checks.NN(c.Namespace, c.Name)]
}

// jobEnd returns when a Job finished: its completion time, else the
// terminal condition's transition.
func jobEnd(j *snapshot.Job) time.Time {
	if j.CompletionTime != nil {
		return *j.CompletionTime
	}
	if c, ok := finishedCondition(j); ok {
		return c.LastTransitionTime
	}
	return time.Time{}
}

// defaultDaemonTolerations are the tolerations the DaemonSet controller
// adds to every daemon pod (pkg/controller/daemon/util): daemons survive
// node problems and cordons. network-unavailable is only added for
// hostNetwork pods, which the snapshot does not tell; it is assumed, which
// errs towards fewer nodes counted as eligible.
var defaultDaemonTolerations = []snapshot.Toleration{
	{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"},
	{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute"},
	{Key: "node.kubernetes.io/disk-pressure", Operator: "Exists", Effect: "NoSchedule"},
	{Key: "node.kubernetes.io/memory-pressure", Operator: "Exists", Effect: "NoSchedule"},
	{Key: "node.kubernetes.io/pid-pressure", Operator: "Exists", Effect: "NoSchedule"},
	{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: "NoSchedule"},
	{Key: "node.kubernetes.io/network-unavailable", Operator: "Exists", Effect: "NoSchedule"},
}

// blockingTaint returns a NoSchedule or NoExecute taint of n that the
// DaemonSet's pods do not tolerate, by the pod template's tolerations and
// the ones the controller adds: the controller neither places a daemon pod
// on such a node nor counts it in desiredNumberScheduled.
func blockingTaint(ds *snapshot.DaemonSet, n *snapshot.Node) (snapshot.Taint, bool) {
	for _, t := range n.Taints {
		if t.Effect != "NoSchedule" && t.Effect != "NoExecute" {
			continue
		}
		if !tolerated(t, ds.Tolerations) && !tolerated(t, defaultDaemonTolerations) {
			return t, true
		}
	}
	return snapshot.Taint{}, false
}

func tolerated(t snapshot.Taint, ts []snapshot.Toleration) bool {
	for _, tol := range ts {
		if tol.Tolerates(t) {
			return true
		}
	}
	return false
}

func taintString(t snapshot.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}

// selectorMismatch returns the first nodeSelector entry n does not match.
func selectorMismatch(sel map[string]string, n *snapshot.Node) (string, bool) {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if n.Labels[k] != sel[k] {
			return k + "=" + sel[k], true
		}
	}
	return "", false
}

// latestTimes keeps the newest time per key.
type latestTimes map[string]time.Time

func (m latestTimes) add(k string, t time.Time) {
	if t.IsZero() {
		return
	}
	if old, ok := m[k]; !ok || t.After(old) {
		m[k] = t
	}
}

// scaleTarget is what an HPA scales, as far as the checks need it.
type scaleTarget struct {
	kind, name   string
	spec, status int32
	// progressAt is when the target's controller last made rollout
	// progress (a Deployment's Progressing lastUpdateTime).
	progressAt time.Time
	// rolling is true while a rollout is in progress (surge pods count
	// in status.replicas).
	rolling bool
	failure *snapshot.Condition // ReplicaFailure=True, if any
}

type scaleTargetsKey struct{}

// scaleTargets indexes the Deployments, StatefulSets and ReplicaSets that
// the snapshot's HPAs target, by kind/namespace/name, once per snapshot.
func scaleTargets(env *checks.Env) map[string]*scaleTarget {
	return checks.Shared(env.Index, scaleTargetsKey{}, func() map[string]*scaleTarget { return indexScaleTargets(env.Snap) })
}

func indexScaleTargets(s *snapshot.Snapshot) map[string]*scaleTarget {
	// Only the targets of HPAs are kept, and the many ReplicaSets, which
	// HPAs seldom target, are scanned only when one does.
	type key struct{ kind, ns, name string }
	wanted := make(map[key]bool, len(s.HPAs))
	rsTargeted := false
	for i := range s.HPAs {
		h := &s.HPAs[i]
		wanted[key{h.TargetKind, h.Namespace, h.TargetName}] = true
		rsTargeted = rsTargeted || h.TargetKind == "ReplicaSet"
	}
	m := map[string]*scaleTarget{}
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if !wanted[key{"Deployment", d.Namespace, d.Name}] {
			continue
		}
		t := &scaleTarget{kind: "Deployment", name: d.Name, spec: d.Replicas, status: d.StatusReplicas,
			rolling: d.UpdatedReplicas < d.Replicas || d.StatusReplicas > d.Replicas}
		if c, ok := snapshot.FindCondition(d.Conditions, "Progressing"); ok {
			t.progressAt = c.LastUpdateTime
		}
		if c, ok := snapshot.FindCondition(d.Conditions, "ReplicaFailure"); ok && c.Status == "True" {
			t.failure = &c
		}
		m[checks.ObjKey("Deployment", d.Namespace, d.Name)] = t
	}
	for i := range s.StatefulSets {
		st := &s.StatefulSets[i]
		if !wanted[key{"StatefulSet", st.Namespace, st.Name}] {
			continue
		}
		m[checks.ObjKey("StatefulSet", st.Namespace, st.Name)] = &scaleTarget{kind: "StatefulSet", name: st.Name,
			spec: st.Replicas, status: st.StatusReplicas, rolling: st.CurrentRevision != st.UpdateRevision}
	}
	if !rsTargeted {
		return m
	}
	for i := range s.ReplicaSets {
		rs := &s.ReplicaSets[i]
		if !wanted[key{"ReplicaSet", rs.Namespace, rs.Name}] {
			continue
		}
		t := &scaleTarget{kind: "ReplicaSet", name: rs.Name, spec: rs.Replicas, status: rs.StatusReplicas}
		if c, ok := snapshot.FindCondition(rs.Conditions, "ReplicaFailure"); ok && c.Status == "True" {
			t.failure = &c
		}
		m[checks.ObjKey("ReplicaSet", rs.Namespace, rs.Name)] = t
	}
	return m
}

// targetKinds maps the scale target kinds the snapshot holds to theirs.
var targetKinds = map[string]snapshot.Kind{
	"Deployment": snapshot.KindDeployment, "StatefulSet": snapshot.KindStatefulSet, "ReplicaSet": snapshot.KindReplicaSet,
}

// targetOf returns an HPA's target; known is false when the snapshot
// cannot tell (a custom resource, or the kind was not collected).
func targetOf(env *checks.Env, ts map[string]*scaleTarget, h *snapshot.HPA) (t *scaleTarget, known bool) {
	k, ok := targetKinds[h.TargetKind]
	if !ok {
		return nil, false
	}
	if _, gap := env.Snap.Gap(k); gap {
		return nil, false
	}
	return ts[checks.ObjKey(h.TargetKind, h.Namespace, h.TargetName)], true
}

// hpaCond returns an HPA condition when it has the given status.
func hpaCond(h *snapshot.HPA, typ, status string) (snapshot.Condition, bool) {
	c, ok := snapshot.FindCondition(h.Conditions, typ)
	return c, ok && c.Status == status
}
