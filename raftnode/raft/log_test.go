package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// This file tests raftLog on its own: the persisted part in a MemoryStorage, the
// rest in unstable, and the rules that join them.

// ent builds an entry of the given index and term.
func mkEnt(index, term uint64) pb.Entry { return pb.Entry{Index: index, Term: term} }

// ents builds entries at consecutive indexes from first, one per term given.
func mkEnts(first uint64, terms ...uint64) []pb.Entry {
	out := make([]pb.Entry, len(terms))
	for i, t := range terms {
		out[i] = mkEnt(first+uint64(i), t)
	}
	return out
}

// newLogWithUnstable returns a log over an empty storage whose entries are all
// unstable.
func newLogWithUnstable(es ...pb.Entry) *raftLog {
	l, err := newLog(NewMemoryStorage(), DiscardLogger{}, noLimit)
	if err != nil {
		panic(err)
	}
	l.append(es...)
	return l
}

// indexTerms returns "index/term" pairs, which read better in failures than
// whole entries.
func indexTermsOf(es []pb.Entry) [][2]uint64 {
	out := make([][2]uint64, len(es))
	for i, e := range es {
		out[i] = [2]uint64{e.Index, e.Term}
	}
	return out
}

// mustPanic fails t unless f panics.
func assertPanics(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: did not panic", what)
		}
	}()
	f()
}

