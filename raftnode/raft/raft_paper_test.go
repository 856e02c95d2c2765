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
	"math/rand/v2"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raftpb"
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

// ---------------------------------------------------------------------------
// §5.3: log replication.

// TestPaperLeaderStartsReplication: "The leader appends the command to its log as
// a new entry, then issues AppendEntries RPCs in parallel to each of the other
// servers to replicate the entry" (§5.3), naming the entry before it
// (prevLogIndex, prevLogTerm) and its commit index.
func TestPaperLeaderStartsReplication(t *testing.T) {
	m := paperSpec{}.build(t)
	paperBecome(t, m, StateLeader)
	paperEstablish(t, m)
	r := m.raft()
	li, commit := r.raftLog.lastIndex(), r.raftLog.committed
	if err := m.rn.Propose([]byte("some data")); err != nil {
		t.Fatal(err)
	}
	if got, want := paperEntsString(r.raftLog.nextUnstableEnts()), fmt.Sprintf("[%d/%d:some data]", r.Term, li+1); got != want {
		t.Fatalf("unstable entries %s, want %s", got, want)
	}
	out := paperOfType(m.handleReady(t), pb.MsgApp)
	ent := []pb.Entry{{Term: r.Term, Index: li + 1, Data: []byte("some data")}}
	paperCheckMsgs(t, out, []pb.Message{
		{Type: pb.MsgApp, From: 1, To: 2, Term: r.Term, Index: li, LogTerm: r.Term, Commit: commit, Entries: ent},
		{Type: pb.MsgApp, From: 1, To: 3, Term: r.Term, Index: li, LogTerm: r.Term, Commit: commit, Entries: ent},
	})
}

// TestPaperLeaderCommitsOnMajority: "A log entry is committed once the leader
// that created the entry has replicated it on a majority of the servers" (§5.3);
// the leader's own copy counts once it is durable, a learner's never does. Once
// committed, the leader tells the followers its new commit index in its next
// AppendEntries ("the leader keeps track of the highest index it knows to be
// committed, and it includes that index in future AppendEntries RPCs").
func TestPaperLeaderCommitsOnMajority(t *testing.T) {
	tests := []struct {
		size      int
		learners  []uint64
		acceptors []uint64
		want      bool
	}{
		{1, nil, nil, true},
		{3, nil, nil, false},
		{3, nil, []uint64{2}, true},
		{3, nil, []uint64{2, 3}, true},
		{3, []uint64{4}, []uint64{4}, false},
		{3, []uint64{4, 5}, []uint64{4, 5}, false},
		{3, []uint64{4}, []uint64{3, 4}, true},
		{5, nil, nil, false},
		{5, nil, []uint64{2}, false},
		{5, nil, []uint64{2, 3}, true},
		{5, nil, []uint64{2, 3, 4}, true},
		{5, nil, []uint64{2, 3, 4, 5}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size=%d/learners=%v/acks=%v", tt.size, tt.learners, tt.acceptors), func(t *testing.T) {
			var voters []uint64
			for id := range uint64(tt.size) {
				voters = append(voters, id+1)
			}
			m := paperSpec{voters: voters, learners: tt.learners}.build(t)
			paperBecome(t, m, StateLeader)
			paperEstablish(t, m)
			for _, id := range tt.learners {
				paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: id, Term: m.raft().Term, Index: m.raft().raftLog.lastIndex()})
			}
			r := m.raft()
			li := r.raftLog.lastIndex()
			if err := m.rn.Propose([]byte("some data")); err != nil {
				t.Fatal(err)
			}
			m.handleReady(t) // persist: the leader's own acknowledgement
			var out []pb.Message
			for _, id := range tt.acceptors {
				out = append(out, paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: id, Term: r.Term, Index: li + 1})...)
			}
			if got := r.raftLog.committed == li+1; got != tt.want {
				t.Fatalf("committed %d, want committed=%v for index %d", r.raftLog.committed, tt.want, li+1)
			}
			if !tt.want {
				return
			}
			if got := m.appliedData(); !slices.Equal(got, []string{"some data"}) {
				t.Fatalf("leader applied %v", got)
			}
			// Every other member learns the new commit index.
			told := make(map[uint64]bool)
			for _, msg := range paperOfType(out, pb.MsgApp) {
				if msg.Commit == li+1 {
					told[msg.To] = true
				}
			}
			for _, id := range append(voters[1:], tt.learners...) {
				if !told[id] && slices.Contains(tt.acceptors, id) {
					t.Fatalf("member %d was not sent commit index %d: %q", id, li+1, paperMsgsString(out))
				}
			}
		})
	}
}

