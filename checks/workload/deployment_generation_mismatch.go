package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// DeploymentGenerationMismatch fires when the Deployment controller has not
// observed a Deployment's latest spec for longer than a threshold.
var DeploymentGenerationMismatch = checks.New(checks.Meta{
	ID:    "deployment.generation_mismatch",
	Title: "Deployment spec not observed by its controller",
	Description: "status.observedGeneration is below metadata.generation and the controller has not written " +
		"the Deployment's status for longer than the threshold: the last change (new image, replicas, config) " +
		"has not been acted on. While the controller-manager's leader Lease is fresh, a single unobserved edit " +
		"is taken as in flight and only a never-observed Deployment or several missed edits fire. The usual cause is kube-controller-manager down, without leadership, or " +
		"running without the deployment controller; on a healthy cluster the controller observes a change " +
		"within seconds.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindDeployment},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "15m",
			Description: "how long the controller must have been silent before the check fires (kubernetes-mixin KubeDeploymentGenerationMismatch)"},
	},
	Remedy:   "Check kube-controller-manager: kubectl -n kube-system get pods -l component=kube-controller-manager and kubectl -n kube-system get lease kube-controller-manager; read its logs for the deployment controller.",
	Priority: 80,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	var out []checks.Finding
	wait := env.Params.Duration("for")
	lease, hasLease := controllerLease(env)
	for i := range env.Snap.Deployments {
		d := &env.Snap.Deployments[i]
		if d.DeletionTimestamp != nil || d.Generation == 0 || d.ObservedGeneration >= d.Generation {
			continue
		}
		// When did the controller last act on this Deployment? A brand-new
		// object was never observed: since its creation. Otherwise the
		// newest status condition write.
		last := d.CreationTimestamp
		for _, c := range d.Conditions {
			for _, t := range []time.Time{c.LastUpdateTime, c.LastTransitionTime} {
				if t.After(last) {
					last = t
				}
			}
		}
		if env.Age(last) < wait {
			continue
		}
		// With a live controller-manager leader, one unobserved edit is
		// most likely in flight; demand a never-observed object or more
		// than one missed edit.
		if leaseFresh(env, lease, hasLease) && d.ObservedGeneration > 0 && d.Generation-d.ObservedGeneration < 2 {
			continue
		}
		ev := []checks.Evidence{
			fieldEvidence("metadata.generation", fmt.Sprint(d.Generation), "", nil),
			fieldEvidence("status.observedGeneration", fmt.Sprint(d.ObservedGeneration), "", nil),
			fieldEvidence("status.conditions", "last written", "newest condition update by the deployment controller", at(last)),
			thresholdEvidence("for", wait.String(), "controller silent at least this long"),
		}
		msg := fmt.Sprintf("deployment %s: generation %d not observed by the deployment controller (observedGeneration %d), whose last status write was %s ago",
			d.Name, d.Generation, d.ObservedGeneration, round(env.Age(last)))
		if d.ObservedGeneration == 0 {
			msg = fmt.Sprintf("deployment %s was never observed by the deployment controller (created %s ago, observedGeneration 0)",
				d.Name, round(env.Age(d.CreationTimestamp)))
		}
		if hasLease {
			ev = append(ev, leaseEvidence(lease))
			if !leaseFresh(env, lease, hasLease) && lease.RenewTime != nil {
				msg += fmt.Sprintf("; the kube-controller-manager lease was last renewed %s ago by %s",
					round(env.Age(*lease.RenewTime)), firstNonEmpty(lease.HolderIdentity, "no holder"))
			}
		}
		f := env.Finding(checks.Ref(snapshot.KindDeployment, &d.Meta), "ObservedGenerationStale", msg, ev...)
		f.Since = at(last)
		out = append(out, f)
	}
	return out
})

// controllerLease returns the kube-controller-manager leader-election
// Lease, when the snapshot has it.
func controllerLease(env *checks.Env) (*snapshot.Lease, bool) {
	l := env.Index.Leases[checks.NN("kube-system", "kube-controller-manager")]
	return l, l != nil
}

// leaseFresh reports whether the controller-manager leader renewed its
// lease within the lease duration.
func leaseFresh(env *checks.Env, l *snapshot.Lease, ok bool) bool {
	if !ok || l.RenewTime == nil || l.HolderIdentity == "" {
		return false
	}
	d := time.Duration(l.LeaseDurationSeconds) * time.Second
	if d <= 0 {
		d = 15 * time.Second
	}
	return env.Age(*l.RenewTime) <= d
}

func leaseEvidence(l *snapshot.Lease) checks.Evidence {
	return checks.Evidence{Type: checks.EvRelation, Path: "lease/kube-system/kube-controller-manager",
		Value:   firstNonEmpty(l.HolderIdentity, "no holder"),
		Message: fmt.Sprintf("leaseDurationSeconds=%d, transitions=%d", l.LeaseDurationSeconds, l.LeaseTransitions),
		Time:    l.RenewTime}
}
