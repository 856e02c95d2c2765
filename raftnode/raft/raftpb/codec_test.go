package raftpb

import (
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/raftkube/raftkube/raftnode/raft/raftpb/wirepb"
)

// The conversions below are the reference mapping between the value types and the
// generated structs. They are deliberately dumb field copies: the tests compare our
// codec's bytes against proto.Marshal of their output, so any mapping rule lives in
// one visible place. The one rule beyond copying: value-typed embedded messages
// (Snapshot.Metadata, SnapshotMetadata.ConfState) are absent exactly when they would
// encode to nothing.

func entryToWire(e *Entry) *wirepb.Entry {
	return &wirepb.Entry{Term: e.Term, Index: e.Index, Type: wirepb.EntryType(e.Type), Data: e.Data}
}

func entryFromWire(w *wirepb.Entry) Entry {
	return Entry{Term: w.Term, Index: w.Index, Type: EntryType(w.Type), Data: w.Data}
}

func messageToWire(m *Message) *wirepb.Message {
	w := &wirepb.Message{
		Type: wirepb.MessageType(m.Type), To: m.To, From: m.From, Term: m.Term,
		LogTerm: m.LogTerm, Index: m.Index, Commit: m.Commit, Reject: m.Reject,
		RejectHint: m.RejectHint, Context: m.Context, Priority: m.Priority,
	}
	for i := range m.Entries {
		w.Entries = append(w.Entries, entryToWire(&m.Entries[i]))
	}
	if m.Snapshot != nil {
		w.Snapshot = snapshotToWire(m.Snapshot)
	}
	return w
}

func messageFromWire(w *wirepb.Message) Message {
	m := Message{
		Type: MessageType(w.Type), To: w.To, From: w.From, Term: w.Term,
		LogTerm: w.LogTerm, Index: w.Index, Commit: w.Commit, Reject: w.Reject,
		RejectHint: w.RejectHint, Context: w.Context, Priority: w.Priority,
	}
	for _, e := range w.Entries {
		m.Entries = append(m.Entries, entryFromWire(e))
	}
	if w.Snapshot != nil {
		s := snapshotFromWire(w.Snapshot)
		m.Snapshot = &s
	}
	return m
}

func hardStateToWire(h *HardState) *wirepb.HardState {
	return &wirepb.HardState{Term: h.Term, Vote: h.Vote, Commit: h.Commit}
}

func hardStateFromWire(w *wirepb.HardState) HardState {
	return HardState{Term: w.Term, Vote: w.Vote, Commit: w.Commit}
}

func confStateToWire(c *ConfState) *wirepb.ConfState {
	return &wirepb.ConfState{
		Voters: c.Voters, Learners: c.Learners, VotersOutgoing: c.VotersOutgoing,
		LearnersNext: c.LearnersNext, AutoLeave: c.AutoLeave,
	}
}

func confStateFromWire(w *wirepb.ConfState) ConfState {
	if w == nil {
		return ConfState{}
	}
	return ConfState{
		Voters: w.Voters, Learners: w.Learners, VotersOutgoing: w.VotersOutgoing,
		LearnersNext: w.LearnersNext, AutoLeave: w.AutoLeave,
	}
}

func confChangeToWire(c *ConfChange) *wirepb.ConfChange {
	return &wirepb.ConfChange{Type: wirepb.ConfChangeType(c.Type), NodeId: c.NodeID, Context: c.Context, Id: c.ID}
}

func confChangeFromWire(w *wirepb.ConfChange) ConfChange {
	return ConfChange{Type: ConfChangeType(w.Type), NodeID: w.NodeId, Context: w.Context, ID: w.Id}
}

func confChangeSingleToWire(c *ConfChangeSingle) *wirepb.ConfChangeSingle {
	return &wirepb.ConfChangeSingle{Type: wirepb.ConfChangeType(c.Type), NodeId: c.NodeID}
}

func confChangeSingleFromWire(w *wirepb.ConfChangeSingle) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeType(w.Type), NodeID: w.NodeId}
}

