package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PVFailed fires on PersistentVolumes whose reclamation failed (phase
// Failed, or Released with VolumeFailedDelete events), and, as info, on
// volumes left Released under the Retain policy: storage that is paid for
// and bound to nothing.
var PVFailed = checks.New(checks.Meta{
	ID:    "pv.failed",
	Title: "PersistentVolume failed or left released",
	Description: "The volume's automatic reclamation failed (phase Failed, or Released while the deleter reports VolumeFailedDelete): the backing disk may be leaked or still attached. " +
		"As info, a volume Released under reclaimPolicy Retain for long keeps its data and cost but will never bind again on its own.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPV},
	Params: []checks.Param{
		{Name: "released_for", Type: checks.Duration, Default: "7d",
			Description: "report a Retain volume in phase Released (info) once it has been Released this long (status.lastPhaseTransitionTime, Kubernetes ≥ 1.29; the volume's age on older clusters)"},
	},
	Remedy:   "kubectl describe pv NAME; for a failed delete fix the provisioner's error (credentials, disk still attached) and delete the disk; for a retained volume, recover its data and delete it, or clear spec.claimRef to make it Available again.",
	Priority: 50,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	releasedFor := env.Params.Duration("released_for")
	claims := make(map[string]*snapshot.PVC, len(env.Snap.PVCs))
	for i := range env.Snap.PVCs {
		c := &env.Snap.PVCs[i]
		claims[checks.NN(c.Namespace, c.Name)] = c
	}
	var out []checks.Finding
	for i := range env.Snap.PVs {
		pv := &env.Snap.PVs[i]
		if pv.Phase != "Failed" && pv.Phase != "Released" {
			continue // only Failed and Released volumes can fire below
		}
		if pv.DeletionTimestamp != nil && pv.Phase != "Failed" {
			continue
		}
		evs := env.Index.EventsFor(snapshot.KindPV, "", pv.Name)
		failEv := latest(evs, "VolumeFailedDelete", "VolumeFailedRecycle")
		ev := []checks.Evidence{
			{Type: checks.EvField, Path: "status.phase", Value: pv.Phase, Message: pv.Message},
			{Type: checks.EvField, Path: "spec.persistentVolumeReclaimPolicy", Value: pv.ReclaimPolicy},
		}
		claim := "no claim"
		if r := pv.ClaimRef; r != nil {
			claim = "claim " + r.Namespace + "/" + r.Name
			ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "spec.claimRef", Value: r.Namespace + "/" + r.Name})
		}
		if failEv != nil {
			ev = append(ev, eventEvidence(failEv))
		}
		var f checks.Finding
		switch {
		case pv.Phase == "Failed" || (pv.Phase == "Released" && failEv != nil):
			reason := "VolumeFailed"
			switch {
			case failEv != nil:
				reason = failEv.Reason
			case pv.Reason != "":
				reason = pv.Reason
			}
			why := pv.Message
			if failEv != nil && (why == "" || pv.Phase == "Released") {
				why = failEv.Message
			}
			if why == "" {
				why = "no message recorded"
			}
			f = env.Finding(checks.Ref(snapshot.KindPV, &pv.Meta), reason,
				fmt.Sprintf("PersistentVolume %s (%s, %s) is %s: reclaim policy %s failed: %s", pv.Name, describeSize(pv), claim, pv.Phase, pv.ReclaimPolicy, why),
				ev...)
			switch {
			case failEv != nil:
				t := failEv.FirstTime
				if t.IsZero() {
					t = failEv.LastTime
				}
				f.Since = at(t)
			case pv.LastPhaseTransitionTime != nil:
				f.Since = at(*pv.LastPhaseTransitionTime)
			}
		case pv.Phase == "Released" && pv.ReclaimPolicy == "Retain":
			// How long it has been Released: the phase transition time
			// when the API server records it, else (older clusters) the
			// volume's age, an upper bound.
			released, known := pv.CreationTimestamp, false
			if t := pv.LastPhaseTransitionTime; t != nil {
				released, known = *t, true
			}
			age := env.Age(released)
			if age < releasedFor {
				continue
			}
			since := fmt.Sprintf("for %s", node.Round(age))
			if !known {
				since = fmt.Sprintf("(the volume is %s old; the time of release is not recorded)", node.Round(age))
			}
			msg := fmt.Sprintf("PersistentVolume %s (%s, %s) is Released with reclaim policy Retain %s: its claim is gone, the data is kept but the volume will not bind again until an admin reclaims or deletes it",
				pv.Name, describeSize(pv), claim, since)
			if r := pv.ClaimRef; r != nil {
				if c := claims[checks.NN(r.Namespace, r.Name)]; c != nil && r.UID != "" && c.UID != r.UID {
					msg += fmt.Sprintf("; a new claim %s/%s exists (phase %s) and cannot bind it while spec.claimRef points at the old one", c.Namespace, c.Name, c.Phase)
					ev = append(ev, checks.Evidence{Type: checks.EvRelation, Path: "persistentvolumeclaim(" + c.Namespace + "/" + c.Name + ")",
						Value: c.Phase, Message: "same name as the deleted claim, different UID"})
				}
			}
			if known {
				ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "status.lastPhaseTransitionTime",
					Value: released.Format(time.RFC3339), Message: "Released since", Time: at(released)})
				ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "released_for", Value: node.Round(releasedFor),
					Message: "Released for " + node.Round(age)})
			} else {
				ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "released_for", Value: node.Round(releasedFor),
					Message: "volume age " + node.Round(age) + "; the time of release is not recorded"})
			}
			f = env.Finding(checks.Ref(snapshot.KindPV, &pv.Meta), "VolumeReleased", msg, ev...)
			f.Severity = checks.Info
			if known {
				f.Since = at(released)
			}
		default:
			continue
		}
		out = append(out, f)
	}
	return out
})

func describeSize(pv *snapshot.PV) string {
	s := bytes(pv.Capacity)
	if pv.StorageClassName != "" {
		s += " " + pv.StorageClassName
	}
	return s
}
