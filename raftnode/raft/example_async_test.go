package raft_test

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// asyncMember hands each Ready's writes to its storage at once, as a write to
// a file's page cache would, and makes them durable later in one fsync that
// covers every write before it.
type asyncMember struct {
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	// unsynced are the writes handed over but not yet durable, in order.
	unsynced []unsyncedWrite
	// outbox holds the messages free to go to the transport.
	outbox []pb.Message
}

// unsyncedWrite is one Ready's write: what to report to Persisted once it is
// durable, and the Messages that must wait until then.
type unsyncedWrite struct {
	index, term   uint64 // the last entry written; 0, 0 when none
	hardStateTerm uint64 // the term of the hard state written; 0 when none
	held          []pb.Message
}

// handleReady writes, applies and advances without waiting for the disk.
func (m *asyncMember) handleReady() {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		// LeaderMessages may go now (a single member has none).
		m.outbox = append(m.outbox, rd.LeaderMessages...)
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := m.storage.SetHardState(rd.HardState); err != nil {
				panic(err)
			}
		}
		if err := m.storage.Append(rd.Entries); err != nil {
			panic(err)
		}
		w := unsyncedWrite{hardStateTerm: rd.HardState.Term}
		if n := len(rd.Entries); n > 0 {
			w.index, w.term = rd.Entries[n-1].Index, rd.Entries[n-1].Term
			fmt.Printf("written, not durable yet: entries %d..%d\n", rd.Entries[0].Index, w.index)
		}
		// Messages wait for the sync, kept past Advance: the Ready's
		// slices are the caller's to keep (unless
		// Config.ReuseReadyMessages), so no copy is needed.
		w.held = rd.Messages
		m.unsynced = append(m.unsynced, w)
		// Committed means durable on a quorum: apply at once, whether or not
		// this member's own copy is synced yet.
		for _, e := range rd.CommittedEntries {
			if len(e.Data) > 0 {
				fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
			}
		}
		m.rn.Advance(rd)
	}
}

// fsync makes every write so far durable and reports them with one call to
// Persisted: the last entry written and the newest hard state term. It then
// sends the messages that waited for those writes.
func (m *asyncMember) fsync() {
	var index, term, hardStateTerm uint64
	for _, w := range m.unsynced {
		if w.index > 0 {
			index, term = w.index, w.term
		}
		hardStateTerm = max(hardStateTerm, w.hardStateTerm)
		m.outbox = append(m.outbox, w.held...)
	}
	m.unsynced = nil
	fmt.Printf("fsync, then Persisted(%d, %d, %d)\n", index, term, hardStateTerm)
	m.rn.Persisted(index, term, hardStateTerm)
}

// With Config.AsyncPersistence, Advance means only that a Ready's writes are
// visible through Storage; the caller syncs in the background and reports
// each durable write with Persisted. Meanwhile the member keeps stepping
// messages and taking proposals, but a leader counts its own copy toward
// commit only once Persisted covers it.
func Example_asyncPersistence() {
	storage := raft.NewMemoryStorage()
	bootstrap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1}},
	}}
	if err := storage.ApplySnapshot(bootstrap); err != nil {
		panic(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:               1,
		ElectionTick:     10,
		HeartbeatTick:    1,
		Storage:          storage,
		MaxSizePerMsg:    1 << 20,
		MaxInflightMsgs:  256,
		AsyncPersistence: true,
	})
	if err != nil {
		panic(err)
	}
	m := &asyncMember{rn: rn, storage: storage}

	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	m.handleReady()
	m.fsync()
	m.handleReady()

	// Two proposals while the disk is busy: both are written, neither
	// commits, because the only voter's copy is not durable.
	for _, v := range []string{"x=1", "y=2"} {
		if err := rn.Propose([]byte(v)); err != nil {
			panic(err)
		}
		m.handleReady()
	}
	fmt.Println("commit before the sync:", rn.BasicStatus().Commit)
	m.fsync()
	fmt.Println("commit after the sync:", rn.BasicStatus().Commit)
	m.handleReady()
	// Output:
	// written, not durable yet: entries 2..2
	// fsync, then Persisted(2, 1, 1)
	// written, not durable yet: entries 3..3
	// written, not durable yet: entries 4..4
	// commit before the sync: 2
	// fsync, then Persisted(4, 1, 1)
	// commit after the sync: 4
	// applied "x=1" at index 3
	// applied "y=2" at index 4
}
