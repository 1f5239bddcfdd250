package storage

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// PVCPending fires on claims stuck in Pending and names why: a missing
// StorageClass, no default class, no matching volume for static binding, a
// provisioner error, or a consumer the scheduler cannot place for a volume
// reason. A WaitForFirstConsumer claim that no pod uses yet is normal and
// stays quiet.
var PVCPending = checks.New(checks.Meta{
	ID:    "pvc.pending",
	Title: "PersistentVolumeClaim pending",
	Description: "The claim has been Pending longer than the threshold, so every pod that mounts it stays Pending too. " +
		"The finding names the cause: a StorageClass that does not exist, no default StorageClass, no matching PersistentVolume for static binding, the provisioner's ProvisioningFailed message, or the volume-related scheduling failure of its consumer. " +
		"Without the StorageClasses (not collected or forbidden) it judges by the claim's events alone.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindPVC},
	Params: []checks.Param{
		{Name: "for", Type: checks.Duration, Default: "5m",
			Description: "how long the claim must be Pending before the check fires (dynamic provisioning normally takes seconds)"},
	},
	Remedy:   "kubectl describe pvc -n NAMESPACE NAME; fix the storageClassName (kubectl get storageclass) or the provisioner named in the events (its CSI controller pods and their logs).",
	Priority: 75,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	wait := env.Params.Duration("for")
	pvs := make(map[string]*snapshot.PV, len(env.Snap.PVs))
	for i := range env.Snap.PVs {
		pvs[env.Snap.PVs[i].Name] = &env.Snap.PVs[i]
	}
	_, podGap := env.Snap.Gap(snapshot.KindPod)
	_, pvGap := env.Snap.Gap(snapshot.KindPV)
	_, scGap := env.Snap.Gap(snapshot.KindStorageClass)

	var out []checks.Finding
	for i := range env.Snap.PVCs {
		c := &env.Snap.PVCs[i]
		if c.Phase != "Pending" || c.DeletionTimestamp != nil {
			continue
		}
		age := env.Age(c.CreationTimestamp)
		if age < wait {
			continue
		}
		var d pendingCause
		if scGap {
			d = diagnoseByEvents(env, c, !podGap)
		} else {
			d = diagnosePending(env, c, pvs, !podGap, !pvGap)
		}
		if d.quiet {
			continue
		}
		ev := append([]checks.Evidence{{Type: checks.EvField, Path: "status.phase", Value: "Pending",
			Message: "pending for " + node.Round(age)}}, d.ev...)
		f := env.Finding(checks.Ref(snapshot.KindPVC, &c.Meta), d.reason,
			fmt.Sprintf("PVC %s/%s is Pending for %s: %s", c.Namespace, c.Name, node.Round(age), d.msg), ev...)
		f.Since = at(c.CreationTimestamp)
		out = append(out, f)
	}
	return out
})

type pendingCause struct {
	reason, msg string
	ev          []checks.Evidence
	quiet       bool
}

// volumeScheduling matches scheduler messages that blame volumes, as
// opposed to CPU, memory, taints or affinity.
var volumeScheduling = regexp.MustCompile(`(?i)persistent ?volume|volume node affinity|volume.*(bind|zone|attach|limit)|binding volumes|unbound immediate|storage ?class|pvc`)