// TestPaperLeaderCommitsPrecedingEntries: "This also commits all preceding
// entries in the leader's log, including entries created by previous leaders"
// (§5.3); they are applied in log order.
func TestPaperLeaderCommitsPrecedingEntries(t *testing.T) {
	for _, terms := range [][]uint64{{}, {2}, {1, 1}, {1, 2}, {1, 1, 2, 2}} {
		t.Run(fmt.Sprintf("log=%v", terms), func(t *testing.T) {
			m := paperSpec{term: 2}.withLog(terms...).build(t)
			paperBecome(t, m, StateLeader)
			r := m.raft()
			li := r.raftLog.lastIndex() // the leader's empty entry
			if err := m.rn.Propose([]byte("some data")); err != nil {
				t.Fatal(err)
			}
			m.handleReady(t)
			paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: 2, Term: r.Term, Index: li + 1})

			want := append(paperEnts(1, terms...), pb.Entry{Term: 3, Index: li}, pb.Entry{Term: 3, Index: li + 1, Data: []byte("some data")})
			if got := paperEntsString(m.applied); got != paperEntsString(want) {
				t.Fatalf("applied %s, want %s", got, paperEntsString(want))
			}
		})
	}
}

// TestPaperFollowerCommitsFromLeader: "Once a follower learns that a log entry is
// committed, it applies the entry to its local state machine (in log order)"
// (§5.3); "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit,
// index of last new entry)" (figure 2, AppendEntries step 5).
func TestPaperFollowerCommitsFromLeader(t *testing.T) {
	data := func(terms []uint64, datas ...string) []pb.Entry {
		ents := paperEnts(1, terms...)
		for i := range ents {
			ents[i].Data = []byte(datas[i])
		}
		return ents
	}
	tests := []struct {
		// log is what the follower holds before (none of it committed).
		log        []uint64
		ents       []pb.Entry
		commit     uint64
		wantCommit uint64
	}{
		{nil, data([]uint64{1}, "a"), 1, 1},
		{nil, data([]uint64{1, 1}, "a", "b"), 2, 2},
		{nil, data([]uint64{1, 1}, "b", "a"), 2, 2},
		{nil, data([]uint64{1, 1}, "a", "b"), 1, 1},
		{nil, data([]uint64{1, 1}, "a", "b"), 0, 0},
		// The leader's commit index is past what this message carries.
		{nil, data([]uint64{1, 1}, "a", "b"), 5, 2},
		// ...and the follower holds more entries, which the leader has not
		// vouched for: they may not be the leader's.
		{[]uint64{1, 1, 1}, paperEnts(1, 1), 3, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v+%s/commit=%d", tt.log, paperEntsString(tt.ents), tt.commit), func(t *testing.T) {
			m := paperSpec{term: 1}.withLog(tt.log...).build(t)
			paperStep(t, m, pb.Message{Type: pb.MsgApp, From: 2, Term: 1, Entries: tt.ents, Commit: tt.commit})
			r := m.raft()
			if r.raftLog.committed != tt.wantCommit {
				t.Fatalf("committed %d, want %d", r.raftLog.committed, tt.wantCommit)
			}
			if got, want := paperEntsString(m.applied), paperEntsString(tt.ents[:tt.wantCommit]); got != want {
				t.Fatalf("applied %s, want %s", got, want)
			}
		})
	}
}

