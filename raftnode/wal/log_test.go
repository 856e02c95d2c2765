package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// newEdgeLog returns a log with a snapshot at 3 (term 2) and entries 4..6 (term 3).
func newEdgeLog(t *testing.T) *Log {
	l := openLog(t, t.TempDir(), 0)
	t.Cleanup(func() { _ = l.Close() })
	mustSave(t, l, pb.HardState{}, mkEnts(1, 4, 2))
	if err := l.SaveSnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 2}}); err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, pb.HardState{}, mkEnts(4, 7, 3))
	return l
}

func TestEntriesEdges(t *testing.T) {
	l := newEdgeLog(t)
	size := uint64(mkEnts(4, 5, 3)[0].Size())
	tests := []struct {
		lo, hi, maxSize uint64
		want            []pb.Entry
		wantErr         error
	}{
		{2, 6, ^uint64(0), nil, raft.ErrCompacted},
		{3, 4, ^uint64(0), nil, raft.ErrCompacted},
		{4, 8, ^uint64(0), nil, raft.ErrUnavailable},
		{4, 4, ^uint64(0), []pb.Entry{}, nil},
		{4, 5, ^uint64(0), mkEnts(4, 5, 3), nil},
		{4, 7, ^uint64(0), mkEnts(4, 7, 3), nil},
		{5, 7, ^uint64(0), mkEnts(5, 7, 3), nil},
		{4, 7, 0, mkEnts(4, 5, 3), nil}, // at least one entry
		{4, 7, size, mkEnts(4, 5, 3), nil},
		{4, 7, 2*size - 1, mkEnts(4, 5, 3), nil},
		{4, 7, 2 * size, mkEnts(4, 6, 3), nil},
		{4, 7, 3 * size, mkEnts(4, 7, 3), nil},
	}
	for _, tt := range tests {
		got, err := l.Entries(tt.lo, tt.hi, tt.maxSize)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("Entries(%d, %d, %d) err = %v, want %v", tt.lo, tt.hi, tt.maxSize, err, tt.wantErr)
			continue
		}
		if !equalEntries(got, tt.want) {
			t.Errorf("Entries(%d, %d, %d) = %v, want %v", tt.lo, tt.hi, tt.maxSize, got, tt.want)
		}
	}
}

func TestTermAndIndexEdges(t *testing.T) {
	l := newEdgeLog(t)
	tests := []struct {
		i, want uint64
		wantErr error
	}{
		{0, 0, raft.ErrCompacted},
		{2, 0, raft.ErrCompacted},
		{3, 2, nil}, // the snapshot's term
		{4, 3, nil},
		{6, 3, nil},
		{7, 0, raft.ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := l.Term(tt.i)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || got != tt.want {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, got, err, tt.want, tt.wantErr)
		}
	}
	if first, _ := l.FirstIndex(); first != 4 {
		t.Errorf("FirstIndex = %d, want 4", first)
	}
	if last, _ := l.LastIndex(); last != 6 {
		t.Errorf("LastIndex = %d, want 6", last)
	}
}

func TestEmptyLog(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer mustClose(t, l)
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != 1 || last != 0 {
		t.Fatalf("FirstIndex, LastIndex = %d, %d; want 1, 0", first, last)
	}
	if term, err := l.Term(0); term != 0 || err != nil {
		t.Fatalf("Term(0) = %d, %v", term, err)
	}
	if _, err := l.Entries(1, 2, 100); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Entries(1, 2) err = %v, want ErrUnavailable", err)
	}
	hs, cs, err := l.InitialState()
	if err != nil || !hs.IsEmpty() || !reflect.DeepEqual(cs, pb.ConfState{}) {
		t.Fatalf("InitialState = %v, %v, %v", hs, cs, err)
	}
}

func TestSaveRejects(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	mustSave(t, l, pb.HardState{}, mkEnts(1, 4, 1))
	bad := [][]pb.Entry{
		{{Index: 4, Term: 1}, {Index: 6, Term: 1}}, // not contiguous
		mkEnts(6, 8, 1), // gap after 3
	}
	for _, ents := range bad {
		if err := l.Save(pb.HardState{}, ents); err == nil {
			t.Errorf("Save(%v) succeeded", ents)
		}
	}
	mustClose(t, l)
	if err := l.Save(pb.HardState{}, mkEnts(4, 5, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v, want ErrClosed", err)
	}
}

func TestHardStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{Term: 1, Vote: 2, Commit: 0}, mkEnts(1, 3, 1))
	mustSave(t, l, pb.HardState{Term: 1, Vote: 2, Commit: 2}, nil) // commit only: not synced
	mustSave(t, l, pb.HardState{}, mkEnts(3, 4, 1))                // empty: not written
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	hs, _, _ := l.InitialState()
	if want := (pb.HardState{Term: 1, Vote: 2, Commit: 2}); hs != want {
		t.Fatalf("hard state = %v, want %v", hs, want)
	}
	if got := allEntries(t, l); !equalEntries(got, mkEnts(1, 4, 1)) {
		t.Fatalf("entries = %v", got)
	}
}

func TestConflictingSuffixSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{Term: 1}, mkEnts(1, 6, 1))
	mustSave(t, l, pb.HardState{Term: 2}, mkEnts(3, 5, 2)) // replaces 3, 4 and 5
	want := append(mkEnts(1, 3, 1), mkEnts(3, 5, 2)...)
	if got := allEntries(t, l); !equalEntries(got, want) {
		t.Fatalf("before reopen: %v, want %v", got, want)
	}
	mustClose(t, l)
	l = openLog(t, dir, 0)
	if got := allEntries(t, l); !equalEntries(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
	mustSave(t, l, pb.HardState{}, mkEnts(5, 7, 2)) // appends after the replaced suffix
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	want = append(want, mkEnts(5, 7, 2)...)
	if got := allEntries(t, l); !equalEntries(got, want) {
		t.Fatalf("after append and reopen: %v, want %v", got, want)
	}
}

func TestSaveSnapshotReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{Term: 2, Commit: 5}, mkEnts(1, 8, 2))
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	snap := pb.Snapshot{Data: []byte("state machine"), Metadata: pb.SnapshotMetadata{Index: 5, Term: 2, ConfState: cs}}
	if err := l.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("saving it again: %v, want ErrSnapOutOfDate", err)
	}
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	_, gotCS, _ := l.InitialState()
	if !reflect.DeepEqual(gotCS, cs) {
		t.Fatalf("ConfState = %v, want %v", gotCS, cs)
	}
	if first, _ := l.FirstIndex(); first != 6 {
		t.Fatalf("FirstIndex = %d, want 6", first)
	}
	if got := allEntries(t, l); !equalEntries(got, mkEnts(6, 8, 2)) {
		t.Fatalf("entries = %v", got)
	}
	got, _ := l.Snapshot()
	if got.Data != nil || !reflect.DeepEqual(got.Metadata, snap.Metadata) {
		t.Fatalf("Snapshot = %+v, want metadata %+v and no data", got, snap.Metadata)
	}
}

// TestSaveSnapshotPastLog is a follower receiving a snapshot ahead of its log:
// the whole log is replaced.
func TestSaveSnapshotPastLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{}, mkEnts(1, 4, 1))
	if err := l.SaveSnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 10, Term: 3}}); err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, pb.HardState{}, mkEnts(11, 13, 3))
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	if got := allEntries(t, l); !equalEntries(got, mkEnts(11, 13, 3)) {
		t.Fatalf("entries = %v", got)
	}
	if term, err := l.Term(10); term != 3 || err != nil {
		t.Fatalf("Term(10) = %d, %v; want 3", term, err)
	}
}

// A follower that crashes after it saved a snapshot received from the leader,
// before the hard state that commits it, must still start: a snapshot is
// committed state, so the log's hard state commits it (and is at least in its
// term), or the Raft core refuses a commit index below its snapshot. Found by
// raftnode/server's core harness (a replacement member crashing at every
// persistence point).
func TestSaveSnapshotCommitsIt(t *testing.T) {
	for _, reopen := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, 0)
		mustSave(t, l, pb.HardState{Term: 1, Vote: 7, Commit: 2}, mkEnts(1, 4, 1))
		cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
		if err := l.SaveSnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 32, Term: 2, ConfState: cs}}); err != nil {
			t.Fatal(err)
		}
		if reopen { // the crash: nothing after the snapshot record
			mustClose(t, l)
			l = openLog(t, dir, 0)
		}
		hs, _, err := l.InitialState()
		if err != nil {
			t.Fatal(err)
		}
		if want := (pb.HardState{Term: 2, Commit: 32}); hs != want {
			t.Errorf("reopen %v: hard state %+v, want %+v (the vote was for term 1)", reopen, hs, want)
		}
		rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: l, MaxInflightMsgs: 1})
		if err != nil {
			t.Errorf("reopen %v: the Raft core refuses the log: %v", reopen, err)
		} else if st := rn.Status(); st.Commit != 32 {
			t.Errorf("reopen %v: the core starts at commit %d, want 32", reopen, st.Commit)
		}
		mustClose(t, l)
	}
}

