package raft

import (
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func async(c *Config) { c.AsyncPersistence = true }

// lastEntry is the index and term of rd's last entry, or zeros.
func lastEntry(rd Ready) (uint64, uint64) {
	if n := len(rd.Entries); n > 0 {
		return rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	return 0, 0
}

// With AsyncPersistence, Advance no longer counts the leader's own copy:
// commit waits for Persisted, however many Readys go by.
func TestAsyncPersistenceLeaderCommitsAfterPersisted(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1}, async)
	_ = h.rn.Campaign()
	for _, rd := range h.drain() {
		i, tm := lastEntry(rd)
		h.rn.Persisted(i, tm, rd.HardState.Term)
	}
	h.drain()
	if err := h.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := h.next()
	idx, term := lastEntry(rd)
	commit := h.rn.raft.raftLog.committed
	if err := h.rn.Propose([]byte("y")); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.rn.Tick()
	h.drain()
	if got := h.rn.raft.raftLog.committed; got != commit {
		t.Fatalf("commit moved from %d to %d before the write was reported durable", commit, got)
	}
	h.rn.Persisted(idx, term, 0)
	if got := h.rn.raft.raftLog.committed; got != idx {
		t.Fatalf("commit = %d after Persisted(%d), want %d: y is not durable yet", got, idx, idx)
	}
	h.drain()
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("applied %v, want [x]", got)
	}
	h.rn.Persisted(idx+1, term, 0)
	h.drain()
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("applied %v, want [x y]", got)
	}
}

// A leader elected in a term whose hard state was handed over but not yet
// reported durable sends its appends after persistence (in Messages), and
// early (LeaderMessages) only once Persisted covers the term.
func TestAsyncPersistenceEarlySendWaitsForDurableTerm(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3}, async)
	_ = h.rn.Campaign()
	rd := h.next() // term 1 and the vote: handed over, not durable
	if err := h.rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	lead := h.next()
	if len(lead.LeaderMessages) != 0 || len(lead.Messages) != 2 {
		t.Fatalf("undurable term: LeaderMessages %v Messages %v, want the appends in Messages",
			msgTypes(lead.LeaderMessages), msgTypes(lead.Messages))
	}
	h.rn.Persisted(0, 0, rd.HardState.Term)
	for _, id := range []uint64{2, 3} {
		if err := h.rn.Step(pb.Message{Type: pb.MsgAppResp, From: id, To: 1, Term: 1, Index: 2}); err != nil {
			t.Fatal(err)
		}
	}
	h.drain()
	if err := h.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd = h.next()
	if got := msgTypes(rd.LeaderMessages); !slices.Equal(got, []pb.MessageType{pb.MsgApp, pb.MsgApp}) {
		t.Fatalf("durable term: LeaderMessages %v, want two MsgApp", got)
	}
}

// A report for entries a new leader has since replaced must not count the
// replacements as durable.
func TestAsyncPersistenceIgnoresReplacedEntries(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3}, async)
	// Entries 2 and 3 of term 1 from leader 2, handed over.
	app := pb.Message{Type: pb.MsgApp, From: 2, To: 1, Term: 1, Index: 1, LogTerm: 1,
		Entries: []pb.Entry{{Index: 2, Term: 1}, {Index: 3, Term: 1}}}
	if err := h.rn.Step(app); err != nil {
		t.Fatal(err)
	}
	h.drain()
	// Leader 3 of term 2 replaces entry 3.
	app = pb.Message{Type: pb.MsgApp, From: 3, To: 1, Term: 2, Index: 2, LogTerm: 1,
		Entries: []pb.Entry{{Index: 3, Term: 2}}}
	if err := h.rn.Step(app); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.rn.Persisted(3, 1, 1) // the old entry 3 was synced
	if got := h.rn.raft.persistedIndex(); got == 3 {
		t.Fatalf("persisted index 3, but entry 3 of term 2 was never reported durable")
	}
	h.rn.Persisted(3, 2, 2)
	if got := h.rn.raft.persistedIndex(); got != 3 {
		t.Fatalf("persisted index %d after the replacement was reported, want 3", got)
	}
}

// A report of an older sync must not make entries durable that replaced the
// reported ones: here the only voter's log 1..6 (term 2) is durable, a leader
// of term 3 cuts it back to 4/3, the member wins term 4 alone and appends
// 5/4, and then only the hard-state write of term 3 is reported synced. The
// durable log still ends 5/2, 6/2, so nothing of terms 3 and 4 may commit.
// Found by reading, while extending the simulation to AsyncPersistence.
func TestAsyncPersistenceStaleReportAfterTruncation(t *testing.T) {
	ms := newBootstrapStorage([]uint64{1}, nil)
	_ = ms.Append([]pb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}, {Index: 4, Term: 2}, {Index: 5, Term: 2}, {Index: 6, Term: 2}})
	_ = ms.SetHardState(pb.HardState{Term: 2, Commit: 1})
	cfg := newTestConfig(1, 10, 1, ms)
	cfg.AsyncPersistence = true
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func() { // written, not yet synced
		for rn.HasReady() {
			rd := rn.Ready()
			if !IsEmptyHardState(rd.HardState) {
				_ = ms.SetHardState(rd.HardState)
			}
			_ = ms.Append(rd.Entries)
			rn.Advance(rd)
		}
	}
	_ = rn.Step(pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 1, Term: 3}) // hard state of term 3
	write()
	_ = rn.Step(pb.Message{Type: pb.MsgApp, From: 2, To: 1, Term: 3, Index: 3, LogTerm: 2, Entries: []pb.Entry{{Index: 4, Term: 3}}})
	write()
	_ = rn.Campaign()
	write()
	if rn.raft.state != StateLeader {
		t.Fatalf("state %v, want the only voter to lead", rn.raft.state)
	}
	rn.Persisted(0, 0, 3) // only the first write (hard state) is durable
	if c := rn.raft.raftLog.committed; c > 3 {
		t.Fatalf("committed %d: entries written after the log was cut back count as durable, but the durable log has 5/2", c)
	}
	// Once the writes since are reported, the leader's entries commit.
	rn.Persisted(rn.raft.raftLog.lastIndex(), rn.raft.raftLog.lastTerm(), rn.raft.Term)
	if c, last := rn.raft.raftLog.committed, rn.raft.raftLog.lastIndex(); c != last {
		t.Errorf("committed %d after every write was reported, want %d", c, last)
	}
}