// TestPaperFollowerChecksPrevEntry: "Reply false if log doesn't contain an entry
// at prevLogIndex whose term matches prevLogTerm" (figure 2, AppendEntries step
// 2; the consistency check of §5.3). A rejection carries a hint: the last entry
// that may still match, no later than the probed index and of a term no greater
// than the probed term.
func TestPaperFollowerChecksPrevEntry(t *testing.T) {
	// The follower holds 1/1 2/2, with 1 committed.
	tests := []struct {
		name            string
		logTerm, index  uint64
		wantIndex       uint64
		wantReject      bool
		wantHint, wantT uint64
	}{
		{"matches committed entries (before the log)", 0, 0, 1, false, 0, 0},
		{"matches a committed entry", 1, 1, 1, false, 0, 0},
		{"matches an uncommitted entry", 2, 2, 2, false, 0, 0},
		{"term mismatch at an existing index", 1, 2, 2, true, 1, 1},
		{"index past the log", 3, 3, 3, true, 2, 2},
		{"index far past the log with an old term", 1, 5, 5, true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := paperSpec{term: 2, commit: 1}.withLog(1, 2).build(t)
			m.handleReady(t)
			out := paperStep(t, m, pb.Message{Type: pb.MsgApp, From: 2, Term: 2, LogTerm: tt.logTerm, Index: tt.index})
			want := pb.Message{Type: pb.MsgAppResp, From: 1, To: 2, Term: 2, Index: tt.wantIndex,
				Reject: tt.wantReject, RejectHint: tt.wantHint, LogTerm: tt.wantT}
			paperCheckMsgs(t, out, []pb.Message{want})
		})
	}
}

// TestPaperFollowerReplacesConflicts: "If an existing entry conflicts with a new
// one (same index but different terms), delete the existing entry and all that
// follow it. Append any new entries not already in the log" (figure 2,
// AppendEntries steps 3 and 4). Entries already held are not written again.
func TestPaperFollowerReplacesConflicts(t *testing.T) {
	// The follower holds 1/1 2/2, nothing committed.
	tests := []struct {
		index, logTerm uint64
		ents           []pb.Entry
		wantLog        []pb.Entry
		wantUnstable   []pb.Entry
	}{
		{2, 2, paperEnts(3, 3), paperEnts(1, 1, 2, 3), paperEnts(3, 3)},
		{1, 1, paperEnts(2, 3, 4), paperEnts(1, 1, 3, 4), paperEnts(2, 3, 4)},
		{0, 0, paperEnts(1, 1), paperEnts(1, 1, 2), nil},
		{0, 0, paperEnts(1, 1, 2), paperEnts(1, 1, 2), nil},
		{0, 0, paperEnts(1, 3), paperEnts(1, 3), paperEnts(1, 3)},
		{1, 1, paperEnts(2, 2, 5, 5), paperEnts(1, 1, 2, 5, 5), paperEnts(3, 5, 5)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after=%d/%d/%s", tt.logTerm, tt.index, paperEntsString(tt.ents)), func(t *testing.T) {
			m := paperSpec{term: 2}.withLog(1, 2).build(t)
			m.handleReady(t)
			r := m.raft()
			if err := r.Step(pb.Message{Type: pb.MsgApp, From: 2, To: 1, Term: 2, LogTerm: tt.logTerm, Index: tt.index, Entries: tt.ents}); err != nil {
				t.Fatal(err)
			}
			if got, want := paperEntsString(r.raftLog.allEntries()), paperEntsString(tt.wantLog); got != want {
				t.Fatalf("log %s, want %s", got, want)
			}
			if got, want := paperEntsString(r.raftLog.nextUnstableEnts()), paperEntsString(tt.wantUnstable); got != want {
				t.Fatalf("to persist %s, want %s", got, want)
			}
			m.handleReady(t)
			if got, want := paperEntsString(m.storage.ents[1:]), paperEntsString(tt.wantLog); got != want {
				t.Fatalf("persisted %s, want %s", got, want)
			}
		})
	}
}

// TestPaperLeaderProbesBack: "After a rejection, the leader decrements nextIndex
// and retries the AppendEntries RPC" (§5.3), here skipping a whole conflicting
// term at a time with the follower's hint (the optimization §5.3 sketches). The
// leader's log is that of figure 7 (term 8).
func TestPaperLeaderProbesBack(t *testing.T) {
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	tests := []struct {
		name string
		// hint and hintTerm are the follower's answer to the leader's first
		// probe, which names index 10 (its last entry before its empty one).
		hint, hintTerm uint64
		wantIndex      uint64
		wantLogTerm    uint64
	}{
		{"figure 7 (a): missing the last entry", 9, 6, 9, 6},
		{"figure 7 (b): missing a term and a half", 4, 4, 4, 4},
		{"figure 7 (e): extra entries of term 4", 7, 4, 5, 4},
		{"figure 7 (f): entries of terms 2 and 3", 10, 3, 3, 1},
		{"empty follower", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := paperSpec{term: 7}.withLog(leaderLog...).build(t)
			paperBecome(t, m, StateLeader)
			r := m.raft()
			if r.Term != 8 {
				t.Fatalf("leader at term %d, want 8", r.Term)
			}
			out := paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: 2, Term: 8, Index: 10, Reject: true, RejectHint: tt.hint, LogTerm: tt.hintTerm})
			out = paperOfType(out, pb.MsgApp)
			if len(out) != 1 || out[0].To != 2 || out[0].Index != tt.wantIndex || out[0].LogTerm != tt.wantLogTerm {
				t.Fatalf("sent %q, want one MsgApp to 2 after %d/%d", paperMsgsString(out), tt.wantLogTerm, tt.wantIndex)
			}
			if got, want := len(out[0].Entries), 11-int(tt.wantIndex); got != want {
				t.Fatalf("MsgApp carries %d entries, want the %d after index %d", got, want, tt.wantIndex)
			}
		})
	}
}

