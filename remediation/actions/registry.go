package actions

import (
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation"
)

// Cluster returns every cluster action keyed by its Name(): cordon,
// uncordon, drain, restart, delete_pod, scale, annotate.
func Cluster(kube kubernetes.Interface, opt Options) map[string]remediation.Action {
	all := []remediation.Action{
		NewCordon(kube, opt), NewUncordon(kube, opt), NewDrain(kube, opt), NewRestart(kube, opt),
		NewDeletePod(kube, opt), NewScale(kube, opt), NewAnnotate(kube, opt),
	}
	out := make(map[string]remediation.Action, len(all))
	for _, a := range all {
		out[a.Name()] = a
	}
	return out
}

// PagerSpec is one configured pager (the daemon config maps onto it).
type PagerSpec struct {
	// Type is pagerduty, slack or webhook.
	Type string
	// URL is the endpoint (PagerDuty: optional, defaults to PagerDutyURL).
	URL string
	// RoutingKey is the PagerDuty integration key.
	RoutingKey string
	// Token is the webhook's bearer token.
	Token string
	// Headers are extra webhook headers.
	Headers map[string]string
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one page (default 5).
	MaxAttempts int
}

// NewPager builds the pager spec describes, sending with client (nil: a
// default client).
func NewPager(spec PagerSpec, client *http.Client) (remediation.Pager, error) {
	opt := PagerOptions{
		URL: spec.URL, RoutingKey: spec.RoutingKey, Token: spec.Token, Headers: spec.Headers,
		Client: client, Timeout: spec.Timeout, MaxAttempts: spec.MaxAttempts,
	}
	var p remediation.Pager
	var err error
	switch spec.Type {
	case "pagerduty":
		p, err = NewPagerDuty(opt)
	case "slack":
		p, err = NewSlack(opt)
	case "webhook":
		p, err = NewWebhook(opt)
	default:
		return nil, fmt.Errorf("pager type %q is not pagerduty, slack or webhook", spec.Type)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
