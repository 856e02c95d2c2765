package raft

import (
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func TestSingleVoterCommits(t *testing.T) {
	nw := newNetwork(t, []uint64{1})
	nw.campaign(1)
	nw.mustLeader(1)
	for _, d := range []string{"a", "b", "c"} {
		if err := nw.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := nw.member(1).appliedData(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

func TestThreeVotersReplicateAndFailOver(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	nw.mustLeader(1)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	// A follower forwards its proposal.
	if err := nw.propose(2, "y"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2, 3} {
		if got, want := nw.member(id).appliedData(), []string{"x", "y"}; !slices.Equal(got, want) {
			t.Fatalf("member %d applied %v, want %v", id, got, want)
		}
	}
	nw.isolate(1)
	nw.campaign(2)
	nw.mustLeader(2)
	if err := nw.propose(2, "z"); err != nil {
		t.Fatal(err)
	}
	nw.heal()
	nw.tick(3)
	for _, id := range []uint64{1, 2, 3} {
		if got, want := nw.member(id).appliedData(), []string{"x", "y", "z"}; !slices.Equal(got, want) {
			t.Fatalf("member %d applied %v, want %v", id, got, want)
		}
	}
	nw.checkAppliedAgree()
}

func TestJointAddTwoVotersAutoLeave(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	nw.addEmptyMember(4)
	nw.addEmptyMember(5)
	cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{
		{Type: pb.ConfChangeAddNode, NodeID: 4}, {Type: pb.ConfChangeAddNode, NodeID: 5},
	}}
	if err := nw.proposeConfChange(1, cc); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	cs := nw.member(1).raft().trk.ConfState()
	if !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4, 5}) || len(cs.VotersOutgoing) != 0 {
		t.Fatalf("config %+v, want voters 1..5 and not joint", cs)
	}
	for _, id := range []uint64{4, 5} {
		if got := nw.member(id).raft().trk.ConfState(); !slices.Equal(got.Voters, cs.Voters) {
			t.Fatalf("member %d has config %+v", id, got)
		}
	}
	nw.checkAppliedAgree()
}
