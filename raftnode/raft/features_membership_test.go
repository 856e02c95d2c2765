package raft

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft/confchange"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Feature tests for membership: learners, one-step changes (ConfChange) and
// joint consensus (ConfChangeV2).

func addNode(id uint64) pb.ConfChangeSingle {
	return pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeID: id}
}

func removeNode(id uint64) pb.ConfChangeSingle {
	return pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeID: id}
}

// configOf returns member id's configuration in force.
func configOf(nw *network, id uint64) pb.ConfState {
	return nw.member(id).raft().trk.ConfState()
}

// mustRefuse proposes cc on the leader and fails unless it is refused with
// ErrConfChangeRefused (and want, if set) without anything being appended.
func mustRefuse(t *testing.T, nw *network, leader uint64, cc pb.ConfChangeI, want error) {
	t.Helper()
	r := nw.member(leader).raft()
	last, pending := r.raftLog.lastIndex(), r.pendingConfIndex
	err := nw.member(leader).rn.ProposeConfChange(cc)
	if !errors.Is(err, ErrConfChangeRefused) {
		t.Fatalf("ProposeConfChange(%+v) = %v, want ErrConfChangeRefused", cc, err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("ProposeConfChange(%+v) = %v, want it to wrap %v", cc, err, want)
	}
	if r.raftLog.lastIndex() != last || r.pendingConfIndex != pending {
		t.Fatalf("a refused change was appended: last index %d -> %d, pending %d -> %d",
			last, r.raftLog.lastIndex(), pending, r.pendingConfIndex)
	}
	nw.stabilize()
}

// Candidates ask only voters; a learner's vote would not count anyway.
func TestFeatureLearnerNeverVotes(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	rec := recordMsgs(nw, nil)
	nw.campaign(1)
	nw.mustLeader(1)
	if n := rec.count(func(m pb.Message) bool { return m.Type == pb.MsgVote && m.To == 3 }); n != 0 {
		t.Fatalf("a learner was asked for its vote %d times", n)
	}

	nw2 := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	nw2.isolate(2)
	nw2.campaign(1)
	r1 := nw2.member(1).raft()
	if err := nw2.member(1).rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 3, To: 1, Term: r1.Term}); err != nil {
		t.Fatal(err)
	}
	if r1.state != StateCandidate {
		t.Fatalf("a learner's vote made 1 %s; voters are 1 and 2", r1.state)
	}
}

// Learners receive the log but do not count toward commit.
func TestFeatureLearnerNotCountedTowardCommit(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	nw.isolate(2)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	lead := nw.member(1).raft()
	last := lead.raftLog.lastIndex()
	if got := nw.member(3).raft().raftLog.lastIndex(); got != last {
		t.Fatalf("learner's last index %d, want %d: it should receive entries", got, last)
	}
	if lead.raftLog.committed >= last || len(nw.member(1).appliedData()) != 0 {
		t.Fatalf("committed %d of %d with the leader and a learner only", lead.raftLog.committed, last)
	}
	nw.heal()
	nw.tick(2)
	for _, id := range []uint64{1, 2, 3} {
		if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("member %d applied %v, want [x]", id, got)
		}
	}
	nw.checkAppliedAgree()
}

func TestFeatureLearnerCannotCampaign(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	rec := recordMsgs(nw, nil)
	nw.campaign(3)
	r3 := nw.member(3).raft()
	if r3.state != StateFollower || r3.Term != 1 {
		t.Fatalf("learner after Campaign: %s at term %d", r3.state, r3.Term)
	}
	// Even when the leader is gone for good, a learner never stands.
	nw.isolate(1)
	for range 60 {
		nw.tick(1)
		if r3.state != StateFollower {
			t.Fatalf("learner became %s", r3.state)
		}
	}
	from3 := rec.count(func(m pb.Message) bool {
		return m.From == 3 && (m.Type == pb.MsgVote || m.Type == pb.MsgPreVote)
	})
	if from3 != 0 {
		t.Fatalf("learner sent %d vote requests", from3)
	}
}

// Promoting a learner (AddNode) makes it count: with 2 cut off, 1 and 3 commit.
func TestFeatureLearnerPromotion(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	if cs := configOf(nw, 1); !slices.Equal(cs.Voters, []uint64{1, 2, 3}) || len(cs.Learners) != 0 {
		t.Fatalf("config after promotion %+v", cs)
	}
	nw.isolate(2)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(1).appliedData(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("leader applied %v: the promoted member does not count", got)
	}
}

