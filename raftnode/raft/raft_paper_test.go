package raft

// Rule-by-rule tests of the Raft paper: Diego Ongaro and John Ousterhout, "In
// Search of an Understandable Consensus Algorithm (Extended Version)", §5, with
// the rules of figure 2 and the properties of figure 3. Each test names the
// section it checks. A rule about one member's reaction to one message drives
// that member alone (its messages are what a correct caller would send after
// persisting); a rule about the cluster runs on the in-process network of
// network_test.go. Every test fails if the rule it names is broken.
//
// The builders and the harness are in raft_paper_helpers_test.go.

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ---------------------------------------------------------------------------
// §5.1: terms.

// TestPaperUpdateTermFromMessage: "If RPC request or response contains term T >
// currentTerm: set currentTerm = T, convert to follower" (figure 2, all
// servers), for every role and for requests and responses alike.
func TestPaperUpdateTermFromMessage(t *testing.T) {
	msgs := []struct {
		typ pb.MessageType
		// wantLead: the sender is known as leader afterwards (only a leader sends it).
		wantLead bool
	}{
		{pb.MsgApp, true},
		{pb.MsgHeartbeat, true},
		{pb.MsgVote, false},
		{pb.MsgAppResp, false},
		{pb.MsgHeartbeatResp, false},
	}
	for _, role := range []StateType{StateFollower, StatePreCandidate, StateCandidate, StateLeader} {
		for _, tt := range msgs {
			t.Run(fmt.Sprintf("%s/%s", role, tt.typ), func(t *testing.T) {
				m := paperSpec{}.build(t)
				paperBecome(t, m, role)
				r := m.raft()
				newTerm := r.Term + 2
				paperStep(t, m, pb.Message{Type: tt.typ, From: 2, Term: newTerm})
				wantLead := None
				if tt.wantLead {
					wantLead = 2
				}
				if r.state != StateFollower || r.Term != newTerm || r.lead != wantLead {
					t.Fatalf("state %s term %d lead %d, want %s term %d lead %d",
						r.state, r.Term, r.lead, StateFollower, newTerm, wantLead)
				}
				if hs, _, _ := m.storage.InitialState(); hs.Term != newTerm {
					t.Fatalf("persisted term %d, want %d", hs.Term, newTerm)
				}
			})
		}
	}
}

// TestPaperIgnoreStaleTermMessage: "Reply false if term < currentTerm" (figure 2,
// AppendEntries and RequestVote step 1). A message of an older term changes
// nothing: not the role, term, vote, log, commit index or the vote count. With
// CheckQuorum or PreVote the member answers a stale leader with its own term so
// the stale leader learns it (§9.6 of the thesis); it never grants anything.
func TestPaperIgnoreStaleTermMessage(t *testing.T) {
	tests := []struct {
		name        string
		checkQuorum bool
		msg         func(r *raft) pb.Message
		// wantReply is the only message type the member may send back, or 0.
		// A reply to a stale leader (MsgAppResp) is due only with CheckQuorum
		// or PreVote, which a pre-candidate has.
		wantReply pb.MessageType
	}{
		{"MsgApp", false, func(r *raft) pb.Message {
			li := r.raftLog.lastIndex()
			return pb.Message{Type: pb.MsgApp, Index: li, LogTerm: r.raftLog.lastTerm(),
				Entries: paperEnts(li+1, r.Term-1), Commit: li + 1}
		}, pb.MsgAppResp},
		{"MsgApp with CheckQuorum", true, func(r *raft) pb.Message {
			li := r.raftLog.lastIndex()
			return pb.Message{Type: pb.MsgApp, Index: li, LogTerm: r.raftLog.lastTerm(),
				Entries: paperEnts(li+1, r.Term-1), Commit: li + 1}
		}, pb.MsgAppResp},
		{"MsgHeartbeat", false, func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgHeartbeat, Commit: r.raftLog.lastIndex()}
		}, pb.MsgAppResp},
		{"MsgHeartbeat with CheckQuorum", true, func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgHeartbeat, Commit: r.raftLog.lastIndex()}
		}, pb.MsgAppResp},
		{"MsgVote", false, func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgVote, Index: 100, LogTerm: 100}
		}, 0},
		{"MsgPreVote", false, func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgPreVote, Index: 100, LogTerm: 100}
		}, pb.MsgPreVoteResp},
		{"MsgVoteResp", false, func(r *raft) pb.Message { return pb.Message{Type: pb.MsgVoteResp} }, 0},
		{"MsgPreVoteResp", false, func(r *raft) pb.Message { return pb.Message{Type: pb.MsgPreVoteResp} }, 0},
		{"MsgAppResp", false, func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgAppResp, Index: r.raftLog.lastIndex()}
		}, 0},
		{"MsgTimeoutNow", false, func(r *raft) pb.Message { return pb.Message{Type: pb.MsgTimeoutNow} }, 0},
	}
	for _, role := range []StateType{StateFollower, StatePreCandidate, StateCandidate, StateLeader} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", role, tt.name), func(t *testing.T) {
				m := paperSpec{term: 3}.withLog(1, 2, 3).build(t)
				paperBecome(t, m, role)
				r := m.raft()
				r.checkQuorum = tt.checkQuorum
				before := r.hardState()
				state, lead, log := r.state, r.lead, paperLog(m)
				msg := tt.msg(r)
				msg.From, msg.Term = 2, r.Term-1
				out := paperStep(t, m, msg)

				if r.state != state || r.hardState() != before || r.lead != lead || paperLog(m) != log {
					t.Fatalf("changed: state %s->%s, hard state %+v->%+v, lead %d->%d, log %s->%s",
						state, r.state, before, r.hardState(), lead, r.lead, log, paperLog(m))
				}
				var want []pb.Message
				if tt.wantReply == pb.MsgAppResp && !r.checkQuorum && !r.preVote {
					tt.wantReply = 0
				}
				if tt.wantReply != 0 {
					// Always at the member's own term, and never a grant.
					want = []pb.Message{{Type: tt.wantReply, From: 1, To: 2, Term: r.Term,
						Reject: tt.wantReply == pb.MsgPreVoteResp}}
				}
				paperCheckMsgs(t, out, want)
			})
		}
	}
}

