package raft_test

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// clusterMember is one member of an in-memory cluster: its core, the storage
// standing in for its disk, and its state machine (the payloads applied).
type clusterMember struct {
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	applied []string
}

// newClusterMember starts member id of a new cluster whose initial voters are
// voters: every initial member bootstraps the same snapshot.
func newClusterMember(id uint64, voters []uint64) *clusterMember {
	storage := raft.NewMemoryStorage()
	bootstrap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters},
	}}
	if err := storage.ApplySnapshot(bootstrap); err != nil {
		panic(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
	})
	if err != nil {
		panic(err)
	}
	return &clusterMember{rn: rn, storage: storage}
}

// handleReady handles every pending Ready in the order the contract asks for,
// and returns the messages to send appended to out. In this synchronous
// network "sending" is queueing the Message values. With trace set it prints
// the messages that carry or acknowledge entries, and which slice of the
// Ready they came in.
func (m *clusterMember) handleReady(out []pb.Message, trace bool) []pb.Message {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		if trace {
			printAppends("LeaderMessages", rd.LeaderMessages)
			printAppends("Messages", rd.Messages)
		}
		// 1. A leader's appends and heartbeats may leave before its own write.
		out = append(out, rd.LeaderMessages...)
		// 2. Persist.
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := m.storage.SetHardState(rd.HardState); err != nil {
				panic(err)
			}
		}
		if err := m.storage.Append(rd.Entries); err != nil {
			panic(err)
		}
		// 3. Votes and acknowledgements leave only once persisted.
		out = append(out, rd.Messages...)
		// 4. Apply.
		for _, e := range rd.CommittedEntries {
			if e.Type == pb.EntryNormal && len(e.Data) > 0 {
				m.applied = append(m.applied, string(e.Data))
			}
		}
		// 5. Advance.
		m.rn.Advance(rd)
	}
	return out
}

func printAppends(slice string, msgs []pb.Message) {
	for _, m := range msgs {
		if m.Type == pb.MsgApp || m.Type == pb.MsgAppResp {
			fmt.Printf("  %-14s %s\n", slice, pb.DescribeMessage(m))
		}
	}
}

// deliverAll runs the cluster until no message is in flight.
func deliverAll(members map[uint64]*clusterMember, trace bool) {
	var inflight []pb.Message
	for {
		for _, id := range []uint64{1, 2, 3} {
			inflight = members[id].handleReady(inflight, trace)
		}
		if len(inflight) == 0 {
			return
		}
		msgs := inflight
		inflight = nil
		for _, m := range msgs {
			// A message to a member that refuses it (a stale response) is
			// dropped, as a real transport would.
			_ = members[m.To].rn.Step(m)
		}
	}
}

// Three members in one process, exchanging messages through a slice: member 1
// is elected, a proposal made on member 3 is forwarded to it, and both
// proposals are replicated, committed and applied everywhere.
func Example_threeMembers() {
	voters := []uint64{1, 2, 3}
	members := map[uint64]*clusterMember{}
	for _, id := range voters {
		members[id] = newClusterMember(id, voters)
	}

	// Real members campaign when their election timeout (counted in Ticks)
	// runs out; here member 1 is told to.
	if err := members[1].rn.Campaign(); err != nil {
		panic(err)
	}
	deliverAll(members, false)
	st := members[2].rn.BasicStatus()
	fmt.Printf("member 2 follows %d in term %d\n", st.Lead, st.Term)

	// The leader's appends travel in LeaderMessages: it may send them before
	// its own write is durable (Raft thesis §10.2.1). A follower's
	// acknowledgement travels in Messages: it leaves only after the follower
	// persisted what it acknowledges. The second round tells the followers
	// the new commit index.
	fmt.Println("propose x=1 on member 1:")
	if err := members[1].rn.Propose([]byte("x=1")); err != nil {
		panic(err)
	}
	deliverAll(members, true)

	// A follower forwards a proposal to the leader (MsgProp).
	if err := members[3].rn.Propose([]byte("y=2")); err != nil {
		panic(err)
	}
	deliverAll(members, false)
	for _, id := range voters {
		st := members[id].rn.BasicStatus()
		fmt.Printf("member %d: %s, commit %d, applied %v\n", id, st.RaftState, st.Commit, members[id].applied)
	}
	// Output:
	// member 2 follows 1 in term 1
	// propose x=1 on member 1:
	//   LeaderMessages 1->2 MsgApp Term:1 Log:1/2 Commit:2 Entries:[1/3 EntryNormal "x=1"]
	//   LeaderMessages 1->3 MsgApp Term:1 Log:1/2 Commit:2 Entries:[1/3 EntryNormal "x=1"]
	//   Messages       2->1 MsgAppResp Term:1 Log:0/3
	//   Messages       3->1 MsgAppResp Term:1 Log:0/3
	//   LeaderMessages 1->2 MsgApp Term:1 Log:1/3 Commit:3
	//   LeaderMessages 1->3 MsgApp Term:1 Log:1/3 Commit:3
	//   Messages       2->1 MsgAppResp Term:1 Log:0/3
	//   Messages       3->1 MsgAppResp Term:1 Log:0/3
	// member 1: StateLeader, commit 4, applied [x=1 y=2]
	// member 2: StateFollower, commit 4, applied [x=1 y=2]
	// member 3: StateFollower, commit 4, applied [x=1 y=2]
}
