package raft_test

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// jointMember is one member of an in-memory cluster whose membership changes.
type jointMember struct {
	id      uint64
	rn      *raft.RawNode
	storage *raft.MemoryStorage
}

// newJointMember starts member id. A member of the initial cluster bootstraps
// a snapshot listing the initial voters; a member added later (voters nil)
// starts empty and learns everything, configuration included, from the leader.
func newJointMember(id uint64, voters []uint64) *jointMember {
	storage := raft.NewMemoryStorage()
	if voters != nil {
		bootstrap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
			Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters},
		}}
		if err := storage.ApplySnapshot(bootstrap); err != nil {
			panic(err)
		}
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
	return &jointMember{id: id, rn: rn, storage: storage}
}

// handleReady handles every pending Ready and returns the messages to send
// appended to out. Snapshots and conf changes are where membership enters.
func (m *jointMember) handleReady(out []pb.Message) []pb.Message {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		out = append(out, rd.LeaderMessages...)
		if !raft.IsEmptySnap(rd.Snapshot) {
			// A snapshot replaces the log; its ConfState is the configuration
			// from its index on.
			if err := m.storage.ApplySnapshot(rd.Snapshot); err != nil {
				panic(err)
			}
			fmt.Printf("member %d restores the snapshot at index %d: %s\n", m.id,
				rd.Snapshot.Metadata.Index, pb.DescribeConfState(rd.Snapshot.Metadata.ConfState))
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := m.storage.SetHardState(rd.HardState); err != nil {
				panic(err)
			}
		}
		if err := m.storage.Append(rd.Entries); err != nil {
			panic(err)
		}
		out = append(out, rd.Messages...)
		for _, e := range rd.CommittedEntries {
			if e.Type != pb.EntryConfChangeV2 {
				continue
			}
			// A configuration takes effect when its entry is applied, on
			// every member, in log order.
			var cc pb.ConfChangeV2
			if err := cc.Unmarshal(e.Data); err != nil {
				panic(err)
			}
			cs := m.rn.ApplyConfChange(cc)
			fmt.Printf("member %d applies %s: %s\n", m.id, pb.DescribeEntry(e), pb.DescribeConfState(cs))
		}
		m.rn.Advance(rd)
	}
	return out
}

// stabilize runs the cluster until no message is in flight.
func stabilize(members []*jointMember) {
	byID := map[uint64]*jointMember{}
	for _, m := range members {
		byID[m.id] = m
	}
	var inflight []pb.Message
	for {
		for _, m := range members {
			inflight = m.handleReady(inflight)
		}
		if len(inflight) == 0 {
			return
		}
		msgs := inflight
		inflight = nil
		for _, msg := range msgs {
			_ = byID[msg.To].rn.Step(msg)
			if msg.Type == pb.MsgSnap {
				// Every snapshot sent must be reported, delivered or not.
				byID[msg.From].rn.ReportSnapshot(msg.To, raft.SnapshotFinish)
			}
		}
	}
}

// Replacing member 1 of {1, 2, 3} by a new member 4 with joint consensus
// (Raft thesis §4.3): the change first enters the joint configuration
// (2 3 4)&&(1 2 3), in which every decision needs a majority of both halves,
// and a second, empty change leaves it. Member 1 is the leader: once the
// configuration without it is in force it steps down and hands leadership to
// the most up-to-date voter.
func Example_jointConsensus() {
	voters := []uint64{1, 2, 3}
	members := []*jointMember{
		newJointMember(1, voters), newJointMember(2, voters), newJointMember(3, voters),
		newJointMember(4, nil),
	}
	leader := members[0]
	if err := leader.rn.Campaign(); err != nil {
		panic(err)
	}
	stabilize(members)

	// JointExplicit stays joint until asked to leave; the default transition
	// (Auto) would leave by itself as soon as the joint configuration is
	// applied.
	enter := pb.ConfChangeV2{
		Transition: pb.ConfChangeTransitionJointExplicit,
		Changes: []pb.ConfChangeSingle{
			{Type: pb.ConfChangeAddNode, NodeID: 4},
			{Type: pb.ConfChangeRemoveNode, NodeID: 1},
		},
	}
	if err := leader.rn.ProposeConfChange(enter); err != nil {
		panic(err)
	}
	stabilize(members)
	fmt.Println("leader's configuration:", leader.rn.Status().Config)

	if err := leader.rn.ProposeConfChange(pb.ConfChangeV2{}); err != nil {
		panic(err)
	}
	stabilize(members)
	for _, m := range members {
		st := m.rn.Status()
		fmt.Printf("member %d: %s of term %d, leader %d, %s\n", m.id, st.RaftState, st.Term, st.Lead, st.Config)
	}
	// Output:
	// member 1 applies 1/3 EntryConfChangeV2 v4 r1 Transition:JointExplicit: Voters:[2 3 4] VotersOutgoing:[1 2 3] Learners:[] LearnersNext:[] AutoLeave:false
	// member 2 applies 1/3 EntryConfChangeV2 v4 r1 Transition:JointExplicit: Voters:[2 3 4] VotersOutgoing:[1 2 3] Learners:[] LearnersNext:[] AutoLeave:false
	// member 3 applies 1/3 EntryConfChangeV2 v4 r1 Transition:JointExplicit: Voters:[2 3 4] VotersOutgoing:[1 2 3] Learners:[] LearnersNext:[] AutoLeave:false
	// member 4 restores the snapshot at index 1: Voters:[1 2 3] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false
	// member 4 applies 1/3 EntryConfChangeV2 v4 r1 Transition:JointExplicit: Voters:[2 3 4] VotersOutgoing:[1 2 3] Learners:[] LearnersNext:[] AutoLeave:false
	// leader's configuration: voters=(2 3 4)&&(1 2 3)
	// member 1 applies 1/4 EntryConfChangeV2: Voters:[2 3 4] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false
	// member 2 applies 1/4 EntryConfChangeV2: Voters:[2 3 4] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false
	// member 3 applies 1/4 EntryConfChangeV2: Voters:[2 3 4] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false
	// member 4 applies 1/4 EntryConfChangeV2: Voters:[2 3 4] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false
	// member 1: StateFollower of term 1, leader 0, voters=(2 3 4)
	// member 2: StateLeader of term 2, leader 2, voters=(2 3 4)
	// member 3: StateFollower of term 2, leader 2, voters=(2 3 4)
	// member 4: StateFollower of term 2, leader 2, voters=(2 3 4)
}
