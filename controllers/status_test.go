package controllers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// statusCase builds the pass computeStatus reads: a cluster of spec
// replicas desired (bootstrapped unless clusterID is ""), its pods, their
// answers, and what the pass did.
type statusCase struct {
	name      string
	desired   int32
	clusterID string
	// before is the status the cluster had.
	before raftv1.RaftClusterStatus
	sts    int32 // StatefulSet replicas; 0: none
	// updateRevision and currentRevision are the StatefulSet's
	// status.updateRevision and status.currentRevision.
	updateRevision, currentRevision string
	pods                            []corev1.Pod
	statuses                        map[string]*serverpb.StatusResponse
	leader                          string // pod whose answer is the leader's
	action                          plan.Action
	paused                          bool
	err                             error
	// unobserved: the pass failed before observe completed.
	unobserved bool

	wantPhase raftv1.ClusterPhase
	// wantConditions are "Status/Reason" by condition type.
	wantConditions map[string]string
	wantReplicas   int32
	wantReady      int32
	wantLeader     string
	wantMembers    []raftv1.MemberStatus
	// wantMessage is in the Progressing condition's message.
	wantMessage string
}

func (c statusCase) pass() *pass {
	rc := cluster(c.desired, func(rc *raftv1.RaftCluster) {
		rc.Status = *c.before.DeepCopy()
		rc.Status.ClusterID = c.clusterID
	})
	p := &pass{cluster: rc, pods: c.pods, statuses: c.statuses, action: c.action, paused: c.paused, observed: !c.unobserved}
	if c.sts > 0 {
		p.sts = &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptrTo(c.sts)}, Status: appsv1.StatefulSetStatus{UpdateRevision: c.updateRevision, CurrentRevision: c.currentRevision}}
	}
	if c.leader != "" {
		p.leader = c.statuses[c.leader]
	}
	if p.observed {
		p.obs = observation(p)
	}
	return p
}

// ms is a member's status; one that answered has applied the leader's
// configuration unless stale says otherwise.
func ms(name, id string, role raftv1.MemberRole, ready bool, match int64) raftv1.MemberStatus {
	return raftv1.MemberStatus{Name: name, ID: id, Role: role, Ready: ready, MatchIndex: match, ConfigurationApplied: role != raftv1.RoleUnknown}
}

func stale(m raftv1.MemberStatus) raftv1.MemberStatus {
	m.ConfigurationApplied = false
	return m
}

func conds(available, degraded, progressing, changing string) map[string]string {
	return map[string]string{
		raftv1.ConditionAvailable:          available,
		raftv1.ConditionDegraded:           degraded,
		raftv1.ConditionProgressing:        progressing,
		raftv1.ConditionMembershipChanging: changing,
	}
}

// Condition shorthands.
const (
	availableTrue = "True/" + raftv1.ReasonReconciled
	noLeaderFalse = "False/" + raftv1.ReasonNoLeader
	noLeaderTrue  = "True/" + raftv1.ReasonNoLeader
	notDegraded   = "False/" + raftv1.ReasonReconciled
	notChanging   = "False/" + raftv1.ReasonReconciled
	reconciled    = "False/" + raftv1.ReasonReconciled
)