func TestLogFindConflict(t *testing.T) {
	previous := mkEnts(1, 1, 2, 3)
	tests := []struct {
		name string
		ents []pb.Entry
		want uint64
	}{
		{"empty", nil, 0},
		{"all present", mkEnts(1, 1, 2, 3), 0},
		{"suffix present", mkEnts(2, 2, 3), 0},
		{"last present", mkEnts(3, 3), 0},
		{"present then new", mkEnts(1, 1, 2, 3, 4, 4), 4},
		{"suffix then new", mkEnts(2, 2, 3, 4, 4), 4},
		{"only new", mkEnts(4, 4, 4), 4},
		{"conflict at first", mkEnts(1, 4, 4), 1},
		{"conflict in middle", mkEnts(2, 1, 3, 4), 2},
		{"conflict at last", mkEnts(3, 1, 2, 4, 4), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogWithUnstable(previous...)
			if got := l.findConflict(tt.ents); got != tt.want {
				t.Fatalf("findConflict = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	// Snapshot at 10 (term 3); 11..13 persisted; 14..16 unstable.
	ms := NewMemoryStorage()
	if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 10, Term: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := ms.Append(mkEnts(11, 3, 4, 4)); err != nil {
		t.Fatal(err)
	}
	l, err := newLog(ms, DiscardLogger{}, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	l.append(mkEnts(14, 4, 5, 5)...)

	tests := []struct {
		index, term         uint64
		wantIndex, wantTerm uint64
	}{
		{16, 6, 16, 5}, // every entry qualifies: the last one
		{16, 5, 16, 5},
		{16, 4, 14, 4}, // skips the term-5 entries in unstable
		{13, 4, 13, 4}, // answered from storage
		{16, 3, 11, 3}, // crosses from unstable into storage
		{12, 3, 11, 3},
		{10, 3, 10, 3}, // the snapshot's own entry
		{16, 2, 9, 0},  // below the snapshot nothing is known
		{0, 0, 0, 0},
	}
	for _, tt := range tests {
		gotIndex, gotTerm := l.findConflictByTerm(tt.index, tt.term)
		if gotIndex != tt.wantIndex || gotTerm != tt.wantTerm {
			t.Errorf("findConflictByTerm(%d, %d) = (%d, %d), want (%d, %d)",
				tt.index, tt.term, gotIndex, gotTerm, tt.wantIndex, tt.wantTerm)
		}
	}
}

func TestLogMaybeAppend(t *testing.T) {
	previous := mkEnts(1, 1, 2, 3)
	const lastIndex, lastTerm, commit = 3, 3, 1
	tests := []struct {
		name                      string
		logTerm, index, committed uint64
		ents                      []pb.Entry
		wantLast                  uint64
		wantOK                    bool
		wantCommit                uint64
		wantLog                   [][2]uint64
		wantPanic                 bool
	}{
		{name: "previous term mismatch", logTerm: lastTerm - 1, index: lastIndex, committed: lastIndex, ents: mkEnts(4, 4),
			wantCommit: commit, wantLog: indexTermsOf(previous)},
		{name: "previous index past the end", logTerm: lastTerm, index: lastIndex + 1, committed: lastIndex, ents: mkEnts(5, 4),
			wantCommit: commit, wantLog: indexTermsOf(previous)},
		{name: "heartbeat-like, commit to last", logTerm: lastTerm, index: lastIndex, committed: lastIndex,
			wantLast: lastIndex, wantOK: true, wantCommit: lastIndex, wantLog: indexTermsOf(previous)},
		{name: "commit capped at last new entry", logTerm: lastTerm, index: lastIndex, committed: lastIndex + 1,
			wantLast: lastIndex, wantOK: true, wantCommit: lastIndex, wantLog: indexTermsOf(previous)},
		{name: "commit below last", logTerm: lastTerm, index: lastIndex, committed: lastIndex - 1,
			wantLast: lastIndex, wantOK: true, wantCommit: lastIndex - 1, wantLog: indexTermsOf(previous)},
		{name: "commit never decreases", logTerm: lastTerm, index: lastIndex, committed: 0,
			wantLast: lastIndex, wantOK: true, wantCommit: commit, wantLog: indexTermsOf(previous)},
		{name: "empty log prefix", logTerm: 0, index: 0, committed: lastIndex,
			wantLast: 0, wantOK: true, wantCommit: commit, wantLog: indexTermsOf(previous)},
		{name: "append one", logTerm: lastTerm, index: lastIndex, committed: lastIndex, ents: mkEnts(4, 4),
			wantLast: 4, wantOK: true, wantCommit: 3, wantLog: indexTermsOf(mkEnts(1, 1, 2, 3, 4))},
		{name: "append one and commit it", logTerm: lastTerm, index: lastIndex, committed: lastIndex + 1, ents: mkEnts(4, 4),
			wantLast: 4, wantOK: true, wantCommit: 4, wantLog: indexTermsOf(mkEnts(1, 1, 2, 3, 4))},
		{name: "append one, commit capped", logTerm: lastTerm, index: lastIndex, committed: lastIndex + 2, ents: mkEnts(4, 4),
			wantLast: 4, wantOK: true, wantCommit: 4, wantLog: indexTermsOf(mkEnts(1, 1, 2, 3, 4))},
		{name: "append two", logTerm: lastTerm, index: lastIndex, committed: lastIndex + 2, ents: mkEnts(4, 4, 4),
			wantLast: 5, wantOK: true, wantCommit: 5, wantLog: indexTermsOf(mkEnts(1, 1, 2, 3, 4, 4))},
		{name: "conflict replaces the last entry", logTerm: lastTerm - 1, index: lastIndex - 1, committed: lastIndex, ents: mkEnts(3, 4),
			wantLast: 3, wantOK: true, wantCommit: 3, wantLog: indexTermsOf(mkEnts(1, 1, 2, 4))},
		{name: "conflict replaces two entries", logTerm: lastTerm - 2, index: lastIndex - 2, committed: lastIndex, ents: mkEnts(2, 4, 4),
			wantLast: 3, wantOK: true, wantCommit: 3, wantLog: indexTermsOf(mkEnts(1, 1, 4, 4))},
		{name: "already present entries are kept", logTerm: 1, index: 1, committed: lastIndex, ents: mkEnts(2, 2),
			wantLast: 2, wantOK: true, wantCommit: 2, wantLog: indexTermsOf(previous)},
		{name: "conflict with a committed entry", logTerm: 0, index: 0, committed: lastIndex, ents: mkEnts(1, 4),
			wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogWithUnstable(previous...)
			l.committed = commit
			if tt.wantPanic {
				assertPanics(t, "maybeAppend", func() { l.maybeAppend(tt.index, tt.logTerm, tt.committed, tt.ents) })
				return
			}
			gotLast, gotOK := l.maybeAppend(tt.index, tt.logTerm, tt.committed, tt.ents)
			if gotLast != tt.wantLast || gotOK != tt.wantOK {
				t.Fatalf("maybeAppend = (%d, %v), want (%d, %v)", gotLast, gotOK, tt.wantLast, tt.wantOK)
			}
			if l.committed != tt.wantCommit {
				t.Fatalf("committed = %d, want %d", l.committed, tt.wantCommit)
			}
			if got := indexTermsOf(l.allEntries()); !slices.Equal(got, tt.wantLog) {
				t.Fatalf("log = %v, want %v", got, tt.wantLog)
			}
		})
	}
}

func TestLogAppendPanicsBelowCommitted(t *testing.T) {
	l := newLogWithUnstable(mkEnts(1, 1, 2, 3)...)
	l.committed = 2
	assertPanics(t, "append truncating committed entry 2", func() { l.append(mkEnts(2, 5)...) })
	// Replacing entries after the committed index is allowed.
	if got := l.append(mkEnts(3, 5, 5)...); got != 4 {
		t.Fatalf("append returned last index %d, want 4", got)
	}
}

// newSplitLog returns a log whose snapshot is at offset (term offset), whose
// entries offset+1..half-1 are in storage and half..last-1 in unstable; entry i
// has term i.
func newSplitLog(t *testing.T, offset, half, last uint64) *raftLog {
	t.Helper()
	ms := NewMemoryStorage()
	if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: offset, Term: offset}}); err != nil {
		t.Fatal(err)
	}
	for i := offset + 1; i < half; i++ {
		if err := ms.Append([]pb.Entry{mkEnt(i, i)}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := newLog(ms, DiscardLogger{}, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	for i := half; i < last; i++ {
		l.append(mkEnt(i, i))
	}
	return l
}

func TestLogTermAcrossStorageAndUnstable(t *testing.T) {
	const offset, half, last = 100, 150, 200
	l := newSplitLog(t, offset, half, last)
	if l.unstable.offset != half {
		t.Fatalf("unstable offset = %d, want %d", l.unstable.offset, half)
	}
	tests := []struct {
		index   uint64
		want    uint64
		wantErr error
	}{
		{offset - 1, 0, ErrCompacted},
		{offset, offset, nil}, // the snapshot's term
		{offset + 1, offset + 1, nil},
		{half - 1, half - 1, nil}, // last in storage
		{half, half, nil},         // first in unstable
		{last - 1, last - 1, nil},
		{last, 0, ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := l.term(tt.index)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("term(%d) = (%d, %v), want (%d, %v)", tt.index, got, err, tt.want, tt.wantErr)
		}
	}
	if l.firstIndex() != offset+1 || l.lastIndex() != last-1 || l.lastTerm() != last-1 {
		t.Fatalf("first/last index/last term = %d/%d/%d, want %d/%d/%d",
			l.firstIndex(), l.lastIndex(), l.lastTerm(), offset+1, last-1, last-1)
	}
}

func TestLogSliceAcrossStorageAndUnstable(t *testing.T) {
	const offset, half, last = 100, 150, 200
	l := newSplitLog(t, offset, half, last)
	size := func(i uint64) uint64 { e := mkEnt(i, i); return uint64(e.Size()) }
	tests := []struct {
		name    string
		lo, hi  uint64
		limit   uint64
		want    []pb.Entry
		wantErr error
		panics  bool
	}{
		{name: "before the snapshot", lo: offset - 1, hi: offset + 1, limit: noLimit, wantErr: ErrCompacted},
		{name: "at the snapshot", lo: offset, hi: offset + 1, limit: noLimit, wantErr: ErrCompacted},
		{name: "empty range", lo: half, hi: half, limit: noLimit},
		{name: "storage only", lo: half - 2, hi: half, limit: noLimit, want: mkEnts(half-2, half-2, half-1)},
		{name: "unstable only", lo: half, hi: half + 2, limit: noLimit, want: mkEnts(half, half, half+1)},
		{name: "across", lo: half - 1, hi: half + 1, limit: noLimit, want: mkEnts(half-1, half-1, half)},
		{name: "last entry", lo: last - 1, hi: last, limit: noLimit, want: mkEnts(last-1, last-1)},
		{name: "past the end", lo: last, hi: last + 1, limit: noLimit, panics: true},
		{name: "inverted", lo: half + 1, hi: half, limit: noLimit, panics: true},
		{name: "zero limit still gives one (storage)", lo: half - 1, hi: half + 1, limit: 0, want: mkEnts(half-1, half-1)},
		{name: "zero limit still gives one (unstable)", lo: half, hi: half + 2, limit: 0, want: mkEnts(half, half)},
		{name: "limit stops in storage", lo: half - 2, hi: half + 1, limit: size(half-2) + size(half-1) - 1,
			want: mkEnts(half-2, half-2)},
		{name: "limit exactly at the storage part", lo: half - 2, hi: half + 1, limit: size(half-2) + size(half-1),
			want: mkEnts(half-2, half-2, half-1)},
		{name: "limit one byte short of the unstable entry", lo: half - 2, hi: half + 1,
			limit: size(half-2) + size(half-1) + size(half) - 1, want: mkEnts(half-2, half-2, half-1)},
		{name: "limit admits the unstable entry", lo: half - 2, hi: half + 1,
			limit: size(half-2) + size(half-1) + size(half), want: mkEnts(half-2, half-2, half-1, half)},
		{name: "limit inside unstable", lo: half, hi: half + 3, limit: size(half) + size(half+1),
			want: mkEnts(half, half, half+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.panics {
				assertPanics(t, "slice", func() { _, _ = l.slice(tt.lo, tt.hi, tt.limit) })
				return
			}
			got, err := l.slice(tt.lo, tt.hi, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("slice(%d, %d, %d) error = %v, want %v", tt.lo, tt.hi, tt.limit, err, tt.wantErr)
			}
			if !slices.Equal(indexTermsOf(got), indexTermsOf(tt.want)) {
				t.Fatalf("slice(%d, %d, %d) = %v, want %v", tt.lo, tt.hi, tt.limit, indexTermsOf(got), indexTermsOf(tt.want))
			}
		})
	}
}

// A slice handed out must not let its holder overwrite the log by appending.
func TestLogSliceDoesNotAliasLog(t *testing.T) {
	const offset, half, last = 10, 15, 20
	l := newSplitLog(t, offset, half, last)
	for _, r := range [][2]uint64{{11, 13}, {16, 18}, {13, 17}} {
		s, err := l.slice(r[0], r[1], noLimit)
		if err != nil {
			t.Fatal(err)
		}
		_ = append(s, mkEnt(999, 999))
		if got, _ := l.term(r[1]); got != r[1] {
			t.Fatalf("after appending to slice [%d, %d) the log's term at %d is %d", r[0], r[1], r[1], got)
		}
	}
}

func TestLogCommitTo(t *testing.T) {
	tests := []struct {
		name      string
		commit    uint64
		want      uint64
		wantPanic bool
	}{
		{"forward", 3, 3, false},
		{"never backward", 1, 2, false},
		{"past the last index", 4, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogWithUnstable(mkEnts(1, 1, 2, 3)...)
			l.committed = 2
			if tt.wantPanic {
				assertPanics(t, "commitTo", func() { l.commitTo(tt.commit) })
				return
			}
			l.commitTo(tt.commit)
			if l.committed != tt.want {
				t.Fatalf("committed = %d, want %d", l.committed, tt.want)
			}
		})
	}
}

func TestLogMaybeCommitOnlyOwnTerm(t *testing.T) {
	l := newLogWithUnstable(mkEnts(1, 1, 2)...)
	if l.maybeCommit(2, 1) {
		t.Fatalf("committed index 2 (term 2) on behalf of term 1")
	}
	if l.maybeCommit(1, 2) || l.committed != 0 {
		t.Fatalf("committed an entry of an earlier term by counting replicas (Raft §5.4.2)")
	}
	if !l.maybeCommit(2, 2) || l.committed != 2 {
		t.Fatalf("committed = %d, want 2", l.committed)
	}
	if l.maybeCommit(1, 2) {
		t.Fatalf("maybeCommit moved commit backwards")
	}
}

func TestLogAppliedTo(t *testing.T) {
	l := newLogWithUnstable(mkEnts(1, 1, 2, 3)...)
	l.committed = 3
	l.appliedTo(2)
	if l.applied != 2 {
		t.Fatalf("applied = %d, want 2", l.applied)
	}
	l.appliedTo(0) // no-op
	if l.applied != 2 {
		t.Fatalf("appliedTo(0) changed applied to %d", l.applied)
	}
	assertPanics(t, "appliedTo below applied", func() { l.appliedTo(1) })
	assertPanics(t, "appliedTo past committed", func() { l.appliedTo(4) })
	l.appliedTo(3)
	if l.applied != 3 {
		t.Fatalf("applied = %d, want 3", l.applied)
	}
}

func TestLogNextCommittedEnts(t *testing.T) {
	// Snapshot at 3; 4, 5 persisted; 6 unstable.
	ms := NewMemoryStorage()
	if err := ms.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := ms.Append(mkEnts(4, 1, 1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		applied, commit uint64
		limit           uint64
		want            []pb.Entry
	}{
		{3, 5, noLimit, mkEnts(4, 1, 1)},
		{3, 6, noLimit, mkEnts(4, 1, 1, 1)}, // an unstable entry may be handed out to apply
		{4, 6, noLimit, mkEnts(5, 1, 1)},
		{3, 6, 0, mkEnts(4, 1)}, // size-bounded, but at least one
		{5, 5, noLimit, nil},
	}
	for _, tt := range tests {
		l, err := newLog(ms, DiscardLogger{}, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		l.append(mkEnt(6, 1))
		l.commitTo(tt.commit)
		l.appliedTo(tt.applied)
		got := l.nextCommittedEnts()
		if !slices.Equal(indexTermsOf(got), indexTermsOf(tt.want)) {
			t.Errorf("applied %d commit %d limit %d: nextCommittedEnts = %v, want %v",
				tt.applied, tt.commit, tt.limit, indexTermsOf(got), indexTermsOf(tt.want))
		}
		if has := l.hasNextCommittedEnts(); has != (len(tt.want) > 0) {
			t.Errorf("applied %d commit %d: hasNextCommittedEnts = %v", tt.applied, tt.commit, has)
		}
	}
}

func TestLogIsUpToDate(t *testing.T) {
	l := newLogWithUnstable(mkEnts(1, 1, 2, 3)...)
	const lastIndex, lastTerm = 3, 3
	tests := []struct {
		lastIndex, term uint64
		want            bool
	}{
		// A higher last term wins whatever the length.
		{lastIndex - 1, lastTerm + 1, true},
		{lastIndex, lastTerm + 1, true},
		{lastIndex + 1, lastTerm + 1, true},
		// A lower last term loses whatever the length.
		{lastIndex - 1, lastTerm - 1, false},
		{lastIndex, lastTerm - 1, false},
		{lastIndex + 1, lastTerm - 1, false},
		// The same last term: the longer (or equal) log wins.
		{lastIndex - 1, lastTerm, false},
		{lastIndex, lastTerm, true},
		{lastIndex + 1, lastTerm, true},
	}
	for _, tt := range tests {
		if got := l.isUpToDate(tt.lastIndex, tt.term); got != tt.want {
			t.Errorf("isUpToDate(%d, %d) = %v, want %v", tt.lastIndex, tt.term, got, tt.want)
		}
	}
}

func TestLogRestore(t *testing.T) {
	ms := NewMemoryStorage()
	if err := ms.Append(mkEnts(1, 1, 1, 2)); err != nil {
		t.Fatal(err)
	}
	l, err := newLog(ms, DiscardLogger{}, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	l.append(mkEnts(4, 2, 2)...)
	l.commitTo(2)

	const index, term = 100, 1000
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: index, Term: term}}
	l.restore(snap)

	if l.committed != index {
		t.Errorf("committed = %d, want %d", l.committed, index)
	}
	if l.firstIndex() != index+1 || l.lastIndex() != index || l.lastTerm() != term {
		t.Errorf("first/last/lastTerm = %d/%d/%d, want %d/%d/%d", l.firstIndex(), l.lastIndex(), l.lastTerm(), index+1, index, term)
	}
	if l.hasNextUnstableEnts() || !l.hasNextUnstableSnapshot() {
		t.Errorf("after restore: unstable entries %v, unstable snapshot %v", l.hasNextUnstableEnts(), l.hasNextUnstableSnapshot())
	}
	// Nothing is handed out to apply until the snapshot is persisted.
	if l.hasNextCommittedEnts() || l.nextCommittedEnts() != nil {
		t.Errorf("committed entries handed out before the snapshot was persisted")
	}
	if got, err := l.snapshot(); err != nil || got.Metadata.Index != index {
		t.Errorf("snapshot() = %+v, %v; want the unstable one", got.Metadata, err)
	}
	// New entries follow the snapshot.
	l.append(mkEnt(index+1, term))
	if l.lastIndex() != index+1 || l.unstable.offset != index+1 {
		t.Errorf("after append: last %d offset %d, want %d %d", l.lastIndex(), l.unstable.offset, index+1, index+1)
	}
}