// TestPaperStartAsFollower: "When servers start up, they begin as followers"
// (§5.2), whatever term they persisted, and with no leader known.
func TestPaperStartAsFollower(t *testing.T) {
	tests := []struct {
		name     string
		spec     paperSpec
		wantTerm uint64
	}{
		{"new member", paperSpec{}, 0},
		{"restart after voting", paperSpec{term: 5, vote: 2}, 5},
		{"restart with a log", paperSpec{term: 3, vote: 1, commit: 2}.withLog(1, 2, 3), 3},
		{"restart as a learner", paperSpec{id: 4, learners: []uint64{4}, term: 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.spec.build(t).raft()
			if r.state != StateFollower || r.Term != tt.wantTerm || r.lead != None {
				t.Fatalf("state %s term %d lead %d, want follower term %d no leader", r.state, r.Term, r.lead, tt.wantTerm)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// §5.2: leader election.

// TestPaperLeaderBroadcastsHeartbeats: "Upon election: send initial empty
// AppendEntries RPCs (heartbeat) to each server; repeat during idle periods to
// prevent election timeouts" (figure 2). Every HeartbeatTick, not before.
func TestPaperLeaderBroadcastsHeartbeats(t *testing.T) {
	for _, hb := range []int{1, 3} {
		t.Run(fmt.Sprintf("heartbeat=%d", hb), func(t *testing.T) {
			m := paperSpec{configure: func(c *Config) { c.HeartbeatTick = hb }}.build(t)
			paperBecome(t, m, StateLeader)
			paperEstablish(t, m)
			r := m.raft()
			if out := paperOfType(paperTick(t, m, hb-1), pb.MsgHeartbeat); len(out) != 0 {
				t.Fatalf("heartbeats before the heartbeat timeout: %q", paperMsgsString(out))
			}
			for round := range 3 {
				out := paperOfType(paperTick(t, m, hb), pb.MsgHeartbeat)
				slices.SortFunc(out, func(a, b pb.Message) int { return int(a.To) - int(b.To) })
				want := []pb.Message{
					{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: r.Term, Commit: r.raftLog.committed},
					{Type: pb.MsgHeartbeat, From: 1, To: 3, Term: r.Term, Commit: r.raftLog.committed},
				}
				if round == 0 {
					paperCheckMsgs(t, out, want)
				} else if len(out) != 2 {
					t.Fatalf("round %d: %d heartbeats, want 2", round, len(out))
				}
			}
		})
	}
}

// TestPaperHeartbeatsPreventElections: followers that hear heartbeats never time
// out (§5.2), so a healthy cluster keeps its leader and its term.
func TestPaperHeartbeatsPreventElections(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	term := nw.member(1).raft().Term
	nw.tick(200)
	for _, id := range nw.ids() {
		r := nw.member(id).raft()
		if r.Term != term || r.lead != 1 {
			t.Fatalf("member %d: term %d lead %d, want term %d lead 1", id, r.Term, r.lead, term)
		}
	}
}

// TestPaperNonleaderStartsElection: "If election timeout elapses without
// receiving AppendEntries RPC from current leader or granting vote to candidate:
// convert to candidate" (figure 2, followers), and a candidate whose election
// times out starts a new one (§5.2). The candidate increments its term, votes
// for itself and requests votes from every other voter, with its last log
// position. A learner never campaigns; a pre-vote member asks first without
// raising its term.
func TestPaperNonleaderStartsElection(t *testing.T) {
	tests := []struct {
		name      string
		spec      paperSpec
		role      StateType
		wantState StateType
		// wantTermDelta is how much the term rises; wantVotes whether vote
		// requests (of wantType) go out.
		wantTermDelta uint64
		wantType      pb.MessageType
	}{
		{"follower", paperSpec{term: 1}.withLog(1), StateFollower, StateCandidate, 1, pb.MsgVote},
		{"candidate", paperSpec{term: 1}.withLog(1), StateCandidate, StateCandidate, 1, pb.MsgVote},
		{"pre-vote follower", paperSpec{term: 1, configure: func(c *Config) { c.PreVote = true }}.withLog(1),
			StateFollower, StatePreCandidate, 0, pb.MsgPreVote},
		{"learner", paperSpec{id: 4, learners: []uint64{4}, term: 1}.withLog(1), StateFollower, StateFollower, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.spec.build(t)
			m.handleReady(t)
			r := m.raft()
			preVote := r.preVote
			paperBecome(t, m, tt.role)
			r.preVote = preVote
			term := r.Term
			et := m.cfg.ElectionTick
			// The randomized timeout is below 2*ElectionTick: tick until the first
			// election, at most that long.
			var out []pb.Message
			for i := 0; i < 2*et && len(out) == 0; i++ {
				out = paperOfType(paperTick(t, m, 1), pb.MsgVote, pb.MsgPreVote)
			}

			if r.state != tt.wantState || r.Term != term+tt.wantTermDelta {
				t.Fatalf("state %s term %d, want %s term %d", r.state, r.Term, tt.wantState, term+tt.wantTermDelta)
			}
			var want []pb.Message
			if tt.wantType != 0 {
				if tt.wantType == pb.MsgVote && r.Vote != r.id {
					t.Fatalf("vote %d, want a vote for itself", r.Vote)
				}
				for _, to := range []uint64{2, 3} {
					want = append(want, pb.Message{Type: tt.wantType, From: 1, To: to, Term: term + 1,
						Index: r.raftLog.lastIndex(), LogTerm: r.raftLog.lastTerm()})
				}
			}
			paperCheckMsgs(t, out, want)
		})
	}
}

// TestPaperElectionOutcomeInOneRound: a candidate "wins an election if it
// receives votes from a majority of the servers in the full cluster for the same
// term" (§5.2); a majority of rejections makes it a follower again; otherwise it
// stays a candidate until its election times out.
func TestPaperElectionOutcomeInOneRound(t *testing.T) {
	tests := []struct {
		size  int
		votes map[uint64]bool
		want  StateType
	}{
		{1, map[uint64]bool{}, StateLeader},
		{3, map[uint64]bool{2: true, 3: true}, StateLeader},
		{3, map[uint64]bool{2: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true, 4: true, 5: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true, 4: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true}, StateLeader},

		// a majority rejects
		{3, map[uint64]bool{2: false, 3: false}, StateFollower},
		{5, map[uint64]bool{2: false, 3: false, 4: false, 5: false}, StateFollower},
		{5, map[uint64]bool{2: true, 3: false, 4: false, 5: false}, StateFollower},

		// no majority either way yet
		{3, map[uint64]bool{}, StateCandidate},
		{5, map[uint64]bool{2: true}, StateCandidate},
		{5, map[uint64]bool{2: false, 3: false}, StateCandidate},
		{5, map[uint64]bool{}, StateCandidate},
		{5, map[uint64]bool{2: true, 3: false, 4: false}, StateCandidate},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size=%d/votes=%v", tt.size, tt.votes), func(t *testing.T) {
			var voters []uint64
			for id := range uint64(tt.size) {
				voters = append(voters, id+1)
			}
			m := paperSpec{voters: voters}.build(t)
			if err := m.rn.Campaign(); err != nil {
				t.Fatal(err)
			}
			m.handleReady(t)
			r := m.raft()
			for _, id := range voters {
				if v, ok := tt.votes[id]; ok {
					paperStep(t, m, pb.Message{Type: pb.MsgVoteResp, From: id, Term: r.Term, Reject: !v})
				}
			}
			if r.state != tt.want || r.Term != 1 {
				t.Fatalf("state %s term %d, want %s term 1", r.state, r.Term, tt.want)
			}
		})
	}
}

// TestPaperVoteAtMostOncePerTerm: "Each server will vote for at most one
// candidate in a given term, on a first-come-first-served basis" (§5.2); the
// vote is persisted (figure 2: votedFor is persistent state), so it holds across
// a restart, and a retransmitted request of the same candidate is granted again.
func TestPaperVoteAtMostOncePerTerm(t *testing.T) {
	tests := []struct {
		name string
		// vote is the persisted vote in the current term (2).
		vote      uint64
		requests  []uint64
		wantGrant []bool
	}{
		{"first request", None, []uint64{2}, []bool{true}},
		{"first come first served", None, []uint64{2, 3}, []bool{true, false}},
		{"first come first served, other order", None, []uint64{3, 2}, []bool{true, false}},
		{"retransmission", None, []uint64{2, 2}, []bool{true, true}},
		{"persisted vote for the same candidate", 2, []uint64{2}, []bool{true}},
		{"persisted vote for another candidate", 2, []uint64{3}, []bool{false}},
		{"persisted vote for itself", 1, []uint64{2, 3}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := paperSpec{term: 2, vote: tt.vote}.withLog(1).build(t)
			for i, from := range tt.requests {
				out := paperStep(t, m, pb.Message{Type: pb.MsgVote, From: from, Term: 2, Index: 1, LogTerm: 1})
				want := []pb.Message{{Type: pb.MsgVoteResp, From: 1, To: from, Term: 2, Reject: !tt.wantGrant[i]}}
				paperCheckMsgs(t, out, want)
			}
			wantVote := tt.vote
			if wantVote == None {
				wantVote = tt.requests[0]
			}
			if hs, _, _ := m.storage.InitialState(); hs.Vote != wantVote || m.raft().Vote != wantVote {
				t.Fatalf("vote %d (persisted %d), want %d", m.raft().Vote, hs.Vote, wantVote)
			}
		})
	}
}

// TestPaperCandidateFallsBack: "While waiting for votes, a candidate may receive
// an AppendEntries RPC from another server claiming to be leader. If the
// leader's term ... is at least as large as the candidate's current term, then
// the candidate recognizes the leader as legitimate and returns to follower
// state. If the term in the RPC is smaller than the candidate's current term,
// then the candidate rejects the RPC and continues in candidate state" (§5.2).
// A pre-candidate behaves the same.
func TestPaperCandidateFallsBack(t *testing.T) {
	tests := []struct {
		typ       pb.MessageType
		termDelta int
		wantState StateType
		wantLead  uint64
	}{
		{pb.MsgApp, 0, StateFollower, 2},
		{pb.MsgHeartbeat, 0, StateFollower, 2},
		{pb.MsgApp, +1, StateFollower, 2},
		{pb.MsgHeartbeat, +1, StateFollower, 2},
		{pb.MsgApp, -1, 0, None},
		{pb.MsgHeartbeat, -1, 0, None},
	}
	for _, role := range []StateType{StateCandidate, StatePreCandidate} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/term%+d", role, tt.typ, tt.termDelta), func(t *testing.T) {
				m := paperSpec{term: 2}.withLog(1, 2).build(t)
				paperBecome(t, m, role)
				r := m.raft()
				term := uint64(int(r.Term) + tt.termDelta)
				paperStep(t, m, pb.Message{Type: tt.typ, From: 2, Term: term, Index: 2, LogTerm: 2})
				wantState, wantTerm := tt.wantState, term
				if tt.termDelta < 0 {
					wantState, wantTerm = role, term+1
				}
				if r.state != wantState || r.Term != wantTerm || r.lead != tt.wantLead {
					t.Fatalf("state %s term %d lead %d, want %s term %d lead %d",
						r.state, r.Term, r.lead, wantState, wantTerm, tt.wantLead)
				}
			})
		}
	}
}

