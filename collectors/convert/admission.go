package convert

import (
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// ValidatingWebhooks projects a ValidatingWebhookConfiguration.
func ValidatingWebhooks(o *admissionv1.ValidatingWebhookConfiguration) snapshot.WebhookConfiguration {
	w := snapshot.WebhookConfiguration{Meta: Meta(&o.ObjectMeta), Kind: snapshot.KindValidatingWebhook}
	for _, h := range o.Webhooks {
		w.Webhooks = append(w.Webhooks, webhook(h.Name, h.FailurePolicy, h.TimeoutSeconds, h.ClientConfig, h.Rules))
	}
	return w
}

// MutatingWebhooks projects a MutatingWebhookConfiguration.
func MutatingWebhooks(o *admissionv1.MutatingWebhookConfiguration) snapshot.WebhookConfiguration {
	w := snapshot.WebhookConfiguration{Meta: Meta(&o.ObjectMeta), Kind: snapshot.KindMutatingWebhook}
	for _, h := range o.Webhooks {
		w.Webhooks = append(w.Webhooks, webhook(h.Name, h.FailurePolicy, h.TimeoutSeconds, h.ClientConfig, h.Rules))
	}
	return w
}

func webhook(name string, fp *admissionv1.FailurePolicyType, timeout *int32, cc admissionv1.WebhookClientConfig, rules []admissionv1.RuleWithOperations) snapshot.Webhook {
	h := snapshot.Webhook{Name: name, FailurePolicy: "Fail", TimeoutSeconds: deref32(timeout, 10)}
	if fp != nil {
		h.FailurePolicy = string(*fp)
	}
	if cc.URL != nil {
		h.URL = *cc.URL
	}
	if s := cc.Service; s != nil {
		h.Service = &snapshot.ServiceRef{Namespace: s.Namespace, Name: s.Name, Port: deref32(s.Port, 443)}
	}
	for _, r := range rules {
		ops := make([]string, 0, len(r.Operations))
		for _, op := range r.Operations {
			ops = append(ops, string(op))
		}
		h.Rules = append(h.Rules, fmt.Sprintf("%s %s/%s %s", strings.Join(ops, ","),
			strings.Join(r.APIGroups, ","), strings.Join(r.APIVersions, ","), strings.Join(r.Resources, ",")))
	}
	return h
}

// APIServiceObject mirrors the fields of apiregistration.k8s.io/v1
// APIService that kubepatrol reads. It is decoded from JSON so the project
// does not depend on kube-aggregator.
type APIServiceObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Service *struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Port      *int32 `json:"port"`
		} `json:"service"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type               string      `json:"type"`
			Status             string      `json:"status"`
			Reason             string      `json:"reason"`
			Message            string      `json:"message"`
			LastTransitionTime metav1.Time `json:"lastTransitionTime"`
		} `json:"conditions"`
	} `json:"status"`
}

// APIService projects an APIService.
func APIService(o *APIServiceObject) snapshot.APIService {
	a := snapshot.APIService{Meta: Meta(&o.ObjectMeta), Group: o.Spec.Group, Version: o.Spec.Version}
	if s := o.Spec.Service; s != nil {
		a.Service = &snapshot.ServiceRef{Namespace: s.Namespace, Name: s.Name, Port: deref32(s.Port, 443)}
	}
	for _, c := range o.Status.Conditions {
		a.Conditions = append(a.Conditions, cond(c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime, metav1.Time{}, metav1.Time{}))
	}
	return a
}
