package raft

// Regression tests for bugs that Raft implementations are known to have had.
// Each test cites the report it guards against. Builders and the harness are in
// raft_paper_helpers_test.go.

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// bugAddLearner4 is a small configuration change the tests propose.
var bugAddLearner4 = pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}}}

// bugDropAppendsFrom returns a hook that loses every MsgApp id sends.
func bugDropAppendsFrom(id uint64) func(pb.Message) bool {
	return func(m pb.Message) bool { return m.From != id || m.Type != pb.MsgApp }
}

// bugIsLeaveJoint reports whether e is the empty ConfChangeV2 that leaves a joint
// configuration.
func bugIsLeaveJoint(e pb.Entry) bool {
	if e.Type != pb.EntryConfChangeV2 {
		return false
	}
	var cc pb.ConfChangeV2
	return cc.Unmarshal(e.Data) == nil && cc.LeaveJoint()
}

// bugConfState returns id's configuration as a string.
func bugConfState(nw *network, id uint64) string {
	return nw.member(id).raft().trk.Config.String()
}

// TestBugNewLeaderConfChangeBeforeOwnTermCommit guards against the bug in
// single-server membership changes that Diego Ongaro reported on raft-dev
// ("bug in single-server membership changes", July 2015): a new leader that
// changes the configuration before it has committed an entry of its own term
// can make a change that overlaps with an uncommitted change of an earlier
// leader, and two disjoint majorities follow. The fix: "a leader may not append
// a new configuration entry until it has committed an entry from its current
// term". Here: until the new leader has applied its empty entry, a conf change is
// refused with ErrConfChangeRefused; afterwards it is accepted.
func TestBugNewLeaderConfChangeBeforeOwnTermCommit(t *testing.T) {
	tests := []struct {
		name string
		// elect makes leader the new leader of nw, whose appends are lost.
		elect  func(nw *network)
		leader uint64
	}{
		{"first leader of a new cluster", func(nw *network) {
			nw.hook = bugDropAppendsFrom(1)
			nw.campaign(1)
		}, 1},
		{"leader after a failover, everything applied", func(nw *network) {
			nw.campaign(1)
			if err := nw.propose(1, "a"); err != nil {
				nw.t.Fatal(err)
			}
			nw.isolate(1)
			nw.hook = bugDropAppendsFrom(2)
			nw.campaign(2)
		}, 2},
		{"leader after a failover, with unapplied entries of the old term", func(nw *network) {
			nw.campaign(1)
			nw.cutLink(1, 3)
			// "b" reaches 2 only, and stays uncommitted.
			nw.hook = func(m pb.Message) bool { return m.Type != pb.MsgAppResp }
			if err := nw.propose(1, "b"); err != nil {
				nw.t.Fatal(err)
			}
			nw.heal()
			nw.isolate(1)
			nw.hook = bugDropAppendsFrom(2)
			nw.campaign(2)
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			tt.elect(nw)
			nw.mustLeader(tt.leader)
			r := nw.member(tt.leader).raft()
			if r.raftLog.committed >= r.raftLog.lastIndex() {
				t.Fatal("the new leader's empty entry committed although its appends were lost")
			}
			last := r.raftLog.lastIndex()
			err := nw.proposeConfChange(tt.leader, bugAddLearner4)
			if !errors.Is(err, ErrConfChangeRefused) {
				t.Fatalf("conf change before the leader's first commit: err %v, want ErrConfChangeRefused", err)
			}
			if r.raftLog.lastIndex() != last {
				t.Fatalf("a refused change was appended: last index %d, want %d", r.raftLog.lastIndex(), last)
			}
			// Let the appends through: the empty entry commits and is applied.
			nw.hook = nil
			nw.tick(1)
			if r.raftLog.committed != r.raftLog.lastIndex() || r.raftLog.applied != r.raftLog.committed {
				t.Fatalf("empty entry not committed and applied: commit %d applied %d", r.raftLog.committed, r.raftLog.applied)
			}
			if err := nw.proposeConfChange(tt.leader, bugAddLearner4); err != nil {
				t.Fatalf("conf change after the leader's first commit: %v", err)
			}
			if got, want := bugConfState(nw, tt.leader), "voters=(1 2 3) learners=(4)"; got != want {
				t.Fatalf("configuration %s, want %s", got, want)
			}
			nw.checkAppliedAgree()
		})
	}
}