func confChangeV2ToWire(c *ConfChangeV2) *wirepb.ConfChangeV2 {
	w := &wirepb.ConfChangeV2{Transition: wirepb.ConfChangeTransition(c.Transition), Context: c.Context}
	for i := range c.Changes {
		w.Changes = append(w.Changes, confChangeSingleToWire(&c.Changes[i]))
	}
	return w
}

func confChangeV2FromWire(w *wirepb.ConfChangeV2) ConfChangeV2 {
	c := ConfChangeV2{Transition: ConfChangeTransition(w.Transition), Context: w.Context}
	for _, cc := range w.Changes {
		c.Changes = append(c.Changes, confChangeSingleFromWire(cc))
	}
	return c
}

func snapshotMetadataToWire(s *SnapshotMetadata) *wirepb.SnapshotMetadata {
	w := &wirepb.SnapshotMetadata{Index: s.Index, Term: s.Term}
	if s.ConfState.Size() > 0 {
		w.ConfState = confStateToWire(&s.ConfState)
	}
	return w
}

func snapshotMetadataFromWire(w *wirepb.SnapshotMetadata) SnapshotMetadata {
	if w == nil {
		return SnapshotMetadata{}
	}
	return SnapshotMetadata{ConfState: confStateFromWire(w.ConfState), Index: w.Index, Term: w.Term}
}

func snapshotToWire(s *Snapshot) *wirepb.Snapshot {
	w := &wirepb.Snapshot{Data: s.Data}
	if s.Metadata.Size() > 0 {
		w.Metadata = snapshotMetadataToWire(&s.Metadata)
	}
	return w
}

func snapshotFromWire(w *wirepb.Snapshot) Snapshot {
	return Snapshot{Data: w.Data, Metadata: snapshotMetadataFromWire(w.Metadata)}
}

// ---------------------------------------------------------------------------
// Random values. Each field is zero often enough that omission is exercised, and
// otherwise spans every varint length up to MaxUint64; slices are nil, empty or
// filled, because nil and empty must encode the same.

type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0x5eed))} }

func (g gen) u64() uint64 {
	switch g.r.IntN(7) {
	case 0, 1:
		return 0
	case 2:
		return math.MaxUint64
	case 3:
		return g.r.Uint64N(128)
	case 4:
		return g.r.Uint64N(1 << 14)
	default:
		return g.r.Uint64() >> g.r.UintN(64)
	}
}

// enum returns a declared value most of the time, and otherwise any int32:
// proto3 enums are open, and negative values take ten bytes on the wire.
func (g gen) enum(declared int) int32 {
	switch g.r.IntN(8) {
	case 0:
		return int32(g.r.Uint32())
	case 1:
		return -1
	default:
		return int32(g.r.IntN(declared))
	}
}

func (g gen) bool() bool { return g.r.IntN(2) == 0 }

func (g gen) bytes() []byte {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		// Long enough for a two-byte length prefix.
		return g.fill(128 + g.r.IntN(200))
	default:
		return g.fill(1 + g.r.IntN(16))
	}
}

func (g gen) fill(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g gen) ids() []uint64 {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []uint64{}
	default:
		ids := make([]uint64, 1+g.r.IntN(6))
		for i := range ids {
			ids[i] = g.u64()
		}
		return ids
	}
}

// count returns how many elements a repeated field gets, or -1 for a nil slice.
func (g gen) count(limit int) int {
	switch g.r.IntN(4) {
	case 0:
		return -1
	case 1:
		return 0
	default:
		return 1 + g.r.IntN(limit)
	}
}

func (g gen) entry() Entry {
	return Entry{Term: g.u64(), Index: g.u64(), Type: EntryType(g.enum(3)), Data: g.bytes()}
}

