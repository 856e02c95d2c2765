package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=patch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=delete
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch

// defaultStorageSize is a claim's size when spec.storage.size is unset
// (the CRD defaults it; an object stored before the default had none).
var defaultStorageSize = resource.MustParse("1Gi")

// Event actions of a resize (events.k8s.io events name one).
const (
	actionResizeClaims        = "ResizeClaims"
	actionRecreateStatefulSet = "RecreateStatefulSet"
)

// storageSize is the size every member's claim should have.
func storageSize(rc *raftv1.RaftCluster) resource.Quantity {
	if rc.Spec.Storage.Size.IsZero() {
		return defaultStorageSize
	}
	return rc.Spec.Storage.Size
}

// claimState is one member claim as a resize sees it.
type claimState struct {
	claim    *corev1.PersistentVolumeClaim
	request  resource.Quantity
	capacity resource.Quantity
	bound    bool
	// infeasible is the resizer's verdict that it cannot expand the claim,
	// empty when it gave none.
	infeasible corev1.ClaimResourceStatus
}

// done: the claim has the size, or will once provisioned (an unbound claim
// asks for it and gets a volume of that size).
func (c claimState) done(want resource.Quantity) bool {
	if c.bound {
		return c.capacity.Cmp(want) >= 0
	}
	return c.request.Cmp(want) >= 0
}

// memberClaims are the cluster's data claims (data-NAME-ORDINAL) that are
// not being deleted, by ordinal.
func memberClaims(p *pass) []claimState {
	var out []claimState
	for i := range p.claims {
		c := &p.claims[i]
		rest, ok := strings.CutPrefix(c.Name, dataVolume+"-")
		if !ok || plan.ParseOrdinal(p.cluster.Name, rest) < 0 || c.DeletionTimestamp != nil {
			continue
		}
		s := claimState{
			claim:      c,
			request:    c.Spec.Resources.Requests[corev1.ResourceStorage],
			capacity:   c.Status.Capacity[corev1.ResourceStorage],
			bound:      c.Status.Phase == corev1.ClaimBound,
			infeasible: c.Status.AllocatedResourceStatuses[corev1.ResourceStorage],
		}
		if s.infeasible != corev1.PersistentVolumeClaimControllerResizeInfeasible && s.infeasible != corev1.PersistentVolumeClaimNodeResizeInfeasible {
			s.infeasible = ""
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b claimState) int {
		return plan.ParseOrdinal(p.cluster.Name, strings.TrimPrefix(a.claim.Name, dataVolume+"-")) -
			plan.ParseOrdinal(p.cluster.Name, strings.TrimPrefix(b.claim.Name, dataVolume+"-"))
	})
	return out
}

// templateSize is the size the StatefulSet gives new claims.
func templateSize(sts *appsv1.StatefulSet) resource.Quantity {
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == dataVolume {
			return t.Spec.Resources.Requests[corev1.ResourceStorage]
		}
	}
	return resource.Quantity{}
}

// ensureStorage grows the members' claims to spec.storage.size: it asks
// each bound claim that is smaller for the size (the storage class's
// resizer expands the volume), and, since a StatefulSet's claim template
// cannot change, deletes the StatefulSet orphaning its pods, so that the
// planner re-creates it with the new template (same pod template, same
// revision: the pods are adopted, not restarted) and new members get the
// size. Claims never shrink. Nothing is changed when a claim's storage
// class does not allow expansion. It reports progress in p.storage (the
// StorageResizing condition) and events.
//
// held reports that the StatefulSet is being deleted: the pass must take no
// step (p.action is set to a Wait saying why) until the garbage collector
// has removed it and the planner can create the new one.
func (r *RaftClusterReconciler) ensureStorage(ctx context.Context, p *pass) (held bool, err error) {
	terminating := p.sts != nil && p.sts.DeletionTimestamp != nil
	recreating, err := r.resize(ctx, p)
	if err != nil || !(terminating || recreating) {
		return false, err
	}
	p.action = plan.Action{Kind: plan.Wait, Cause: plan.CauseRecreatingStatefulSet, Reason: fmt.Sprintf(
		"StatefulSet %s is being deleted; its pods are kept and adopted by the one created next", p.sts.Name)}
	return true, nil
}