// TestBugNoCampaignWithUnappliedConfChange guards against a member campaigning
// while a committed configuration change is not applied yet: it would count votes
// in a configuration more than one change behind the committed one, and two
// leaders of one term become possible (etcd raft's hup() refuses for this reason;
// see tikv/raft-rs#221 for the MsgTimeoutNow path that missed the check, and the
// TLA+ counterexample in etcd-io/raft#469). A member with such an entry ignores
// MsgHup, election timeouts and MsgTimeoutNow until it has applied it.
func TestBugNoCampaignWithUnappliedConfChange(t *testing.T) {
	ccEntry := func(t *testing.T, index uint64, cc pb.ConfChangeI) pb.Entry {
		e, err := confChangeToEntry(cc)
		if err != nil {
			t.Fatal(err)
		}
		e.Term, e.Index = 1, index
		return e
	}
	tests := []struct {
		name    string
		second  func(t *testing.T) pb.Entry // the entry at index 2
		commit  uint64
		applied uint64
		preVote bool
		// trigger makes the member try to campaign.
		trigger      func(t *testing.T, m *testMember)
		wantCampaign bool
	}{
		{"ConfChange committed, not applied", func(t *testing.T) pb.Entry {
			return ccEntry(t, 2, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4})
		}, 2, 1, false, bugCampaign, false},
		{"ConfChangeV2 committed, not applied", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			2, 1, false, bugCampaign, false},
		{"pre-vote", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			2, 1, true, bugCampaign, false},
		{"election timeout", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			2, 1, false, bugTimeOut, false},
		{"MsgTimeoutNow", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			2, 1, false, bugTimeoutNow, false},
		{"conf change applied", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			2, 2, false, bugCampaign, true},
		{"conf change not committed", func(t *testing.T) pb.Entry { return ccEntry(t, 2, bugAddLearner4) },
			1, 1, false, bugCampaign, true},
		{"only a normal entry unapplied", func(*testing.T) pb.Entry { return pb.Entry{Term: 1, Index: 2, Data: []byte("x")} },
			2, 1, false, bugCampaign, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := paperSpec{term: 1, commit: tt.commit, applied: tt.applied,
				configure: func(c *Config) { c.PreVote = tt.preVote }}
			spec.ents = []pb.Entry{{Term: 1, Index: 1}, tt.second(t)}
			m := spec.build(t)
			r := m.raft()
			// Campaign before the caller applies what is committed.
			tt.trigger(t, m)
			if got := r.state != StateFollower; got != tt.wantCampaign {
				t.Fatalf("campaigned=%v (state %s term %d), want %v", got, r.state, r.Term, tt.wantCampaign)
			}
			if tt.wantCampaign {
				return
			}
			if r.Term != 1 {
				t.Fatalf("term %d, want 1", r.Term)
			}
			// The caller applies the change. No vote request went out before.
			rd := m.rn.Ready()
			if out := paperOfType(append(rd.Messages, rd.LeaderMessages...), pb.MsgVote, pb.MsgPreVote); len(out) != 0 {
				t.Fatalf("sent vote requests before applying: %q", paperMsgsString(out))
			}
			if len(rd.CommittedEntries) != 1 {
				t.Fatalf("committed entries %v, want the conf change", rd.CommittedEntries)
			}
			m.apply(t, rd.CommittedEntries[0])
			m.rn.Advance(rd)
			// Now the member may campaign (a handover that arrived meanwhile may
			// already have started the election).
			if r.state == StateFollower {
				tt.trigger(t, m)
			}
			if r.state == StateFollower {
				t.Fatal("no campaign once the conf change is applied")
			}
		})
	}
}

func bugCampaign(t *testing.T, m *testMember) {
	if err := m.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
}

func bugTimeOut(t *testing.T, m *testMember) {
	for range 2 * m.cfg.ElectionTick {
		m.rn.Tick()
	}
}