func TestComputeStatus(t *testing.T) {
	three := config{voters: []uint64{1, 2, 3}}
	steadyThree := map[string]*serverpb.StatusResponse{
		"demo-0": leaderStatus(1, three, 10),
		"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, three),
		"demo-2": memberStatus(3, serverpb.Role_ROLE_FOLLOWER, three),
	}
	steadyMembers := []raftv1.MemberStatus{
		ms("demo-0", "1", raftv1.RoleLeader, true, 10),
		ms("demo-1", "2", raftv1.RoleFollower, true, 10),
		ms("demo-2", "3", raftv1.RoleFollower, true, 10),
	}
	threePods := []corev1.Pod{testPod("demo-0"), testPod("demo-1"), testPod("demo-2")}
	steady := plan.Action{Kind: plan.Steady, Reason: "3 voters on pods 0..2, as specified"}
	learning := config{voters: []uint64{1}, learners: []uint64{2}}
	catchingUp := leaderStatus(1, learning, 10)
	catchingUp.Progress[1].MatchIndex = 3
	joint := config{voters: []uint64{1, 2, 3}, outgoing: []uint64{1}}
	newID := config{voters: []uint64{1, 2, 3}, names: map[uint64]string{9: "demo-2"}}
	newIDLearner := config{voters: []uint64{1, 2, 3}, learners: []uint64{9}, names: map[uint64]string{9: "demo-2"}}
	one := config{voters: []uint64{1}}
	stuckLearner := config{voters: []uint64{1, 2, 3}, learners: []uint64{8}, names: map[uint64]string{8: "demo-2"}}
	removed := func(id uint64) *serverpb.StatusResponse {
		s := memberStatus(id, serverpb.Role_ROLE_FOLLOWER, three)
		s.Removed = true
		return s
	}
	candidate := func(id uint64) *serverpb.StatusResponse {
		return memberStatus(id, serverpb.Role_ROLE_CANDIDATE, three)
	}

	for _, tc := range []statusCase{{
		name:           "not bootstrapped, nothing runs",
		desired:        3,
		action:         plan.Action{Kind: plan.SetReplicas, Replicas: 1},
		wantPhase:      raftv1.PhasePending,
		wantConditions: conds(noLeaderFalse, noLeaderTrue, "True/"+raftv1.ReasonBootstrapping, notChanging),
	}, {
		name:    "bootstrapping: pod 0 answers, no leader yet",
		desired: 3,
		sts:     1,
		pods:    []corev1.Pod{testPod("demo-0", notReady)},
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": {Header: &serverpb.ResponseHeader{MemberId: 1}, Self: testMember(1, nil), Role: serverpb.Role_ROLE_FOLLOWER},
		},
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CauseBootstrapping, Reason: "waiting for demo-0 to bootstrap a one-member cluster"},
		wantPhase:      raftv1.PhaseBootstrapping,
		wantConditions: conds(noLeaderFalse, noLeaderTrue, "True/"+raftv1.ReasonBootstrapping, notChanging),
		wantMembers:    []raftv1.MemberStatus{stale(ms("demo-0", "1", raftv1.RoleFollower, false, 0))},
	}, {
		name:           "bootstrap finished in this pass",
		desired:        1,
		clusterID:      "c1", // as FinishBootstrap recorded it
		sts:            1,
		pods:           []corev1.Pod{testPod("demo-0")},
		statuses:       map[string]*serverpb.StatusResponse{"demo-0": leaderStatus(1, one, 1)},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.FinishBootstrap, ClusterID: testClusterID},
		wantPhase:      raftv1.PhaseBootstrapping,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonBootstrapping, notChanging),
		wantReplicas:   1, wantReady: 1, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{ms("demo-0", "1", raftv1.RoleLeader, true, 1)},
	}, {
		name:           "steady, three voters",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		pods:           threePods,
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         steady,
		wantPhase:      raftv1.PhaseAvailable,
		wantConditions: conds(availableTrue, notDegraded, reconciled, notChanging),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:      "scaling up, a learner catching up",
		desired:   3,
		clusterID: "c1",
		sts:       3,
		pods:      []corev1.Pod{testPod("demo-0"), testPod("demo-1", notReady)},
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": catchingUp,
			"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, learning),
		},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CauseLearnerCatchingUp, Reason: "scaling to 3 voters: learner 2 (demo-1) catching up: 7 entries behind"},
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonLearnerCatchingUp, "True/"+raftv1.ReasonLearnerCatchingUp),
		wantReplicas:   1, wantReady: 1, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{ms("demo-0", "1", raftv1.RoleLeader, true, 10), ms("demo-1", "2", raftv1.RoleLearner, false, 3)},
	}, {
		name:      "joint configuration",
		desired:   3,
		clusterID: "c1",
		sts:       3,
		pods:      threePods,
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": leaderStatus(1, joint, 10),
			"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, joint),
			"demo-2": memberStatus(3, serverpb.Role_ROLE_FOLLOWER, joint),
		},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.LeaveJoint},
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonLeavingJoint, "True/"+raftv1.ReasonLeavingJoint),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:      "no leader",
		desired:   3,
		clusterID: "c1",
		before:    raftv1.RaftClusterStatus{Replicas: 3, ReadyReplicas: 3, Leader: "demo-0"},
		sts:       3,
		pods:      []corev1.Pod{testPod("demo-0", notReady), testPod("demo-1", notReady), testPod("demo-2", notReady)},
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": candidate(1), "demo-1": candidate(2), "demo-2": candidate(3),
		},
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CauseNoLeader, Reason: "no leader answered"},
		wantPhase:      raftv1.PhaseDegraded,
		wantConditions: conds(noLeaderFalse, noLeaderTrue, "True/"+raftv1.ReasonNoLeader, notChanging),
		wantReplicas:   3, // the last known voters stay, for the scale subresource
		wantMembers: []raftv1.MemberStatus{
			// No leader: nothing to have applied.
			stale(ms("demo-0", "1", raftv1.RoleCandidate, false, 0)),
			stale(ms("demo-1", "2", raftv1.RoleCandidate, false, 0)),
			stale(ms("demo-2", "3", raftv1.RoleCandidate, false, 0)),
		},
	}, {
		name:           "a voter not ready",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		pods:           []corev1.Pod{testPod("demo-0"), testPod("demo-1"), testPod("demo-2", notReady)},
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CausePodNotReady, Reason: "voter 3 (demo-2) is not healthy: pod demo-2 is not ready"},
		wantPhase:      raftv1.PhaseDegraded,
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonMembersNotReady, notChanging),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleFollower, false, 10)},
	}, {
		name:           "rolling restart: a follower's pod restarted",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		updateRevision: "rev2",
		pods:           []corev1.Pod{testPod("demo-0", revision("rev1")), testPod("demo-1", revision("rev1")), testPod("demo-2", revision("rev1"))},
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.RestartPod, Pods: []string{"demo-2"}, Ordinals: []int{2}},
		wantPhase:      raftv1.PhaseUpgrading,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonRollingRestart, notChanging),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:           "rolling restart: waiting for the restarted pod is Upgrading, not Degraded",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		updateRevision: "rev2",
		pods:           []corev1.Pod{testPod("demo-0", revision("rev1")), testPod("demo-1", revision("rev1")), testPod("demo-2", revision("rev2"), notReady)},
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CausePodNotReady, Reason: "rolling restart to revision rev2 waits for every pod: pod demo-2 is not ready"},
		wantPhase:      raftv1.PhaseUpgrading,
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonRollingRestart, notChanging),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleFollower, false, 10)},
	}, {
		name:            "rolling restart: the last restarted pod not ready yet is Upgrading, not Degraded",
		desired:         3,
		clusterID:       "c1",
		sts:             3,
		updateRevision:  "rev2",
		currentRevision: "rev1",
		pods:            []corev1.Pod{testPod("demo-0", revision("rev2")), testPod("demo-1", revision("rev2")), testPod("demo-2", revision("rev2"), notReady)},
		statuses:        steadyThree,
		leader:          "demo-0",
		action:          plan.Action{Kind: plan.Wait, Cause: plan.CausePodNotReady, Reason: "voter 3 (demo-2) is not healthy: pod demo-2 is not ready"},
		wantPhase:       raftv1.PhaseUpgrading,
		wantConditions:  conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonRollingRestart, notChanging),
		wantReplicas:    3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleFollower, false, 10)},
	}, {
		name:            "after the rolling restart, a pod not ready is Degraded again",
		desired:         3,
		clusterID:       "c1",
		sts:             3,
		updateRevision:  "rev2",
		currentRevision: "rev2",
		pods:            []corev1.Pod{testPod("demo-0", revision("rev2")), testPod("demo-1", revision("rev2")), testPod("demo-2", revision("rev2"), notReady)},
		statuses:        steadyThree,
		leader:          "demo-0",
		action:          plan.Action{Kind: plan.Wait, Cause: plan.CausePodNotReady, Reason: "voter 3 (demo-2) is not healthy: pod demo-2 is not ready"},
		wantPhase:       raftv1.PhaseDegraded,
		wantConditions:  conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonMembersNotReady, notChanging),
		wantReplicas:    3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleFollower, false, 10)},
	}, {
		name:           "a pod that cannot run says so, even during a rolling restart",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		updateRevision: "rev2",
		pods:           []corev1.Pod{testPod("demo-0", revision("rev1")), testPod("demo-1", revision("rev1")), testPod("demo-2", revision("rev2"), notReady)},
		statuses:       steadyThree,
		leader:         "demo-0",
		action: plan.Action{Kind: plan.Wait, Cause: plan.CausePodCannotRun, Reason: "rolling restart to revision rev2 waits for every pod: pod demo-2 cannot run: ImagePullBackOff",
			Blocked: []plan.Blocked{{Cause: plan.CausePodCannotRun, Text: "pod demo-2 cannot run: ImagePullBackOff"}}},
		wantPhase:      raftv1.PhaseUpgrading,
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonPodCannotRun, notChanging),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleFollower, false, 10)},
		wantMessage: "cannot run: ImagePullBackOff",
	}, {
		name:           "the leader answers for another cluster",
		desired:        3,
		clusterID:      "c2",
		sts:            3,
		pods:           threePods,
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CauseClusterMismatch, Reason: "the leader answers for cluster c1, but status.clusterID is c2"},
		wantPhase:      raftv1.PhaseAvailable,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonClusterIDMismatch, notChanging),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:           "rolling restart: leadership moves off the last outdated pod",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		updateRevision: "rev2",
		pods:           []corev1.Pod{testPod("demo-0", revision("rev1")), testPod("demo-1", revision("rev2")), testPod("demo-2", revision("rev2"))},
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.TransferLeadership, TransferTo: 2, Ordinals: []int{1}},
		wantPhase:      raftv1.PhaseUpgrading,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonRollingRestart, "True/"+raftv1.ReasonRollingRestart),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:           "a voter without a pod is listed",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		pods:           threePods[:2],
		statuses:       map[string]*serverpb.StatusResponse{"demo-0": steadyThree["demo-0"], "demo-1": steadyThree["demo-1"]},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.Wait, Cause: plan.CausePodNotReady, Reason: "voter 3 (demo-2) is not healthy: pod demo-2 does not exist"},
		wantPhase:      raftv1.PhaseDegraded,
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonMembersNotReady, notChanging),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{steadyMembers[0], steadyMembers[1], ms("demo-2", "3", raftv1.RoleUnknown, false, 10)},
	}, {
		name:      "a pod back with a new id, not added yet",
		desired:   3,
		clusterID: "c1",
		sts:       3,
		pods:      threePods,
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": leaderStatus(1, newID, 10),
			"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, newID),
			"demo-2": {Header: &serverpb.ResponseHeader{MemberId: 9}, Self: testMember(9, newID.names), Role: serverpb.Role_ROLE_FOLLOWER},
		},
		leader:    "demo-0",
		action:    plan.Action{Kind: plan.AddLearner, Member: plan.Member{ID: 9, Name: "demo-2"}},
		wantPhase: raftv1.PhaseScaling,
		// Voter 3 runs nowhere: its pod runs a new member.
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonReplacingMember, "True/"+raftv1.ReasonReplacingMember),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{
			steadyMembers[0], steadyMembers[1],
			{Name: "demo-2", ID: "9", ReplacesID: "3", Role: raftv1.RoleFollower, Ready: true},
		},
	}, {
		name:      "a pod back with a new id, added as a learner",
		desired:   3,
		clusterID: "c1",
		sts:       3,
		pods:      threePods,
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": leaderStatus(1, newIDLearner, 10),
			"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, newIDLearner),
			"demo-2": memberStatus(9, serverpb.Role_ROLE_FOLLOWER, newIDLearner),
		},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.ReplaceMembers, Promote: []uint64{9}, Remove: []uint64{3}},
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, "True/"+raftv1.ReasonMembersNotReady, "True/"+raftv1.ReasonReplacingMember, "True/"+raftv1.ReasonReplacingMember),
		wantReplicas:   3, wantReady: 2, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{
			steadyMembers[0], steadyMembers[1],
			{Name: "demo-2", ID: "9", ReplacesID: "3", Role: raftv1.RoleLearner, Ready: true, MatchIndex: 10, ConfigurationApplied: true},
		},
	}, {
		name:      "a stuck learner under the name of a pod that runs its voter",
		desired:   3,
		clusterID: "c1",
		sts:       3,
		pods:      threePods,
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": leaderStatus(1, stuckLearner, 10),
			"demo-1": memberStatus(2, serverpb.Role_ROLE_FOLLOWER, stuckLearner),
			"demo-2": memberStatus(3, serverpb.Role_ROLE_FOLLOWER, stuckLearner),
		},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.RemoveLearners, Remove: []uint64{8}},
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonScalingDown, "True/"+raftv1.ReasonScalingDown),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:      "scaled down: lowering the StatefulSet",
		desired:   1,
		clusterID: "c1",
		sts:       3,
		pods:      threePods,
		statuses: map[string]*serverpb.StatusResponse{
			"demo-0": leaderStatus(1, one, 12), "demo-1": removed(2), "demo-2": removed(3),
		},
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.SetReplicas, Replicas: 1},
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonScalingDown, notChanging),
		wantReplicas:   1, wantReady: 1, wantLeader: "demo-0",
		wantMembers: []raftv1.MemberStatus{
			ms("demo-0", "1", raftv1.RoleLeader, true, 12),
			// The removed members still hold the configuration that had them.
			stale(ms("demo-1", "2", raftv1.RoleRemoved, true, 0)),
			stale(ms("demo-2", "3", raftv1.RoleRemoved, true, 0)),
		},
	}, {
		name:           "paused",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		pods:           threePods,
		statuses:       steadyThree,
		leader:         "demo-0",
		paused:         true,
		wantPhase:      raftv1.PhasePaused,
		wantConditions: conds(availableTrue, notDegraded, "False/"+raftv1.ReasonPaused, notChanging),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
	}, {
		name:           "a step failed",
		desired:        3,
		clusterID:      "c1",
		sts:            3,
		pods:           threePods,
		statuses:       steadyThree,
		leader:         "demo-0",
		action:         plan.Action{Kind: plan.TransferLeadership, TransferTo: 2},
		err:            errors.New("TransferLeadership to=2: injected"),
		wantPhase:      raftv1.PhaseScaling,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonReconcileError, "True/"+raftv1.ReasonTransferringLeadership),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
		wantMessage: "injected",
	}, {
		name:      "failed before observing: the last status stands",
		desired:   3,
		clusterID: "c1",
		before: raftv1.RaftClusterStatus{
			Replicas: 3, ReadyReplicas: 3, Leader: "demo-0", Members: steadyMembers, Phase: raftv1.PhaseAvailable,
			Conditions: []metav1.Condition{
				{Type: raftv1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: raftv1.ReasonReconciled},
				{Type: raftv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: raftv1.ReasonReconciled},
				{Type: raftv1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: raftv1.ReasonReconciled},
				{Type: raftv1.ConditionMembershipChanging, Status: metav1.ConditionFalse, Reason: raftv1.ReasonReconciled},
			},
		},
		unobserved:     true,
		err:            errors.New("list pods: connection refused"),
		wantPhase:      raftv1.PhaseAvailable,
		wantConditions: conds(availableTrue, notDegraded, "True/"+raftv1.ReasonReconcileError, notChanging),
		wantReplicas:   3, wantReady: 3, wantLeader: "demo-0",
		wantMembers: steadyMembers,
		wantMessage: "connection refused",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pass()
			computeStatus(p, tc.err)
			s := p.cluster.Status
			if s.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", s.Phase, tc.wantPhase)
			}
			got := map[string]string{}
			for _, c := range s.Conditions {
				got[c.Type] = string(c.Status) + "/" + c.Reason
			}
			if !reflect.DeepEqual(got, tc.wantConditions) {
				t.Errorf("conditions\n got %v\nwant %v", got, tc.wantConditions)
			}
			if s.Replicas != tc.wantReplicas || s.ReadyReplicas != tc.wantReady || s.Leader != tc.wantLeader {
				t.Errorf("replicas %d, ready %d, leader %q; want %d, %d, %q", s.Replicas, s.ReadyReplicas, s.Leader, tc.wantReplicas, tc.wantReady, tc.wantLeader)
			}
			if (len(s.Members) != 0 || len(tc.wantMembers) != 0) && !reflect.DeepEqual(s.Members, tc.wantMembers) {
				t.Errorf("members\n got %s\nwant %s", dump(s.Members), dump(tc.wantMembers))
			}
			if want := selectorString(p.cluster); s.Selector != want {
				t.Errorf("selector %q, want %q", s.Selector, want)
			}
			if c := s.Condition(raftv1.ConditionProgressing); c == nil || !strings.Contains(c.Message, tc.wantMessage) {
				t.Errorf("Progressing %+v, want a message with %q", c, tc.wantMessage)
			}
			if !tc.unobserved && s.ObservedGeneration != p.cluster.Generation {
				t.Errorf("observedGeneration %d, want %d", s.ObservedGeneration, p.cluster.Generation)
			}
		})
	}
}

// The members are listed in ordinal order, then by name, whatever the
// order of the configuration: a status that differs only in order would be
// written on every pass.
func TestMemberStatusesOrder(t *testing.T) {
	c := config{voters: []uint64{1, 2, 3, 4, 5}, names: map[uint64]string{1: "demo-10", 2: "demo-2", 3: "zed", 4: "alpha", 5: "demo-0"}}
	p := &pass{cluster: cluster(3), leader: leaderStatus(5, c, 1)}
	var names []string
	for _, m := range memberStatuses(p) {
		names = append(names, m.Name)
	}
	if want := []string{"alpha", "zed", "demo-0", "demo-2", "demo-10"}; !reflect.DeepEqual(names, want) {
		t.Errorf("members %v, want %v", names, want)
	}
}
