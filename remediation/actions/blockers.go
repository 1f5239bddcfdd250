package actions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepatrol/patrol/remediation/ledger"
)

// Blocker is one pod a drain did not (or would not) evict, and why.
type Blocker struct {
	// Pod is namespace/name; empty when Reason covers several pods.
	Pod string
	// PDB is namespace/name of the PodDisruptionBudget that refuses the
	// eviction; empty when the cause is something else.
	PDB string
	// DisruptionsAllowed, CurrentHealthy, DesiredHealthy and ExpectedPods
	// are the PDB's status when the blocker was seen.
	DisruptionsAllowed int32
	CurrentHealthy     int32
	DesiredHealthy     int32
	ExpectedPods       int32
	// Reason says why when PDB is empty.
	Reason string
}

// String renders the blocker as Result.Blockers carries it:
// "pod default/web-0: PodDisruptionBudget default/web-pdb allows 0
// disruptions (currentHealthy 1, desiredHealthy 1)".
func (b Blocker) String() string {
	switch {
	case b.PDB != "":
		return fmt.Sprintf("pod %s: PodDisruptionBudget %s allows %d disruptions (currentHealthy %d, desiredHealthy %d)",
			b.Pod, b.PDB, b.DisruptionsAllowed, b.CurrentHealthy, b.DesiredHealthy)
	case b.Pod == "":
		return b.Reason
	}
	return fmt.Sprintf("pod %s: %s", b.Pod, b.Reason)
}

// DrainBlockedError is a drain that did not finish: pods were still not
// evicted when the timeout passed (most often because a
// PodDisruptionBudget refused their eviction), or pods cannot be evicted
// at all (no controller, local storage). It is terminal: trying again at
// once would block again. Find it with errors.As.
type DrainBlockedError struct {
	// Node is the node being drained.
	Node string
	// Timeout is the drain timeout that passed; 0 when the drain was
	// refused before evicting anything.
	Timeout time.Duration
	// Evicted counts the pods that were evicted before the drain stopped.
	Evicted int
	// Blockers name the pods left and why.
	Blockers []Blocker
}

// Error names the node and every blocking pod.
func (e *DrainBlockedError) Error() string {
	var head string
	if e.Timeout > 0 {
		head = fmt.Sprintf("drain node %s: timed out after %s with %d pod(s) not evicted (%d evicted)", e.Node, e.Timeout, len(e.Blockers), e.Evicted)
	} else {
		head = fmt.Sprintf("drain node %s: refused, pods cannot be evicted", e.Node)
	}
	return head + ": " + strings.Join(e.Strings(), "; ")
}

// Strings renders the blockers.
func (e *DrainBlockedError) Strings() []string {
	out := make([]string, len(e.Blockers))
	for i, b := range e.Blockers {
		out[i] = b.String()
	}
	return out
}

// PDBBlockers returns, for each of pods, the PodDisruptionBudgets that
// select it and allow no disruption now, i.e. those that would refuse (or
// refused) its eviction. It lists the PDBs of each namespace once. Pods
// that no PDB blocks are absent from the result. An error listing one
// namespace's PDBs does not stop the others; the errors are joined.
func PDBBlockers(ctx context.Context, kube kubernetes.Interface, pods []corev1.Pod) ([]Blocker, error) {
	return pdbBlockers(ctx, kube, pods, nil)
}

// pdbBlockers is PDBBlockers recording its list calls in r (when not nil).
func pdbBlockers(ctx context.Context, kube kubernetes.Interface, pods []corev1.Pod, r *run) ([]Blocker, error) {
	byNS := map[string][]policyv1.PodDisruptionBudget{}
	var out []Blocker
	var errs []error
	for _, pod := range pods {
		pdbs, seen := byNS[pod.Namespace]
		if !seen {
			list, err := kube.PolicyV1().PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
			if err == nil {
				pdbs = list.Items
			} else {
				errs = append(errs, fmt.Errorf("list PodDisruptionBudgets in %s: %w", pod.Namespace, err))
			}
			byNS[pod.Namespace] = pdbs
			if r != nil {
				r.read(ledger.Call{Verb: "list", Resource: "poddisruptionbudgets", Namespace: pod.Namespace,
					Detail: fmt.Sprintf("%d PodDisruptionBudgets", len(pdbs))}, err)
			}
		}
		for _, pdb := range pdbs {
			if pdb.Status.DisruptionsAllowed > 0 || !selects(&pdb, &pod) {
				continue
			}
			out = append(out, Blocker{
				Pod: pod.Namespace + "/" + pod.Name, PDB: pdb.Namespace + "/" + pdb.Name,
				DisruptionsAllowed: pdb.Status.DisruptionsAllowed, CurrentHealthy: pdb.Status.CurrentHealthy,
				DesiredHealthy: pdb.Status.DesiredHealthy, ExpectedPods: pdb.Status.ExpectedPods,
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pod != out[j].Pod {
			return out[i].Pod < out[j].Pod
		}
		return out[i].PDB < out[j].PDB
	})
	return out, errors.Join(errs...)
}

// selects reports whether pdb covers pod (policy/v1: a nil selector
// selects nothing, an empty one every pod of the namespace).
func selects(pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	if pdb.Namespace != pod.Namespace || pdb.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(pod.Labels))
}

// refusalMessage is the API server's reason for refusing an eviction: the
// DisruptionBudget cause when present ("The disruption budget web-pdb needs
// 1 healthy pods and has 1 currently"), else the status message.
func refusalMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		if st.Details != nil {
			for _, c := range st.Details.Causes {
				if c.Type == policyv1.DisruptionBudgetCause && c.Message != "" {
					return c.Message
				}
			}
		}
		if st.Message != "" {
			return st.Message
		}
	}
	return err.Error()
}