func bugTimeoutNow(t *testing.T, m *testMember) {
	if err := m.rn.Step(pb.Message{Type: pb.MsgTimeoutNow, From: 2, To: m.id, Term: m.raft().Term}); err != nil {
		t.Fatal(err)
	}
}

// TestBugLearnerGrantsVoteWhenPromoted guards against the bug fixed by
// etcd-io/etcd#10998 ("raft: let learners vote"): a learner whose promotion is
// committed on a quorum that does not include it still thinks it is a learner,
// yet the candidate that must win counts it as a voter. A learner therefore
// answers vote requests like any member: whether its vote counts is the
// candidate's business.
func TestBugLearnerGrantsVoteWhenPromoted(t *testing.T) {
	t.Run("the learner alone", func(t *testing.T) {
		for _, typ := range []pb.MessageType{pb.MsgVote, pb.MsgPreVote} {
			m := paperSpec{id: 4, learners: []uint64{4}, term: 1}.withLog(1).build(t)
			m.handleReady(t)
			out := paperStep(t, m, pb.Message{Type: typ, From: 2, Term: 2, Index: 1, LogTerm: 1})
			paperCheckMsgs(t, out, []pb.Message{{Type: voteRespMsgType(typ), From: 4, To: 2, Term: 2}})
		}
	})
	t.Run("promoted in a joint change it never received", func(t *testing.T) {
		nw := newNetworkWithLearners(t, []uint64{1, 2, 3}, []uint64{4})
		// 4 hears nothing from 1, the leader that promotes it.
		nw.cutLink(1, 4)
		nw.campaign(1)
		// Replace voter 3 by 4: (1 2 4)&&(1 2 3), then (1 2 4) by auto leave.
		cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{
			{Type: pb.ConfChangeAddNode, NodeID: 4}, {Type: pb.ConfChangeRemoveNode, NodeID: 3},
		}}
		if err := nw.proposeConfChange(1, cc); err != nil {
			t.Fatal(err)
		}
		nw.tick(1)
		if got, want := bugConfState(nw, 2), "voters=(1 2 4)"; got != want {
			t.Fatalf("member 2 has %s, want %s", got, want)
		}
		if got, want := bugConfState(nw, 4), "voters=(1 2 3) learners=(4)"; got != want {
			t.Fatalf("member 4 has %s, want the old %s", got, want)
		}
		// 1 fails. 2 needs 4's vote to win in (1 2 4).
		nw.isolate(1)
		nw.campaign(2)
		nw.mustLeader(2)
		if err := nw.propose(2, "after"); err != nil {
			t.Fatal(err)
		}
		if got, want := bugConfState(nw, 4), "voters=(1 2 4)"; got != want {
			t.Fatalf("member 4 has %s after catching up, want %s", got, want)
		}
		if got := nw.member(4).appliedData(); !slices.Equal(got, []string{"after"}) {
			t.Fatalf("member 4 applied %v", got)
		}
		nw.checkAppliedAgree()
	})
}

