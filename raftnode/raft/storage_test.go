package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// newStorageFrom returns a MemoryStorage whose snapshot is es[0] (index and term)
// and whose log holds the rest of es.
func newStorageFrom(t *testing.T, es ...pb.Entry) *MemoryStorage {
	t.Helper()
	ms := NewMemoryStorage()
	if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: es[0].Index, Term: es[0].Term}}); err != nil {
		t.Fatal(err)
	}
	if err := ms.Append(es[1:]); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestMemoryStorageTerm(t *testing.T) {
	ms := newStorageFrom(t, mkEnts(3, 3, 4, 5)...)
	tests := []struct {
		i       uint64
		want    uint64
		wantErr error
	}{
		{2, 0, ErrCompacted},
		{3, 3, nil}, // the snapshot's term
		{4, 4, nil},
		{5, 5, nil},
		{6, 0, ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := ms.Term(tt.i)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("Term(%d) = (%d, %v), want (%d, %v)", tt.i, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMemoryStorageEntries(t *testing.T) {
	ms := newStorageFrom(t, mkEnts(3, 3, 4, 5, 6)...)
	size := func(i uint64) uint64 { e := mkEnt(i, i); return uint64(e.Size()) }
	tests := []struct {
		lo, hi, maxSize uint64
		want            []pb.Entry
		wantErr         error
	}{
		{2, 6, noLimit, nil, ErrCompacted},
		{3, 4, noLimit, nil, ErrCompacted}, // the snapshot's index is not an entry
		{4, 5, noLimit, mkEnts(4, 4), nil},
		{4, 6, noLimit, mkEnts(4, 4, 5), nil},
		{4, 7, noLimit, mkEnts(4, 4, 5, 6), nil},
		{4, 8, noLimit, nil, ErrUnavailable},
		{4, 7, 0, mkEnts(4, 4), nil}, // at least one entry
		{4, 7, size(4) + size(5), mkEnts(4, 4, 5), nil},
		{4, 7, size(4) + size(5) + size(6)/2, mkEnts(4, 4, 5), nil},
		{4, 7, size(4) + size(5) + size(6) - 1, mkEnts(4, 4, 5), nil},
		{4, 7, size(4) + size(5) + size(6), mkEnts(4, 4, 5, 6), nil},
		{5, 5, noLimit, nil, nil},
	}
	for _, tt := range tests {
		got, err := ms.Entries(tt.lo, tt.hi, tt.maxSize)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Entries(%d, %d, %d) error = %v, want %v", tt.lo, tt.hi, tt.maxSize, err, tt.wantErr)
			continue
		}
		if !slices.Equal(indexTermsOf(got), indexTermsOf(tt.want)) {
			t.Errorf("Entries(%d, %d, %d) = %v, want %v", tt.lo, tt.hi, tt.maxSize, indexTermsOf(got), indexTermsOf(tt.want))
		}
	}
}

// A caller may append to what Entries returned without changing the storage,
// also when the size limit cut the result short.
func TestMemoryStorageEntriesAreCapped(t *testing.T) {
	ms := newStorageFrom(t, mkEnts(3, 3, 4, 5, 6)...)
	for _, maxSize := range []uint64{noLimit, 0} {
		got, err := ms.Entries(4, 6, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		_ = append(got, mkEnt(99, 99))
		for i := uint64(4); i <= 6; i++ {
			if term, _ := ms.Term(i); term != i {
				t.Fatalf("maxSize %d: appending to the result changed the term at %d to %d", maxSize, i, term)
			}
		}
	}
}

func TestMemoryStorageFirstAndLastIndex(t *testing.T) {
	ms := newStorageFrom(t, mkEnts(3, 3, 4, 5)...)
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	if first != 4 || last != 5 {
		t.Fatalf("first, last = %d, %d; want 4, 5", first, last)
	}
	if err := ms.Append([]pb.Entry{mkEnt(6, 5)}); err != nil {
		t.Fatal(err)
	}
	if last, _ := ms.LastIndex(); last != 6 {
		t.Fatalf("last after append = %d, want 6", last)
	}
	if err := ms.Compact(4); err != nil {
		t.Fatal(err)
	}
	if first, _ := ms.FirstIndex(); first != 5 {
		t.Fatalf("first after Compact(4) = %d, want 5", first)
	}

	// An empty storage: nothing compacted, nothing held.
	empty := NewMemoryStorage()
	first, _ = empty.FirstIndex()
	last, _ = empty.LastIndex()
	if first != 1 || last != 0 {
		t.Fatalf("empty storage first, last = %d, %d; want 1, 0", first, last)
	}
}

func TestMemoryStorageCompact(t *testing.T) {
	tests := []struct {
		i         uint64
		wantErr   error
		wantIndex uint64
		wantTerm  uint64
		wantLen   int
	}{
		{2, ErrCompacted, 3, 3, 3},
		{3, ErrCompacted, 3, 3, 3},
		{4, nil, 4, 4, 2},
		{5, nil, 5, 5, 1},
		{6, ErrUnavailable, 3, 3, 3},
	}
	for _, tt := range tests {
		ms := newStorageFrom(t, mkEnts(3, 3, 4, 5)...)
		err := ms.Compact(tt.i)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Compact(%d) error = %v, want %v", tt.i, err, tt.wantErr)
		}
		if ms.ents[0].Index != tt.wantIndex || ms.ents[0].Term != tt.wantTerm || len(ms.ents) != tt.wantLen {
			t.Errorf("Compact(%d): dummy %d/%d len %d, want %d/%d len %d",
				tt.i, ms.ents[0].Index, ms.ents[0].Term, len(ms.ents), tt.wantIndex, tt.wantTerm, tt.wantLen)
		}
		if tt.wantErr == nil {
			if _, err := ms.Term(tt.i - 1); !errors.Is(err, ErrCompacted) {
				t.Errorf("Compact(%d): Term(%d) error = %v, want ErrCompacted", tt.i, tt.i-1, err)
			}
		}
	}
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	data := []byte("data")
	tests := []struct {
		i       uint64
		cs      *pb.ConfState
		wantErr error
		want    pb.SnapshotMetadata
	}{
		{4, cs, nil, pb.SnapshotMetadata{Index: 4, Term: 4, ConfState: *cs}},
		{5, cs, nil, pb.SnapshotMetadata{Index: 5, Term: 5, ConfState: *cs}},
		{5, nil, nil, pb.SnapshotMetadata{Index: 5, Term: 5, ConfState: pb.ConfState{Voters: []uint64{9}}}}, // nil keeps the old one
		{3, cs, ErrSnapOutOfDate, pb.SnapshotMetadata{}},
		{6, cs, ErrUnavailable, pb.SnapshotMetadata{}},
	}
	for _, tt := range tests {
		ms := NewMemoryStorage()
		if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 3, ConfState: pb.ConfState{Voters: []uint64{9}}}}); err != nil {
			t.Fatal(err)
		}
		if err := ms.Append(mkEnts(4, 4, 5)); err != nil {
			t.Fatal(err)
		}
		snap, err := ms.CreateSnapshot(tt.i, tt.cs, data)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("CreateSnapshot(%d) error = %v, want %v", tt.i, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if snap.Metadata.Index != tt.want.Index || snap.Metadata.Term != tt.want.Term ||
			!slices.Equal(snap.Metadata.ConfState.Voters, tt.want.ConfState.Voters) || string(snap.Data) != "data" {
			t.Errorf("CreateSnapshot(%d) = %+v, want metadata %+v", tt.i, snap, tt.want)
		}
		if got, _ := ms.Snapshot(); got.Metadata.Index != tt.i {
			t.Errorf("Snapshot() after CreateSnapshot(%d) is at %d", tt.i, got.Metadata.Index)
		}
		// Creating a snapshot does not compact the log.
		if first, _ := ms.FirstIndex(); first != 4 {
			t.Errorf("CreateSnapshot(%d) changed FirstIndex to %d", tt.i, first)
		}
	}
}

func TestMemoryStorageAppend(t *testing.T) {
	tests := []struct {
		name    string
		append  []pb.Entry
		want    []pb.Entry
		wantErr bool
	}{
		{"nothing", nil, mkEnts(3, 3, 4, 5), false},
		{"all compacted", mkEnts(1, 1, 2), mkEnts(3, 3, 4, 5), false},
		{"same entries", mkEnts(3, 3, 4, 5), mkEnts(3, 3, 4, 5), false},
		{"replace the tail", mkEnts(3, 3, 6, 6), mkEnts(3, 3, 6, 6), false},
		{"extend", mkEnts(3, 3, 4, 5, 5), mkEnts(3, 3, 4, 5, 5), false},
		{"skip compacted, truncate existing", mkEnts(2, 3, 3, 5), mkEnts(3, 3, 5), false},
		{"truncate existing", mkEnts(4, 5), mkEnts(3, 3, 5), false},
		{"directly after the last", mkEnts(6, 5), mkEnts(3, 3, 4, 5, 5), false},
		{"gap", mkEnts(7, 5), mkEnts(3, 3, 4, 5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newStorageFrom(t, mkEnts(3, 3, 4, 5)...)
			err := ms.Append(tt.append)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Append error = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(indexTermsOf(ms.ents), indexTermsOf(tt.want)) {
				t.Fatalf("log = %v, want %v", indexTermsOf(ms.ents), indexTermsOf(tt.want))
			}
		})
	}
}

// Entries handed out earlier (in a Ready, in messages an asynchronous transport
// still holds) must not change when a later Append replaces the log's tail.
func TestMemoryStorageAppendDoesNotOverwriteHandedOutEntries(t *testing.T) {
	ms := newStorageFrom(t, mkEnts(3, 3, 4, 5, 6)...)
	held, err := ms.Entries(4, 7, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	want := indexTermsOf(held)
	// A new leader overwrites 5 and 6.
	if err := ms.Append(mkEnts(5, 9, 9)); err != nil {
		t.Fatal(err)
	}
	if got := indexTermsOf(held); !slices.Equal(got, want) {
		t.Fatalf("entries handed out before the Append changed from %v to %v", want, got)
	}
	if term, _ := ms.Term(5); term != 9 {
		t.Fatalf("Term(5) = %d after the Append, want 9", term)
	}
}

func TestMemoryStorageApplySnapshot(t *testing.T) {
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
	ms := NewMemoryStorage()
	if err := ms.Append(mkEnts(1, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := ms.ApplySnapshot(pb.Snapshot{Data: []byte("d"), Metadata: pb.SnapshotMetadata{Index: 4, Term: 4, ConfState: cs}}); err != nil {
		t.Fatalf("ApplySnapshot(4): %v", err)
	}
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	if first != 5 || last != 4 {
		t.Fatalf("after snapshot at 4: first %d last %d, want 5 4", first, last)
	}
	if term, err := ms.Term(4); err != nil || term != 4 {
		t.Fatalf("Term(4) = %d, %v; want the snapshot's term 4", term, err)
	}
	if _, cfg, _ := ms.InitialState(); !slices.Equal(cfg.Voters, cs.Voters) {
		t.Fatalf("InitialState ConfState = %+v, want the snapshot's %+v", cfg, cs)
	}
	for _, idx := range []uint64{3, 4} {
		err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: idx, Term: 4}})
		if !errors.Is(err, ErrSnapOutOfDate) {
			t.Errorf("ApplySnapshot(%d) after 4: error %v, want ErrSnapOutOfDate", idx, err)
		}
	}
	if snap, _ := ms.Snapshot(); snap.Metadata.Index != 4 || string(snap.Data) != "d" {
		t.Fatalf("an out-of-date snapshot replaced the held one: %+v", snap)
	}
}

func TestMemoryStorageHardState(t *testing.T) {
	ms := NewMemoryStorage()
	hs, cs, err := ms.InitialState()
	if err != nil || !hs.IsEmpty() || len(cs.Voters) != 0 {
		t.Fatalf("new storage InitialState = %+v, %+v, %v", hs, cs, err)
	}
	want := pb.HardState{Term: 3, Vote: 2, Commit: 7}
	if err := ms.SetHardState(want); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := ms.InitialState(); got != want {
		t.Fatalf("InitialState HardState = %+v, want %+v", got, want)
	}
}

// FirstIndex and LastIndex read published bounds without the lock: they must
// follow every change of the log, and stay race-free against a writer on
// another goroutine (go test -race).
func TestMemoryStorageBoundsFollowTheLog(t *testing.T) {
	ms := NewMemoryStorage()
	bounds := func() (uint64, uint64) {
		first, _ := ms.FirstIndex()
		last, _ := ms.LastIndex()
		return first, last
	}
	if f, l := bounds(); f != 1 || l != 0 {
		t.Fatalf("empty: [%d, %d], want [1, 0]", f, l)
	}
	if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(); f != 4 || l != 3 {
		t.Fatalf("after a snapshot at 3: [%d, %d], want [4, 3]", f, l)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(4); i < 2000; i++ {
			if err := ms.Append([]pb.Entry{{Index: i, Term: 1}}); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				if err := ms.Compact(i - 50); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		if f, l := bounds(); l+1 < f-1 {
			t.Fatalf("bounds [%d, %d] crossed", f, l)
		}
	}
	if err := ms.Append([]pb.Entry{{Index: 1990, Term: 2}}); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(); f != 1851 || l != 1990 {
		t.Fatalf("after compacting to 1850 and truncating at 1990: [%d, %d], want [1851, 1990]", f, l)
	}
}