// resize does ensureStorage's work on the claims; recreating reports that
// it deleted the StatefulSet.
func (r *RaftClusterReconciler) resize(ctx context.Context, p *pass) (recreating bool, err error) {
	rc := p.cluster
	want := storageSize(rc)
	claims := memberClaims(p)
	var grow []claimState
	for _, c := range claims {
		if c.bound && c.request.Cmp(want) < 0 {
			grow = append(grow, c)
		}
	}
	terminating := p.sts != nil && p.sts.DeletionTimestamp != nil
	smallTemplate := false
	if p.sts != nil && !terminating {
		s := templateSize(p.sts)
		smallTemplate = s.Cmp(want) < 0
	}
	prev := rc.Status.Condition(raftv1.ConditionStorageResizing)
	pending := slices.ContainsFunc(claims, func(c claimState) bool { return !c.done(want) })
	if prev == nil && !pending && !smallTemplate {
		return false, nil // no resize was ever asked for
	}

	refused, err := r.refusingClasses(ctx, grow)
	if err != nil {
		return false, err
	}
	if len(refused) > 0 {
		r.setStorage(p, prev, cond(raftv1.ConditionStorageResizing, false, raftv1.ReasonExpansionNotSupported, notExpandable(refused, want)))
		return false, nil
	}

	for _, c := range grow {
		if err := r.expandClaim(ctx, c.claim, want); err != nil {
			if apierrors.IsForbidden(err) {
				// The class changed since it was read, or another
				// admission rule refused: nothing more is changed.
				r.setStorage(p, prev, cond(raftv1.ConditionStorageResizing, false, raftv1.ReasonExpansionNotSupported,
					fmt.Sprintf("spec.storage.size %s: the API server refused to expand claim %s: %v", want.String(), c.claim.Name, err)))
				return false, nil
			}
			return false, err
		}
		c.claim.Spec.Resources.Requests[corev1.ResourceStorage] = want
	}
	if len(grow) > 0 {
		r.storageEvent(p, corev1.EventTypeNormal, raftv1.ReasonResizing, actionResizeClaims,
			fmt.Sprintf("asked claims %s for %s", claimNames(grow), want.String()))
	}
	if smallTemplate {
		if err := r.recreateStatefulSet(ctx, p, want); err != nil {
			return false, err
		}
	}
	r.setStorage(p, prev, resizeProgress(claims, want, smallTemplate || terminating))
	return smallTemplate, nil
}

// refusingClasses returns, by storage class, the claims to grow whose class
// does not allow expansion ("" for claims of no class, which the API server
// never expands).
func (r *RaftClusterReconciler) refusingClasses(ctx context.Context, grow []claimState) (map[string][]claimState, error) {
	refused := map[string][]claimState{}
	allows := map[string]bool{}
	for _, c := range grow {
		name := ptrOr(c.claim.Spec.StorageClassName, "")
		ok, seen := allows[name]
		if !seen && name != "" {
			sc := &storagev1.StorageClass{}
			switch err := r.Get(ctx, client.ObjectKey{Name: name}, sc); {
			case err == nil:
				ok = ptrOr(sc.AllowVolumeExpansion, false)
			case !apierrors.IsNotFound(err):
				return nil, fmt.Errorf("get storage class %s of claim %s: %w", name, c.claim.Name, err)
			}
			allows[name] = ok
		}
		if !ok {
			refused[name] = append(refused[name], c)
		}
	}
	return refused, nil
}

// expandClaim asks the claim for size want.
func (r *RaftClusterReconciler) expandClaim(ctx context.Context, c *corev1.PersistentVolumeClaim, want resource.Quantity) error {
	patch := fmt.Appendf(nil, `{"spec":{"resources":{"requests":{"storage":%q}}}}`, want.String())
	obj := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}
	if err := r.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("expand claim %s to %s: %w", c.Name, want.String(), err)
	}
	log.FromContext(ctx).Info("claim expansion requested", "claim", c.Name, "size", want.String())
	return nil
}

// recreateStatefulSet deletes the StatefulSet with its pods (and controller
// revisions) orphaned; the planner creates it again once it is gone, from
// the same pod template, and the StatefulSet controller adopts the pods.
func (r *RaftClusterReconciler) recreateStatefulSet(ctx context.Context, p *pass, want resource.Quantity) error {
	uid := p.sts.UID
	err := r.Delete(ctx, p.sts, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &uid})
	if err != nil && !isGoneOrReplaced(err) {
		return fmt.Errorf("delete StatefulSet %s to change its claim template: %w", p.sts.Name, err)
	}
	old := templateSize(p.sts)
	r.storageEvent(p, corev1.EventTypeNormal, raftv1.ReasonRecreatingStatefulSet, actionRecreateStatefulSet,
		fmt.Sprintf("deleting StatefulSet %s with its pods orphaned, to re-create it with %s claims instead of %s (a claim template cannot change); the pods keep running", p.sts.Name, want.String(), old.String()))
	return nil
}