// TestBugNewLeaderFinishesAutoLeave guards against etcd-io/etcd#12136 ("raft will
// not leave joint state automatically anymore if leader steps down before
// advancing"): the leader that entered a joint configuration with automatic
// leave loses leadership before its leave entry is replicated; the next leader
// must propose the leave itself, or the cluster stays joint for good. With an
// explicit leave the next leader must not leave by itself.
func TestBugNewLeaderFinishesAutoLeave(t *testing.T) {
	tests := []struct {
		transition pb.ConfChangeTransition
		wantFinal  string
	}{
		{pb.ConfChangeTransitionJointImplicit, "voters=(1 2 3 4 5)"},
		{pb.ConfChangeTransitionAuto, "voters=(1 2 3 4 5)"},
		{pb.ConfChangeTransitionJointExplicit, "voters=(1 2 3 4 5)&&(1 2 3)"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.transition), func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			nw.campaign(1)
			nw.addEmptyMember(4)
			nw.addEmptyMember(5)
			// The leave entry 1 proposes is lost on the way.
			nw.hook = func(m pb.Message) bool {
				return m.From != 1 || m.Type != pb.MsgApp || !slices.ContainsFunc(m.Entries, bugIsLeaveJoint)
			}
			cc := pb.ConfChangeV2{Transition: tt.transition, Changes: []pb.ConfChangeSingle{
				{Type: pb.ConfChangeAddNode, NodeID: 4}, {Type: pb.ConfChangeAddNode, NodeID: 5},
			}}
			if err := nw.proposeConfChange(1, cc); err != nil {
				t.Fatal(err)
			}
			joint := "voters=(1 2 3 4 5)&&(1 2 3)"
			for _, id := range []uint64{1, 2, 3} {
				if got := bugConfState(nw, id); got != joint && got != joint+" autoleave" {
					t.Fatalf("member %d has %s, want %s", id, got, joint)
				}
			}
			// 1 loses leadership before its leave entry got anywhere.
			nw.hook = nil
			nw.isolate(1)
			nw.campaign(2)
			nw.mustLeader(2)
			nw.tick(2)
			for _, id := range []uint64{2, 3, 4, 5} {
				if got := bugConfState(nw, id); got != tt.wantFinal {
					t.Fatalf("member %d has %s, want %s", id, got, tt.wantFinal)
				}
			}
			nw.heal()
			nw.tick(3)
			if got := bugConfState(nw, 1); got != tt.wantFinal {
				t.Fatalf("member 1 has %s after rejoining, want %s", got, tt.wantFinal)
			}
			nw.checkAppliedAgree()
		})
	}
}

// TestBugReadIndexWaitsForOwnTermCommit guards against etcd-io/etcd#7331
// ("ReadIndex may read stale value"): a new leader's commit index may lag behind
// what the previous leader committed until it commits an entry of its own term,
// so a ReadIndex answered before that may miss acknowledged writes. The new
// leader here cannot commit its empty entry (its appends are lost): no read is
// answered; once they get through, the read is answered at or after the empty
// entry.
func TestBugReadIndexWaitsForOwnTermCommit(t *testing.T) {
	tests := []struct {
		name      string
		reader    uint64
		configure func(*Config)
	}{
		{"on the new leader", 2, func(*Config) {}},
		{"forwarded by a follower", 3, func(*Config) {}},
		{"lease-based, on the new leader", 2, func(c *Config) {
			c.ReadOnlyOption, c.CheckQuorum = ReadOnlyLeaseBased, true
		}},
		{"lease-based, forwarded by the old leader", 1, func(c *Config) {
			c.ReadOnlyOption, c.CheckQuorum = ReadOnlyLeaseBased, true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3}, tt.configure)
			h := newPaperHarness(nw)
			nw.campaign(1)
			if err := nw.propose(1, "w"); err != nil {
				t.Fatal(err)
			}
			written := nw.member(1).raft().raftLog.committed
			// Leadership moves to 2, whose appends are lost.
			nw.hook = bugDropAppendsFrom(2)
			nw.member(1).rn.TransferLeader(2)
			h.settle()
			nw.mustLeader(2)
			h.tickAll(1) // heartbeats: the followers learn who leads
			leader := nw.member(2).raft()
			empty := leader.raftLog.lastIndex()
			if leader.committedEntryInCurrentTerm() || empty <= written {
				t.Fatalf("new leader committed its empty entry (%d) despite lost appends", empty)
			}

			nw.member(tt.reader).rn.ReadIndex([]byte("read"))
			h.settle()
			h.tickAll(3)
			if rs := h.member(tt.reader).readStates; len(rs) != 0 {
				t.Fatalf("read answered before the new leader's first commit: %+v", rs)
			}
			nw.hook = nil
			h.tickAll(2)
			rs := h.member(tt.reader).readStates
			if len(rs) != 1 || string(rs[0].RequestCtx) != "read" || rs[0].Index < empty {
				t.Fatalf("read states %+v, want one for \"read\" at index >= %d", rs, empty)
			}
		})
	}
}