// TestPaperLeaderSyncsFollowerLog: "the leader handles inconsistencies by forcing
// the followers' logs to duplicate its own" (§5.3), for each follower of figure
// 7: missing entries, extra uncommitted entries, or both. Member 3 is absent;
// its vote is injected so the leader can win against a more up-to-date follower.
func TestPaperLeaderSyncsFollowerLog(t *testing.T) {
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	tests := []struct {
		name        string
		followerLog []uint64
	}{
		{"(a)", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}},
		{"(b)", []uint64{1, 1, 1, 4}},
		{"(c)", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},
		{"(d)", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},
		{"(e)", []uint64{1, 1, 1, 4, 4, 4, 4}},
		{"(f)", []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, nil)
			nw.addMember(paperSpec{term: 8, commit: uint64(len(leaderLog))}.withLog(leaderLog...).config(t))
			nw.addMember(paperSpec{id: 2, term: 7}.withLog(tt.followerLog...).config(t))
			nw.stabilize()
			nw.campaign(1)
			nw.send(pb.Message{Type: pb.MsgVoteResp, From: 3, To: 1, Term: 9})
			nw.mustLeader(1)
			if err := nw.propose(1, "x"); err != nil {
				t.Fatal(err)
			}
			if l, f := paperLog(nw.member(1)), paperLog(nw.member(2)); l != f {
				t.Fatalf("follower log %s, want the leader's %s", f, l)
			}
			nw.checkAppliedAgree()
		})
	}
}

// ---------------------------------------------------------------------------
// §5.4: safety.

// TestPaperVoteRequestCarriesLastEntry: RequestVote carries "lastLogIndex: index
// of candidate's last log entry, lastLogTerm: term of candidate's last log entry"
// (figure 2).
func TestPaperVoteRequestCarriesLastEntry(t *testing.T) {
	for _, terms := range [][]uint64{{}, {1}, {1, 2}, {1, 1, 3}, {2, 2, 2, 2}} {
		t.Run(fmt.Sprintf("log=%v", terms), func(t *testing.T) {
			m := paperSpec{term: 3}.withLog(terms...).build(t)
			m.handleReady(t)
			if err := m.rn.Campaign(); err != nil {
				t.Fatal(err)
			}
			var li, lt uint64
			if n := len(terms); n > 0 {
				li, lt = uint64(n), terms[n-1]
			}
			paperCheckMsgs(t, m.handleReady(t), []pb.Message{
				{Type: pb.MsgVote, From: 1, To: 2, Term: 4, Index: li, LogTerm: lt},
				{Type: pb.MsgVote, From: 1, To: 3, Term: 4, Index: li, LogTerm: lt},
			})
		})
	}
}

