package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Feature tests for elections: pre-vote, check-quorum, priorities and
// leadership transfer.

// A pre-candidate asks before it raises its term, so a member cut off from the
// cluster keeps its term however long it tries.
func TestFeaturePreVoteCandidateKeepsTerm(t *testing.T) {
	nw := newNetwork(t, threeVoters, withPreVote)
	nw.campaign(1)
	nw.mustLeader(1)
	term := nw.member(1).raft().Term

	nw.isolate(3)
	nw.campaign(3)
	r3 := nw.member(3).raft()
	if r3.state != StatePreCandidate || r3.Term != term {
		t.Fatalf("isolated member campaigning: %s at term %d, want pre-candidate at %d", r3.state, r3.Term, term)
	}
	nw.tick(50)
	if r3.Term != term {
		t.Fatalf("isolated pre-candidate raised its term to %d (was %d)", r3.Term, term)
	}
	if r3.Vote == 3 {
		t.Fatalf("a pre-candidate voted for itself")
	}
}

// A member that rejoins after a partition does not disrupt the leader with pre-vote;
// without pre-vote it does (the control case, so the scenario is known to bite).
func TestFeaturePreVoteRejoinDoesNotDisrupt(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		name := map[bool]string{true: "pre-vote", false: "no pre-vote"}[preVote]
		t.Run(name, func(t *testing.T) {
			nw := newNetwork(t, threeVoters, func(c *Config) { c.PreVote = preVote })
			nw.campaign(1)
			term := nw.member(1).raft().Term
			nw.isolate(3)
			if err := nw.propose(1, "x"); err != nil {
				t.Fatal(err)
			}
			nw.tick(50)
			nw.heal()
			nw.tick(50)

			disrupted := nw.leader() != 1 || nw.member(1).raft().Term != term
			if preVote && disrupted {
				t.Fatalf("rejoining member disrupted the cluster: leader %d at term %d (was 1 at %d)",
					nw.leader(), nw.member(nw.leader()).raft().Term, term)
			}
			if !preVote && !disrupted {
				t.Fatalf("control case: without pre-vote the rejoining member should have raised the term")
			}
			if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"x"}) {
				t.Fatalf("rejoined member applied %v, want [x]", got)
			}
			nw.checkAppliedAgree()
		})
	}
}

// With check-quorum a leader that hears from no quorum for an election timeout
// steps down; without it, it stays leader forever.
func TestFeatureCheckQuorumLeaderStepsDown(t *testing.T) {
	for _, cq := range []bool{true, false} {
		name := map[bool]string{true: "check-quorum", false: "no check-quorum"}[cq]
		t.Run(name, func(t *testing.T) {
			nw := newNetwork(t, threeVoters, func(c *Config) { c.CheckQuorum = cq })
			nw.campaign(1)
			nw.isolate(1)
			steppedDownAt := 0
			for i := 1; i <= 60 && steppedDownAt == 0; i++ {
				nw.tick(1)
				if nw.member(1).raft().state != StateLeader {
					steppedDownAt = i
				}
			}
			const electionTick = 10
			switch {
			case cq && (steppedDownAt <= electionTick || steppedDownAt > 2*electionTick):
				t.Fatalf("stepped down at tick %d, want within (%d, %d]", steppedDownAt, electionTick, 2*electionTick)
			case !cq && steppedDownAt != 0:
				t.Fatalf("stepped down at tick %d without check-quorum", steppedDownAt)
			}
		})
	}
}

// With check-quorum, members that hear from a leader ignore vote requests: a
// member that merely timed out (say, a slow link) cannot depose a healthy leader.
func TestFeatureCheckQuorumFollowersIgnoreVotesInLease(t *testing.T) {
	for _, cq := range []bool{true, false} {
		name := map[bool]string{true: "check-quorum", false: "no check-quorum"}[cq]
		t.Run(name, func(t *testing.T) {
			nw := newNetwork(t, threeVoters, func(c *Config) { c.CheckQuorum = cq })
			nw.campaign(1)
			rec := recordMsgs(nw, nil)
			nw.campaign(3)
			granted := rec.count(func(m pb.Message) bool { return m.Type == pb.MsgVoteResp && !m.Reject })
			if cq {
				if granted != 0 || rec.count(msgOfType(pb.MsgVoteResp)) != 0 {
					t.Fatalf("members in lease answered vote requests (%d granted)", granted)
				}
				nw.mustLeader(1)
				if r2 := nw.member(2).raft(); r2.Term != 1 || r2.Vote != 1 {
					t.Fatalf("follower 2 moved to term %d vote %d", r2.Term, r2.Vote)
				}
				return
			}
			// Control: without check-quorum the vote goes through.
			nw.mustLeader(3)
		})
	}
}