// TestBugReadIndexRetrySameContext guards against a retried ReadIndex returning a
// stale index. etcd raft kept the first request when a context was retried
// (readOnly.addRequest ignored duplicates), so the retry was answered at the
// commit index of the first attempt; and etcd-io/etcd#20418 (stale reads found by
// Antithesis, fixed in etcd-io/etcd#21399 by not reusing contexts) showed that
// heartbeat responses delayed from an earlier attempt could confirm the retry on
// a leader that had meanwhile been deposed. Here the heartbeat responses of the
// first attempt are held back while more entries commit; whichever responses
// confirm the retry, its answer is at or after the later commit index, and the
// held responses never confirm a retry on a deposed leader.
func TestBugReadIndexRetrySameContext(t *testing.T) {
	tests := []struct {
		name string
		// deliver picks which held heartbeat responses arrive: those of the first
		// attempt, of the retry, or all.
		deliver func(first, retry []pb.Message) []pb.Message
	}{
		{"first attempt's responses", func(first, _ []pb.Message) []pb.Message { return first }},
		{"retry's responses", func(_, retry []pb.Message) []pb.Message { return retry }},
		{"all responses", func(first, retry []pb.Message) []pb.Message { return append(first, retry...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			h := newPaperHarness(nw)
			nw.campaign(1)
			var held []pb.Message
			h.rewrite = func(m *pb.Message) bool {
				if m.Type == pb.MsgHeartbeatResp && len(m.Context) > 0 {
					held = append(held, *m)
					return false
				}
				return true
			}
			leader := nw.member(1)
			leader.rn.ReadIndex([]byte("x"))
			h.settle()
			first := held
			held = nil
			c1 := leader.raft().raftLog.committed
			for _, d := range []string{"a", "b"} {
				if err := leader.rn.Propose([]byte(d)); err != nil {
					t.Fatal(err)
				}
				h.settle()
			}
			c2 := leader.raft().raftLog.committed
			if c2 <= c1 || len(first) != 2 {
				t.Fatalf("commit %d -> %d with %d held responses; the scenario needs more", c1, c2, len(first))
			}
			leader.rn.ReadIndex([]byte("x"))
			h.settle()
			retry := held
			h.rewrite = nil
			h.inject(tt.deliver(first, retry)...)
			h.tickAll(2) // a later heartbeat round confirms whatever is still pending
			rs := h.member(1).readStates
			if len(rs) == 0 {
				t.Fatal("the retried read was never answered")
			}
			for _, s := range rs {
				if string(s.RequestCtx) != "x" || s.Index < c2 {
					t.Fatalf("read states %+v: want every answer for \"x\" at index >= %d (the first attempt was at %d)", rs, c2, c1)
				}
			}
		})
	}

	// Heartbeats of each attempt carry a leader-made token of their own (the
	// context plus a sequence number), so late answers to the first attempt's
	// heartbeats cannot confirm the retry on a leader deposed in between.
	t.Run("deposed leader, delayed responses", func(t *testing.T) {
		nw := newNetwork(t, []uint64{1, 2, 3})
		h := newPaperHarness(nw)
		nw.campaign(1)
		var held []pb.Message
		h.rewrite = func(m *pb.Message) bool {
			if m.Type == pb.MsgHeartbeatResp && len(m.Context) > 0 {
				held = append(held, *m)
				return false
			}
			return true
		}
		nw.member(1).rn.ReadIndex([]byte("x"))
		h.settle()
		h.rewrite = nil
		// 1 is cut off; 2 leads a new term and commits a write, which the
		// client sees acknowledged before it retries its read on 1.
		nw.isolate(1)
		nw.campaign(2)
		if err := nw.propose(2, "w"); err != nil {
			t.Fatal(err)
		}
		written := nw.member(2).raft().raftLog.committed
		nw.member(1).rn.ReadIndex([]byte("x"))
		h.settle()
		// The responses to 1's first heartbeats, delayed in the network, arrive.
		h.inject(held...)
		for _, s := range h.member(1).readStates {
			t.Fatalf("deposed leader answered %q at index %d; write at %d acknowledged before the read was retried",
				s.RequestCtx, s.Index, written)
		}
	})
}

// TestBugRemovedLeaderStepsDown guards against a leader that keeps leading after
// its own removal (etcd raft once required the application to stop it; see the
// Raft thesis §4.2.2): once the change that removes it is committed and applied,
// it steps down, hands over to an up-to-date voter, and the rest of the cluster
// goes on. Until the change commits, it still leads.
func TestBugRemovedLeaderStepsDown(t *testing.T) {
	tests := []struct {
		name    string
		cc      pb.ConfChangeI
		members []uint64 // the configuration afterwards
	}{
		{"ConfChange", pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}, []uint64{2, 3}},
		{"ConfChangeV2", pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeRemoveNode, NodeID: 1}}}, []uint64{2, 3}},
		{"demoted to learner", pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeID: 1}}}, []uint64{2, 3}},
		{"replaced in a joint change", pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{
			{Type: pb.ConfChangeRemoveNode, NodeID: 1}, {Type: pb.ConfChangeAddNode, NodeID: 4},
		}}, []uint64{2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			nw.campaign(1)
			nw.addEmptyMember(4)
			nw.hook = bugDropAppendsFrom(1)
			if err := nw.proposeConfChange(1, tt.cc); err != nil {
				t.Fatal(err)
			}
			nw.mustLeader(1) // the removal is not committed yet
			nw.hook = nil
			nw.tick(3)
			if st := nw.member(1).raft().state; st == StateLeader {
				t.Fatal("removed leader still leads")
			}
			lead := nw.leader()
			if !slices.Contains(tt.members, lead) {
				t.Fatalf("leader %d, want one of %v", lead, tt.members)
			}
			if err := nw.propose(lead, "after"); err != nil {
				t.Fatal(err)
			}
			for _, id := range tt.members {
				if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"after"}) {
					t.Fatalf("member %d applied %v", id, got)
				}
				if voters := nw.member(id).raft().trk.ConfState().Voters; !slices.Equal(voters, tt.members) {
					t.Fatalf("member %d has voters %v, want %v", id, voters, tt.members)
				}
			}
			nw.checkAppliedAgree()
		})
	}
}

