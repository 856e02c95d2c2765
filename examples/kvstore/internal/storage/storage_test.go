package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ents builds entries lo..hi of term, with payloads naming them.
func ents(term, lo, hi uint64) []pb.Entry {
	var es []pb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, pb.Entry{Term: term, Index: i, Data: fmt.Appendf(nil, "%d/%d", term, i)})
	}
	return es
}

func mustOpen(t *testing.T, dir string) *Storage {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustSave(t *testing.T, s *Storage, hs pb.HardState, es []pb.Entry) {
	t.Helper()
	if err := s.Save(hs, es, true); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// state describes what a Storage holds as the core sees it.
type state struct {
	hs          pb.HardState
	snap        uint64
	first, last uint64
	entries     []string
}

func stateOf(t *testing.T, s *Storage) state {
	t.Helper()
	hs, _, err := s.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Snapshot()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	es, err := s.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	st := state{hs: hs, snap: snap.Metadata.Index, first: first, last: last}
	for _, e := range es {
		st.entries = append(st.entries, pb.DescribeEntry(e))
	}
	return st
}

func wantState(t *testing.T, s *Storage, want state) {
	t.Helper()
	got := stateOf(t, s)
	if got.hs != want.hs || got.snap != want.snap || got.first != want.first || got.last != want.last ||
		!slices.Equal(got.entries, want.entries) {
		t.Fatalf("state\n got %+v\nwant %+v", got, want)
	}
}

func describe(es []pb.Entry) []string {
	var d []string
	for _, e := range es {
		d = append(d, pb.DescribeEntry(e))
	}
	return d
}

func TestOpenEmptyThenReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if !s.Empty() {
		t.Fatal("a new data dir is not Empty")
	}
	hs := pb.HardState{Term: 2, Vote: 1, Commit: 3}
	mustSave(t, s, pb.HardState{Term: 1}, ents(1, 1, 2))
	mustSave(t, s, hs, ents(2, 3, 4))
	want := state{hs: hs, first: 1, last: 4, entries: describe(append(ents(1, 1, 2), ents(2, 3, 4)...))}
	wantState(t, s, want)
	_ = s.Close()

	s = mustOpen(t, dir)
	if s.Empty() || s.TornBytes() != 0 {
		t.Fatalf("reopened: Empty %t, TornBytes %d", s.Empty(), s.TornBytes())
	}
	wantState(t, s, want)
}

// An entry at an index the log holds replaces it and everything after, on
// disk as in memory.
func TestSaveReplacesConflictingSuffix(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1}, ents(1, 1, 5))
	mustSave(t, s, pb.HardState{Term: 2, Commit: 2}, ents(2, 3, 3))
	want := state{hs: pb.HardState{Term: 2, Commit: 2}, first: 1, last: 3, entries: describe(append(ents(1, 1, 2), ents(2, 3, 3)...))}
	wantState(t, s, want)
	_ = s.Close()
	wantState(t, mustOpen(t, dir), want)
}

// A crash at any byte of the last write loses that write and nothing else,
// and the log takes new writes after the cut.
func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1, Commit: 1}, ents(1, 1, 2))
	_ = s.Close()
	path := filepath.Join(dir, logName)
	before := mustRead(t, path)
	s = mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1, Commit: 3}, ents(1, 3, 4))
	_ = s.Close()
	full := mustRead(t, path)

	var boundaries []int // where each whole record of full ends
	for off := 0; off < len(full); {
		_, _, n, err := decodeRecord(full[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
		boundaries = append(boundaries, off)
	}
	durable := state{hs: pb.HardState{Term: 1, Commit: 1}, first: 1, last: 2, entries: describe(ents(1, 1, 2))}
	for cut := len(before) + 1; cut < len(full); cut++ {
		crashDir := t.TempDir()
		mustWrite(t, filepath.Join(crashDir, logName), full[:cut])
		s := mustOpen(t, crashDir)
		whole := 0
		for _, b := range boundaries {
			if b <= cut {
				whole = b
			}
		}
		if s.TornBytes() != cut-whole {
			t.Fatalf("cut at %d: TornBytes %d, want %d", cut, s.TornBytes(), cut-whole)
		}
		// The cut may leave whole records of the last write: a prefix of it.
		if got := stateOf(t, s); got.last < 2 || got.hs.Commit > got.last {
			t.Fatalf("cut at %d: %+v is not a consistent prefix", cut, got)
		}
		if whole == len(before) {
			wantState(t, s, durable)
		}
		mustSave(t, s, pb.HardState{Term: 2, Commit: 2}, ents(2, 3, 3))
		_ = s.Close()
		wantState(t, mustOpen(t, crashDir), state{hs: pb.HardState{Term: 2, Commit: 2}, first: 1, last: 3,
			entries: describe(append(ents(1, 1, 2), ents(2, 3, 3)...))})
	}
}

// Zero bytes where a record should be (a file extended but never written)
// are a torn tail too.
func TestZeroFilledTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1, Commit: 2}, ents(1, 1, 2))
	_ = s.Close()
	path := filepath.Join(dir, logName)
	data := mustRead(t, path)
	mustWrite(t, path, append(data, make([]byte, 4096)...))
	s = mustOpen(t, dir)
	if s.TornBytes() != 4096 {
		t.Fatalf("TornBytes = %d, want 4096", s.TornBytes())
	}
	wantState(t, s, state{hs: pb.HardState{Term: 1, Commit: 2}, first: 1, last: 2, entries: describe(ents(1, 1, 2))})
}

