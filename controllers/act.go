package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// changeTimeout bounds one membership call: the member answers once the
// change is applied, which takes a round of replication.
const changeTimeout = 15 * time.Second

// act performs the planner's action. Steady and Wait do nothing.
func (r *RaftClusterReconciler) act(ctx context.Context, p *pass) error {
	a := p.action
	if a.Kind == plan.Steady || a.Kind == plan.Wait {
		return nil
	}
	// The leader is logged with the step: a removal must never name it.
	log.FromContext(ctx).Info("step", "action", a.String(), "leader", formatID(p.leader.GetHeader().GetLeaderId()))
	r.failpoint("before-" + a.Kind.String())
	if err := r.perform(ctx, p); err != nil {
		if busy(err) {
			// Not a failure: the leader is finishing another change (or
			// changing hands); the next pass observes and plans again.
			log.FromContext(ctx).Info("step deferred", "action", a.String(), "reason", err.Error())
			r.Metrics.step(a.Kind.String(), stepDeferred)
			p.action = plan.Action{Kind: plan.Wait, Cause: plan.CauseDeferred, Reason: fmt.Sprintf("%s deferred: %v", a.Kind, err)}
			return nil
		}
		r.event(p, corev1.EventTypeWarning, fmt.Sprintf("%s failed: %v", a.Kind, err))
		r.Metrics.step(a.Kind.String(), stepFailed)
		return fmt.Errorf("%s: %w", a, err)
	}
	r.event(p, corev1.EventTypeNormal, a.String())
	r.Metrics.step(a.Kind.String(), stepDone)
	r.failpoint("after-" + a.Kind.String())
	return nil
}

func (r *RaftClusterReconciler) perform(ctx context.Context, p *pass) error {
	a := p.action
	rc := p.cluster
	if a.Kind.ChangesMembership() || a.Kind == plan.TransferLeadership {
		if p.members == nil {
			return fmt.Errorf("no member to ask")
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, changeTimeout)
		defer cancel()
	}
	switch a.Kind {
	case plan.SetReplicas:
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: statefulSetName(rc)}}
		n := int32(a.Replicas)
		return r.apply(ctx, p, sts, func() {
			mutateStatefulSet(rc, sts, r.Settings, n, p.restore.source)
			sts.Spec.Replicas = &n
		})
	case plan.FinishBootstrap:
		// The ConfigMap first: should the status write fail, the next pass
		// finishes again, while the reverse order would leave pod 0 able to
		// found a second cluster.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: bootstrapName(rc)}}
		if err := r.apply(ctx, p, cm, func() { mutateBootstrap(rc, cm, true) }); err != nil {
			return err
		}
		rc.Status.ClusterID = formatID(a.ClusterID)
		return nil
	case plan.AddLearner:
		m := a.Member
		_, err := p.members.AddLearner(ctx, &serverpb.Member{Id: m.ID, Name: m.Name, PeerAddress: m.PeerAddress, ClientAddress: m.ClientAddress})
		return err
	case plan.PromoteLearners, plan.ReplaceMembers, plan.RemoveVoters, plan.RemoveLearners:
		var changes []*serverpb.MembershipChange
		for _, id := range a.Promote {
			changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: id})
		}
		for _, id := range a.Remove {
			changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: id})
		}
		// The leader leaves the joint configuration by itself once it is
		// committed; a pass that finds it still joint leaves it explicitly.
		_, err := p.members.ChangeMembership(ctx, changes, false)
		return err
	case plan.LeaveJoint:
		_, err := p.members.LeaveJoint(ctx)
		return err
	case plan.TransferLeadership:
		_, err := p.members.TransferLeadership(ctx, a.TransferTo)
		return err
	case plan.DeleteClaims:
		return r.deleteClaims(ctx, p, a.Claims)
	case plan.RecyclePod:
		if err := r.deleteClaims(ctx, p, a.Claims); err != nil {
			return err
		}
		for _, name := range a.Pods {
			if err := r.deleteOwned(ctx, p, &corev1.Pod{}, name); err != nil {
				return err
			}
		}
		return nil
	case plan.ForceNewCluster:
		ep := ""
		for _, pod := range p.pods {
			if pod.Name == a.Pods[0] && pod.Status.PodIP != "" {
				ep = podEndpoint(pod.Status.PodIP)
			}
		}
		if ep == "" || p.members == nil {
			return fmt.Errorf("pod %s has no address to ask", a.Pods[0])
		}
		ctx, cancel := context.WithTimeout(ctx, changeTimeout)
		defer cancel()
		if _, err := p.members.ForceNewCluster(ctx, ep); err != nil {
			return err
		}
		// Loud: members were dropped, and writes only they held are lost.
		if r.Recorder != nil {
			r.Recorder.Eventf(p.cluster, nil, corev1.EventTypeWarning, raftv1.ReasonForcedNewCluster, a.Kind.String(),
				"%s: every other member was dropped from the configuration; writes acknowledged only by the lost members are lost; new members replace them", a.Reason)
		}
		return r.dropForceRequest(ctx, p)
	case plan.StartBootstrap:
		// The ConfigMap first: the pod reads it when it starts again.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: bootstrapName(rc)}}
		if err := r.apply(ctx, p, cm, func() { mutateBootstrap(rc, cm, false) }); err != nil {
			return err
		}
		return r.deleteOwned(ctx, p, &corev1.Pod{}, a.Pods[0])
	case plan.RestartPod:
		// The claim stays: the StatefulSet re-creates the pod on it from the
		// new template, and the member comes back with its id and data.
		for _, name := range a.Pods {
			if err := r.deleteOwned(ctx, p, &corev1.Pod{}, name); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown action %s", a.Kind)
}