// TestBugPartitionedMemberDoesNotDisrupt guards against a member that was
// partitioned away deposing a healthy leader when it comes back (Raft thesis
// §9.6; etcd's TestDisruptiveFollower*): while cut off it times out again and
// again; without PreVote every timeout raises its term, and the higher term it
// brings back forces the leader to step down. With PreVote its term does not
// rise, and the leader keeps leading. The member is also behind (entries
// committed while it was away), so its pre-votes are refused on the log alone.
func TestBugPartitionedMemberDoesNotDisrupt(t *testing.T) {
	tests := []struct {
		name                 string
		preVote, checkQuorum bool
		wantDisrupted        bool
	}{
		{"pre-vote and check-quorum", true, true, false},
		{"pre-vote", true, false, false},
		{"check-quorum", false, true, true},
		{"neither", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.PreVote, c.CheckQuorum = tt.preVote, tt.checkQuorum })
			nw.campaign(1)
			term := nw.member(1).raft().Term
			nw.isolate(3)
			if err := nw.propose(1, "while away"); err != nil {
				t.Fatal(err)
			}
			nw.tick(5 * 10)
			if got := nw.member(3).raft().Term > term; got != tt.wantDisrupted {
				t.Fatalf("isolated member's term rose=%v (term %d, cluster %d), want %v", got, nw.member(3).raft().Term, term, tt.wantDisrupted)
			}
			nw.heal()
			nw.tick(6 * 10)
			r := nw.member(1).raft()
			disrupted := r.state != StateLeader || r.Term != term
			if disrupted != tt.wantDisrupted {
				t.Fatalf("member 1: %s at term %d (was leader at %d): disrupted=%v, want %v", r.state, r.Term, term, disrupted, tt.wantDisrupted)
			}
			if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"while away"}) {
				t.Fatalf("member 3 applied %v after rejoining", got)
			}
		})
	}
}