// TestPaperVoterDeniesLessUpToDate: the election restriction, "the voter denies
// its vote if its own log is more up-to-date than that of the candidate. ... If
// the logs have last entries with different terms, then the log with the later
// term is more up-to-date. If the logs end with the same term, then whichever
// log is longer is more up-to-date" (§5.4.1).
func TestPaperVoterDeniesLessUpToDate(t *testing.T) {
	tests := []struct {
		voterLog       []uint64
		logTerm, index uint64
		wantReject     bool
	}{
		// same last term
		{[]uint64{1}, 1, 1, false},
		{[]uint64{1}, 1, 2, false},
		{[]uint64{1, 1}, 1, 1, true},
		// the candidate's last term is later
		{[]uint64{1}, 2, 1, false},
		{[]uint64{1}, 2, 2, false},
		{[]uint64{1, 1}, 2, 1, false},
		{[]uint64{1, 1, 1, 1}, 2, 1, false},
		// the voter's last term is later, however long the candidate's log
		{[]uint64{2}, 1, 1, true},
		{[]uint64{2}, 1, 2, true},
		{[]uint64{2, 1}, 1, 1, true},
		{[]uint64{1, 2}, 1, 10, true},
		// an empty voter log
		{nil, 0, 0, false},
		{nil, 1, 1, false},
		{[]uint64{1}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("voter=%v/candidate=%d@%d", tt.voterLog, tt.logTerm, tt.index), func(t *testing.T) {
			m := paperSpec{term: 2}.withLog(tt.voterLog...).build(t)
			m.handleReady(t)
			out := paperStep(t, m, pb.Message{Type: pb.MsgVote, From: 2, Term: 3, LogTerm: tt.logTerm, Index: tt.index})
			paperCheckMsgs(t, out, []pb.Message{{Type: pb.MsgVoteResp, From: 1, To: 2, Term: 3, Reject: tt.wantReject}})
			wantVote := uint64(2)
			if tt.wantReject {
				wantVote = None
			}
			if v := m.raft().Vote; v != wantVote {
				t.Fatalf("vote %d, want %d", v, wantVote)
			}
		})
	}
}

// TestPaperLeaderCompleteness: "If a log entry is committed in a given term, then
// that entry will be present in the logs of the leaders for all higher-numbered
// terms" (figure 3). An entry committed by 1 and 2 while 3 was cut off: 3 cannot
// become leader (2 denies it), 2 can, and every member ends up applying it.
func TestPaperLeaderCompleteness(t *testing.T) {
	tests := []struct {
		candidate uint64
		wantWin   bool
	}{
		{3, false},
		{2, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("candidate=%d", tt.candidate), func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			nw.campaign(1)
			nw.cutLink(1, 3)
			if err := nw.propose(1, "committed"); err != nil {
				t.Fatal(err)
			}
			if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"committed"}) {
				t.Fatalf("member 2 applied %v", got)
			}
			nw.heal()
			nw.isolate(1)
			nw.campaign(tt.candidate)
			if got := nw.member(tt.candidate).raft().state == StateLeader; got != tt.wantWin {
				t.Fatalf("candidate %d leads=%v, want %v", tt.candidate, got, tt.wantWin)
			}
			if !tt.wantWin {
				nw.campaign(2)
				nw.mustLeader(2)
			}
			if err := nw.propose(2, "next"); err != nil {
				t.Fatal(err)
			}
			for _, id := range []uint64{2, 3} {
				if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"committed", "next"}) {
					t.Fatalf("member %d applied %v", id, got)
				}
			}
			nw.checkAppliedAgree()
		})
	}
}

// TestPaperLeaderCommitsOnlyOwnTermByCounting: "Raft never commits log entries
// from previous terms by counting replicas. Only log entries from the leader's
// current term are committed by counting replicas" (§5.4.2).
func TestPaperLeaderCommitsOnlyOwnTermByCounting(t *testing.T) {
	tests := []struct {
		ackIndex   uint64
		wantCommit uint64
	}{
		{1, 0},
		{2, 0},
		{3, 3}, // the leader's empty entry, of its own term
		{4, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ack=%d", tt.ackIndex), func(t *testing.T) {
			m := paperSpec{voters: []uint64{1, 2}, term: 2}.withLog(1, 2).build(t)
			paperBecome(t, m, StateLeader) // term 3, empty entry at 3
			r := m.raft()
			if err := m.rn.Propose([]byte("x")); err != nil {
				t.Fatal(err)
			}
			m.handleReady(t)
			paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: 2, Term: r.Term, Index: tt.ackIndex})
			if r.raftLog.committed != tt.wantCommit {
				t.Fatalf("committed %d, want %d", r.raftLog.committed, tt.wantCommit)
			}
		})
	}
}

