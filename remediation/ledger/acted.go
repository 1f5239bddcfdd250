package ledger

// Acted reports whether the step wrote to the cluster, or may have: it is
// done, its intent was written (the outcome may be unknown after a crash),
// or it was reconciled as done after a restart. Rate limits and cooldowns
// count these steps.
func (s *Step) Acted() bool {
	switch s.Status {
	case StepDone, StepIntent, StepReconciled:
		return true
	}
	return false
}

// Acted reports whether any step of r acted (see Step.Acted). List's
// Filter.Acted selects the records for which this is true.
func (r *Record) Acted() bool {
	for i := range r.Steps {
		if r.Steps[i].Acted() {
			return true
		}
	}
	return false
}

// Unfinished reports whether s is one of the states a start-up
// reconciliation picks up: Running, Verifying or AwaitingApproval.
func (s State) Unfinished() bool {
	switch s {
	case Running, Verifying, AwaitingApproval:
		return true
	}
	return false
}