// A campaign forced by a leadership transfer (MsgTimeoutNow) overrides the lease
// and skips pre-vote: the leader itself asked for it.
func TestFeatureCheckQuorumTransferOverridesLease(t *testing.T) {
	nw := newNetwork(t, threeVoters, withCheckQuorum, withPreVote)
	nw.campaign(1)
	rec := recordMsgs(nw, nil)
	nw.member(1).rn.TransferLeader(2)
	nw.stabilize()
	nw.mustLeader(2)
	if term := nw.member(2).raft().Term; term != 2 {
		t.Fatalf("new leader at term %d, want 2", term)
	}
	if n := rec.count(msgOfType(pb.MsgPreVote)); n != 0 {
		t.Fatalf("transfer campaign sent %d pre-votes", n)
	}
	votes := rec.count(func(m pb.Message) bool {
		return m.Type == pb.MsgVote && string(m.Context) == string(campaignTransfer)
	})
	if votes != 2 {
		t.Fatalf("%d vote requests marked as a transfer, want 2", votes)
	}
}

// Between equally up-to-date candidates a voter grants its vote only to one of at
// least its own priority.
func TestFeaturePriorityEqualLogs(t *testing.T) {
	nw := newNetwork(t, threeVoters, withPriorityByID)
	rec := recordMsgs(nw, nil)
	nw.campaign(1)
	if st := nw.member(1).raft().state; st == StateLeader {
		t.Fatalf("lowest-priority member won")
	}
	rejections := rec.count(func(m pb.Message) bool { return m.Type == pb.MsgVoteResp && m.To == 1 && m.Reject })
	if rejections != 2 {
		t.Fatalf("%d rejections of the lowest-priority candidate, want 2", rejections)
	}

	// Member 2 gets 1's vote (2 >= 1) but not 3's (2 < 3): still a quorum.
	rec.msgs = nil
	nw.campaign(2)
	nw.mustLeader(2)
	grantedBy := func(from uint64) bool {
		return rec.count(func(m pb.Message) bool {
			return m.Type == pb.MsgVoteResp && m.From == from && m.To == 2 && !m.Reject
		}) == 1
	}
	if !grantedBy(1) || grantedBy(3) {
		t.Fatalf("votes for 2: from 1 %v, from 3 %v; want only 1's", grantedBy(1), grantedBy(3))
	}

	// The highest-priority member wins against anyone.
	nw.campaign(3)
	nw.mustLeader(3)

	// SetPriority takes effect at the next campaign.
	nw.member(1).rn.SetPriority(10)
	nw.campaign(1)
	nw.mustLeader(1)
	nw.checkAppliedAgree()
}

// A strictly more up-to-date log wins the vote regardless of priorities: the
// leader must hold every committed entry.
func TestFeaturePriorityMoreUpToDateLogWins(t *testing.T) {
	nw := newNetwork(t, threeVoters, withPriorityByID)
	nw.campaign(3)
	nw.mustLeader(3)
	nw.isolate(2)
	if err := nw.propose(3, "x"); err != nil {
		t.Fatal(err)
	}
	// 1 (priority 1) holds x; 2 (priority 2) does not.
	nw.heal()
	nw.isolate(3)
	nw.campaign(1)
	nw.mustLeader(1)
	if err := nw.propose(1, "y"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("2 applied %v, want [x y]", got)
	}
}

// Leadership transfer overrides priorities: a leader can hand over to any voter.
func TestFeaturePriorityIgnoredByTransfer(t *testing.T) {
	nw := newNetwork(t, threeVoters, withPriorityByID)
	nw.campaign(3)
	nw.member(3).rn.TransferLeader(1)
	nw.stabilize()
	nw.mustLeader(1)
}

