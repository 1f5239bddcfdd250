package snapshot

import "time"

// LatestTime returns the newest timestamp recorded anywhere in s: event
// times, condition transitions and heartbeats, container state changes,
// lease renewals and object creations. A recorded dump has no collection
// time of its own; this is the best estimate of when it was taken.
func LatestTime(s *Snapshot) time.Time {
	var t time.Time
	see := func(x time.Time) {
		if x.After(t) {
			t = x
		}
	}
	seeP := func(x *time.Time) {
		if x != nil {
			see(*x)
		}
	}
	conds := func(cs []Condition) {
		for _, c := range cs {
			see(c.LastTransitionTime)
			see(c.LastHeartbeatTime)
			see(c.LastUpdateTime)
		}
	}
	meta := func(m *Meta) {
		see(m.CreationTimestamp)
		seeP(m.DeletionTimestamp)
	}
	for i := range s.Events {
		see(s.Events[i].LastTime)
		see(s.Events[i].FirstTime)
	}
	for i := range s.Nodes {
		meta(&s.Nodes[i].Meta)
		conds(s.Nodes[i].Conditions)
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		meta(&p.Meta)
		conds(p.Conditions)
		seeP(p.StartTime)
		for _, cs := range [][]Container{p.InitContainers, p.Containers} {
			for _, c := range cs {
				for _, st := range []ContainerState{c.State, c.LastState} {
					seeP(st.StartedAt)
					seeP(st.FinishedAt)
				}
			}
		}
	}
	for i := range s.Leases {
		meta(&s.Leases[i].Meta)
		seeP(s.Leases[i].RenewTime)
	}
	for i := range s.Deployments {
		meta(&s.Deployments[i].Meta)
		conds(s.Deployments[i].Conditions)
	}
	for i := range s.ReplicaSets {
		meta(&s.ReplicaSets[i].Meta)
	}
	for i := range s.StatefulSets {
		meta(&s.StatefulSets[i].Meta)
	}
	for i := range s.DaemonSets {
		meta(&s.DaemonSets[i].Meta)
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		meta(&j.Meta)
		conds(j.Conditions)
		seeP(j.StartTime)
		seeP(j.CompletionTime)
	}
	for i := range s.CronJobs {
		meta(&s.CronJobs[i].Meta)
		seeP(s.CronJobs[i].LastScheduleTime)
	}
	for i := range s.HPAs {
		meta(&s.HPAs[i].Meta)
		conds(s.HPAs[i].Conditions)
	}
	for i := range s.PVCs {
		meta(&s.PVCs[i].Meta)
	}
	for i := range s.Services {
		meta(&s.Services[i].Meta)
	}
	return t
}