func (g gen) message() Message {
	m := Message{
		Type: MessageType(g.enum(19)), To: g.u64(), From: g.u64(), Term: g.u64(),
		LogTerm: g.u64(), Index: g.u64(), Commit: g.u64(), Reject: g.bool(),
		RejectHint: g.u64(), Context: g.bytes(), Priority: int64(g.u64()),
	}
	if n := g.count(6); n >= 0 {
		m.Entries = make([]Entry, n)
		for i := range m.Entries {
			m.Entries[i] = g.entry()
		}
	}
	switch g.r.IntN(3) {
	case 0:
		m.Snapshot = &Snapshot{}
	case 1:
		s := g.snapshot()
		m.Snapshot = &s
	}
	return m
}

func (g gen) hardState() HardState { return HardState{Term: g.u64(), Vote: g.u64(), Commit: g.u64()} }

func (g gen) confState() ConfState {
	return ConfState{
		Voters: g.ids(), Learners: g.ids(), VotersOutgoing: g.ids(),
		LearnersNext: g.ids(), AutoLeave: g.bool(),
	}
}

func (g gen) confChange() ConfChange {
	return ConfChange{Type: ConfChangeType(g.enum(4)), NodeID: g.u64(), Context: g.bytes(), ID: g.u64()}
}

func (g gen) confChangeSingle() ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeType(g.enum(4)), NodeID: g.u64()}
}

func (g gen) confChangeV2() ConfChangeV2 {
	c := ConfChangeV2{Transition: ConfChangeTransition(g.enum(3)), Context: g.bytes()}
	if n := g.count(5); n >= 0 {
		c.Changes = make([]ConfChangeSingle, n)
		for i := range c.Changes {
			c.Changes[i] = g.confChangeSingle()
		}
	}
	return c
}

func (g gen) snapshotMetadata() SnapshotMetadata {
	return SnapshotMetadata{ConfState: g.confState(), Index: g.u64(), Term: g.u64()}
}

func (g gen) snapshot() Snapshot {
	return Snapshot{Data: g.bytes(), Metadata: g.snapshotMetadata()}
}

// canonical returns a copy of v with every empty slice replaced by nil, the form in
// which a decoded value comes back: the wire cannot tell the two apart.
func canonical[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	canonicalize(rv)
	return v
}

func canonicalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct {
			// Copy first: the caller's value must not change under it.
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(c, v)
			v.Set(c)
			for i := 0; i < v.Len(); i++ {
				canonicalize(v.Index(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			v.Set(c)
			canonicalize(c.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			canonicalize(v.Field(i))
		}
	}
}

// ---------------------------------------------------------------------------
// Agreement with the generated code.

// marshaler is what every value type's pointer offers.
type marshaler[T any] interface {
	*T
	Size() int
	MarshalAppend([]byte) []byte
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// typeCase ties one value type to its generator and generated twin.
type typeCase[T any, P marshaler[T], W proto.Message] struct {
	gen      func(gen) T
	toWire   func(*T) W
	fromWire func(W) T
	newWire  func() W
}

var deterministic = proto.MarshalOptions{Deterministic: true}

const agreementIterations = 3000

func (tc typeCase[T, P, W]) run(t *testing.T) {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	g := newGen(h.Sum64())
	for i := range agreementIterations {
		v := tc.gen(g)
		p := P(&v)

		// Ours -> bytes == generated -> bytes.
		want, err := deterministic.Marshal(tc.toWire(&v))
		if err != nil {
			t.Fatalf("#%d: proto.Marshal: %v", i, err)
		}
		got, err := p.Marshal()
		if err != nil {
			t.Fatalf("#%d: Marshal: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("#%d: Marshal(%+v)\n got %x\nwant %x", i, v, got, want)
		}
		if n := p.Size(); n != len(want) || cap(got) != n {
			t.Fatalf("#%d: Size %d, cap(Marshal) %d, want %d", i, n, cap(got), len(want))
		}
		prefix := []byte("prefix")
		if app := p.MarshalAppend(prefix); !bytes.Equal(app[len(prefix):], want) || string(app[:len(prefix)]) != "prefix" {
			t.Fatalf("#%d: MarshalAppend: got %x, want prefix+%x", i, app, want)
		}

		// Generated -> bytes -> ours == the value we started from.
		// Decode into a value already holding another one: Unmarshal must reset,
		// not merge.
		var dec T
		other := tc.gen(g)
		otherEnc, _ := P(&other).Marshal()
		if err := P(&dec).Unmarshal(otherEnc); err != nil {
			t.Fatalf("#%d: Unmarshal(%x): %v", i, otherEnc, err)
		}
		if err := P(&dec).Unmarshal(want); err != nil {
			t.Fatalf("#%d: Unmarshal(%x): %v", i, want, err)
		}
		if !reflect.DeepEqual(dec, canonical(v)) {
			t.Fatalf("#%d: Unmarshal(%x)\n got %+v\nwant %+v", i, want, dec, canonical(v))
		}

		// Ours -> bytes -> generated == the generated twin of the value.
		w := tc.newWire()
		if err := proto.Unmarshal(got, w); err != nil {
			t.Fatalf("#%d: proto.Unmarshal(%x): %v", i, got, err)
		}
		if back := tc.fromWire(w); !reflect.DeepEqual(canonical(back), canonical(v)) {
			t.Fatalf("#%d: proto.Unmarshal of ours\n got %+v\nwant %+v", i, back, v)
		}
	}
}

func TestCodecAgreesWithGenerated(t *testing.T) {
	t.Run("Entry", typeCase[Entry, *Entry, *wirepb.Entry]{
		gen.entry, entryToWire, entryFromWire, func() *wirepb.Entry { return new(wirepb.Entry) },
	}.run)
	t.Run("Message", typeCase[Message, *Message, *wirepb.Message]{
		gen.message, messageToWire, messageFromWire, func() *wirepb.Message { return new(wirepb.Message) },
	}.run)
	t.Run("HardState", typeCase[HardState, *HardState, *wirepb.HardState]{
		gen.hardState, hardStateToWire, hardStateFromWire, func() *wirepb.HardState { return new(wirepb.HardState) },
	}.run)
	t.Run("ConfState", typeCase[ConfState, *ConfState, *wirepb.ConfState]{
		gen.confState, confStateToWire, confStateFromWire, func() *wirepb.ConfState { return new(wirepb.ConfState) },
	}.run)
	t.Run("ConfChange", typeCase[ConfChange, *ConfChange, *wirepb.ConfChange]{
		gen.confChange, confChangeToWire, confChangeFromWire, func() *wirepb.ConfChange { return new(wirepb.ConfChange) },
	}.run)
	t.Run("ConfChangeSingle", typeCase[ConfChangeSingle, *ConfChangeSingle, *wirepb.ConfChangeSingle]{
		gen.confChangeSingle, confChangeSingleToWire, confChangeSingleFromWire,
		func() *wirepb.ConfChangeSingle { return new(wirepb.ConfChangeSingle) },
	}.run)
	t.Run("ConfChangeV2", typeCase[ConfChangeV2, *ConfChangeV2, *wirepb.ConfChangeV2]{
		gen.confChangeV2, confChangeV2ToWire, confChangeV2FromWire,
		func() *wirepb.ConfChangeV2 { return new(wirepb.ConfChangeV2) },
	}.run)
	t.Run("SnapshotMetadata", typeCase[SnapshotMetadata, *SnapshotMetadata, *wirepb.SnapshotMetadata]{
		gen.snapshotMetadata, snapshotMetadataToWire, snapshotMetadataFromWire,
		func() *wirepb.SnapshotMetadata { return new(wirepb.SnapshotMetadata) },
	}.run)
	t.Run("Snapshot", typeCase[Snapshot, *Snapshot, *wirepb.Snapshot]{
		gen.snapshot, snapshotToWire, snapshotFromWire, func() *wirepb.Snapshot { return new(wirepb.Snapshot) },
	}.run)
}

// TestUnmarshalOtherEncoders feeds encodings proto.Marshal never produces but other
// proto3 encoders may: unpacked repeated fields, fields out of order, repeated
// scalars, split embedded messages, explicit zeros, unknown fields of every wire type.
func TestUnmarshalOtherEncoders(t *testing.T) {
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(tag(b, num, protowire.VarintType), v)
	}
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(b, num, protowire.BytesType), v)
	}
	unknowns := func(b []byte) []byte {
		b = varint(b, 100, 7)
		b = protowire.AppendFixed32(tag(b, 101, protowire.Fixed32Type), 1)
		b = protowire.AppendFixed64(tag(b, 102, protowire.Fixed64Type), 2)
		b = bytesField(b, 103, []byte("future"))
		b = tag(b, 104, protowire.StartGroupType)
		b = varint(b, 1, 1)
		return tag(b, 104, protowire.EndGroupType)
	}

	t.Run("ConfState unpacked and mixed", func(t *testing.T) {
		var b []byte
		b = varint(b, confStateAutoLeave, 1)
		b = varint(b, confStateVoters, 1)
		b = unknowns(b)
		b = bytesField(b, confStateVoters, protowire.AppendVarint(protowire.AppendVarint(nil, 2), 300))
		b = varint(b, confStateVoters, math.MaxUint64)
		b = varint(b, confStateLearnersNext, 4)
		var got ConfState
		if err := got.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		want := ConfState{Voters: []uint64{1, 2, 300, math.MaxUint64}, LearnersNext: []uint64{4}, AutoLeave: true}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		checkAgainstGenerated(t, b, &got, new(wirepb.ConfState))
	})

	t.Run("Message out of order, repeated, split snapshot", func(t *testing.T) {
		e1, _ := (&Entry{Term: 1, Index: 5, Data: []byte("x")}).Marshal()
		e2, _ := (&Entry{Term: 1, Index: 6, Type: EntryConfChangeV2}).Marshal()
		var b []byte
		b = bytesField(b, messageEntries, e1)
		b = varint(b, messageCommit, 9)
		b = unknowns(b)
		b = varint(b, messageTerm, 3)
		b = varint(b, messageTerm, 4) // the last scalar wins
		b = varint(b, messageReject, 0)
		b = bytesField(b, messageSnapshot, nil)
		b = bytesField(b, messageEntries, e2)
		b = varint(b, messageType, uint64(MsgApp))
		// Two halves of one snapshot: proto merges embedded messages.
		b = bytesField(b, messageSnapshot, bytesField(nil, snapshotMetadata, varint(nil, snapshotMetadataIndex, 10)))
		b = bytesField(b, messageSnapshot, bytesField(nil, snapshotMetadata,
			bytesField(nil, snapshotMetadataConfState, varint(nil, confStateVoters, 1))))
		b = bytesField(b, messageSnapshot, bytesField(nil, snapshotMetadata,
			bytesField(nil, snapshotMetadataConfState, varint(nil, confStateVoters, 2))))
		b = varint(b, messagePriority, math.MaxUint64)

		var got Message
		if err := got.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		want := Message{
			Type: MsgApp, Term: 4, Commit: 9, Priority: -1,
			Entries:  []Entry{{Term: 1, Index: 5, Data: []byte("x")}, {Term: 1, Index: 6, Type: EntryConfChangeV2}},
			Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 10, ConfState: ConfState{Voters: []uint64{1, 2}}}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if cap(got.Entries) != 2 {
			t.Errorf("cap(Entries) = %d, want exactly 2: the first pass should size it", cap(got.Entries))
		}
		checkAgainstGenerated(t, b, &got, new(wirepb.Message))
	})

	t.Run("Snapshot with empty embedded messages", func(t *testing.T) {
		// Present-but-empty metadata and conf state mean the same as absent ones.
		w := &wirepb.Snapshot{Metadata: &wirepb.SnapshotMetadata{ConfState: &wirepb.ConfState{}}}
		b, err := proto.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		got := Snapshot{Data: []byte("stale")}
		if err := got.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, Snapshot{}) {
			t.Fatalf("got %+v, want the zero Snapshot", got)
		}
		checkAgainstGenerated(t, b, &got, new(wirepb.Snapshot))
	})

	t.Run("ConfChangeV2 non-minimal varints", func(t *testing.T) {
		// 0x81 0x80 0x00 is 1 written in three bytes: legal, if wasteful.
		b := append(tag(nil, confChangeV2Transition, protowire.VarintType), 0x81, 0x80, 0x00)
		b = bytesField(b, confChangeV2Changes, varint(nil, confChangeSingleNodeID, 2))
		var got ConfChangeV2
		if err := got.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		want := ConfChangeV2{Transition: ConfChangeTransitionJointImplicit, Changes: []ConfChangeSingle{{NodeID: 2}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		checkAgainstGenerated(t, b, &got, new(wirepb.ConfChangeV2))
	})
}

// checkAgainstGenerated decodes b with the generated code too and checks that both
// re-encode to the same bytes.
func checkAgainstGenerated[P interface{ Marshal() ([]byte, error) }](t *testing.T, b []byte, ours P, w proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, w); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	normalizeWire(w.ProtoReflect())
	want, err := deterministic.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ours.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("re-encoded\n got %x\nwant %x (generated)", got, want)
	}
}

