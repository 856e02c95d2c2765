package raft

import (
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// newUnstable returns an unstable log holding es from offset, after snap if set.
func newUnstable(offset uint64, snap *pb.Snapshot, es ...pb.Entry) unstable {
	return unstable{offset: offset, snapshot: snap, entries: es, logger: DiscardLogger{}}
}

func snapAt(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: index, Term: term}}
}

func TestUnstableMaybeTerm(t *testing.T) {
	tests := []struct {
		name   string
		u      unstable
		index  uint64
		want   uint64
		wantOK bool
	}{
		{"entry held", newUnstable(5, nil, mkEnt(5, 1)), 5, 1, true},
		{"past the last entry", newUnstable(5, nil, mkEnt(5, 1)), 6, 0, false},
		{"before the offset, no snapshot", newUnstable(5, nil, mkEnt(5, 1)), 4, 0, false},
		{"entry after a snapshot", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 5, 1, true},
		{"past the last entry after a snapshot", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 6, 0, false},
		{"the snapshot's index", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 4, 1, true},
		{"before the snapshot", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 3, 0, false},
		{"snapshot only: after it", newUnstable(5, snapAt(4, 1)), 5, 0, false},
		{"snapshot only: its index", newUnstable(5, snapAt(4, 1)), 4, 1, true},
		{"nothing held", newUnstable(0, nil), 5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.u.maybeTerm(tt.index)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("maybeTerm(%d) = (%d, %v), want (%d, %v)", tt.index, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestUnstableFirstAndLastIndex(t *testing.T) {
	tests := []struct {
		name        string
		u           unstable
		wantFirst   uint64
		wantFirstOK bool
		wantLast    uint64
		wantLastOK  bool
	}{
		{"entries only", newUnstable(5, nil, mkEnt(5, 1)), 0, false, 5, true},
		{"snapshot and entries", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 5, true, 5, true},
		{"snapshot only", newUnstable(5, snapAt(4, 1)), 5, true, 4, true},
		{"empty", newUnstable(0, nil), 0, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := tt.u.maybeFirstIndex(); got != tt.wantFirst || ok != tt.wantFirstOK {
				t.Errorf("maybeFirstIndex = (%d, %v), want (%d, %v)", got, ok, tt.wantFirst, tt.wantFirstOK)
			}
			if got, ok := tt.u.maybeLastIndex(); got != tt.wantLast || ok != tt.wantLastOK {
				t.Errorf("maybeLastIndex = (%d, %v), want (%d, %v)", got, ok, tt.wantLast, tt.wantLastOK)
			}
		})
	}
}

func TestUnstableStableTo(t *testing.T) {
	tests := []struct {
		name        string
		u           unstable
		index, term uint64
		wantOffset  uint64
		wantLen     int
	}{
		{"nothing held", newUnstable(0, nil), 5, 1, 0, 0},
		{"the only entry", newUnstable(5, nil, mkEnt(5, 1)), 5, 1, 6, 0},
		{"a prefix", newUnstable(5, nil, mkEnts(5, 1, 1)...), 5, 1, 6, 1},
		{"all of several", newUnstable(5, nil, mkEnts(5, 1, 1, 1)...), 7, 1, 8, 0},
		{"stale term: the entry was replaced", newUnstable(6, nil, mkEnt(6, 2)), 6, 1, 6, 1},
		{"before the offset", newUnstable(5, nil, mkEnt(5, 1)), 4, 1, 5, 1},
		{"before the offset, other term", newUnstable(5, nil, mkEnt(5, 1)), 4, 2, 5, 1},
		{"entry after a snapshot", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 5, 1, 6, 0},
		{"entries after a snapshot", newUnstable(5, snapAt(4, 1), mkEnts(5, 1, 1)...), 5, 1, 6, 1},
		{"after a snapshot, stale term", newUnstable(6, snapAt(5, 1), mkEnt(6, 2)), 6, 1, 6, 1},
		{"the snapshot's index is not an entry", newUnstable(5, snapAt(4, 1), mkEnt(5, 1)), 4, 1, 5, 1},
		{"the snapshot's index, other term", newUnstable(5, snapAt(4, 2), mkEnt(5, 2)), 4, 1, 5, 1},
		{"past the last entry", newUnstable(5, nil, mkEnt(5, 1)), 6, 1, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			u.stableTo(tt.index, tt.term)
			if u.offset != tt.wantOffset || len(u.entries) != tt.wantLen {
				t.Fatalf("after stableTo(%d, %d): offset %d len %d, want offset %d len %d",
					tt.index, tt.term, u.offset, len(u.entries), tt.wantOffset, tt.wantLen)
			}
			if len(u.entries) > 0 && u.entries[0].Index != u.offset {
				t.Fatalf("invariant broken: entries[0].Index %d != offset %d", u.entries[0].Index, u.offset)
			}
		})
	}
}

func TestUnstableStableSnapTo(t *testing.T) {
	u := newUnstable(5, snapAt(4, 1), mkEnt(5, 1))
	u.stableSnapTo(3)
	if u.snapshot == nil {
		t.Fatalf("stableSnapTo of another index dropped the snapshot")
	}
	u.stableSnapTo(4)
	if u.snapshot != nil {
		t.Fatalf("stableSnapTo(4) kept the snapshot at 4")
	}
	if len(u.entries) != 1 {
		t.Fatalf("stableSnapTo dropped entries")
	}
}

func TestUnstableRestore(t *testing.T) {
	u := newUnstable(5, snapAt(4, 1), mkEnt(5, 1))
	s := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 6, Term: 2}}
	u.restore(s)
	if u.offset != 7 || len(u.entries) != 0 || u.snapshot == nil || u.snapshot.Metadata.Index != 6 {
		t.Fatalf("after restore: %s snapshot %+v", u.String(), u.snapshot)
	}
}