// TestPaperElectionTimeoutRandomized: "Raft uses randomized election timeouts
// ... chosen randomly from a fixed interval" (§5.2); here [et, 2et). Over many
// elections every value of the interval occurs and no other.
func TestPaperElectionTimeoutRandomized(t *testing.T) {
	for _, role := range []StateType{StateFollower, StateCandidate} {
		t.Run(role.String(), func(t *testing.T) {
			m := paperSpec{}.build(t)
			r := m.raft()
			et := m.cfg.ElectionTick
			seen := make(map[int]int)
			for range 50 * et {
				switch role {
				case StateFollower:
					r.becomeFollower(r.Term+1, 2)
				case StateCandidate:
					r.becomeCandidate()
				}
				r.msgs, r.msgsEarly = nil, nil
				ticks := 0
				for len(paperOfType(r.msgs, pb.MsgVote)) == 0 {
					r.tick()
					ticks++
					if ticks > 2*et {
						t.Fatalf("no election within %d ticks", ticks)
					}
				}
				seen[ticks]++
			}
			for d := range seen {
				if d < et || d >= 2*et {
					t.Fatalf("election timeout %d outside [%d, %d)", d, et, 2*et)
				}
			}
			for d := et; d < 2*et; d++ {
				if seen[d] == 0 {
					t.Fatalf("election timeout %d never chosen (saw %v)", d, seen)
				}
			}
		})
	}
}