// TestPaperFigure8: the scenario of figure 8, with the figure's terms. S1 leads
// in term 2 and replicates an entry ("a") to S2 only; S5 wins term 3 with S3 and
// S4 and appends an entry at the same index that it cannot replicate; S1 wins
// term 4 and replicates "a" to S3, so that a majority stores it. If S1 crashes
// before an entry of term 4 is on a majority as well, "a" is not committed and
// S5 may overwrite it; if S1 gets its own entry onto a majority first, "a"
// commits with it and S5 can no longer win.
func TestPaperFigure8(t *testing.T) {
	tests := []struct {
		name string
		// ownTermReplicates: S1's term-4 entry reaches S2 and S3 (else only "a").
		ownTermReplicates bool
		// wantACommitted: S1 commits "a" (and its own entry after it).
		wantACommitted bool
		wantS5Leads    bool
		wantApplied    []string
	}{
		{"(c)-(d): term 4 entry lost, S5 overwrites", false, false, true, []string{"b"}},
		{"(e): term 4 entry on a majority", true, true, false, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3, 4, 5})
			h := newPaperHarness(nw)
			// (a) S1 leads term 2 (after S2 led term 1) and replicates "a" to S2
			// only.
			nw.campaign(2)
			nw.campaign(1)
			if r := nw.member(1).raft(); r.state != StateLeader || r.Term != 2 {
				t.Fatalf("S1 is %s at term %d, want leader at term 2", r.state, r.Term)
			}
			for _, id := range []uint64{3, 4, 5} {
				nw.cutLink(1, id)
			}
			if err := nw.propose(1, "a"); err != nil {
				t.Fatal(err)
			}
			aIndex := nw.member(1).raft().raftLog.lastIndex()
			// (b) S1 crashes; S5 wins term 3 with S3 and S4, and appends an entry
			// (its empty one, 3/3) that reaches no one.
			nw.heal()
			nw.isolate(1)
			nw.hook = func(m pb.Message) bool { return m.From != 5 || m.Type != pb.MsgApp }
			nw.campaign(5)
			nw.mustLeader(5)
			if r := nw.member(5).raft(); r.Term != 3 {
				t.Fatalf("S5 leads term %d, want 3", r.Term)
			}
			// (c) S5 crashes; S1 restarts and wins term 4 with S2 and S3. S4 is
			// unreachable so that S1's entries reach exactly S2 and S3.
			nw.heal()
			nw.isolate(5)
			nw.cutLink(1, 4)
			nw.restart(1)
			if !tt.ownTermReplicates {
				h.rewrite = func(m *pb.Message) bool {
					if m.From == 1 && m.Type == pb.MsgApp {
						m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e pb.Entry) bool { return e.Term == 4 })
					}
					return true
				}
			}
			for range 3 {
				if nw.member(1).raft().state == StateLeader {
					break
				}
				h.campaign(1)
			}
			s1 := nw.member(1).raft()
			if s1.state != StateLeader || s1.Term != 4 {
				t.Fatalf("S1 is %s at term %d, want leader at term 4", s1.state, s1.Term)
			}
			for _, id := range []uint64{1, 2, 3} {
				if term, _ := nw.member(id).raft().raftLog.term(aIndex); term != 2 {
					t.Fatalf("S%d holds term %d at index %d, want \"a\" of term 2", id, term, aIndex)
				}
			}
			wantCommit := aIndex - 1
			if tt.wantACommitted {
				wantCommit = aIndex + 1
			}
			if s1.raftLog.committed != wantCommit {
				t.Fatalf("S1 committed %d, want %d (\"a\" is at %d)", s1.raftLog.committed, wantCommit, aIndex)
			}
			// (d)/(e) S1 crashes; S5 restarts and campaigns.
			h.rewrite = nil
			nw.heal()
			nw.isolate(1)
			nw.restart(1)
			nw.restart(5)
			for range 3 {
				if nw.member(5).raft().state == StateLeader {
					break
				}
				nw.campaign(5)
			}
			if got := nw.member(5).raft().state == StateLeader; got != tt.wantS5Leads {
				t.Fatalf("S5 leads=%v, want %v", got, tt.wantS5Leads)
			}
			// Everyone reconnects; whoever leads adds "b".
			nw.heal()
			for range 100 {
				if nw.leader() != None {
					break
				}
				nw.tick(1)
			}
			if err := nw.propose(nw.leader(), "b"); err != nil {
				t.Fatal(err)
			}
			nw.tick(2)
			for _, id := range nw.ids() {
				if got := nw.member(id).appliedData(); !slices.Equal(got, tt.wantApplied) {
					t.Fatalf("S%d applied %v, want %v", id, got, tt.wantApplied)
				}
			}
			nw.checkAppliedAgree()
		})
	}
}