func diagnosePending(env *checks.Env, c *snapshot.PVC, pvs map[string]*snapshot.PV, havePods, havePVs bool) pendingCause {
	var d pendingCause
	evs := env.Index.EventsFor(snapshot.KindPVC, c.Namespace, c.Name)
	failed := latest(evs, "ProvisioningFailed")
	binding := latest(evs, "FailedBinding")
	external := latest(evs, "ExternalProvisioning", "Provisioning")
	withEvents := func() {
		for _, e := range []*snapshot.Event{failed, binding, external} {
			if e != nil {
				d.ev = append(d.ev, eventEvidence(e))
			}
		}
	}

	// A claim pre-bound to a named volume waits for that volume.
	if c.VolumeName != "" && havePVs {
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvField, Path: "spec.volumeName", Value: c.VolumeName})
		pv := pvs[c.VolumeName]
		switch {
		case pv == nil:
			d.reason = "VolumeNotFound"
			d.msg = fmt.Sprintf("it is pre-bound to PersistentVolume %s, which does not exist", c.VolumeName)
			withEvents()
			return d
		case pv.ClaimRef != nil && (pv.ClaimRef.Namespace != c.Namespace || pv.ClaimRef.Name != c.Name):
			d.reason = "VolumeBoundToOtherClaim"
			d.msg = fmt.Sprintf("it is pre-bound to PersistentVolume %s, which is claimed by %s/%s (phase %s)",
				pv.Name, pv.ClaimRef.Namespace, pv.ClaimRef.Name, pv.Phase)
			d.ev = append(d.ev, checks.Evidence{Type: checks.EvRelation, Path: "persistentvolume(" + pv.Name + ").spec.claimRef",
				Value: pv.ClaimRef.Namespace + "/" + pv.ClaimRef.Name})
			withEvents()
			return d
		}
	}

	var class *snapshot.StorageClass
	switch {
	case c.StorageClassName == nil:
		var defaults []string
		for i := range env.Snap.StorageClasses {
			if sc := &env.Snap.StorageClasses[i]; sc.IsDefault() {
				defaults = append(defaults, sc.Name)
				class = sc
			}
		}
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvField, Path: "spec.storageClassName", Value: "(unset)",
			Message: fmt.Sprintf("default StorageClasses in the cluster: %d", len(defaults))})
		if len(defaults) == 0 && c.VolumeName == "" {
			d.reason = "NoDefaultStorageClass"
			d.msg = "it names no storageClassName and the cluster has no default StorageClass, so nothing provisions it; only a pre-created PersistentVolume without a class can bind it"
			withEvents()
			return d
		}
	case *c.StorageClassName == "":
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvField, Path: "spec.storageClassName", Value: `""`,
			Message: "empty class: static binding to a pre-created PersistentVolume only"})
		if c.VolumeName == "" {
			d.reason = "NoMatchingVolume"
			d.msg = fmt.Sprintf("storageClassName is \"\" (static binding) and no Available PersistentVolume without a class matches its %s %s request",
				bytes(c.Request), strings.Join(c.AccessModes, ","))
			if binding != nil {
				d.msg += ": " + binding.Message
			}
			withEvents()
			return d
		}
	default:
		name := *c.StorageClassName
		class = env.Index.StorageClasses[name]
		if class == nil {
			d.reason = "StorageClassNotFound"
			d.msg = fmt.Sprintf("StorageClass %q does not exist", name)
			if failed != nil {
				d.msg += " (" + failed.Reason + ": " + failed.Message + ")"
			}
			d.ev = append(d.ev, checks.Evidence{Type: checks.EvRelation, Path: "spec.storageClassName", Value: name,
				Message: "no StorageClass of this name in the cluster (kubectl get storageclass)"})
			withEvents()
			return d
		}
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvField, Path: "spec.storageClassName", Value: name})
	}

	if class != nil {
		mode := class.VolumeBindingMode
		if mode == "" {
			mode = "Immediate"
		}
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvRelation, Path: "storageclass(" + class.Name + ")",
			Value: class.Provisioner, Message: "volumeBindingMode " + mode})
	}

	// Pods that mount the claim, and whether they are placed.
	var cons []*snapshot.Pod
	if havePods {
		cons = consumers(env.Index, c.Namespace, c.Name)
	}
	// With WaitForFirstConsumer the scheduler picks a node first (and
	// records it in the selected-node annotation), then waits in PreBind
	// for the provisioner: until then a Pending claim is normal.
	selected := c.Annotations["volume.kubernetes.io/selected-node"] != ""
	if selected {
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvField, Path: "metadata.annotations[volume.kubernetes.io/selected-node]",
			Value: c.Annotations["volume.kubernetes.io/selected-node"], Message: "the scheduler chose this node and waits for the volume"})
	}
	if class != nil && class.VolumeBindingMode == "WaitForFirstConsumer" && failed == nil && !selected {
		if !havePods || len(cons) == 0 {
			// Provisioning waits for a pod by design.
			d.quiet = true
			return d
		}
		for _, p := range cons {
			if p.NodeName != "" {
				continue
			}
			fs := env.Index.LatestEvent(snapshot.KindPod, p.Namespace, p.Name, "FailedScheduling")
			if fs == nil || !volumeScheduling.MatchString(fs.Message) {
				continue
			}
			d.reason = "ConsumerUnschedulable"
			d.msg = fmt.Sprintf("its consumer pod %s cannot be scheduled for a volume reason: %s", p.Name, fs.Message)
			d.ev = append(d.ev, checks.Evidence{Type: checks.EvEvent, Path: "pod(" + p.Name + ").events[FailedScheduling]",
				Value: fs.Reason, Message: fs.Message, Source: fs.Source, Time: at(fs.LastTime)})
			withEvents()
			return d
		}
		// The consumer waits for reasons of its own (CPU, taints…): the
		// pod's checks report them, the claim is not the cause.
		d.quiet = true
		return d
	}

	switch {
	case failed != nil:
		d.reason = "ProvisioningFailed"
		d.msg = failed.Message
	case binding != nil && class == nil:
		d.reason = "FailedBinding"
		d.msg = binding.Message
	case external != nil && class != nil:
		d.reason = "ExternalProvisioning"
		d.msg = fmt.Sprintf("still waiting for the external provisioner %q to create the volume; check that its CSI controller is running", class.Provisioner)
	case class != nil:
		d.reason = "ProvisioningPending"
		d.msg = fmt.Sprintf("no volume has been provisioned by %q yet", class.Provisioner)
	default:
		d.reason = "ClaimPending"
		d.msg = "no PersistentVolume has bound it"
	}
	if len(cons) > 0 {
		names := make([]string, 0, len(cons))
		for _, p := range cons {
			names = append(names, p.Name)
		}
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvRelation, Path: "consumers", Value: strings.Join(names, ","),
			Message: "pods mounting the claim wait for it"})
	}
	withEvents()
	return d
}