func TestFeatureTransferToUpToDateFollower(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	if err := nw.propose(1, "a"); err != nil {
		t.Fatal(err)
	}
	rec := recordMsgs(nw, nil)
	nw.member(1).rn.TransferLeader(2)
	nw.stabilize()
	nw.mustLeader(2)
	if len(rec.msgs) == 0 || rec.msgs[0].Type != pb.MsgTimeoutNow || rec.msgs[0].To != 2 {
		t.Fatalf("first message after the transfer request: %+v, want MsgTimeoutNow to 2", rec.msgs)
	}
	if term := nw.member(2).raft().Term; term != 2 {
		t.Fatalf("new leader's term %d, want 2", term)
	}
	if err := nw.propose(2, "b"); err != nil {
		t.Fatal(err)
	}
	for _, id := range threeVoters {
		if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("member %d applied %v", id, got)
		}
	}
	nw.checkAppliedAgree()
}

// A lagging transferee is first brought up to date; proposals are refused
// meanwhile, so the transferee does not fall behind again.
func TestFeatureTransferToLaggingFollowerAfterCatchUp(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.isolate(3)
	for _, d := range []string{"a", "b"} {
		if err := nw.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	nw.heal()
	last := nw.member(1).raft().raftLog.lastIndex()
	rec := recordMsgs(nw, nil)

	nw.member(1).rn.TransferLeader(3)
	if err := nw.member(1).rn.Propose([]byte("during")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during the transfer: %v, want ErrProposalDropped", err)
	}
	nw.stabilize()
	nw.mustLeader(3)

	timeoutAt := rec.first(msgOfType(pb.MsgTimeoutNow))
	caughtUpAt := rec.first(func(m pb.Message) bool {
		return m.Type == pb.MsgAppResp && m.From == 3 && !m.Reject && m.Index == last
	})
	if caughtUpAt < 0 || timeoutAt < caughtUpAt {
		t.Fatalf("MsgTimeoutNow at message %d, 3 caught up at %d: the transfer must wait for the catch-up", timeoutAt, caughtUpAt)
	}
	if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("3 applied %v", got)
	}
	nw.checkAppliedAgree()
}

// A transfer that cannot finish is abandoned after an election timeout, and the
// leader accepts proposals again.
func TestFeatureTransferAbortedAfterElectionTimeout(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.isolate(3)
	lead := nw.member(1).rn
	lead.TransferLeader(3)
	nw.stabilize()
	if got := lead.BasicStatus().LeadTransferee; got != 3 {
		t.Fatalf("LeadTransferee = %d, want 3", got)
	}
	nw.tick(9)
	if got := lead.BasicStatus().LeadTransferee; got != 3 {
		t.Fatalf("transfer abandoned before the election timeout")
	}
	if err := lead.Propose([]byte("early")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during the transfer: %v", err)
	}
	nw.tick(1)
	if got := lead.BasicStatus().LeadTransferee; got != None {
		t.Fatalf("transfer still pending after an election timeout (to %d)", got)
	}
	nw.mustLeader(1)
	if err := nw.propose(1, "after"); err != nil {
		t.Fatalf("proposal after the abandoned transfer: %v", err)
	}
	if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("2 applied %v", got)
	}
}

func TestFeatureTransferIgnored(t *testing.T) {
	tests := []struct {
		name       string
		transferee uint64
	}{
		{"to a learner", 4},
		{"to the leader itself", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetworkWithLearners(t, threeVoters, []uint64{4})
			nw.campaign(1)
			rec := recordMsgs(nw, nil)
			nw.member(1).rn.TransferLeader(tt.transferee)
			nw.stabilize()
			if got := nw.member(1).rn.BasicStatus().LeadTransferee; got != None {
				t.Fatalf("LeadTransferee = %d", got)
			}
			if n := rec.count(msgOfType(pb.MsgTimeoutNow)); n != 0 {
				t.Fatalf("sent %d MsgTimeoutNow", n)
			}
			nw.mustLeader(1)
			if term := nw.member(1).raft().Term; term != 1 {
				t.Fatalf("term moved to %d", term)
			}
			if err := nw.propose(1, "x"); err != nil {
				t.Fatalf("proposal refused after an ignored transfer: %v", err)
			}
		})
	}
}

// TransferLeader on a follower is forwarded to the leader.
func TestFeatureTransferRequestedOnFollower(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.member(3).rn.TransferLeader(2)
	nw.stabilize()
	nw.mustLeader(2)
}