// normalizeWire removes from a decoded generated message what our value types do not
// keep: unknown fields, and value-typed embedded messages that are present but empty.
func normalizeWire(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				normalizeWire(v.List().Get(i).Message())
			}
		default:
			normalizeWire(v.Message())
			valueTyped := fd.FullName() == "raftkube.raftpb.v1.Snapshot.metadata" ||
				fd.FullName() == "raftkube.raftpb.v1.SnapshotMetadata.conf_state"
			if valueTyped && proto.Size(v.Message().Interface()) == 0 {
				m.Clear(fd)
			}
		}
		return true
	})
}

// ---------------------------------------------------------------------------
// Malformed input.

func TestUnmarshalMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		into interface{ Unmarshal([]byte) error }
		is   error  // errors.Is target, if any
		want string // substring of the message
	}{
		{"wrong wire type varint as bytes", []byte{0x0a, 0x00}, new(Message), ErrWireType,
			"raftpb: decode Message field 1: wrong wire type 2, want 0"},
		{"wrong wire type bytes as varint", []byte{0x60, 0x01}, new(Message), ErrWireType,
			"decode Message field 12: wrong wire type 0, want 2"},
		{"wrong wire type packed field as fixed64", []byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8}, new(ConfState), ErrWireType,
			"decode ConfState field 1: wrong wire type 1, want 2"},
		{"truncated varint", []byte{0x10, 0x80}, new(Message), io.ErrUnexpectedEOF,
			"decode Message field 2: unexpected EOF"},
		{"overflowing varint", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, new(Message), ErrVarintOverflow,
			"decode Message field 2: varint overflows 64 bits"},
		{"eleven-byte varint", []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, new(Message), ErrVarintOverflow,
			"decode Message field 2: varint overflows 64 bits"},
		{"overflowing length", []byte{0x62, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, new(Message), ErrVarintOverflow,
			"decode Message field 12: varint overflows 64 bits"},
		{"overflowing tag", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, new(Message), ErrVarintOverflow,
			"decode Message: tag: varint overflows 64 bits"},
		{"length past the end", []byte{0x62, 0x05, 'a', 'b'}, new(Message), io.ErrUnexpectedEOF,
			"decode Message field 12: unexpected EOF"},
		{"length of 2^64-1", []byte{0x62, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, new(Message), io.ErrUnexpectedEOF,
			"decode Message field 12: unexpected EOF"},
		{"length of 2^63", []byte{0x62, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, new(Message), io.ErrUnexpectedEOF,
			"decode Message field 12: unexpected EOF"},
		{"truncated tag", []byte{0x80}, new(Entry), io.ErrUnexpectedEOF,
			"raftpb: decode Entry: tag: unexpected EOF"},
		{"field number zero", []byte{0x00, 0x01}, new(HardState), ErrFieldNumber,
			"decode HardState: tag: invalid field number 0"},
		{"field number too large", protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), new(HardState), ErrFieldNumber,
			"decode HardState: tag: invalid field number 536870912"},
		{"stray end group", []byte{0x0c}, new(Snapshot), nil,
			"decode Snapshot field 1: wrong wire type 4, want 2"},
		{"stray end group on unknown field", []byte{0xa4, 0x06}, new(Snapshot), ErrWireType,
			"decode Snapshot field 100: wrong wire type: end of group with no group open"},
		{"unterminated group", []byte{0xa3, 0x06, 0x08, 0x01}, new(SnapshotMetadata), io.ErrUnexpectedEOF,
			"decode SnapshotMetadata field 100: unknown group: unexpected EOF"},
		{"mismatched group end", []byte{0xa3, 0x06, 0x08, 0x01, 0xac, 0x06}, new(SnapshotMetadata), ErrMalformedGroup,
			"decode SnapshotMetadata field 100: unknown group: malformed group"},
		{"reserved wire type", []byte{0xa6, 0x06}, new(ConfChange), ErrWireType,
			"decode ConfChange field 100: wrong wire type: reserved wire type 6"},
		{"truncated unknown fixed64", []byte{0xa1, 0x06, 1, 2, 3}, new(ConfChange), io.ErrUnexpectedEOF,
			"decode ConfChange field 100: unexpected EOF"},
		{"truncated entry inside message", []byte{0x3a, 0x03, 0x22, 0x05, 'x'}, new(Message), io.ErrUnexpectedEOF,
			"raftpb: decode Message field 7: decode Entry field 4: unexpected EOF"},
		{"truncated packed element", []byte{0x0a, 0x02, 0x01, 0x80}, new(ConfState), io.ErrUnexpectedEOF,
			"decode ConfState field 1: packed element: unexpected EOF"},
		{"bad change inside ConfChangeV2", []byte{0x12, 0x02, 0x0a, 0x00}, new(ConfChangeV2), ErrWireType,
			"decode ConfChangeV2 field 2: decode ConfChangeSingle field 1: wrong wire type 2, want 0"},
		{"bad conf state inside snapshot", []byte{0x12, 0x04, 0x0a, 0x02, 0x28, 0x80}, new(Snapshot), io.ErrUnexpectedEOF,
			"decode Snapshot field 2: decode SnapshotMetadata field 1: decode ConfState field 5: unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.into.Unmarshal(tt.in)
			if err == nil {
				t.Fatalf("Unmarshal(%x) succeeded, want error containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unmarshal(%x) = %q, want it to contain %q", tt.in, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "raftpb: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%q, %v) = false", err, tt.is)
			}
		})
	}
}