func (r *RaftClusterReconciler) deleteClaims(ctx context.Context, p *pass, names []string) error {
	for _, name := range names {
		if err := r.deleteOwned(ctx, p, &corev1.PersistentVolumeClaim{}, name); err != nil {
			return err
		}
	}
	return nil
}

// deleteOwned deletes the object of that name that this pass observed,
// with its UID as a precondition: a pod or claim re-created since (a new
// member's) is never deleted on the strength of an old observation.
func (r *RaftClusterReconciler) deleteOwned(ctx context.Context, p *pass, obj client.Object, name string) error {
	var uid types.UID
	switch obj.(type) {
	case *corev1.Pod:
		for _, pod := range p.pods {
			if pod.Name == name {
				uid = pod.UID
			}
		}
	case *corev1.PersistentVolumeClaim:
		for _, c := range p.claims {
			if c.Name == name {
				uid = c.UID
			}
		}
	}
	if uid == "" {
		return nil // already gone
	}
	obj.SetNamespace(p.cluster.Namespace)
	obj.SetName(name)
	err := r.Delete(ctx, obj, client.Preconditions{UID: &uid})
	if err != nil && !isGoneOrReplaced(err) {
		return fmt.Errorf("delete %T %s: %w", obj, name, err)
	}
	return nil
}

// event records the pass's step on the cluster.
func (r *RaftClusterReconciler) event(p *pass, eventType string, note string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(p.cluster, nil, eventType, stepReason(p), p.action.Kind.String(), "%s", note)
}

// stepReason is the condition reason of the pass's step. Adding a learner
// is scaling up, unless it is the new member of a pod whose old member is
// still a voter: then it replaces that member.
func stepReason(p *pass) string {
	a := p.action
	if a.Kind == plan.SetReplicas {
		switch {
		case p.sts == nil:
			return raftv1.ReasonCreatingObjects
		case a.Replicas < int(ptrOr(p.sts.Spec.Replicas, 1)):
			return raftv1.ReasonScalingDown
		}
		return raftv1.ReasonScalingUp
	}
	if a.Kind == plan.AddLearner && p.obs.Raft != nil {
		for _, id := range p.obs.Raft.Voters {
			if id != a.Member.ID && p.obs.Raft.Members[id].Name == a.Member.Name {
				return raftv1.ReasonReplacingMember
			}
		}
	}
	return eventReason(a.Kind)
}

// eventReason maps a step to the condition reason it belongs to.
func eventReason(k plan.Kind) string {
	switch k {
	case plan.FinishBootstrap, plan.StartBootstrap:
		return raftv1.ReasonBootstrapping
	case plan.AddLearner, plan.PromoteLearners:
		return raftv1.ReasonScalingUp
	case plan.RemoveVoters, plan.RemoveLearners, plan.DeleteClaims:
		return raftv1.ReasonScalingDown
	case plan.ReplaceMembers, plan.RecyclePod:
		return raftv1.ReasonReplacingMember
	case plan.LeaveJoint:
		return raftv1.ReasonLeavingJoint
	case plan.TransferLeadership:
		return raftv1.ReasonTransferringLeadership
	case plan.RestartPod:
		return raftv1.ReasonRollingRestart
	case plan.ForceNewCluster:
		return raftv1.ReasonForcedNewCluster
	}
	return raftv1.ReasonCreatingObjects
}

// dropForceRequest removes the disaster-recovery annotation: done, or not
// needed. The next pass must not force again.
func (r *RaftClusterReconciler) dropForceRequest(ctx context.Context, p *pass) error {
	return r.dropAnnotation(ctx, p, raftv1.AnnotationForceNewCluster)
}

// dropAnnotation removes a request annotation from the cluster once it was
// acted on (or refused), unless someone changed the object meanwhile.
func (r *RaftClusterReconciler) dropAnnotation(ctx context.Context, p *pass, key string) error {
	rc := p.cluster
	if _, ok := rc.Annotations[key]; !ok {
		return nil
	}
	orig := rc.DeepCopy()
	delete(rc.Annotations, key)
	if err := r.Patch(ctx, rc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("remove the %s annotation: %w", key, err)
	}
	return nil
}

// refuseForceRequest drops a disaster-recovery annotation that cannot be
// acted on, saying why: it names another cluster id, or the cluster has a
// leader (nothing to force, or already forced).
func (r *RaftClusterReconciler) refuseForceRequest(ctx context.Context, p *pass) error {
	rc := p.cluster
	v, ok := rc.Annotations[raftv1.AnnotationForceNewCluster]
	if !ok || (forceRequested(rc) && p.leader == nil) {
		return nil
	}
	why := fmt.Sprintf("the cluster has a leader (%s): nothing to force", p.leader.GetSelf().GetName())
	if !forceRequested(rc) {
		why = fmt.Sprintf("its value %q is not this cluster's status.clusterID %q", v, rc.Status.ClusterID)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, raftv1.ReasonForcedNewCluster, "Validate",
			"the %s annotation was removed without effect: %s", raftv1.AnnotationForceNewCluster, why)
	}
	return r.dropForceRequest(ctx, p)
}

// busy reports a membership call the cluster refused for now without
// failing: another configuration change not yet applied or still joint
// (CHANGE_IN_PROGRESS), or a proposal the leader dropped (NOT_PROPOSED, e.g.
// during an election or a leadership transfer).
func busy(err error) bool {
	return serverpb.HasReason(err, serverpb.ReasonChangeInProgress) || serverpb.HasReason(err, serverpb.ReasonNotProposed) ||
		// A leader that lost its quorum steps down within an election
		// timeout; a forced configuration waits for that.
		serverpb.HasReason(err, serverpb.ReasonHasLeader)
}
