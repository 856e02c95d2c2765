package plan

import "fmt"

// Cause is why the planner waits: one value per kind of wait, so the
// operator maps it to a condition reason and decides whether a person must
// act, without reading the text meant for people.
//
// Every wait ends by itself or by a spec change; the comment of each cause
// says which. Causes marked "stuck" do not end by themselves: the operator
// records a Warning event naming the object and the fix.
type Cause int

const (
	// CauseNone means the action is not a Wait.
	CauseNone Cause = iota
	// CauseSpecInvalid means spec.replicas is outside 1..MaxReplicas (the API's
	// validation refuses it; only an object written around it gets here).
	// Stuck: ends when the spec is fixed.
	CauseSpecInvalid
	// CauseBootstrapping means pod 0 has not founded the cluster yet. Ends when
	// pod 0 runs and answers; a pod 0 that cannot run its template ends it
	// as soon as the template changes (the pod is replaced at once).
	CauseBootstrapping
	// CauseRetainedData means the cluster is not bootstrapped, but its claims
	// hold members of an earlier cluster, and the spec asks for a fresh
	// start. Stuck: ends when the user deletes the named claims or
	// sets spec.bootstrap to Adopt.
	CauseRetainedData
	// CauseAdopting means the cluster id is not recorded and the pods'
	// volumes hold an earlier cluster, whose voters have not elected a
	// leader yet. Ends when a majority of them runs; if the claims of a
	// majority are gone, only the disaster-recovery action ends it.
	CauseAdopting
	// CauseNoLeader means no member answered as leader. Ends when a majority of
	// voters runs and elects one; pods that cannot run an outdated template
	// are replaced at once when the template changes.
	CauseNoLeader
	// CauseQuorumLost means no leader can be elected: every pod answers,
	// and fewer than a majority of the voters the survivors know still run
	// on any pod (their volumes were lost). Stuck: only the
	// disaster-recovery action (raftkube.io/force-new-cluster) ends it.
	CauseQuorumLost
	// CauseClusterMismatch means the leader answers for another cluster than the
	// one recorded in status. Stuck: ends when status.clusterID is
	// corrected, or the claims holding the other cluster are deleted.
	CauseClusterMismatch
	// CauseTransferring means a leadership transfer is under way. Ends when it
	// completes or the leader aborts it (one election timeout).
	CauseTransferring
	// CauseForeignVoter means a voter of the configuration is not a pod of this
	// cluster. Stuck: ends when a person removes it (raftctl member remove).
	CauseForeignVoter
	// CauseMemberConflict means a pod holds a removed member or one of another
	// cluster, yet the leader lists it in the configuration. Stuck: the
	// pod or the leader reports stale data; ends when they agree.
	CauseMemberConflict
	// CauseNoMajority means a membership change would leave fewer healthy voters
	// than a majority in the current or the new configuration. Ends when
	// enough voters are healthy again, or when the spec change that asked
	// for it is reverted.
	CauseNoMajority
	// CauseNoTransferTarget means the leader must hand over (it leaves, or its
	// pod is the last to restart) but no other voter is healthy. Ends when
	// one is.
	CauseNoTransferTarget
	// CauseClaimDeleting means a claim is being deleted and the pod that will use
	// it must wait. Ends when the claim is gone (its old pod went).
	CauseClaimDeleting
	// CauseAwaitingDNS means a new pod's DNS name is not published yet. Ends when
	// the peer Service's EndpointSlice lists it, or after a minute.
	CauseAwaitingDNS
	// CauseLearnerCatchingUp means a learner is too far behind to be promoted.
	// Ends when it catches up; scaling back down removes it.
	CauseLearnerCatchingUp
	// CausePodNotReady means a pod the next step needs is missing, starting, not
	// answering or not ready. Ends when it is ready; scaling down past it,
	// or a template change if it cannot run, ends it too.
	CausePodNotReady
	// CausePodCannotRun means a pod's container cannot start (image pull
	// failure, unschedulable, crash loop). Stuck: ends when the pod
	// template is fixed (the pod is replaced at once) or the cause outside
	// (a node, a registry) is.
	CausePodCannotRun
	// CauseVoterUnhealthy means a voter's pod runs, but the leader has not heard
	// from it recently or it runs another member. Ends when it is healthy
	// again or is replaced.
	CauseVoterUnhealthy
	// CauseNotSettled means a rolling restart waits for a membership change to
	// finish. Ends when the configuration is as specified.
	CauseNotSettled
	// CauseLeaveNotRecorded means a member that left keeps its pod and claim
	// until every remaining voter has applied its removal, so that none can
	// restart into a configuration that needs it. Ends when each remaining
	// voter reports the new configuration.
	CauseLeaveNotRecorded
	// CauseDraining means a member that left keeps its pod until the pod is
	// no longer ready, so the client Service stops routing to it before it
	// goes. Ends within the readiness probe's failure window.
	CauseDraining
	// CauseStaleStatus means the leader's status contradicts a pod's (a
	// replaced voter is the leader). Ends at the next election or status.
	CauseStaleStatus
	// CauseNoSurvivor means the user asked to force a new configuration but
	// no pod answers as a voter of the cluster. Stuck: ends when a voter's
	// pod runs again, or the annotation is removed.
	CauseNoSurvivor
	// CauseRecreatingStatefulSet means the StatefulSet is being deleted,
	// its pods kept, to be created again with a new claim template (storage
	// growth). Set by the operator. Ends when the garbage collector removed
	// it (seconds).
	CauseRecreatingStatefulSet
	// CauseDeferred means the leader refused the step for now (a change not
	// applied yet, an election, a transfer). Set by the operator, not the
	// planner; the next pass plans again.
	CauseDeferred
)