func TestUnstableTruncateAndAppend(t *testing.T) {
	tests := []struct {
		name       string
		u          unstable
		toappend   []pb.Entry
		wantOffset uint64
		want       []pb.Entry
	}{
		// Directly after the last entry.
		{"append to the end", newUnstable(5, nil, mkEnt(5, 1)), mkEnts(6, 1, 1), 5, mkEnts(5, 1, 1, 1)},
		{"append to empty", newUnstable(5, nil), mkEnts(5, 1), 5, mkEnts(5, 1)},
		// At or before the offset: everything held is replaced.
		{"replace from the offset", newUnstable(5, nil, mkEnt(5, 1)), mkEnts(5, 2, 2), 5, mkEnts(5, 2, 2)},
		{"replace from before the offset", newUnstable(5, nil, mkEnt(5, 1)), mkEnts(4, 2, 2, 2), 4, mkEnts(4, 2, 2, 2)},
		// In the middle: keep the prefix, replace the rest.
		{"truncate the last", newUnstable(5, nil, mkEnts(5, 1, 1, 1)...), mkEnts(6, 2), 5, mkEnts(5, 1, 2)},
		{"truncate and extend", newUnstable(5, nil, mkEnts(5, 1, 1, 1)...), mkEnts(7, 2, 2), 5, mkEnts(5, 1, 1, 2, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			u.truncateAndAppend(tt.toappend)
			if u.offset != tt.wantOffset {
				t.Fatalf("offset = %d, want %d", u.offset, tt.wantOffset)
			}
			if !slices.Equal(indexTermsOf(u.entries), indexTermsOf(tt.want)) {
				t.Fatalf("entries = %v, want %v", indexTermsOf(u.entries), indexTermsOf(tt.want))
			}
		})
	}
}

