// Package deploy holds kubepatrol's Kubernetes manifests as a kustomize
// tree: base/ (Namespace, ServiceAccount, least-privilege RBAC, the
// patrold Deployment with its ConfigMap, Service and PodDisruptionBudget),
// components/ (remediation RBAC binding; Prometheus Operator ServiceMonitor
// and PrometheusRule) and overlays/ that add one component each.
//
//	kubectl apply -k deploy/                              # read-only patrold
//	kubectl apply -k deploy/overlays/remediation          # + remediation verbs
//	kubectl apply -k deploy/overlays/prometheus-operator  # + ServiceMonitor, PrometheusRule
//
// The package has no Go code of its own. Its tests build every
// kustomization with `kubectl kustomize` and check what comes out: the
// kinds, read-only RBAC that matches what the collectors read, the
// remediation role bound only by its overlay, a hardened Deployment whose
// Service, PodDisruptionBudget and ServiceMonitor select it, an example
// config that patrold accepts, and a PrometheusRule in sync with
// rules/prometheus (go test ./deploy -update regenerates it). e2e/ applies
// the manifests to a real API server.
package deploy
