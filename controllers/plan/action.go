package plan

import (
	"fmt"
	"strings"
)

// Kind is what an Action asks the reconciler to do.
type Kind int

const (
	// Steady means the cluster matches the spec and is healthy; nothing to do.
	Steady Kind = iota
	// Wait means something must happen by itself first (a pod to start, a
	// learner to catch up, a leader to be elected); Reason says what.
	Wait
	// SetReplicas sets the StatefulSet's spec.replicas to Replicas,
	// creating the StatefulSet if it does not exist (in bootstrap mode when
	// the cluster is not bootstrapped, in join mode otherwise).
	SetReplicas
	// FinishBootstrap records ClusterID in status and switches the pods'
	// start mode from bootstrap to join.
	FinishBootstrap
	// AddLearner adds Member (the member of pod Pods[0]) as a learner.
	AddLearner
	// PromoteLearners makes the learners in Promote voters in one joint
	// ConfChangeV2.
	PromoteLearners
	// ReplaceMembers is PromoteLearners that also removes, in the same joint
	// change, the voters in Remove whose pods came back with the new ids in
	// Promote (a lost volume).
	ReplaceMembers
	// LeaveJoint leaves the joint configuration.
	LeaveJoint
	// TransferLeadership hands leadership to voter TransferTo.
	TransferLeadership
	// RemoveVoters removes the voters in Remove in one joint ConfChangeV2.
	RemoveVoters
	// RemoveLearners removes the learners in Remove in one ConfChangeV2.
	RemoveLearners
	// DeleteClaims deletes the PersistentVolumeClaims in Claims, of members
	// that left and whose pods are gone.
	DeleteClaims
	// RecyclePod deletes the claims in Claims and then the pod Pods[0], whose
	// member was removed from the cluster while its ordinal is still wanted:
	// the StatefulSet re-creates it on an empty volume, as a new member.
	// Claims first: pvc-protection keeps a claim until its pod is gone, and
	// a pod re-created before the claim was marked would reuse the old data.
	RecyclePod
	// RestartPod deletes the pod Pods[0], whose revision is older than the
	// StatefulSet's update revision: the StatefulSet re-creates it from the
	// new template on the same claim, so the member keeps its id and data.
	RestartPod
	// StartBootstrap names pod 0 in the bootstrap ConfigMap and deletes the
	// pod Pods[0], so that it starts again and founds the cluster: claims
	// found at creation turned out to hold no cluster (every pod answered
	// and none is a member of one).
	StartBootstrap
	// ForceNewCluster makes Member, of pod Pods[0], the only voter of a new
	// configuration (disaster recovery, asked for by the user).
	ForceNewCluster
)

var kindNames = [...]string{
	Steady:             "Steady",
	Wait:               "Wait",
	SetReplicas:        "SetReplicas",
	FinishBootstrap:    "FinishBootstrap",
	AddLearner:         "AddLearner",
	PromoteLearners:    "PromoteLearners",
	ReplaceMembers:     "ReplaceMembers",
	LeaveJoint:         "LeaveJoint",
	TransferLeadership: "TransferLeadership",
	RemoveVoters:       "RemoveVoters",
	RemoveLearners:     "RemoveLearners",
	DeleteClaims:       "DeleteClaims",
	RecyclePod:         "RecyclePod",
	RestartPod:         "RestartPod",
	StartBootstrap:     "StartBootstrap",
	ForceNewCluster:    "ForceNewCluster",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ChangesMembership reports whether the action is a Raft membership change
// (at most one may be in flight; the node refuses a second).
func (k Kind) ChangesMembership() bool {
	switch k {
	case AddLearner, PromoteLearners, ReplaceMembers, LeaveJoint, RemoveVoters, RemoveLearners:
		return true
	}
	return false
}

// Action is the one step a reconcile pass takes. Only the fields its Kind
// documents are set.
type Action struct {
	Kind Kind
	// Reason is for people: it goes to status conditions and events.
	Reason string
	// Cause is why a Wait waits: the first of Blocked (steps run in
	// priority order). CauseNone for every other Kind.
	Cause Cause
	// Blocked are the reasons of every step that could not act (Wait only).
	Blocked []Blocked
	// Replicas is the StatefulSet's new spec.replicas (SetReplicas).
	Replicas int
	// ClusterID is the id to record (FinishBootstrap).
	ClusterID uint64
	// Member is the member to add (AddLearner).
	Member Member
	// Promote are learner ids to make voters (PromoteLearners,
	// ReplaceMembers).
	Promote []uint64
	// Remove are ids to remove (ReplaceMembers, RemoveVoters,
	// RemoveLearners).
	Remove []uint64
	// TransferTo is the new leader (TransferLeadership).
	TransferTo uint64
	// Ordinals are the pod ordinals the action is about, for status.
	Ordinals []int
	// Pods are pod names to delete (RecyclePod, RestartPod) or the pod of
	// the member being added (AddLearner).
	Pods []string
	// Claims are claim names to delete (DeleteClaims, RecyclePod).
	Claims []string
}

func (a Action) String() string {
	var b strings.Builder
	b.WriteString(a.Kind.String())
	field := func(name string, v any) { fmt.Fprintf(&b, " %s=%v", name, v) }
	if a.Kind == SetReplicas {
		field("replicas", a.Replicas)
	}
	if a.ClusterID != 0 {
		field("cluster", hexID(a.ClusterID))
	}
	if a.Member.ID != 0 {
		field("member", hexID(a.Member.ID))
	}
	if len(a.Promote) > 0 {
		field("promote", hexIDs(a.Promote))
	}
	if len(a.Remove) > 0 {
		field("remove", hexIDs(a.Remove))
	}
	if a.TransferTo != 0 {
		field("to", hexID(a.TransferTo))
	}
	if len(a.Pods) > 0 {
		field("pods", a.Pods)
	}
	if len(a.Claims) > 0 {
		field("claims", a.Claims)
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, ": %s", a.Reason)
	}
	return b.String()
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

func hexIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = hexID(id)
	}
	return strings.Join(s, ",")
}
