package raft

// Rule-by-rule tests of the Raft paper, §5.4: safety. See raft_paper_test.go.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

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