// resizeProgress is the StorageResizing condition for claims that can grow.
func resizeProgress(claims []claimState, want resource.Quantity, recreating bool) metav1.Condition {
	var done int
	var waiting, failed, larger []string
	for _, c := range claims {
		switch {
		case c.infeasible != "":
			failed = append(failed, fmt.Sprintf("%s (%s)", c.claim.Name, c.infeasible))
		case c.done(want):
			done++
			if c.bound && c.capacity.Cmp(want) > 0 {
				larger = append(larger, fmt.Sprintf("%s (%s)", c.claim.Name, c.capacity.String()))
			}
		case !c.bound:
			waiting = append(waiting, fmt.Sprintf("%s (not bound yet: expanded once bound)", c.claim.Name))
		default:
			waiting = append(waiting, fmt.Sprintf("%s (%s)", c.claim.Name, c.capacity.String()))
		}
	}
	msg := fmt.Sprintf("%d of %d claims at %s", done, len(claims), want.String())
	if len(failed) > 0 {
		return cond(raftv1.ConditionStorageResizing, false, raftv1.ReasonResizeFailed,
			fmt.Sprintf("%s; the storage driver cannot expand %s: see the claims' events, and the class's driver for what it supports", msg, strings.Join(failed, ", ")))
	}
	if len(waiting) > 0 {
		msg += "; waiting for " + strings.Join(waiting, ", ")
	}
	if recreating {
		msg += "; re-creating the StatefulSet so new members get " + want.String()
	}
	if len(waiting) > 0 || recreating {
		return cond(raftv1.ConditionStorageResizing, true, raftv1.ReasonResizing, msg)
	}
	if len(larger) > 0 {
		msg += fmt.Sprintf("; larger, and never shrunk: %s", strings.Join(larger, ", "))
	}
	return cond(raftv1.ConditionStorageResizing, false, raftv1.ReasonResized, msg)
}

// notExpandable tells which claims cannot grow because of their class, and
// the fix.
func notExpandable(refused map[string][]claimState, want resource.Quantity) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(refused)) {
		cs := refused[name]
		if name == "" {
			parts = append(parts, fmt.Sprintf("claims %s have no storage class, and only claims of a class that allows expansion can grow", claimNames(cs)))
			continue
		}
		parts = append(parts, fmt.Sprintf("storage class %s of claims %s does not allow volume expansion; if its driver can expand volumes, set allowVolumeExpansion: true on it (kubectl patch storageclass %s -p '{\"allowVolumeExpansion\":true}')",
			name, claimNames(cs), name))
	}
	return fmt.Sprintf("spec.storage.size %s: no claim changed: %s", want.String(), strings.Join(parts, "; "))
}

func claimNames(cs []claimState) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.claim.Name
	}
	return strings.Join(names, ", ")
}

// setStorage records the pass's StorageResizing condition, and an event
// when its reason changes: a Warning when the resize cannot go on, a Normal
// one when it is done.
func (r *RaftClusterReconciler) setStorage(p *pass, prev *metav1.Condition, c metav1.Condition) {
	p.storage = &c
	if prev != nil && prev.Reason == c.Reason {
		return
	}
	switch c.Reason {
	case raftv1.ReasonExpansionNotSupported, raftv1.ReasonResizeFailed:
		r.storageEvent(p, corev1.EventTypeWarning, c.Reason, actionResizeClaims, c.Message)
	case raftv1.ReasonResized:
		r.storageEvent(p, corev1.EventTypeNormal, c.Reason, actionResizeClaims, c.Message)
	}
}

func (r *RaftClusterReconciler) storageEvent(p *pass, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(p.cluster, nil, eventType, reason, action, "%s", note)
	}
}

// clustersAwaitingClass maps a StorageClass change to the clusters whose
// resize waits for a class to allow expansion, so that allowing it takes
// effect at once.
func (r *RaftClusterReconciler) clustersAwaitingClass(ctx context.Context, _ client.Object) []reconcile.Request {
	var list raftv1.RaftClusterList
	if err := r.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list RaftClusters after a StorageClass change")
		return nil
	}
	var out []reconcile.Request
	for _, rc := range list.Items {
		if c := rc.Status.Condition(raftv1.ConditionStorageResizing); c != nil && c.Reason == raftv1.ReasonExpansionNotSupported {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rc)})
		}
	}
	return out
}

// setStorageCondition copies the pass's StorageResizing condition, if it
// computed one, into the status.
func setStorageCondition(p *pass) {
	if p.storage != nil {
		p.cluster.Status.SetCondition(*p.storage, p.cluster.Generation)
	}
}
