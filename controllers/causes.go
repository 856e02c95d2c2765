package controllers

import (
	corev1 "k8s.io/api/core/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// causeReason is the condition reason of a wait of cause c, or "" when the
// cause names no reason of its own and the direction of the change (scaling
// up or down, members not ready) says more.
func causeReason(c plan.Cause) string {
	switch c {
	case plan.CauseSpecInvalid:
		return raftv1.ReasonInvalidSpec
	case plan.CauseBootstrapping:
		return raftv1.ReasonBootstrapping
	case plan.CauseRetainedData:
		return raftv1.ReasonRetainedData
	case plan.CauseNoLeader:
		return raftv1.ReasonNoLeader
	case plan.CauseClusterMismatch:
		return raftv1.ReasonClusterIDMismatch
	case plan.CauseTransferring:
		return raftv1.ReasonTransferringLeadership
	case plan.CauseForeignVoter:
		return raftv1.ReasonForeignMember
	case plan.CauseMemberConflict:
		return raftv1.ReasonMemberConflict
	case plan.CauseNoMajority, plan.CauseNoTransferTarget:
		return raftv1.ReasonNoHealthyMajority
	case plan.CauseAwaitingDNS:
		return raftv1.ReasonAwaitingDNS
	case plan.CauseLearnerCatchingUp:
		return raftv1.ReasonLearnerCatchingUp
	case plan.CausePodCannotRun:
		return raftv1.ReasonPodCannotRun
	case plan.CauseNotSettled:
		return raftv1.ReasonRollingRestart
	case plan.CauseLeaveNotRecorded:
		return raftv1.ReasonLeaveNotRecorded
	case plan.CauseNoSurvivor:
		return raftv1.ReasonNoSurvivor
	case plan.CauseQuorumLost:
		return raftv1.ReasonQuorumLost
	case plan.CauseRecreatingStatefulSet:
		return raftv1.ReasonRecreatingStatefulSet
	case plan.CauseAdopting:
		return raftv1.ReasonBootstrapping
	}
	return ""
}

// causeFix is what a person does about a stuck wait of cause c.
func causeFix(c plan.Cause) string {
	switch c {
	case plan.CauseSpecInvalid:
		return "set spec.replicas within 1..9"
	case plan.CausePodCannotRun:
		return "fix the image, node selector, tolerations or resources in the spec (or revert the last change); the operator replaces the pod as soon as the pod template changes"
	case plan.CauseRetainedData:
		return "delete the named claims to start afresh, or set spec.bootstrap to Adopt to keep the earlier cluster and its data"
	case plan.CauseClusterMismatch:
		return "correct status.clusterID (kubectl edit --subresource=status) if it was changed by hand, or delete the claims that hold the other cluster"
	case plan.CauseForeignVoter:
		return "remove it with raftctl member remove ID if it is not wanted; the operator never changes members it does not own"
	case plan.CauseQuorumLost:
		return "if those volumes cannot be brought back, annotate the RaftCluster " + raftv1.AnnotationForceNewCluster +
			"=<status.clusterID> to continue from the most up-to-date survivor (writes only the lost members held are lost)"
	case plan.CauseNoSurvivor:
		return "start a pod of a surviving voter (its claim intact), or remove the " + raftv1.AnnotationForceNewCluster + " annotation"
	case plan.CauseMemberConflict:
		return "check the pod's member with raftctl status; the operator never deletes the data of a member in the configuration"
	}
	return ""
}

// warnStuck records a Warning event for every stuck wait of the pass, once
// per change of the Progressing condition (the event series dedupes the
// rest).
func (r *RaftClusterReconciler) warnStuck(p *pass) {
	if r.Recorder == nil || p.action.Kind != plan.Wait {
		return
	}
	for _, b := range p.action.Blocked {
		if !b.Cause.Stuck() {
			continue
		}
		r.Recorder.Eventf(p.cluster, nil, corev1.EventTypeWarning, causeReason(b.Cause), "Wait", "%s: %s", b.Text, causeFix(b.Cause))
	}
}
