// Package actions is the only code in kubepatrol that writes to a cluster or
// to an outside service. It implements remediation.Action for the cluster
// actions a playbook may name (cordon, uncordon, drain, restart, delete_pod,
// scale, annotate) and remediation.Pager for the pagers (PagerDuty Events
// API v2, Slack incoming webhooks, a generic JSON webhook).
//
// Every cluster action follows the same discipline:
//
//   - it reads the target first and writes second, and records every API
//     call as a ledger.Call with the object's resourceVersion before and
//     after and a Detail saying what changed;
//   - in a dry run it still reads, sends its writes as server-side dry runs
//     (metav1.DryRunAll) so that validation runs, never creates Events, and
//     marks the calls DryRun;
//   - it puts the ledger record ID into the annotation
//     remediation.AnnotationRecord on the object it changes, in the same
//     patch as the change where the API allows, and emits a Kubernetes Event
//     on the target naming the playbook, the step and the record;
//   - it classifies failures: a missing target, Forbidden and Invalid are
//     terminal, conflicts, throttling, server errors and network errors are
//     remediation.Retryable;
//   - Done reports from the cluster whether the step's effect is in place,
//     so that the engine neither repeats nor forgets a step after a crash.
//
// Pagers retry retryable failures (429, 5xx, network errors) with
// exponential backoff and jitter, honour Retry-After, and never put routing
// keys, tokens or secret webhook URLs into errors or logs.
package actions