var causeNames = [...]string{
	CauseNone:                  "None",
	CauseSpecInvalid:           "SpecInvalid",
	CauseBootstrapping:         "Bootstrapping",
	CauseRetainedData:          "RetainedData",
	CauseAdopting:              "Adopting",
	CauseNoLeader:              "NoLeader",
	CauseQuorumLost:            "QuorumLost",
	CauseClusterMismatch:       "ClusterMismatch",
	CauseTransferring:          "Transferring",
	CauseForeignVoter:          "ForeignVoter",
	CauseMemberConflict:        "MemberConflict",
	CauseNoMajority:            "NoMajority",
	CauseNoTransferTarget:      "NoTransferTarget",
	CauseClaimDeleting:         "ClaimDeleting",
	CauseAwaitingDNS:           "AwaitingDNS",
	CauseLearnerCatchingUp:     "LearnerCatchingUp",
	CausePodNotReady:           "PodNotReady",
	CausePodCannotRun:          "PodCannotRun",
	CauseVoterUnhealthy:        "VoterUnhealthy",
	CauseNotSettled:            "NotSettled",
	CauseLeaveNotRecorded:      "LeaveNotRecorded",
	CauseDraining:              "Draining",
	CauseStaleStatus:           "StaleStatus",
	CauseNoSurvivor:            "NoSurvivor",
	CauseRecreatingStatefulSet: "RecreatingStatefulSet",
	CauseDeferred:              "Deferred",
}

func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// Stuck reports whether the wait does not end by itself: a person must fix
// the spec, an object, or something outside the cluster.
func (c Cause) Stuck() bool {
	switch c {
	case CauseSpecInvalid, CauseRetainedData, CauseClusterMismatch, CauseForeignVoter, CauseMemberConflict, CausePodCannotRun, CauseNoSurvivor, CauseQuorumLost:
		return true
	}
	return false
}

// Blocked is one reason a step could not act.
type Blocked struct {
	Cause Cause
	// Text is for people; it names the objects involved.
	Text string
}

// firstCause is the cause of the first stuck Blocked, else of the first:
// what a person must fix comes before what ends by itself.
func firstCause(bs []Blocked) Cause {
	for _, b := range bs {
		if b.Cause.Stuck() {
			return b.Cause
		}
	}
	if len(bs) == 0 {
		return CauseNone
	}
	return bs[0].Cause
}
