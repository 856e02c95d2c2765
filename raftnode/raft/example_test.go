package raft_test

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// A one-member cluster driven by hand: bootstrap its storage, elect it, propose,
// and apply what commits. A real member also ticks on a timer and sends
// Messages and LeaderMessages to its peers.
func Example() {
	// Bootstrap: a new cluster starts from a snapshot whose configuration lists
	// the initial voters.
	storage := raft.NewMemoryStorage()
	bootstrap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1}},
	}}
	if err := storage.ApplySnapshot(bootstrap); err != nil {
		panic(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
	})
	if err != nil {
		panic(err)
	}

	// handle does what the caller of a RawNode does with each Ready, in the
	// order the Ready contract asks for. A single member has no peers, so
	// steps 1 and 3 (sending) have nothing to do.
	var kv []string
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			if rd.SoftState != nil && rd.RaftState == raft.StateLeader {
				fmt.Println("leader:", rd.Lead)
			}
			// 1. send(rd.LeaderMessages)
			// 2. Persist: hard state, snapshot (none here), entries.
			if !raft.IsEmptyHardState(rd.HardState) {
				if err := storage.SetHardState(rd.HardState); err != nil {
					panic(err)
				}
			}
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			// 3. send(rd.Messages)
			// 4. Apply.
			for _, e := range rd.CommittedEntries {
				if e.Type == pb.EntryNormal && len(e.Data) > 0 {
					kv = append(kv, string(e.Data))
					fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
				}
			}
			// 5. Advance: the Ready is handled.
			rn.Advance(rd)
		}
	}

	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	handle()
	for _, v := range []string{"x=1", "y=2"} {
		if err := rn.Propose([]byte(v)); err != nil {
			panic(err)
		}
		handle()
	}
	st := rn.BasicStatus()
	fmt.Printf("term %d, commit %d, applied %d, state machine %v\n", st.Term, st.Commit, st.Applied, kv)
	// Output:
	// leader: 1
	// applied "x=1" at index 3
	// applied "y=2" at index 4
	// term 1, commit 4, applied 4, state machine [x=1 y=2]
}
