package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// writeStatus computes the cluster's status from the pass and writes it
// when it changed. reconcileErr, if any, shows in the Progressing condition.
func (r *RaftClusterReconciler) writeStatus(ctx context.Context, p *pass, reconcileErr error) error {
	rc := p.cluster
	before := rc.Status.DeepCopy()
	if rc.Generation != before.ObservedGeneration && desiredReplicas(rc)%2 == 0 && r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, "EvenReplicas", "Validate",
			"%d voters tolerate no more failures than %d: an odd number is recommended", desiredReplicas(rc), desiredReplicas(rc)-1)
	}
	computeStatus(p, reconcileErr)
	if progressChanged(before, &rc.Status) {
		r.warnStuck(p)
		r.warnRestoreSource(p)
	}
	if equality.Semantic.DeepEqual(before, &rc.Status) {
		return nil
	}
	if err := r.Status().Update(ctx, rc); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // changed or deleted meanwhile: the next pass sees it
		}
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// progressChanged reports whether the Progressing condition says something
// new: a stuck wait is reported once, not on every pass.
func progressChanged(before, after *raftv1.RaftClusterStatus) bool {
	b, a := before.Condition(raftv1.ConditionProgressing), after.Condition(raftv1.ConditionProgressing)
	return b == nil || a == nil || b.Reason != a.Reason || b.Message != a.Message
}

// computeStatus fills rc.Status from what the pass observed and did.
func computeStatus(p *pass, reconcileErr error) {
	rc := p.cluster
	s := &rc.Status
	s.Selector = selectorString(rc)
	setStorageCondition(p)
	if p.tlsEnsured {
		s.TLS = p.tls
	}
	if !p.observed {
		// The pass failed before it saw the members: what the last pass saw
		// stands, and only Progressing tells what went wrong.
		progressing(p, reconcileErr)
		return
	}
	s.ObservedGeneration = rc.Generation
	s.Members = memberStatuses(p)
	s.Leader = ""
	var voters []uint64
	if p.leader != nil {
		s.Leader = p.leader.GetSelf().GetName()
		voters = p.leader.GetConfiguration().GetVoters()
		s.Replicas = int32(len(voters))
	}
	ready := map[string]bool{}
	for _, pod := range p.pods {
		ready[pod.Name] = podReady(&pod)
	}
	s.ReadyReplicas = 0
	for _, m := range s.Members {
		if slices.Contains(voters, parseID(m.ID)) && ready[m.Name] {
			s.ReadyReplicas++
		}
	}

	gen := rc.Generation
	joint := p.leader != nil && len(p.leader.GetConfiguration().GetOutgoingVoters()) > 0
	learners := p.leader != nil && len(p.leader.GetConfiguration().GetLearners()) > 0
	available := p.leader != nil && int(s.ReadyReplicas) >= plan.Majority(len(voters))
	degraded := p.leader == nil || s.ReadyReplicas < s.Replicas
	bootstrapped := s.ClusterID != ""

	switch {
	case available:
		s.SetCondition(cond(raftv1.ConditionAvailable, true, raftv1.ReasonReconciled, fmt.Sprintf("leader %s, %d of %d voters ready", s.Leader, s.ReadyReplicas, s.Replicas)), gen)
	case p.leader == nil:
		s.SetCondition(cond(raftv1.ConditionAvailable, false, raftv1.ReasonNoLeader, "no member answered as leader"), gen)
	default:
		s.SetCondition(cond(raftv1.ConditionAvailable, false, raftv1.ReasonQuorumLost, fmt.Sprintf("%d of %d voters ready", s.ReadyReplicas, s.Replicas)), gen)
	}
	switch {
	case p.leader == nil:
		s.SetCondition(cond(raftv1.ConditionDegraded, true, raftv1.ReasonNoLeader, "no member answered as leader"), gen)
	case degraded:
		s.SetCondition(cond(raftv1.ConditionDegraded, true, raftv1.ReasonMembersNotReady, fmt.Sprintf("%d of %d voters ready", s.ReadyReplicas, s.Replicas)), gen)
	default:
		s.SetCondition(cond(raftv1.ConditionDegraded, false, raftv1.ReasonReconciled, "every voter is ready"), gen)
	}
	a := p.action
	progressing(p, reconcileErr)
	changing := joint || learners || a.Kind.ChangesMembership() || a.Kind == plan.TransferLeadership
	if changing {
		s.SetCondition(cond(raftv1.ConditionMembershipChanging, true, progressReason(p), a.String()), gen)
	} else {
		s.SetCondition(cond(raftv1.ConditionMembershipChanging, false, raftv1.ReasonReconciled, "no configuration change in flight"), gen)
	}

	switch {
	case p.paused:
		// Whatever the state, nothing will change it until the annotation
		// goes: the one thing a person must know first.
		s.Phase = raftv1.PhasePaused
	case !bootstrapped && len(p.statuses) == 0:
		s.Phase = raftv1.PhasePending
	case !bootstrapped || a.Kind == plan.FinishBootstrap:
		s.Phase = raftv1.PhaseBootstrapping
	case p.leader == nil:
		s.Phase = raftv1.PhaseDegraded
	case rollingRestart(p):
		// Before Scaling: the leadership transfer before the leader's pod
		// is restarted is part of the upgrade, and a restarted pod not
		// ready yet is expected, not Degraded.
		s.Phase = raftv1.PhaseUpgrading
	case changing || int(s.Replicas) != desiredReplicas(rc) || (a.Kind != plan.Steady && a.Kind != plan.Wait):
		s.Phase = raftv1.PhaseScaling
	case degraded:
		s.Phase = raftv1.PhaseDegraded
	default:
		s.Phase = raftv1.PhaseAvailable
	}
}

