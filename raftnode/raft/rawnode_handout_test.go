package raft_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// keptMessages runs three members through an election and 100 proposals,
// keeping every Ready's message slices as a caller that hands them to
// another goroutine would (no copy), with a snapshot of their contents taken
// when they were handed out. It returns how many kept messages changed after
// their Ready was advanced.
func keptMessages(t *testing.T, reuse bool) (kept, changed int) {
	t.Helper()
	type keptSlice struct{ held, copied []pb.Message }
	var all []keptSlice
	nodes := map[uint64]*raft.RawNode{}
	storages := map[uint64]*raft.MemoryStorage{}
	for _, id := range []uint64{1, 2, 3} {
		st := raft.NewMemoryStorage()
		if err := st.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1,
			ConfState: pb.ConfState{Voters: []uint64{1, 2, 3}}}}); err != nil {
			t.Fatal(err)
		}
		rn, err := raft.NewRawNode(&raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, ReuseReadyMessages: reuse})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id], storages[id] = rn, st
	}
	pump := func() {
		for {
			var sent []pb.Message
			for _, id := range []uint64{1, 2, 3} {
				rn := nodes[id]
				for rn.HasReady() {
					rd := rn.Ready()
					for _, s := range [][]pb.Message{rd.LeaderMessages, rd.Messages} {
						if len(s) > 0 {
							all = append(all, keptSlice{held: s, copied: slices.Clone(s)})
							sent = append(sent, s...)
						}
					}
					if !raft.IsEmptyHardState(rd.HardState) {
						if err := storages[id].SetHardState(rd.HardState); err != nil {
							t.Fatal(err)
						}
					}
					if err := storages[id].Append(rd.Entries); err != nil {
						t.Fatal(err)
					}
					rn.Advance(rd)
				}
			}
			if len(sent) == 0 {
				return
			}
			for _, m := range sent {
				_ = nodes[m.To].Step(m)
			}
		}
	}
	if err := nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	pump()
	for i := range 100 {
		if err := nodes[1].Propose(fmt.Appendf(nil, "p%d", i)); err != nil {
			t.Fatal(err)
		}
		pump()
	}
	for _, k := range all {
		for i := range k.held {
			kept++
			if !reflect.DeepEqual(k.held[i], k.copied[i]) {
				changed++
			}
		}
	}
	return kept, changed
}

// The messages of a Ready are the caller's to keep by default: a transport
// that holds rd.Messages past Advance (another goroutine sending them) sends
// what the core handed out. With Config.ReuseReadyMessages the core clears
// and refills them, which the same check sees (so it can fail).
func TestReadyMessagesAreTheCallersToKeep(t *testing.T) {
	kept, changed := keptMessages(t, false)
	if kept < 500 || changed != 0 {
		t.Fatalf("default: %d of %d kept messages changed after Advance, want 0 (of at least 500)", changed, kept)
	}
	kept, changed = keptMessages(t, true)
	if changed == 0 {
		t.Fatalf("ReuseReadyMessages: none of %d kept messages changed; the check cannot see reuse", kept)
	}
	t.Logf("with reuse, %d of %d kept messages were overwritten", changed, kept)
}

// A caller's append to a Ready's entries (building its own batch for the
// disk, say) must not write into the core's log: the slices end at their
// length. Found while writing the Ready contract: rd.Entries had the
// unstable log's spare capacity, so the append replaced a proposal made
// after Ready.
func TestAppendToReadyEntriesLeavesTheLogAlone(t *testing.T) {
	st := raft.NewMemoryStorage()
	if err := st.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1,
		ConfState: pb.ConfState{Voters: []uint64{1}}}}); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	persist := func(rd raft.Ready) {
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := st.SetHardState(rd.HardState); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Append(rd.Entries); err != nil {
			t.Fatal(err)
		}
	}
	for rn.HasReady() {
		rd := rn.Ready()
		persist(rd)
		rn.Advance(rd)
	}
	if err := rn.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if err := rn.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if mine := append(rd.Entries, pb.Entry{Data: []byte("the caller's")}); len(mine) != 2 {
		t.Fatalf("append gave %d entries", len(mine))
	}
	persist(rd)
	if cap(rd.CommittedEntries) > len(rd.CommittedEntries) {
		t.Errorf("CommittedEntries has room for %d more entries", cap(rd.CommittedEntries)-len(rd.CommittedEntries))
	}
	rn.Advance(rd)
	rd = rn.Ready()
	if len(rd.Entries) != 1 || string(rd.Entries[0].Data) != "b" {
		t.Fatalf("after the caller appended to the last Ready's entries, the next Ready's entries are %v, want the proposal b", rd.Entries)
	}
}
