package pod

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ConfigError fires when the kubelet cannot create or start a container
// from its spec: a missing ConfigMap, Secret or key, a security context the
// image violates, a command that does not exist.
var ConfigError = checks.New(checks.Meta{
	ID:    "pod.config_error",
	Title: "Container configuration error",
	Description: "The kubelet cannot create or start a container from its spec (CreateContainerConfigError, CreateContainerError, RunContainerError, StartError): " +
		"typically a ConfigMap, Secret or key the container's env reads does not exist, the image runs as root under runAsNonRoot, or the command is not in the image. " +
		"The container never runs until the spec or the referenced object is fixed.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "1m",
		Description: "how long a container must have been failing to start before the check fires (a ConfigMap applied together with its Deployment may arrive a few seconds later)"}},
	Remedy: "Create the missing ConfigMap/Secret or key in the pod's namespace (kubectl get configmap,secret -n NS), or fix the reference; " +
		"kubectl describe pod POD -n NS shows the kubelet's error.",
	Priority: 80,
}, runConfigError)

// configFailure reports whether a container fails to be created or
// started, and the state that says so.
func configFailure(c ctr) (snapshot.ContainerState, bool, bool) {
	if waiting(c, configReasons...) {
		return c.State, false, true
	}
	if c.State.State == snapshot.StateTerminated && isOneOf(c.State.Reason, startErrorReasons) {
		return c.State, false, true
	}
	if waiting(c, "CrashLoopBackOff") && c.LastState.State == snapshot.StateTerminated && isOneOf(c.LastState.Reason, startErrorReasons) {
		return c.LastState, true, true
	}
	return snapshot.ContainerState{}, false, false
}

// configHint explains a create/start error that does not name a missing
// object.
func configHint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "runasnonroot") && strings.Contains(m, "non-numeric user"):
		return "runAsNonRoot is set but the image names its user, not a UID: set securityContext.runAsUser"
	case strings.Contains(m, "runasnonroot"):
		return "runAsNonRoot is set but the image runs as root: set securityContext.runAsUser or use a non-root image"
	case strings.Contains(m, "executable file not found"):
		return "the command does not exist in the image"
	case strings.Contains(m, "permission denied"):
		return "the command or a mounted path is not accessible to the container's user"
	case strings.Contains(m, "no such file or directory"):
		return "a path in the command or a mount does not exist"
	case strings.Contains(m, "subpath"):
		return "a volumeMount's subPath cannot be prepared"
	case strings.Contains(m, "failed to sync") && strings.Contains(m, "cache"):
		return "the kubelet could not read a ConfigMap or Secret from the API server"
	case strings.Contains(m, "is reserved for"):
		return "the runtime still holds a previous container of the same name"
	}
	return ""
}

func runConfigError(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) {
			continue
		}
		var hits []ctr
		for c := range containers(p) {
			if _, _, ok := configFailure(c); !ok {
				continue
			}
			if waiting(c, configReasons...) && env.Age(waitingSince(p, c)) < wait {
				continue
			}
			hits = append(hits, c)
		}
		if len(hits) == 0 {
			continue
		}
		// Prefer a container whose error names the missing object.
		c := hits[0]
		for _, h := range hits {
			st, _, _ := configFailure(h)
			if _, ok := parseMissingRef(st.Message); ok {
				c = h
				break
			}
		}
		st, inLast, _ := configFailure(c)
		msg := st.Message
		failed := latestPodEvent(env, p, func(e *snapshot.Event) bool {
			return strings.HasPrefix(e.Message, "Error: ") && !strings.Contains(e.Message, "ImagePull") && !strings.Contains(e.Message, "ErrImage") &&
				forContainer(e, c.Name, nil)
		}, "Failed")
		if msg == "" && failed != nil {
			msg = strings.TrimPrefix(failed.Message, "Error: ")
		}

		var b strings.Builder
		mref, named := parseMissingRef(msg)
		switch {
		case named && mref.Key != "":
			fmt.Fprintf(&b, "%s cannot start: %s has no key %q (%s)", c.label(), mref.Kind+" "+mref.Name, mref.Key, st.Reason)
		case named:
			fmt.Fprintf(&b, "%s cannot start: %s %q does not exist in namespace %s (%s)", c.label(), mref.Kind, mref.Name, p.Namespace, st.Reason)
		default:
			fmt.Fprintf(&b, "%s cannot start (%s)", c.label(), st.Reason)
			if h := configHint(msg); h != "" {
				b.WriteString(": " + h)
			}
		}
		if d := clipMiddle(msg, 240); d != "" {
			b.WriteString(" — " + d)
		}
		b.WriteString(moreContainers(len(hits) - 1))

		ev := []checks.Evidence{stateEvidence(c, inLast)}
		if inLast {
			ev = append(ev, stateEvidence(c, false), restartEvidence(c))
		}
		if named {
			ev = append(ev, refEvidence(p, mref))
		} else if strings.Contains(strings.ToLower(msg), "configmap") || strings.Contains(strings.ToLower(msg), "secret") {
			var req []string
			for _, r := range p.ConfigRefs {
				if !r.Optional {
					req = append(req, r.Kind+"/"+r.Name)
				}
			}
			if len(req) > 0 {
				ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "spec (configRefs)", Value: strings.Join(req, ", "),
					Message: "required ConfigMaps and Secrets the pod references"})
			}
		}
		for _, h := range hits {
			if h.path() != c.path() {
				hs, _, _ := configFailure(h)
				ev = append(ev, fieldEvidence(h.path()+".state", hs.Reason, clip(hs.Message, 512), nil))
			}
		}
		if failed != nil {
			ev = append(ev, eventEvidence(failed))
		}
		if waiting(c, configReasons...) {
			ev = append(ev, thresholdEvidence("for", durText(wait), "start failures are reported after this long"))
		}

		f := env.Finding(ref(p), st.Reason, b.String(), ev...)
		f.Since = timePtr(waitingSince(p, c))
		if inLast || st.State == snapshot.StateTerminated {
			f.Since = nil
		}
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}
