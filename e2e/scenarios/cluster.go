package scenarios

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PVCPending: a claim names a StorageClass that does not exist. The real PV
// controller leaves it Pending and records ProvisioningFailed. The check
// waits 5m (its default).
func PVCPending() *Scenario {
	s := &Scenario{Name: "pvc-pending", Description: "PVC names a missing StorageClass: Pending, ProvisioningFailed", Timeout: 7 * time.Minute}
	ns, name := s.Namespace(), "data-postgres-0"
	s.Expect = []Expectation{{Check: "pvc.pending", Kind: "PersistentVolumeClaim", Namespace: ns, Name: name, Severity: "warning"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(s.Name, "app", "postgres")},
				Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: ptrTo("fast-ssd"),
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
				},
			}
			if _, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create pvc %s/%s: %w", ns, name, err)
			}
			return nil
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		pvc, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != corev1.ClaimPending {
			return false, err
		}
		evs, err := c.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=ProvisioningFailed"})
		if err != nil || len(evs.Items) == 0 {
			return false, err
		}
		return time.Since(pvc.CreationTimestamp.Time) > 5*time.Minute+5*time.Second, nil
	}
	return s
}

// ServiceNoEndpoints: a Service whose selector asks for version v2 while
// the running pods are v1, so it selects nothing. The check waits 3m (its
// default) from the Service's creation.
func ServiceNoEndpoints() *Scenario {
	s := &Scenario{Name: "service-no-endpoints", Description: "selector matches no pod (version v2 vs running v1)", Timeout: 4 * time.Minute}
	ns, name := s.Namespace(), "payments-api"
	s.Expect = []Expectation{{Check: "service.no_endpoints", Kind: "Service", Namespace: ns, Name: name, Severity: "warning"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			d := deployment(s.Name, ns, name, 2, "registry.example/payments/api:1.9.0")
			d.Spec.Selector.MatchLabels["version"] = "v1"
			d.Spec.Template.Labels["version"] = "v1"
			if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create deployment %s/%s: %w", ns, name, err)
			}
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(s.Name)},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": name, "version": "v2"},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
				},
			}
			if _, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create service %s/%s: %w", ns, name, err)
			}
			return nil
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		svc, err := c.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		slices, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
		if err != nil || len(slices.Items) == 0 {
			return false, err
		}
		return time.Since(svc.CreationTimestamp.Time) > 3*time.Minute+5*time.Second, nil
	}
	return s
}

// WebhookServiceMissing: a validating webhook (failurePolicy Fail) whose
// Service does not exist. It matches only ConfigMaps labelled
// kubepatrol.io/guarded=true in the scenario's namespace, so it blocks
// nothing else in the cluster. The check waits 2m (its default) from the
// configuration's creation.
func WebhookServiceMissing() *Scenario {
	s := &Scenario{Name: "webhook-service-missing", Description: "validating webhook, failurePolicy Fail, its Service does not exist", Timeout: 3 * time.Minute}
	ns, name := s.Namespace(), "fault-policy-guard"
	s.Expect = []Expectation{{Check: "webhook.service_unavailable", Kind: "ValidatingWebhookConfiguration", Name: name, Severity: "critical"}}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, namespace(s.Name), func(ctx context.Context, c Clients, cs *cleanups) error {
			wc := &admissionregistrationv1.ValidatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(s.Name)},
				Webhooks: []admissionregistrationv1.ValidatingWebhook{{
					Name: "validate.policy-guard.example.com",
					ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
						Namespace: ns, Name: "policy-guard-webhook", Path: ptrTo("/validate"), Port: ptrTo[int32](443)}},
					Rules: []admissionregistrationv1.RuleWithOperations{{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
							Resources: []string{"configmaps"}, Scope: ptrTo(admissionregistrationv1.NamespacedScope)},
					}},
					FailurePolicy:           ptrTo(admissionregistrationv1.Fail),
					SideEffects:             ptrTo(admissionregistrationv1.SideEffectClassNone),
					AdmissionReviewVersions: []string{"v1"},
					TimeoutSeconds:          ptrTo[int32](5),
					NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
					ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"kubepatrol.io/guarded": "true"}},
				}},
			}
			if _, err := c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, wc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create validatingwebhookconfiguration %s: %w", name, err)
			}
			cs.add(func(ctx context.Context) error {
				return ignoreNotFound(c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{}))
			})
			return nil
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		wc, err := c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return time.Since(wc.CreationTimestamp.Time) > 2*time.Minute+5*time.Second, nil
	}
	return s
}

// LeaderLeaseStale: the kube-scheduler leader Lease in kube-system was last
// renewed ten minutes ago by an instance that is gone. The local stack runs
// its scheduler with --leader-elect=false, so the scenario owns that Lease.
func LeaderLeaseStale() *Scenario {
	const name = "kube-scheduler"
	s := &Scenario{
		Name: "leader-lease-stale", Description: "kube-system/kube-scheduler Lease last renewed 10 minutes ago", Timeout: 30 * time.Second,
		Expect: []Expectation{{Check: "controlplane.leader_lease_stale", Kind: "Lease", Namespace: "kube-system", Name: name, Severity: "critical"}},
	}
	s.Apply = func(ctx context.Context, c Clients) (Cleanup, error) {
		return applyAll(ctx, c, func(ctx context.Context, c Clients, cs *cleanups) error {
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: labels(s.Name)},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptrTo("control-plane-2_7f3c9a1e-5b2d-4c8e-9f10-2a6b3c4d5e6f"),
					LeaseDurationSeconds: ptrTo[int32](15),
					AcquireTime:          &metav1.MicroTime{Time: time.Now().Add(-3 * time.Hour)},
					RenewTime:            &metav1.MicroTime{Time: time.Now().Add(-10 * time.Minute)},
					LeaseTransitions:     ptrTo[int32](4),
				},
			}
			if _, err := c.Kube.CoordinationV1().Leases("kube-system").Create(ctx, l, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create lease kube-system/%s: %w", name, err)
			}
			cs.add(func(ctx context.Context) error {
				return ignoreNotFound(c.Kube.CoordinationV1().Leases("kube-system").Delete(ctx, name, metav1.DeleteOptions{}))
			})
			return nil
		})
	}
	s.Visible = func(ctx context.Context, c Clients) (bool, error) {
		_, err := c.Kube.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		return err == nil, err
	}
	return s
}
