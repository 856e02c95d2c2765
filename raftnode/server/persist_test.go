package server

import (
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func msgs(index ...uint64) []pb.Message {
	out := make([]pb.Message, len(index))
	for i, idx := range index {
		out[i] = pb.Message{Type: pb.MsgAppResp, Index: idx}
	}
	return out
}

func indexes(batches [][]pb.Message) []uint64 {
	var out []uint64
	for _, b := range batches {
		for _, m := range b {
			out = append(out, m.Index)
		}
	}
	return out
}

// Messages that follow a write wait until the write is durable, in order,
// whatever order sync completions arrive in; the core hears of each durable
// write once, with the last entry and the newest hard state term it covers.
func TestSyncWaitHoldsMessagesUntilDurable(t *testing.T) {
	var sw syncWait
	// Nothing unsynced: messages go at once.
	if send := sw.holdOrSend(msgs(1)); len(send) != 1 {
		t.Fatalf("with every write durable, holdOrSend sent %v", send)
	}

	// Write 1 (entries to 5, term 2, hard state term 2), its messages; write
	// 2 (entries to 7), its messages; write 3 only a hard state (term 3).
	sw.recordWrite(1, true, raft.Ready{HardState: pb.HardState{Term: 2}, Entries: []pb.Entry{{Index: 5, Term: 2}}})
	batch := msgs(5)
	if send := sw.holdOrSend(batch); send != nil {
		t.Fatalf("sent %v before write 1 was durable", send)
	}
	batch[0].Index = 99 // the core reuses its slices: the held copy must not change
	sw.recordWrite(2, true, raft.Ready{Entries: []pb.Entry{{Index: 7, Term: 2}}})
	if send := sw.holdOrSend(msgs(7)); send != nil {
		t.Fatalf("sent %v before write 2 was durable", send)
	}
	sw.recordWrite(3, true, raft.Ready{HardState: pb.HardState{Term: 3}})

	// Sync of 2 arrives first: writes 1 and 2 are durable (one fsync covers
	// every write before it), their messages go, in order.
	p, send := sw.onSynced(2)
	if p == nil || p.index != 7 || p.term != 2 || p.hardStateTerm != 2 {
		t.Fatalf("onSynced(2) persisted %+v, want entries to 7 term 2, hard state term 2", p)
	}
	if got := indexes(send); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Fatalf("onSynced(2) sent %v, want 5 then 7 (the held copy, not the reused slice)", got)
	}
	// The older completion, late: nothing again.
	if p, send := sw.onSynced(1); p != nil || send != nil {
		t.Fatalf("a late onSynced(1) = %+v, %v; want nothing", p, send)
	}
	// A write of no entries, only a hard state.
	if send := sw.holdOrSend(msgs(8)); send != nil {
		t.Fatal("sent before write 3 was durable")
	}
	p, send = sw.onSynced(3)
	if p == nil || p.index != 0 || p.hardStateTerm != 3 || len(indexes(send)) != 1 {
		t.Fatalf("onSynced(3) = %+v, %v; want hard state term 3, no entries, one message", p, send)
	}
	if send := sw.holdOrSend(msgs(9)); len(send) != 1 {
		t.Fatal("with every write durable again, holdOrSend held")
	}
}

// A Ready that needs no sync leaves the wait as it was: its messages still
// wait behind an earlier write that is not durable.
func TestSyncWaitKeepsOrderBehindUnsyncedWrite(t *testing.T) {
	var sw syncWait
	sw.recordWrite(1, true, raft.Ready{Entries: []pb.Entry{{Index: 3, Term: 1}}})
	_ = sw.holdOrSend(msgs(3))
	sw.recordWrite(2, false, raft.Ready{})
	if send := sw.holdOrSend(msgs(4)); send != nil {
		t.Fatalf("a message overtook one held for write 1: %v", send)
	}
	_, send := sw.onSynced(1)
	if got := indexes(send); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("onSynced(1) sent %v, want 3 then 4", got)
	}
}
