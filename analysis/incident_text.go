package analysis

import (
	"regexp"
	"strings"
)

// This file reads causes out of the words the kubelet, the controllers and
// the runtime use: the ConfigMap a start failure names, the quota or webhook
// a FailedCreate names, the registry and error class of a failed pull.

// Waiting reasons the kubelet uses for image problems.
var imageReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"RegistryUnavailable": true, "ImageInspectError": true, "SignatureValidationFailed": true,
}

// Waiting reasons the kubelet uses when it cannot create a container from
// its spec.
var configReasons = map[string]bool{
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// MissingRef is a ConfigMap or Secret (or one of its keys) that a pod needs
// and the kubelet could not find.
type MissingRef struct {
	Kind      string // ConfigMap or Secret
	Namespace string
	Name      string
	// Key is set when the object exists but lacks the key.
	Key string
}

var (
	// configmap "app-config" not found; secret "db" not found (kubelet,
	// MountVolume.SetUp and CreateContainerConfigError messages).
	reRefNotFound = regexp.MustCompile(`(?i)\b(configmaps?|secrets?) "([a-z0-9][a-z0-9.-]*)" not found`)
	// ConfigMap "app-config" does not exist (kubepatrol's own wording).
	reRefNotExist = regexp.MustCompile(`\b(ConfigMap|Secret) "([a-z0-9][a-z0-9.-]*)" does not exist`)
	// couldn't find key DB_HOST in ConfigMap default/app-config
	reRefKey = regexp.MustCompile(`couldn't find key (\S+) in (ConfigMap|Secret) ([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*)`)
	// ConfigMap app-config has no key "DB_HOST"
	reRefNoKey = regexp.MustCompile(`\b(ConfigMap|Secret) ([a-z0-9][a-z0-9.-]*) has no key "([^"]+)"`)

	// exceeded quota: compute-resources, requested: …; failed quota: mem-cpu: must specify …
	reQuota = regexp.MustCompile(`(?:exceeded|failed) quota: ([a-z0-9][a-z0-9.-]*)`)
	// Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": …
	reWebhookCall = regexp.MustCompile(`failed calling webhook "([^"]+)"`)
	// storageclass.storage.k8s.io "fast-ssd" not found
	reStorageClass = regexp.MustCompile(`storageclass(?:\.storage\.k8s\.io)? "([^"]+)" not found`)
	// the metrics API is not served: unable to get metrics … / the server is currently unable to handle the request
	reMetricsAPI = regexp.MustCompile(`(?i)unable to (?:get|fetch) metrics|metrics API|the server is currently unable to handle the request|the server could not find the requested resource`)
	// events.warning_burst: "...; most about Pod/ingest-0 (95)"
	reMostAbout = regexp.MustCompile(`most about ([A-Za-z]+)/([a-z0-9][a-z0-9.-]*)`)
	// Name resolution failures as Go, glibc, musl, Java and curl report them.
	reDNS = regexp.MustCompile(`(?i)no such host|temporary failure in name resolution|name or service not known|server misbehaving|` +
		`could not resolve host|UnknownHostException|getaddrinfo|lookup [a-z0-9.-]+ on [0-9.:\[\]a-f]+:53|dial udp [0-9.:\[\]a-f]+:53`)
)

// ParseMissingRef reads the ConfigMap or Secret a message says is missing;
// ns is the pod's namespace (used when the message does not say).
func ParseMissingRef(msg, ns string) (MissingRef, bool) {
	if m := reRefKey.FindStringSubmatch(msg); m != nil {
		return MissingRef{Kind: m[2], Namespace: m[3], Name: m[4], Key: m[1]}, true
	}
	if m := reRefNoKey.FindStringSubmatch(msg); m != nil {
		return MissingRef{Kind: m[1], Namespace: ns, Name: m[2], Key: m[3]}, true
	}
	if m := reRefNotExist.FindStringSubmatch(msg); m != nil {
		return MissingRef{Kind: m[1], Namespace: ns, Name: m[2]}, true
	}
	if m := reRefNotFound.FindStringSubmatch(msg); m != nil {
		kind := "ConfigMap"
		if strings.HasPrefix(strings.ToLower(m[1]), "secret") {
			kind = "Secret"
		}
		return MissingRef{Kind: kind, Namespace: ns, Name: m[2]}, true
	}
	return MissingRef{}, false
}

// ImageHost returns the registry host of an image reference, the way the
// container runtime resolves it: the first path component when it looks
// like a host (has a dot or a port, or is localhost), else docker.io.
func ImageHost(image string) string {
	if image == "" {
		return ""
	}
	first, _, found := strings.Cut(image, "/")
	if !found {
		return "docker.io"
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return strings.ToLower(first)
	}
	return "docker.io"
}

// Pull error classes.
const (
	PullAuth      = "unauthorized"
	PullNetwork   = "unreachable"
	PullRateLimit = "rate limited"
	PullTLS       = "TLS error"
	PullServer    = "server error"
	PullNotFound  = "not found"
	PullOther     = "error"
)

// pullErrorClass classifies a pull failure's text.
func pullErrorClass(text string) string {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "toomanyrequests") || strings.Contains(t, "429 too many") || strings.Contains(t, "rate limit"):
		return PullRateLimit
	case strings.Contains(t, "x509") || strings.Contains(t, "tls handshake") || strings.Contains(t, "certificate signed by unknown"):
		return PullTLS
	case strings.Contains(t, "401 unauthorized") || strings.Contains(t, "403 forbidden") || strings.Contains(t, "unauthorized:") ||
		strings.Contains(t, "authentication required") || strings.Contains(t, "failed to authorize") || strings.Contains(t, "no basic auth credentials"):
		return PullAuth
	case strings.Contains(t, "no such host") || strings.Contains(t, "i/o timeout") || strings.Contains(t, "connection refused") ||
		strings.Contains(t, "dial tcp") || strings.Contains(t, "network is unreachable") || strings.Contains(t, "context deadline exceeded") ||
		strings.Contains(t, "connection reset"):
		return PullNetwork
	case strings.Contains(t, " 500 ") || strings.Contains(t, "502 bad gateway") || strings.Contains(t, "503 service unavailable") ||
		strings.Contains(t, "504 gateway"):
		return PullServer
	case strings.Contains(t, "not found") || strings.Contains(t, "manifest unknown") || strings.Contains(t, "notfound") ||
		strings.Contains(t, "does not exist") || strings.Contains(t, "repository does not exist"):
		return PullNotFound
	}
	return PullOther
}

// hostWide reports whether a pull error class is the registry's fault
// rather than one image's.
func hostWide(class string) bool {
	switch class {
	case PullAuth, PullNetwork, PullRateLimit, PullTLS, PullServer:
		return true
	}
	return false
}