// progressing sets the Progressing condition: paused, failed, done, or
// what the pass is doing.
func progressing(p *pass, reconcileErr error) {
	s, gen, a := &p.cluster.Status, p.cluster.Generation, p.action
	switch {
	case p.paused:
		s.SetCondition(cond(raftv1.ConditionProgressing, false, raftv1.ReasonPaused, "the "+raftv1.AnnotationPaused+" annotation stops reconciliation"), gen)
	case reconcileErr != nil:
		s.SetCondition(cond(raftv1.ConditionProgressing, true, raftv1.ReasonReconcileError, reconcileErr.Error()), gen)
	case a.Kind == plan.Steady:
		s.SetCondition(cond(raftv1.ConditionProgressing, false, raftv1.ReasonReconciled, a.Reason), gen)
	default:
		s.SetCondition(cond(raftv1.ConditionProgressing, true, progressReason(p), a.String()), gen)
	}
}

// progressReason names what the cluster is doing, for Progressing and
// MembershipChanging.
func progressReason(p *pass) string {
	a := p.action
	voters, desired := int(p.cluster.Status.Replicas), desiredReplicas(p.cluster)
	switch {
	case p.restore.held:
		return raftv1.ReasonRestoreSourceNotReady
	case a.Kind == plan.Wait && a.Cause.Stuck():
		// What a person must fix comes first, whatever is under way.
		return causeReason(a.Cause)
	case p.cluster.Status.ClusterID == "" && p.restore.founding:
		return raftv1.ReasonRestoring
	case p.cluster.Status.ClusterID == "":
		return raftv1.ReasonBootstrapping
	case a.Kind == plan.Wait && p.leader == nil:
		return raftv1.ReasonNoLeader
	case rollingRestart(p):
		return raftv1.ReasonRollingRestart
	case a.Kind == plan.Wait && causeReason(a.Cause) != "":
		return causeReason(a.Cause)
	case a.Kind == plan.Wait && voters > desired:
		return raftv1.ReasonScalingDown
	case a.Kind == plan.Wait && voters < desired:
		return raftv1.ReasonScalingUp
	case a.Kind == plan.Wait:
		// As many voters as specified: what is awaited is a member's health.
		return raftv1.ReasonMembersNotReady
	case a.Kind == plan.SetReplicas && p.sts != nil && a.Replicas < int(ptrOr(p.sts.Spec.Replicas, 1)):
		// Lowered once the leavers are out: the voters already number
		// spec.replicas, so only the StatefulSet tells the direction.
		return raftv1.ReasonScalingDown
	case a.Kind == plan.SetReplicas:
		return raftv1.ReasonScalingUp
	}
	return stepReason(p)
}

// rollingRestart reports whether the pass is part of a rolling restart: it
// restarts a pod, or, while the configuration is as specified and pods run
// an older template, waits for a restarted pod or moves leadership off the
// last one. Once the last outdated pod is deleted, waiting for it to come
// back shows as any voter that is not ready.
func rollingRestart(p *pass) bool {
	switch p.action.Kind {
	case plan.RestartPod:
		return true
	case plan.Wait, plan.TransferLeadership:
		return plan.Upgrading(p.obs)
	}
	return false
}

