package raft

// Rule-by-rule tests of the Raft paper, §5.3: log replication. See raft_paper_test.go.

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

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