func TestFeatureConfChangeV1AddNode(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	for _, id := range []uint64{1, 2, 3, 4} {
		if cs := configOf(nw, id); !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) {
			t.Fatalf("member %d config %+v, want voters 1..4", id, cs)
		}
	}
	// Four voters need three for a quorum: 1 and 4 alone cannot commit.
	nw.isolate(2)
	nw.isolate(3)
	if err := nw.propose(1, "y"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(1).appliedData(); len(got) != 0 {
		t.Fatalf("committed %v with two of four voters", got)
	}
	nw.heal()
	nw.isolate(2)
	nw.tick(2)
	for _, id := range []uint64{1, 3, 4} {
		if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"y"}) {
			t.Fatalf("member %d applied %v, want [y]", id, got)
		}
	}
	nw.checkAppliedAgree()
}

func TestFeatureConfChangeV1RemoveNode(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2} {
		if cs := configOf(nw, id); !slices.Equal(cs.Voters, []uint64{1, 2}) {
			t.Fatalf("member %d config %+v, want voters 1 2", id, cs)
		}
	}
	if _, ok := nw.member(1).raft().trk.Progress[3]; ok {
		t.Fatalf("the leader still tracks the removed member")
	}
	if err := nw.propose(1, "after"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("2 applied %v", got)
	}
	if got := nw.member(3).appliedData(); slices.Contains(got, "after") {
		t.Fatalf("the removed member applied an entry proposed after its removal")
	}
	// Two voters: both are needed.
	nw.isolate(2)
	if err := nw.propose(1, "alone"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(1).appliedData(); slices.Contains(got, "alone") {
		t.Fatalf("committed with one of two voters")
	}
}

func TestFeatureConfChangeV1AddLearner(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	cs := configOf(nw, 1)
	if !slices.Equal(cs.Voters, threeVoters) || !slices.Equal(cs.Learners, []uint64{4}) {
		t.Fatalf("config %+v, want voters 1..3 and learner 4", cs)
	}
	if pr := progressOf(nw, 1, 4); pr == nil || !pr.IsLearner {
		t.Fatalf("leader's progress of 4: %v", pr)
	}
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(4).appliedData(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("learner applied %v, want [x]", got)
	}
	if !nw.member(4).raft().isLearner {
		t.Fatalf("member 4 does not know it is a learner")
	}
}

// One change at a time: a second change is refused until the first is applied.
func TestFeatureConfChangeOnePending(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	lead := nw.member(1).rn
	if err := lead.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, nw, 1, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 5}, ErrConfChangePending)
	// mustRefuse delivered the first change; now the next is accepted.
	if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 5}); err != nil {
		t.Fatalf("change after the first was applied: %v", err)
	}
	if cs := configOf(nw, 1); !slices.Equal(cs.Learners, []uint64{4, 5}) {
		t.Fatalf("learners %v, want [4 5]", cs.Learners)
	}
}

// Changing two voters at once with the automatic transition goes through joint
// consensus and leaves it by itself.
func TestFeatureJointAuto(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	nw.addEmptyMember(5)
	cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{addNode(4), addNode(5)}}
	if err := nw.proposeConfChange(1, cc); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	got := nw.member(1).confStates
	if len(got) != 2 {
		t.Fatalf("configurations applied: %+v, want joint then final", got)
	}
	if joint := got[0]; !slices.Equal(joint.Voters, []uint64{1, 2, 3, 4, 5}) || !slices.Equal(joint.VotersOutgoing, threeVoters) || !joint.AutoLeave {
		t.Fatalf("first configuration %+v, want joint (1..5)&&(1 2 3) with auto leave", joint)
	}
	if final := got[1]; !slices.Equal(final.Voters, []uint64{1, 2, 3, 4, 5}) || len(final.VotersOutgoing) != 0 || final.AutoLeave {
		t.Fatalf("second configuration %+v, want voters 1..5, not joint", final)
	}
	nw.checkAppliedAgree()
}

// One voter change with the automatic transition is a simple change.
func TestFeatureJointAutoSingleChangeIsSimple(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	if err := nw.proposeConfChange(1, pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{addNode(4)}}); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	got := nw.member(1).confStates
	if len(got) != 1 || len(got[0].VotersOutgoing) != 0 || !slices.Equal(got[0].Voters, []uint64{1, 2, 3, 4}) {
		t.Fatalf("configurations applied: %+v, want one simple change to voters 1..4", got)
	}
}