// The entries of a Ready (and of messages) are slices of the unstable array. The
// unstable log must never write where such a slice can see: not when it grows,
// not when it is truncated, not when its persisted prefix is dropped.
func TestUnstableDoesNotOverwriteHandedOutSlices(t *testing.T) {
	ops := []struct {
		name string
		op   func(u *unstable)
	}{
		{"replace from the offset", func(u *unstable) { u.truncateAndAppend(mkEnts(1, 2, 2)) }},
		{"truncate in the middle", func(u *unstable) { u.truncateAndAppend(mkEnts(2, 2, 2)) }},
		{"truncate after a persisted prefix", func(u *unstable) {
			u.stableTo(1, 1)
			u.truncateAndAppend(mkEnts(3, 2, 2))
		}},
		{"append after a persisted prefix", func(u *unstable) {
			u.stableTo(3, 1)
			u.truncateAndAppend(mkEnts(4, 2, 2))
		}},
		{"grow", func(u *unstable) {
			for i := uint64(4); i < 4+2*minEntriesCap; i++ {
				u.truncateAndAppend([]pb.Entry{mkEnt(i, 2)})
			}
		}},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnstable(1, nil)
			u.truncateAndAppend(mkEnts(1, 1, 1, 1))
			handedOut := u.entries // what nextUnstableEnts returns
			want := indexTermsOf(handedOut)
			tt.op(&u)
			if got := indexTermsOf(handedOut); !slices.Equal(got, want) {
				t.Fatalf("handed-out entries changed from %v to %v", want, got)
			}
		})
	}

	u := newUnstable(1, nil)
	u.truncateAndAppend(mkEnts(1, 1, 1, 1))
	handedOut := u.slice(1, 4) // as nextUnstableEnts / an MsgApp would
	want := slices.Clone(handedOut)

	// A newer leader replaces the tail: 3 and on get term 2.
	u.truncateAndAppend(mkEnts(3, 2))
	// Then the log grows well past the first array's capacity.
	for i := uint64(4); i < 4+2*minEntriesCap; i++ {
		u.truncateAndAppend([]pb.Entry{mkEnt(i, 2)})
	}
	// A persisted prefix is dropped, and more is appended into the same array.
	u.stableTo(10, 2)
	u.truncateAndAppend([]pb.Entry{mkEnt(4+2*minEntriesCap, 2)})
	// Another whole replacement from the offset.
	u.truncateAndAppend(mkEnts(u.offset, 3, 3))

	if !slices.Equal(indexTermsOf(handedOut), indexTermsOf(want)) {
		t.Fatalf("handed-out slice changed to %v, was %v", indexTermsOf(handedOut), indexTermsOf(want))
	}

	// A slice given out is capped: appending to it does not write into the log.
	u2 := newUnstable(5, nil, mkEnts(5, 1, 1, 1)...)
	s := u2.slice(5, 6)
	_ = append(s, mkEnt(6, 9))
	if u2.entries[1].Term != 1 {
		t.Fatalf("appending to a slice overwrote the unstable entry at 6 (term %d)", u2.entries[1].Term)
	}
}

// The array is grown with spare room, so a steady stream of single entries that
// are persisted one by one does not allocate on every append.
func TestUnstableAppendReusesArray(t *testing.T) {
	u := newUnstable(1, nil)
	u.truncateAndAppend([]pb.Entry{mkEnt(1, 1)})
	allocs := testing.AllocsPerRun(100, func() {
		next := u.offset + uint64(len(u.entries))
		u.truncateAndAppend([]pb.Entry{mkEnt(next, 1)})
		u.stableTo(next, 1)
	})
	if allocs > 0.1 {
		t.Fatalf("append+stableTo allocated %.2f times per run", allocs)
	}
}

func TestUnstableSliceOutOfBounds(t *testing.T) {
	u := newUnstable(5, nil, mkEnts(5, 1, 1)...)
	assertPanics(t, "slice below offset", func() { u.slice(4, 6) })
	assertPanics(t, "slice past the end", func() { u.slice(5, 8) })
	assertPanics(t, "inverted slice", func() { u.slice(6, 5) })
	if got := u.slice(5, 7); len(got) != 2 {
		t.Fatalf("slice(5, 7) has %d entries", len(got))
	}
}
