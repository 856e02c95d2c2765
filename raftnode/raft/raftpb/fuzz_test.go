package raftpb

import (
	"bytes"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/raft/raftpb/wirepb"
)

// The fuzz targets check the codec against the generated code on arbitrary input:
// our Unmarshal must never panic, and whenever it accepts input the generated code
// must accept it too and both must mean the same thing, which we check by
// re-encoding (ours, and proto.Marshal of the generated value stripped of what the
// value types do not keep, see normalizeWire). Seeds live in code so that they move
// with the types; `go test -fuzz` keeps what it finds under testdata/fuzz.

func FuzzMessageUnmarshal(f *testing.F) {
	// Seeds stay small (no 10 KiB MsgApp64): the mutator and the minimizer work
	// per byte, and large seeds slow both to a crawl.
	app := Message{Type: MsgApp, To: 2, From: 1, Term: 5, LogTerm: 5, Index: 10, Commit: 9, Entries: []Entry{
		{Term: 5, Index: 11, Data: []byte("a")}, {Term: 5, Index: 12}, {Term: 5, Index: 13, Type: EntryConfChange, Data: []byte{0x10, 0x02}},
	}}
	for _, m := range []Message{
		{},
		{Type: MsgHeartbeat, To: 2, From: 1, Term: 3, Commit: 7, Context: []byte("rctx")},
		{Type: MsgVoteResp, To: 1, From: 3, Term: 9, Reject: true, Priority: -2},
		{Type: MsgSnap, Snapshot: &Snapshot{}},
		{Type: MsgAppResp, Reject: true, RejectHint: 40, LogTerm: 3, Index: 1 << 33},
		fullMessage(),
		app,
	} {
		b, _ := m.Marshal()
		f.Add(b)
	}
	// Encodings proto.Marshal never emits: unpacked ids, an unknown group, a field
	// repeated, an empty snapshot split in two.
	f.Add([]byte{0x4a, 0x04, 0x12, 0x02, 0x0a, 0x00, 0x4a, 0x00, 0x20, 0x01, 0x20, 0x02})
	f.Add([]byte{0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06, 0x08, 0x03})
	f.Add([]byte{0x4a, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x05})

	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := m.Unmarshal(data); err != nil {
			return
		}
		w := new(wirepb.Message)
		if err := proto.Unmarshal(data, w); err != nil {
			t.Fatalf("ours accepted %x, generated rejected it: %v", data, err)
		}
		agree(t, data, &m, w)
		if want := messageFromWire(w); !reflect.DeepEqual(canonical(m), canonical(want)) {
			t.Fatalf("decoded %x\n ours      %+v\n generated %+v", data, m, want)
		}
	})
}

func FuzzConfChangeV2Unmarshal(f *testing.F) {
	for _, cc := range []ConfChangeV2{
		{},
		{Changes: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: 2}}},
		{Transition: ConfChangeTransitionJointExplicit, Context: []byte("addr"), Changes: []ConfChangeSingle{
			{Type: ConfChangeAddNode, NodeID: 4}, {Type: ConfChangeRemoveNode, NodeID: 1},
			{Type: ConfChangeAddLearnerNode, NodeID: 1 << 40}, {Type: ConfChangeUpdateNode, NodeID: 3},
		}},
		{Transition: -1},
	} {
		b, _ := cc.Marshal()
		f.Add(b)
	}
	// A ConfChange (V1) fed to the V2 decoder: field 2 is a varint there, so this
	// must fail cleanly rather than be misread.
	v1, _ := (&ConfChange{Type: ConfChangeRemoveNode, NodeID: 3, Context: []byte("x"), ID: 9}).Marshal()
	f.Add(v1)

	f.Fuzz(func(t *testing.T, data []byte) {
		var cc ConfChangeV2
		if err := cc.Unmarshal(data); err != nil {
			return
		}
		w := new(wirepb.ConfChangeV2)
		if err := proto.Unmarshal(data, w); err != nil {
			t.Fatalf("ours accepted %x, generated rejected it: %v", data, err)
		}
		agree(t, data, &cc, w)
	})
}

// agree checks that our decoded value and the generated one re-encode identically.
func agree(t *testing.T, data []byte, ours interface{ Marshal() ([]byte, error) }, w proto.Message) {
	t.Helper()
	normalizeWire(w.ProtoReflect())
	want, err := deterministic.Marshal(w)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	got, _ := ours.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("input %x re-encoded\n ours      %x\n generated %x", data, got, want)
	}
}