// reSCNotFound matches the PV controller's error for a missing class:
// storageclass.storage.k8s.io "fast" not found.
var reSCNotFound = regexp.MustCompile(`storageclass(?:\.storage\.k8s\.io)?s? "([^"]*)" not found`)

// diagnoseByEvents explains a Pending claim from its events when the
// snapshot holds no StorageClasses: the PV controller's and the
// provisioner's events name the cause in their own words.
func diagnoseByEvents(env *checks.Env, c *snapshot.PVC, havePods bool) pendingCause {
	var d pendingCause
	evs := env.Index.EventsFor(snapshot.KindPVC, c.Namespace, c.Name)
	failed := latest(evs, "ProvisioningFailed")
	binding := latest(evs, "FailedBinding")
	waiting := latest(evs, "WaitForFirstConsumer", "WaitForPodScheduled")
	external := latest(evs, "ExternalProvisioning", "Provisioning")
	class := "the default class"
	if c.StorageClassName != nil {
		class = fmt.Sprintf("StorageClass %q", *c.StorageClassName)
		if *c.StorageClassName == "" {
			class = "no class (static binding)"
		}
	}
	d.ev = append(d.ev, checks.Evidence{Type: checks.EvCoverage, Path: "coverage/StorageClass", Value: "not in snapshot",
		Message: "judged by the claim's events; requests " + class})
	var cons []*snapshot.Pod
	if havePods {
		cons = consumers(env.Index, c.Namespace, c.Name)
	}
	switch {
	case failed != nil:
		d.reason, d.msg = "ProvisioningFailed", failed.Message
		if m := reSCNotFound.FindStringSubmatch(failed.Message); m != nil {
			d.reason = "StorageClassNotFound"
			d.msg = fmt.Sprintf("StorageClass %q does not exist (%s)", m[1], failed.Message)
		}
		d.ev = append(d.ev, eventEvidence(failed))
	case waiting != nil && failed == nil:
		// WaitForFirstConsumer: binding waits for a pod by design; the
		// pod's own checks report why it is not scheduled.
		d.quiet = true
		return d
	case binding != nil:
		d.reason, d.msg = "FailedBinding", binding.Message
		d.ev = append(d.ev, eventEvidence(binding))
	case external != nil:
		d.reason = "ExternalProvisioning"
		d.msg = "still waiting for the external provisioner: " + external.Message
		d.ev = append(d.ev, eventEvidence(external))
	case !havePods || len(cons) == 0:
		// No event and no consumer: it may be a WaitForFirstConsumer
		// claim nobody uses yet, which is normal; without the class the
		// snapshot cannot tell.
		d.quiet = true
		return d
	default:
		d.reason, d.msg = "ClaimPending", "no PersistentVolume has bound it and no event says why"
	}
	if len(cons) > 0 {
		names := make([]string, 0, len(cons))
		for _, p := range cons {
			names = append(names, p.Name)
		}
		d.ev = append(d.ev, checks.Evidence{Type: checks.EvRelation, Path: "consumers", Value: strings.Join(names, ","),
			Message: "pods mounting the claim wait for it"})
	}
	return d
}

// latest returns the newest event with one of the reasons.
func latest(evs []*snapshot.Event, reasons ...string) *snapshot.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		for _, r := range reasons {
			if evs[i].Reason == r {
				return evs[i]
			}
		}
	}
	return nil
}
