package raftpb

import "testing"

func mustMarshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDescribeEntry(t *testing.T) {
	v2 := mustMarshal(t, &ConfChangeV2{Changes: []ConfChangeSingle{
		{Type: ConfChangeAddNode, NodeID: 2}, {Type: ConfChangeAddNode, NodeID: 3},
	}})
	explicit := mustMarshal(t, &ConfChangeV2{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{
		{Type: ConfChangeAddLearnerNode, NodeID: 4}, {Type: ConfChangeRemoveNode, NodeID: 1},
	}})
	v1 := mustMarshal(t, &ConfChange{Type: ConfChangeRemoveNode, NodeID: 3, Context: []byte("x")})
	for _, tt := range []struct {
		e    Entry
		want string
	}{
		{Entry{Term: 1, Index: 5, Data: []byte("data")}, `1/5 EntryNormal "data"`},
		{Entry{Term: 2, Index: 1}, `2/1 EntryNormal ""`},
		{Entry{Term: 1, Index: 5, Data: []byte{0, 0xff, '\n'}}, `1/5 EntryNormal "\x00\xff\n"`},
		{Entry{Term: 1, Index: 6, Type: EntryConfChangeV2, Data: v2}, `1/6 EntryConfChangeV2 v2 v3`},
		{Entry{Term: 1, Index: 6, Type: EntryConfChangeV2, Data: explicit}, `1/6 EntryConfChangeV2 l4 r1 Transition:JointExplicit`},
		{Entry{Term: 1, Index: 7, Type: EntryConfChangeV2}, `1/7 EntryConfChangeV2`},
		{Entry{Term: 1, Index: 8, Type: EntryConfChange, Data: v1}, `1/8 EntryConfChange r3`},
		{Entry{Term: 1, Index: 9, Type: EntryConfChange, Data: []byte{0x10}},
			`1/9 EntryConfChange <undecodable: raftpb: decode ConfChange field 2: unexpected EOF>`},
		{Entry{Term: 1, Index: 10, Type: 9, Data: []byte("?")}, `1/10 EntryType(9) "?"`},
	} {
		if got := DescribeEntry(tt.e); got != tt.want {
			t.Errorf("DescribeEntry(%+v)\n got %s\nwant %s", tt.e, got, tt.want)
		}
	}
}

func TestDescribeMessage(t *testing.T) {
	for _, tt := range []struct {
		m    Message
		want string
	}{
		{Message{Type: MsgApp, From: 1, To: 2, Term: 1, LogTerm: 1, Index: 4, Commit: 4,
			Entries: []Entry{{Term: 1, Index: 5, Data: []byte("x")}}},
			`1->2 MsgApp Term:1 Log:1/4 Commit:4 Entries:[1/5 EntryNormal "x"]`},
		{Message{Type: MsgApp, From: 1, To: 3, Term: 2, LogTerm: 1, Index: 4,
			Entries: []Entry{{Term: 2, Index: 5}, {Term: 2, Index: 6, Data: []byte("y")}}},
			`1->3 MsgApp Term:2 Log:1/4 Entries:[2/5 EntryNormal "", 2/6 EntryNormal "y"]`},
		{Message{Type: MsgAppResp, From: 2, To: 1, Term: 2, LogTerm: 1, Index: 7, Reject: true, RejectHint: 5},
			`2->1 MsgAppResp Term:2 Log:1/7 Reject:true RejectHint:5`},
		{Message{Type: MsgVote, From: 3, To: 1, Term: 4, LogTerm: 3, Index: 9, Priority: -2, Context: []byte("CampaignTransfer")},
			`3->1 MsgVote Term:4 Log:3/9 Priority:-2 Context:"CampaignTransfer"`},
		{Message{Type: MsgHup, From: 1, To: 1}, `1->1 MsgHup Term:0 Log:0/0`},
		{Message{Type: MsgSnap, From: 1, To: 4, Term: 3, Snapshot: &Snapshot{Data: []byte("abc"), Metadata: SnapshotMetadata{
			Index: 10, Term: 2, ConfState: ConfState{Voters: []uint64{3, 1, 2}, Learners: []uint64{4}},
		}}}, `1->4 MsgSnap Term:3 Log:0/0 Snapshot:{Index:10 Term:2 ConfState:{Voters:[1 2 3] VotersOutgoing:[] Learners:[4] LearnersNext:[] AutoLeave:false} Data:3B}`},
		{Message{Type: MessageType(42), From: 1, To: 2}, `1->2 MessageType(42) Term:0 Log:0/0`},
	} {
		if got := DescribeMessage(tt.m); got != tt.want {
			t.Errorf("DescribeMessage(%+v)\n got %s\nwant %s", tt.m, got, tt.want)
		}
	}
}

func TestDescribeStates(t *testing.T) {
	cs := ConfState{Voters: []uint64{3, 2, 1}, VotersOutgoing: []uint64{1}, Learners: []uint64{4}, AutoLeave: true}
	if got, want := DescribeConfState(cs), "Voters:[1 2 3] VotersOutgoing:[1] Learners:[4] LearnersNext:[] AutoLeave:true"; got != want {
		t.Errorf("DescribeConfState\n got %s\nwant %s", got, want)
	}
	if cs.Voters[0] != 3 {
		t.Error("DescribeConfState sorted the caller's slice in place")
	}
	if got, want := DescribeConfState(ConfState{}), "Voters:[] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false"; got != want {
		t.Errorf("DescribeConfState(zero)\n got %s\nwant %s", got, want)
	}
	if got, want := DescribeHardState(HardState{Term: 1, Vote: 2, Commit: 3}), "Term:1 Vote:2 Commit:3"; got != want {
		t.Errorf("DescribeHardState = %s, want %s", got, want)
	}
	if got, want := DescribeSnapshot(Snapshot{}), "Index:0 Term:0 ConfState:{Voters:[] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false}"; got != want {
		t.Errorf("DescribeSnapshot(zero)\n got %s\nwant %s", got, want)
	}
}