// fullMessage sets every field, so that a truncation can land inside each of them.
func fullMessage() Message {
	return Message{
		Type: MsgSnap, To: 2, From: 1, Term: 300, LogTerm: 299, Index: 1 << 40, Commit: math.MaxUint64,
		Entries: []Entry{
			{Term: 1, Index: 5, Type: EntryNormal, Data: []byte("hello")},
			{Term: 2, Index: 6, Type: EntryConfChangeV2, Data: bytes.Repeat([]byte{0xaa}, 200)},
		},
		Snapshot: &Snapshot{Data: []byte("state"), Metadata: SnapshotMetadata{
			Index: 7, Term: 2, ConfState: ConfState{
				Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, VotersOutgoing: []uint64{1, 2},
				LearnersNext: []uint64{5}, AutoLeave: true,
			},
		}},
		Reject: true, RejectHint: 1000, Context: []byte("ctx"), Priority: -5,
	}
}

// TestUnmarshalTruncated cuts a valid encoding at every offset. A cut must either
// fail with an error or, when it falls between fields, decode to exactly what the
// generated code decodes from the same prefix; it must never panic.
func TestUnmarshalTruncated(t *testing.T) {
	full := fullMessage()
	enc, _ := full.Marshal()
	for i := range len(enc) {
		prefix := enc[:i]
		var m Message
		err := m.Unmarshal(prefix)
		w := new(wirepb.Message)
		werr := proto.Unmarshal(prefix, w)
		switch {
		case err != nil && werr != nil:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("cut at %d: %v, want an unexpected EOF", i, err)
			}
		case err != nil:
			t.Errorf("cut at %d: ours failed (%v), generated accepted it", i, err)
		case werr != nil:
			t.Errorf("cut at %d: ours accepted, generated failed (%v)", i, werr)
		default:
			if want := messageFromWire(w); !reflect.DeepEqual(canonical(m), canonical(want)) {
				t.Errorf("cut at %d:\n got %+v\nwant %+v", i, m, want)
			}
		}
	}
	// The same for ConfChangeV2, the other type that crosses the wire inside entries.
	cc := ConfChangeV2{Transition: ConfChangeTransitionJointExplicit, Context: []byte("c"),
		Changes: []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 300}, {NodeID: 1 << 50}}}
	enc, _ = cc.Marshal()
	for i := range len(enc) {
		var got ConfChangeV2
		err := got.Unmarshal(enc[:i])
		werr := proto.Unmarshal(enc[:i], new(wirepb.ConfChangeV2))
		if (err == nil) != (werr == nil) {
			t.Errorf("ConfChangeV2 cut at %d: ours %v, generated %v", i, err, werr)
		}
	}
}