// The implicit transition uses joint consensus even for one change, and leaves
// it by itself.
func TestFeatureJointImplicit(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	cc := pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointImplicit, Changes: []pb.ConfChangeSingle{addNode(4)}}
	if err := nw.proposeConfChange(1, cc); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	got := nw.member(1).confStates
	if len(got) != 2 || !slices.Equal(got[0].VotersOutgoing, threeVoters) || !got[0].AutoLeave || len(got[1].VotersOutgoing) != 0 {
		t.Fatalf("configurations applied: %+v, want joint with auto leave, then left", got)
	}
	if cs := configOf(nw, 4); !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) || len(cs.VotersOutgoing) != 0 {
		t.Fatalf("new member's config %+v", cs)
	}
}

// The explicit transition stays joint until the caller leaves; meanwhile any
// other change is refused.
func TestFeatureJointExplicit(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	cc := pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointExplicit, Changes: []pb.ConfChangeSingle{addNode(4)}}
	if err := nw.proposeConfChange(1, cc); err != nil {
		t.Fatal(err)
	}
	nw.tick(20)
	if got := nw.member(1).confStates; len(got) != 1 || got[0].AutoLeave || !slices.Equal(got[0].VotersOutgoing, threeVoters) {
		t.Fatalf("configurations applied: %+v, want one joint configuration without auto leave", got)
	}
	if !nw.member(1).raft().trk.Config.IsJoint() {
		t.Fatalf("left the joint configuration by itself")
	}

	mustRefuse(t, nw, 1, pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{addNode(5)}}, ErrConfChangePending)
	mustRefuse(t, nw, 1, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 5}, ErrConfChangePending)

	if err := nw.proposeConfChange(1, pb.ConfChangeV2{}); err != nil {
		t.Fatalf("leave joint: %v", err)
	}
	for _, id := range []uint64{1, 2, 3, 4} {
		if cs := configOf(nw, id); !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) || len(cs.VotersOutgoing) != 0 {
			t.Fatalf("member %d after leaving: %+v", id, cs)
		}
	}
	nw.checkAppliedAgree()
}

func TestFeatureJointLeaveRefusedWhenNotJoint(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	mustRefuse(t, nw, 1, pb.ConfChangeV2{}, ErrNotJoint)
}

// While joint, commit needs a majority of both halves: here (1 2 4)&&(1 2 3).
func TestFeatureJointNeedsBothMajorities(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.addEmptyMember(4)
	cc := pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointExplicit,
		Changes: []pb.ConfChangeSingle{addNode(4), removeNode(3)}}
	if err := nw.proposeConfChange(1, cc); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	if cs := configOf(nw, 1); !slices.Equal(cs.Voters, []uint64{1, 2, 4}) || !slices.Equal(cs.VotersOutgoing, threeVoters) {
		t.Fatalf("config %+v, want (1 2 4)&&(1 2 3)", cs)
	}
	// 1 and 4 are a majority of the incoming half, 1 alone is not one of the outgoing.
	nw.isolate(2)
	nw.isolate(3)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(1).appliedData(); len(got) != 0 {
		t.Fatalf("committed %v without a majority of the outgoing half", got)
	}
	// With 3 back, 1 and 3 make the outgoing majority.
	nw.heal()
	nw.isolate(2)
	nw.tick(2)
	if got := nw.member(1).appliedData(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("leader applied %v, want [x]", got)
	}
}

// A change that would leave no voter is refused at propose time, nothing appended.
func TestFeatureConfChangeInvalidRefused(t *testing.T) {
	t.Run("v2 removing every voter", func(t *testing.T) {
		nw := newNetwork(t, threeVoters)
		nw.campaign(1)
		cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{removeNode(1), removeNode(2), removeNode(3)}}
		mustRefuse(t, nw, 1, cc, confchange.ErrRemovedAllVoters)
		// Nothing is pending: a valid change goes through.
		if err := nw.proposeConfChange(1, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 3}); err != nil {
			t.Fatalf("valid change after a refused one: %v", err)
		}
	})
	t.Run("v1 removing the only voter", func(t *testing.T) {
		nw := newNetwork(t, []uint64{1})
		nw.campaign(1)
		mustRefuse(t, nw, 1, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}, confchange.ErrRemovedAllVoters)
	})
	t.Run("unknown change type", func(t *testing.T) {
		nw := newNetwork(t, threeVoters)
		nw.campaign(1)
		cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeType(42), NodeID: 4}}}
		mustRefuse(t, nw, 1, cc, confchange.ErrUnknownChangeType)
	})
}