// TestPaperFollowersApplyInOrder: "Once a follower learns that a log entry is
// committed, it applies the entry to its local state machine (in log order)"
// (§5.3), and State Machine Safety (figure 3): every member applies the same
// entries, without gaps, even one that was partitioned for a while.
func TestPaperFollowersApplyInOrder(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	for i := range 5 {
		if err := nw.propose(1, fmt.Sprintf("a%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	nw.isolate(3)
	for i := range 5 {
		if err := nw.propose(1, fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	nw.heal()
	nw.tick(3)
	if err := nw.propose(2, "c"); err != nil {
		t.Fatal(err)
	}
	nw.tick(2)
	leader := nw.member(1).raft()
	want := paperEntsString(leader.raftLog.allEntries())
	for _, id := range nw.ids() {
		m := nw.member(id)
		if got := paperEntsString(m.applied); got != want {
			t.Fatalf("member %d applied %s, want the leader's log %s", id, got, want)
		}
		if m.raft().raftLog.applied != leader.raftLog.committed {
			t.Fatalf("member %d applied to %d, want %d", id, m.raft().raftLog.applied, leader.raftLog.committed)
		}
	}
	nw.checkAppliedAgree()
}

// TestPaperCommitIndexReachesFollowers: the leader "includes that index in future
// AppendEntries RPCs (including heartbeats) so that the other servers eventually
// find out" (§5.3): after a commit, every follower's commit index catches up,
// also one that missed the messages that carried it.
func TestPaperCommitIndexReachesFollowers(t *testing.T) {
	tests := []struct {
		name string
		// fault is in place during the proposals; ticks follow its removal.
		fault func(nw *network)
		ticks int
	}{
		{"no fault", func(*network) {}, 0},
		{"follower partitioned", func(nw *network) { nw.isolate(3) }, 2},
		{"commit-only appends lost", func(nw *network) {
			nw.hook = func(m pb.Message) bool { return !(m.To == 3 && m.Type == pb.MsgApp && len(m.Entries) == 0) }
		}, 1},
		{"appends lost, heartbeats only", func(nw *network) {
			nw.hook = func(m pb.Message) bool { return !(m.To == 3 && m.Type == pb.MsgApp) }
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNetwork(t, []uint64{1, 2, 3})
			nw.campaign(1)
			tt.fault(nw)
			for _, d := range []string{"x", "y", "z"} {
				if err := nw.propose(1, d); err != nil {
					t.Fatal(err)
				}
			}
			nw.heal()
			nw.tick(tt.ticks)
			commit := nw.member(1).raft().raftLog.committed
			for _, id := range []uint64{2, 3} {
				m := nw.member(id)
				if c := m.raft().raftLog.committed; c != commit {
					t.Fatalf("member %d committed %d, want the leader's %d", id, c, commit)
				}
				if got := m.appliedData(); !slices.Equal(got, []string{"x", "y", "z"}) {
					t.Fatalf("member %d applied %v", id, got)
				}
			}
		})
	}
}

// TestPaperLeaderAppendOnly: "a leader never overwrites or deletes entries in its
// log; it only appends new entries" (figure 3). Whatever a leader receives —
// stale appends from an old leader with conflicting entries, rejections, stale
// votes — its log only grows while it leads.
func TestPaperLeaderAppendOnly(t *testing.T) {
	tests := []struct {
		name string
		msg  func(r *raft) pb.Message
	}{
		{"stale MsgApp with conflicting entries", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgApp, Term: r.Term - 1, Index: 1, LogTerm: 1, Entries: paperEnts(2, r.Term-1, r.Term-1), Commit: 3}
		}},
		{"stale MsgSnap", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgSnap, Term: r.Term - 1, Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{
				Index: 10, Term: r.Term - 1, ConfState: pb.ConfState{Voters: []uint64{1, 2, 3}}}}}
		}},
		{"rejection", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgAppResp, Term: r.Term, Index: r.raftLog.lastIndex(), Reject: true, RejectHint: 0}
		}},
		{"stale vote request", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgVote, Term: r.Term - 1, Index: 100, LogTerm: 100}
		}},
		{"same-term vote request", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgVote, Term: r.Term, Index: 100, LogTerm: 100}
		}},
		{"proposal", func(r *raft) pb.Message {
			return pb.Message{Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("p")}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := paperSpec{term: 3}.withLog(1, 2, 3).build(t)
			paperBecome(t, m, StateLeader)
			r := m.raft()
			if err := m.rn.Propose([]byte("uncommitted")); err != nil {
				t.Fatal(err)
			}
			m.handleReady(t)
			before := r.raftLog.allEntries()
			msg := tt.msg(r)
			msg.From = 2
			paperStep(t, m, msg)
			if r.state != StateLeader {
				t.Fatalf("member stopped leading: %s", r.state)
			}
			after := r.raftLog.allEntries()
			if len(after) < len(before) || paperEntsString(after[:len(before)]) != paperEntsString(before) {
				t.Fatalf("leader log changed from %s to %s", paperEntsString(before), paperEntsString(after))
			}
		})
	}
}