func TestRolloverAndCompact(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 1024)
	hs := pb.HardState{Term: 1, Vote: 1}
	for i := uint64(1); i <= 200; i += 10 {
		hs.Commit = i
		mustSave(t, l, hs, mkEnts(i, i+10, 1))
	}
	nseg := len(segmentFiles(t, dir))
	if nseg < 5 {
		t.Fatalf("%d segments after 200 entries of 1 KiB segments, want several", nseg)
	}
	if err := l.Compact(150); err == nil {
		t.Fatal("Compact past the snapshot succeeded")
	}
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 150, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1}}}}
	if err := l.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(151); err != nil {
		t.Fatal(err)
	}
	left := segmentFiles(t, dir)
	if len(left) >= nseg || len(left) == 0 {
		t.Fatalf("%d segments after Compact, had %d", len(left), nseg)
	}
	kept := make([]segment, len(left))
	for i, p := range left {
		kept[i], _ = parseSegmentName(filepath.Base(p))
	}
	if kept[0].first > 151 || (len(kept) > 1 && kept[1].first <= 151) {
		t.Fatalf("kept segments %v: want the first to be the last one starting at or before 151", kept)
	}
	mustClose(t, l)
	l = openLog(t, dir, 1024)
	defer mustClose(t, l)
	if got, want := allEntries(t, l), mkEnts(151, 201, 1); !equalEntries(got, want) {
		t.Fatalf("entries after reopen = %d entries, want %d", len(got), len(want))
	}
	gotHS, cs, _ := l.InitialState()
	if gotHS != hs || !reflect.DeepEqual(cs, snap.Metadata.ConfState) {
		t.Fatalf("InitialState = %v, %v", gotHS, cs)
	}
}

// TestCompactThenConflict compacts, then rewrites a suffix that started in a
// removed segment: the replay must start past the gap left by Compact.
func TestCompactThenConflict(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 512)
	for i := uint64(1); i <= 100; i += 5 {
		mustSave(t, l, pb.HardState{Term: 1}, mkEnts(i, i+5, 1))
	}
	if err := l.SaveSnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 90, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(91); err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, pb.HardState{Term: 2}, mkEnts(95, 97, 2))
	mustClose(t, l)
	l = openLog(t, dir, 512)
	defer mustClose(t, l)
	want := append(mkEnts(91, 95, 1), mkEnts(95, 97, 2)...)
	if got := allEntries(t, l); !equalEntries(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
}

func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{}, mkEnts(1, 3, 1))
	mustClose(t, l)
	tmp := filepath.Join(dir, segment{seq: 1, first: 3}.name()+".tmp")
	writeFile(t, tmp, []byte("half a header"))
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary segment still there: %v", err)
	}
}

// Write and Sync split Save: sequence numbers, the sync hint, and Syncs running
// concurrently with Writes that roll segments, under -race.
func TestWriteSync(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, SegmentSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	seq, needSync, err := l.Write(pb.HardState{Term: 1, Vote: 1}, mkEnts(1, 3, 1))
	if err != nil || seq != 1 || !needSync {
		t.Fatalf("first Write = %d, %v, %v; want 1, true, nil", seq, needSync, err)
	}
	seq, needSync, err = l.Write(pb.HardState{Term: 1, Vote: 1, Commit: 2}, nil)
	if err != nil || seq != 2 || needSync {
		t.Fatalf("commit-only Write = %d, %v, %v; want 2, false (raft.MustSync), nil", seq, needSync, err)
	}
	if seq, _, _ := l.Write(pb.HardState{}, nil); seq != 2 {
		t.Fatalf("an empty Write got a new sequence number %d", seq)
	}
	if got, err := l.Sync(); err != nil || got != 2 {
		t.Fatalf("Sync = %d, %v; want 2", got, err)
	}

	const batches = 400
	done := make(chan error)
	go func() {
		var synced uint64
		for synced < batches+2 {
			s, err := l.Sync()
			if err != nil {
				done <- err
				return
			}
			if s < synced {
				done <- fmt.Errorf("Sync went back from %d to %d", synced, s)
				return
			}
			synced = s
		}
		done <- nil
	}()
	for i := uint64(3); i < 3+batches; i++ {
		if _, _, err := l.Write(pb.HardState{Term: 1, Vote: 1, Commit: i - 1}, mkEnts(i, i+1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(l.segs); n < 10 {
		t.Fatalf("%d segments: the test meant to roll many times", n)
	}
	mustClose(t, l)

	l, err = Open(Options{Dir: dir, SegmentSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, l)
	if last, _ := l.LastIndex(); last != 2+batches {
		t.Fatalf("last index %d after reopening, want %d", last, 2+batches)
	}
}