// TestBugProposalDroppedDuringTransfer guards against proposals appended while
// leadership is being handed over (Raft thesis §3.10: "the prior leader stops
// accepting new client requests" during a transfer; etcd raft drops them with
// ErrProposalDropped): entries appended then would make the transferee fall
// behind again and the transfer never finish. Once the transfer ends — done or
// abandoned after an election timeout — proposals are accepted again.
func TestBugProposalDroppedDuringTransfer(t *testing.T) {
	tests := []struct {
		name string
		// finish ends the transfer: completes it or lets it time out.
		finish   func(nw *network)
		wantLead uint64
	}{
		{"transfer completes", func(nw *network) {
			nw.heal()
			nw.tick(1)
		}, 3},
		{"transfer abandoned", func(nw *network) {
			leader := nw.member(1)
			for range leader.cfg.ElectionTick {
				leader.rn.Tick()
				nw.stabilize()
			}
			nw.heal()
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			nw.campaign(1)
			nw.isolate(3)
			if err := nw.propose(1, "a"); err != nil {
				t.Fatal(err)
			}
			// 3 is behind: the transfer waits for it to catch up.
			nw.member(1).rn.TransferLeader(3)
			nw.stabilize()
			r := nw.member(1).raft()
			if r.leadTransferee != 3 {
				t.Fatalf("transferee %d, want 3", r.leadTransferee)
			}
			last := r.raftLog.lastIndex()
			if err := nw.propose(1, "during"); !errors.Is(err, ErrProposalDropped) {
				t.Fatalf("proposal during transfer: %v, want ErrProposalDropped", err)
			}
			if err := nw.proposeConfChange(1, bugAddLearner4); !errors.Is(err, ErrProposalDropped) {
				t.Fatalf("conf change during transfer: %v, want ErrProposalDropped", err)
			}
			if err := nw.propose(2, "forwarded"); err != nil {
				t.Fatalf("follower forwarding: %v", err)
			}
			if r.raftLog.lastIndex() != last {
				t.Fatalf("leader appended during the transfer: last index %d, want %d", r.raftLog.lastIndex(), last)
			}
			tt.finish(nw)
			nw.mustLeader(tt.wantLead)
			if err := nw.propose(tt.wantLead, "after"); err != nil {
				t.Fatalf("proposal after the transfer: %v", err)
			}
			nw.tick(2)
			for _, id := range nw.ids() {
				if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"a", "after"}) {
					t.Fatalf("member %d applied %v", id, got)
				}
			}
		})
	}
}

// TestBugLeaderStepsDownWithoutQuorum guards against a leader cut off from its
// quorum leading forever (and serving lease reads) while the rest elect another:
// with CheckQuorum it steps down once an election timeout passes without hearing
// from a quorum (Raft thesis §6.2). Without CheckQuorum it keeps believing it
// leads; with a quorum still reachable it keeps leading.
func TestBugLeaderStepsDownWithoutQuorum(t *testing.T) {
	tests := []struct {
		name        string
		checkQuorum bool
		cut         []uint64
		wantLeader  bool
	}{
		{"check-quorum, isolated", true, []uint64{2, 3}, false},
		{"check-quorum, one follower lost", true, []uint64{3}, true},
		{"no check-quorum, isolated", false, []uint64{2, 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.CheckQuorum = tt.checkQuorum })
			nw.campaign(1)
			for _, id := range tt.cut {
				nw.cutLink(1, id)
			}
			leader := nw.member(1)
			// Tick only the leader, so that the followers do not elect another
			// (which would depose it by term rather than by CheckQuorum).
			for range 3 * leader.cfg.ElectionTick {
				leader.rn.Tick()
				nw.stabilize()
			}
			r := leader.raft()
			if got := r.state == StateLeader; got != tt.wantLeader {
				t.Fatalf("member 1 is %s, want leader=%v", r.state, tt.wantLeader)
			}
			if !tt.wantLeader && r.lead != None {
				t.Fatalf("stepped-down leader still names leader %d", r.lead)
			}
			if !tt.wantLeader {
				if err := nw.propose(1, "x"); !errors.Is(err, ErrProposalDropped) {
					t.Fatalf("proposal on the stepped-down leader: %v, want ErrProposalDropped", err)
				}
			}
		})
	}
}