// TestPaperSafetyUnderPartitions runs a five-member cluster through random
// partitions and message loss and checks, after every tick, Election Safety ("at
// most one leader can be elected in a given term", figure 3: from the members'
// states and from every append or heartbeat on the wire), Leader Append-Only,
// Log Matching ("if two logs contain an entry with the same index and term, then
// the logs are identical in all entries up through the given index"), and at the
// end State Machine Safety.
func TestPaperSafetyUnderPartitions(t *testing.T) {
	tests := []struct {
		name                 string
		preVote, checkQuorum bool
		seed                 uint64
	}{
		{"plain", false, false, 1},
		{"plain, other seed", false, false, 2},
		{"pre-vote", true, false, 3},
		{"check-quorum", false, true, 4},
		{"pre-vote and check-quorum", true, true, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := []uint64{1, 2, 3, 4, 5}
			nw := newNetwork(t, ids, func(c *Config) { c.PreVote, c.CheckQuorum = tt.preVote, tt.checkQuorum })
			rng := rand.New(rand.NewPCG(tt.seed, tt.seed))
			leaders := make(map[uint64]uint64) // term -> leader
			record := func(term, id uint64, how string) {
				if prev, ok := leaders[term]; ok && prev != id {
					t.Fatalf("two leaders in term %d: %d and %d (%s)", term, prev, id, how)
				}
				leaders[term] = id
			}
			nw.hook = func(m pb.Message) bool {
				if m.Type == pb.MsgApp || m.Type == pb.MsgHeartbeat || m.Type == pb.MsgSnap {
					record(m.Term, m.From, "on the wire")
				}
				return rng.IntN(10) != 0 // lose one message in ten
			}
			leaderLogs := make(map[[2]uint64][]pb.Entry) // (id, term) -> log while leading
			proposals := 0
			for round := range 400 {
				if round%25 == 0 {
					// A new partition: each member on side 0 or 1 (sometimes all
					// on one side).
					nw.cut = make(map[[2]uint64]bool)
					side := make(map[uint64]int)
					for _, id := range ids {
						side[id] = rng.IntN(2)
					}
					for _, a := range ids {
						for _, b := range ids {
							if side[a] != side[b] {
								nw.cut[[2]uint64{a, b}] = true
							}
						}
					}
				}
				nw.tick(1)
				if lead := nw.leader(); lead != None && round%3 == 0 {
					if nw.member(lead).rn.Propose([]byte(fmt.Sprintf("p%d", round))) == nil {
						proposals++
					}
					nw.stabilize()
				}
				for _, id := range ids {
					r := nw.member(id).raft()
					if r.state != StateLeader {
						continue
					}
					record(r.Term, id, "by state")
					key := [2]uint64{id, r.Term}
					log := r.raftLog.allEntries()
					if prev, ok := leaderLogs[key]; ok {
						if len(log) < len(prev) || paperEntsString(log[:len(prev)]) != paperEntsString(prev) {
							t.Fatalf("leader %d of term %d changed its log from %s to %s", id, r.Term, paperEntsString(prev), paperEntsString(log))
						}
					}
					leaderLogs[key] = slices.Clone(log)
				}
				paperCheckLogMatching(t, nw)
			}
			nw.heal()
			nw.tick(30)
			nw.checkAppliedAgree()
			if len(leaders) < 3 || proposals < 20 {
				t.Fatalf("too little happened: %d terms with a leader, %d proposals", len(leaders), proposals)
			}
		})
	}
}