// TestPaperElectionTimeoutsDiffer: randomization spreads the timeouts of
// different members "so that in most cases only a single server will time out"
// (§5.2). Among five members a tie for the first timeout is rare.
func TestPaperElectionTimeoutsDiffer(t *testing.T) {
	const size, rounds = 5, 1000
	var members []*testMember
	for id := range uint64(size) {
		members = append(members, paperSpec{id: id + 1, voters: []uint64{1, 2, 3, 4, 5}}.build(t))
	}
	ties := 0
	for range rounds {
		for _, m := range members {
			r := m.raft()
			r.becomeFollower(r.Term+1, None)
			r.msgs, r.msgsEarly = nil, nil
		}
		for {
			timedOut := 0
			for _, m := range members {
				m.raft().tick()
				if m.raft().state == StateCandidate {
					timedOut++
				}
			}
			if timedOut > 0 {
				if timedOut > 1 {
					ties++
				}
				break
			}
		}
	}
	if float64(ties)/rounds > 0.3 {
		t.Fatalf("%d of %d rounds had more than one member time out first", ties, rounds)
	}
}

// TestPaperSplitVote: when "many followers become candidates at the same time,
// votes could be split so that no candidate obtains a majority"; then "each
// candidate will time out and start a new election", and randomized timeouts
// resolve it (§5.2).
func TestPaperSplitVote(t *testing.T) {
	tests := []struct {
		name       string
		ids        []uint64
		candidates []uint64
		// cuts decide who hears whom, so that the votes split.
		cuts [][2]uint64
	}{
		{"four members, two against two", []uint64{1, 2, 3, 4}, []uint64{1, 2}, [][2]uint64{{1, 4}, {2, 3}}},
		{"five members, one silent", []uint64{1, 2, 3, 4, 5}, []uint64{1, 2},
			[][2]uint64{{1, 4}, {2, 3}, {5, 1}, {5, 2}, {5, 3}, {5, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, tt.ids)
			for _, c := range tt.cuts {
				nw.cutLink(c[0], c[1])
			}
			for _, id := range tt.candidates {
				if err := nw.member(id).rn.Campaign(); err != nil {
					t.Fatal(err)
				}
			}
			nw.stabilize()
			split := nw.member(tt.candidates[0]).raft().Term
			for _, id := range tt.candidates {
				if r := nw.member(id).raft(); r.state != StateCandidate || r.Term != split {
					t.Fatalf("candidate %d: %s term %d, want a candidate at term %d", id, r.state, r.Term, split)
				}
			}
			if lead := nw.leader(); lead != None {
				t.Fatalf("member %d leads after a split vote", lead)
			}
			nw.heal()
			for range 100 {
				if nw.leader() != None {
					break
				}
				nw.tick(1)
			}
			lead := nw.leader()
			if lead == None {
				t.Fatal("no leader after the split vote timed out")
			}
			term := nw.member(lead).raft().Term
			if term <= split {
				t.Fatalf("leader %d at term %d, want a later term than the split one (%d)", lead, term, split)
			}
			for _, id := range nw.ids() {
				if r := nw.member(id).raft(); id != lead && (r.state == StateLeader || r.Term != term || r.lead != lead) {
					t.Fatalf("member %d: %s term %d lead %d, want follower of %d at term %d", id, r.state, r.Term, r.lead, lead, term)
				}
			}
		})
	}
}
