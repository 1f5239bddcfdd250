package pod

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ImagePullFailing fires when the kubelet cannot pull a container's image.
var ImagePullFailing = checks.New(checks.Meta{
	ID:    "pod.image_pull_failing",
	Title: "Image pull failing",
	Description: "The kubelet cannot get a container's image (ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull, RegistryUnavailable): " +
		"the container never starts. The kubelet's error names the cause: a wrong tag, missing registry credentials, rate limiting or an unreachable registry.",
	Severity: checks.Critical,
	Requires: []snapshot.Kind{snapshot.KindPod},
	Params: []checks.Param{{Name: "for", Type: checks.Duration, Default: "2m",
		Description: "how long a container must have been waiting on a retryable pull error (ErrImagePull, ImagePullBackOff, RegistryUnavailable) before the check fires; malformed names and ErrImageNeverPull fire at once"}},
	Remedy: "Read the pull error: kubectl describe pod POD -n NS (Events, reason Failed); fix the image name or tag, " +
		"or give the pod registry credentials (imagePullSecrets on the pod or its ServiceAccount).",
	Priority: 80,
}, runImagePullFailing)

var retryablePull = []string{"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"}

// pullEvent finds the kubelet's event carrying the pull error for
// container c: by the event's fieldPath, else by the quoted image.
func pullEvent(env *checks.Env, p *snapshot.Pod, c ctr) *snapshot.Event {
	quoted := `"` + c.Image + `"`
	e := latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return forContainer(e, c.Name, func(m string) bool { return c.Image != "" && strings.Contains(m, quoted) }) &&
			!strings.HasPrefix(e.Message, "Back-off pulling image") && !strings.HasPrefix(e.Message, "Pulling image") &&
			!strings.HasPrefix(e.Message, "Error: ")
	}, "Failed", "InspectFailed", "ErrImageNeverPull")
	if e != nil {
		return e
	}
	// Fall back to an error event that does not quote the image (older
	// kubelets, or a single-container pod).
	return latestPodEvent(env, p, func(e *snapshot.Event) bool {
		return (strings.HasPrefix(e.Message, "Failed to pull image") || strings.HasPrefix(e.Message, "Failed to apply default image tag")) &&
			forContainer(e, c.Name, nil)
	}, "Failed", "InspectFailed")
}

// pullHint names the likely cause of a pull error from the kubelet's text.
func pullHint(reason, msg string) string {
	switch reason {
	case "InvalidImageName":
		return "the image reference is malformed"
	case "ErrImageNeverPull":
		return "imagePullPolicy is Never and the image is not present on the node"
	case "SignatureValidationFailed":
		return "the image signature does not satisfy the node's policy"
	}
	m := strings.ToLower(msg)
	has := func(ss ...string) bool {
		for _, s := range ss {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("toomanyrequests", "rate limit", "429 too many"):
		return "the registry is rate-limiting pulls"
	case has("pull access denied", "requested access to the resource is denied"):
		return "the repository does not exist or requires credentials"
	case has("unauthorized", "authentication required", "no basic auth credentials", "403 forbidden", "access denied", "denied:"):
		return "the registry rejected the pull credentials (check imagePullSecrets)"
	case has("no match for platform", "exec format error"):
		return "the image has no build for the node's platform"
	case has("manifest unknown", "not found", "name unknown"):
		return "the image or tag does not exist in the registry"
	case has("x509", "certificate signed by unknown authority", "certificate is not valid"):
		return "the node does not trust the registry's TLS certificate"
	case has("no space left on device"):
		return "the node's image filesystem is full"
	case has("no such host", "i/o timeout", "connection refused", "network is unreachable", "tls handshake timeout",
		"context deadline exceeded", "server misbehaving", "connection reset", "dial tcp", "unexpected eof"):
		return "the registry cannot be reached from the node"
	}
	return ""
}

func runImagePullFailing(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	for i := range env.Snap.Pods {
		p := &env.Snap.Pods[i]
		if !active(p) {
			continue
		}
		var hits []ctr
		for c := range containers(p) {
			if !waiting(c, imageReasons...) {
				continue
			}
			if isOneOf(c.State.Reason, retryablePull) && env.Age(waitingSince(p, c)) < wait {
				continue
			}
			hits = append(hits, c)
		}
		if len(hits) == 0 {
			continue
		}
		c := hits[0]
		fe := pullEvent(env, p, c)
		detail := c.State.Message
		if fe != nil && (detail == "" || strings.HasPrefix(detail, "Back-off pulling image") || len(fe.Message) > len(detail)) {
			detail = fe.Message
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s cannot pull image %q (%s)", c.label(), c.Image, c.State.Reason)
		if h := pullHint(c.State.Reason, detail); h != "" {
			b.WriteString(": " + h)
		}
		if d := clipMiddle(detail, 240); d != "" {
			b.WriteString(" — " + d)
		}
		b.WriteString(moreContainers(len(hits) - 1))

		specPath := "spec.containers[" + c.Name + "].image"
		if c.inInit {
			specPath = "spec.initContainers[" + c.Name + "].image"
		}
		ev := []checks.Evidence{stateEvidence(c, false), fieldEvidence(specPath, c.Image, "", nil)}
		for _, o := range hits[1:] {
			ev = append(ev, fieldEvidence(o.path()+".state.waiting", o.State.Reason, "image "+o.Image+": "+clip(o.State.Message, 512), nil))
		}
		if fe != nil {
			ev = append(ev, eventEvidence(fe))
		}
		if bo := latestPodEvent(env, p, func(e *snapshot.Event) bool {
			return strings.HasPrefix(e.Message, "Back-off pulling image") &&
				forContainer(e, c.Name, func(m string) bool { return strings.Contains(m, `"`+c.Image+`"`) })
		}, "BackOff"); bo != nil {
			ev = append(ev, eventEvidence(bo))
		}
		if isOneOf(c.State.Reason, retryablePull) {
			ev = append(ev, thresholdEvidence("for", durText(wait), "retryable pull errors are reported after this long"))
		}

		f := env.Finding(ref(p), c.State.Reason, b.String(), ev...)
		since := waitingSince(p, c)
		if fe != nil && !fe.FirstTime.IsZero() && fe.FirstTime.After(p.CreationTimestamp) {
			since = fe.FirstTime
		}
		f.Since = timePtr(since)
		f.Node = p.NodeName
		out = append(out, f)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