// A damaged whole record anywhere, the last one included, stops Open.
func TestCorruptRecordIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1, Commit: 3}, ents(1, 1, 3))
	_ = s.Close()
	path := filepath.Join(dir, logName)
	data := mustRead(t, path)
	for _, at := range []int{0, 5, headerSize + 2, len(data) / 2, len(data) - 1} {
		damaged := slices.Clone(data)
		damaged[at] ^= 0x01
		crashDir := t.TempDir()
		mustWrite(t, filepath.Join(crashDir, logName), damaged)
		if _, err := Open(crashDir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: Open = %v, want ErrCorrupt", at, err)
		}
	}
}

// A snapshot from the leader replaces the log; a crash before the hard state
// written after it leaves the snapshot committed anyway.
func TestSaveSnapshotReplacesLog(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, pb.HardState{Term: 1, Commit: 2}, ents(1, 1, 5))
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
	snap := pb.Snapshot{Data: []byte("state"), Metadata: pb.SnapshotMetadata{Index: 10, Term: 3, ConfState: cs}}
	if err := s.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	want := state{hs: pb.HardState{Term: 1, Commit: 2}, snap: 10, first: 11, last: 10}
	wantState(t, s, want)
	_ = s.Close()

	s = mustOpen(t, dir)
	want.hs.Commit = 10
	wantState(t, s, want)
	got, _ := s.Snapshot()
	if string(got.Data) != "state" || pb.DescribeConfState(got.Metadata.ConfState) != pb.DescribeConfState(cs) {
		t.Fatalf("snapshot after reopen: %s %q", pb.DescribeSnapshot(got), got.Data)
	}
	if _, gotCS, _ := s.InitialState(); pb.DescribeConfState(gotCS) != pb.DescribeConfState(cs) {
		t.Fatalf("InitialState conf state %s, want %s", pb.DescribeConfState(gotCS), pb.DescribeConfState(cs))
	}
	mustSave(t, s, pb.HardState{Term: 3, Commit: 11}, ents(3, 11, 11))
	if err := s.SaveSnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 5, Term: 1}}); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("an older snapshot: %v, want ErrSnapOutOfDate", err)
	}
}

// A snapshot of the member's own state keeps the entries after it, drops
// the older snapshot file, and survives a restart.
func TestCreateSnapshotCompacts(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	bootstrap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1}}}}
	if err := s.SaveSnapshot(bootstrap); err != nil {
		t.Fatal(err)
	}
	hs := pb.HardState{Term: 2, Vote: 1, Commit: 8}
	mustSave(t, s, hs, ents(2, 2, 10))
	cs := pb.ConfState{Voters: []uint64{1, 2}}
	if err := s.CreateSnapshot(6, cs, []byte("at 6")); err != nil {
		t.Fatal(err)
	}
	want := state{hs: hs, snap: 6, first: 7, last: 10, entries: describe(ents(2, 7, 10))}
	wantState(t, s, want)
	mustSave(t, s, pb.HardState{Term: 2, Vote: 1, Commit: 11}, ents(2, 11, 11))
	_ = s.Close()
	mustWrite(t, filepath.Join(dir, logName+tmpSuffix), []byte("half a rewrite"))

	s = mustOpen(t, dir)
	want = state{hs: pb.HardState{Term: 2, Vote: 1, Commit: 11}, snap: 6, first: 7, last: 11, entries: describe(ents(2, 7, 11))}
	wantState(t, s, want)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if wantNames := []string{"log", "snap-0000000000000002-0000000000000006.snap"}; !slices.Equal(names, wantNames) {
		t.Fatalf("files %v, want %v", names, wantNames)
	}
	if snap, _ := s.Snapshot(); string(snap.Data) != "at 6" {
		t.Fatalf("snapshot data %q", snap.Data)
	}
}

func TestDamagedSnapshotFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	snap := pb.Snapshot{Data: []byte("state"), Metadata: pb.SnapshotMetadata{Index: 4, Term: 2}}
	if err := s.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	path := filepath.Join(dir, snapshotName(snap.Metadata))
	data := mustRead(t, path)
	for name, damaged := range map[string][]byte{
		"cut short":    data[:len(data)-1],
		"flipped byte": append(slices.Clone(data[:len(data)-1]), data[len(data)-1]^1),
	} {
		mustWrite(t, path, damaged)
		if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Open = %v, want ErrCorrupt", name, err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("Open succeeded without the snapshot its log names")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}