// TestUnmarshalAliases pins the zero-copy contract the package documents: decoded
// byte slices share the input's memory, and appending to one never writes into it.
func TestUnmarshalAliases(t *testing.T) {
	src := Message{Type: MsgApp, Entries: []Entry{{Data: []byte("aaaa")}, {Data: []byte("bbbb")}}, Context: []byte("cc")}
	enc, _ := src.Marshal()
	var m Message
	if err := m.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	d := m.Entries[0].Data
	if !inside(d, enc) || !inside(m.Context, enc) {
		t.Fatal("decoded Data/Context do not alias the input; the codec copies")
	}
	if cap(d) != len(d) {
		t.Fatalf("cap(Data) = %d, want %d: an append could overwrite the next field", cap(d), len(d))
	}
	before := bytes.Clone(enc)
	_ = append(d, "XXXXXXXX"...)
	if !bytes.Equal(enc, before) {
		t.Fatal("appending to a decoded Data wrote into the input buffer")
	}
}

func inside(s, buf []byte) bool {
	if len(s) == 0 {
		return false
	}
	start := reflect.ValueOf(buf).Pointer()
	p := reflect.ValueOf(s).Pointer()
	return p >= start && p < start+uintptr(len(buf))
}

// TestAllocations pins the hot-path costs codec.go's comment promises.
func TestAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	m := msgApp64()
	enc, _ := m.Marshal()
	buf := make([]byte, 0, len(enc))
	for _, tt := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"Message.Size", 0, func() { _ = m.Size() }},
		{"Message.MarshalAppend with room", 0, func() { buf = m.MarshalAppend(buf[:0]) }},
		{"Message.Marshal", 1, func() { _, _ = m.Marshal() }},
		{"Message.Unmarshal MsgApp64", 1, func() {
			var d Message
			_ = d.Unmarshal(enc)
		}},
	} {
		if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
}

// ---------------------------------------------------------------------------
// Benchmarks: ours against the generated code on the replication hot path.

// msgApp64 is a typical replication message: 64 entries of 128 bytes each.
func msgApp64() Message {
	m := Message{Type: MsgApp, To: 2, From: 1, Term: 5, LogTerm: 5, Index: 1000, Commit: 990}
	for i := range 64 {
		m.Entries = append(m.Entries, Entry{Term: 5, Index: uint64(1001 + i), Data: bytes.Repeat([]byte{byte(i)}, 128)})
	}
	return m
}

func BenchmarkMarshalMsgApp64(b *testing.B) {
	m := msgApp64()
	b.Run("raftpb", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raftpb-append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, m.Size())
		for b.Loop() {
			buf = m.MarshalAppend(buf[:0])
		}
	})
	b.Run("wirepb", func(b *testing.B) {
		w := messageToWire(&m)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUnmarshalMsgApp64(b *testing.B) {
	m := msgApp64()
	enc, _ := m.Marshal()
	b.Run("raftpb", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var d Message
			if err := d.Unmarshal(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wirepb", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var w wirepb.Message
			if err := proto.Unmarshal(enc, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