func cond(t string, status bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

// memberStatuses lists every pod of the cluster and every member of the
// configuration without a pod, by name.
func memberStatuses(p *pass) []raftv1.MemberStatus {
	cfg := p.leader.GetConfiguration()
	progress := map[uint64]uint64{}
	for _, pr := range p.leader.GetProgress() {
		progress[pr.GetId()] = pr.GetMatchIndex()
	}
	isVoter := func(id uint64) bool {
		return slices.Contains(cfg.GetVoters(), id) || slices.Contains(cfg.GetOutgoingVoters(), id)
	}
	// Pod name -> ids of its members in the configuration, voters first: a
	// pod that came back with a new id has the old voter and, once added,
	// the new learner under the same name.
	inConfig := map[string][]uint64{}
	isLearner := func(id uint64) bool {
		return !isVoter(id) && (slices.Contains(cfg.GetLearners(), id) || slices.Contains(cfg.GetLearnersNext(), id))
	}
	for _, in := range []func(uint64) bool{isVoter, isLearner} {
		for _, m := range cfg.GetMembers() {
			if in(m.GetId()) {
				inConfig[m.GetName()] = append(inConfig[m.GetName()], m.GetId())
			}
		}
	}
	byName := map[string]*raftv1.MemberStatus{}
	for _, pod := range p.pods {
		ms := &raftv1.MemberStatus{Name: pod.Name, Role: raftv1.RoleUnknown, Ready: podReady(&pod)}
		if st := p.statuses[pod.Name]; st != nil {
			id := st.GetSelf().GetId()
			ms.ID = formatID(id)
			ms.Role = roleOf(st, cfg)
			ms.MatchIndex = int64(progress[id])
			ms.ConfigurationApplied = sameConfiguration(st.GetConfiguration(), cfg)
			if i := slices.IndexFunc(inConfig[pod.Name], func(old uint64) bool { return old != id && isVoter(old) }); i >= 0 {
				ms.ReplacesID = formatID(inConfig[pod.Name][i])
			}
		}
		byName[pod.Name] = ms
	}
	for name, ids := range inConfig {
		if _, ok := byName[name]; !ok {
			byName[name] = &raftv1.MemberStatus{Name: name, ID: formatID(ids[0]), Role: raftv1.RoleUnknown, MatchIndex: int64(progress[ids[0]])}
		}
	}
	out := make([]raftv1.MemberStatus, 0, len(byName))
	for _, ms := range byName {
		out = append(out, *ms)
	}
	// By ordinal, then by name: names of no ordinal must not come out in map
	// order, or every pass would write a status that differs only in order.
	slices.SortFunc(out, func(a, b raftv1.MemberStatus) int {
		return cmp.Or(cmp.Compare(plan.ParseOrdinal(p.cluster.Name, a.Name), plan.ParseOrdinal(p.cluster.Name, b.Name)), strings.Compare(a.Name, b.Name))
	})
	return out
}

// sameConfiguration: a member applied the leader's configuration cfg.
func sameConfiguration(own, cfg *serverpb.Configuration) bool {
	same := func(a, b []uint64) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}
	return cfg != nil && same(own.GetVoters(), cfg.GetVoters()) && same(own.GetOutgoingVoters(), cfg.GetOutgoingVoters()) &&
		same(own.GetLearners(), cfg.GetLearners())
}

// roleOf is a member's role as it reports it, a learner or removed member
// named as such.
func roleOf(st *serverpb.StatusResponse, cfg *serverpb.Configuration) raftv1.MemberRole {
	id := st.GetSelf().GetId()
	switch {
	case st.GetRemoved():
		return raftv1.RoleRemoved
	case slices.Contains(cfg.GetLearners(), id) || slices.Contains(st.GetConfiguration().GetLearners(), id):
		return raftv1.RoleLearner
	}
	switch st.GetRole() {
	case serverpb.Role_ROLE_LEADER:
		return raftv1.RoleLeader
	case serverpb.Role_ROLE_FOLLOWER:
		return raftv1.RoleFollower
	case serverpb.Role_ROLE_CANDIDATE:
		return raftv1.RoleCandidate
	case serverpb.Role_ROLE_PRE_CANDIDATE:
		return raftv1.RolePreCandidate
	}
	return raftv1.RoleUnknown
}

// isGoneOrReplaced: a delete found nothing, or found an object of that name
// re-created since the observation (the UID precondition failed).
func isGoneOrReplaced(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err)
}
