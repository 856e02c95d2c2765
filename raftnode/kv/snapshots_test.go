package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func TestSnapshotDirSaveLoad(t *testing.T) {
	d := SnapshotDir{Dir: filepath.Join(t.TempDir(), "snap")} // Save creates it
	s, info, err := d.LoadNewest()
	if err != nil || s.AppliedIndex() != 0 || s.Len() != 0 || info.Path != "" {
		t.Fatalf("empty dir: %v, %+v, applied %d", err, info, s.AppliedIndex())
	}
	applyAll(t, s, put("a", "1"), put("b", "2"))
	path, err := d.Save(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(d.Dir, "0000000000000002.snap"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	applyAll(t, s, put("c", "3"))
	if _, err := d.Save(s); err != nil {
		t.Fatal(err)
	}
	got, info, err := d.LoadNewest()
	if err != nil || info.Path != d.SnapshotPath(3) || len(info.Skipped) != 0 {
		t.Fatalf("LoadNewest: %v, %+v", err, info)
	}
	requireSameStore(t, s, got)
	if names := dirNames(t, d.Dir); len(names) != 2 {
		t.Fatalf("files %q: temp files left behind?", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// saveAt saves a store with one key written at each index up to index.
func saveAt(t *testing.T, d SnapshotDir, index int) *Store {
	t.Helper()
	s := New()
	for i := 0; i < index; i++ {
		applyAll(t, s, put("k", string(rune('a'+i%26))))
	}
	if _, err := d.Save(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadNewestSkipsCorrupt(t *testing.T) {
	d := SnapshotDir{Dir: t.TempDir()}
	older := saveAt(t, d, 3)
	saveAt(t, d, 5)
	corruptFile(t, d.SnapshotPath(5))
	// A file named for another index than it holds is corrupt too.
	if err := os.Rename(d.SnapshotPath(3), d.SnapshotPath(4)); err != nil {
		t.Fatal(err)
	}
	saveAt(t, d, 3)
	if err := os.WriteFile(filepath.Join(d.Dir, "notes.txt"), []byte("not a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, info, err := d.LoadNewest()
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != d.SnapshotPath(3) || len(info.Skipped) != 2 ||
		info.Skipped[0].Path != d.SnapshotPath(5) || info.Skipped[1].Path != d.SnapshotPath(4) {
		t.Fatalf("info %+v", info)
	}
	for _, sk := range info.Skipped {
		if !errors.Is(sk.Err, ErrCorruptSnapshot) {
			t.Errorf("skipped %s for %v", sk.Path, sk.Err)
		}
	}
	requireSameStore(t, older, got)
}

func corruptFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadNewestAllCorrupt(t *testing.T) {
	d := SnapshotDir{Dir: t.TempDir()}
	saveAt(t, d, 2)
	if err := os.Truncate(d.SnapshotPath(2), 10); err != nil {
		t.Fatal(err)
	}
	s, info, err := d.LoadNewest()
	if !errors.Is(err, ErrCorruptSnapshot) || s != nil || len(info.Skipped) != 1 {
		t.Fatalf("LoadNewest = %v, %+v, %v; want ErrCorruptSnapshot and no store", s, info, err)
	}
}

func TestPrune(t *testing.T) {
	d := SnapshotDir{Dir: t.TempDir()}
	for _, i := range []int{1, 2, 3, 4} {
		saveAt(t, d, i)
	}
	leftover, err := os.CreateTemp(d.Dir, tempPattern) // an interrupted Save
	if err != nil {
		t.Fatal(err)
	}
	leftover.Close()
	if _, err := d.Prune(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Prune(0) = %v", err)
	}
	removed, err := d.Prune(2)
	if err != nil || len(removed) != 3 {
		t.Fatalf("Prune(2) = %q, %v", removed, err)
	}
	names := dirNames(t, d.Dir)
	if len(names) != 2 || names[0] != "0000000000000003.snap" || names[1] != "0000000000000004.snap" {
		t.Fatalf("left %q", names)
	}
	if removed, err := d.Prune(5); err != nil || removed != nil {
		t.Fatalf("Prune(5) = %q, %v", removed, err)
	}
}

// committedLog is a plain in-memory raft log: the committed entries a member
// keeps after its last log compaction.
func committedLog(t *testing.T, n int) []raftpb.Entry {
	t.Helper()
	log := []raftpb.Entry{{Index: 1, Type: raftpb.EntryNormal}} // the first leader's empty entry
	for i := 2; i <= n; i++ {
		e := raftpb.Entry{Index: uint64(i), Type: raftpb.EntryNormal}
		switch {
		case i%10 == 0:
			e.Type = raftpb.EntryConfChangeV2
		case i%7 == 0:
			e.Data = mustMarshal(t, del(string(rune('a'+i%5))))
		default:
			e.Data = mustMarshal(t, put(string(rune('a'+i%5)), string(rune('0'+i%10))))
		}
		log = append(log, e)
	}
	return log
}

func mustMarshal(t *testing.T, cmd *kvpb.Command) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// restart runs the documented restart procedure.
func restart(t *testing.T, d SnapshotDir, log []raftpb.Entry) (*Store, error) {
	t.Helper()
	s, _, err := d.LoadNewest()
	if err != nil {
		return nil, err
	}
	for _, e := range log {
		if e.Index <= s.AppliedIndex() {
			continue
		}
		if _, err := s.ApplyEntry(e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func TestRestartReplaysLogAfterSnapshot(t *testing.T) {
	log := committedLog(t, 100)
	reference := New() // a member that never restarted
	for _, e := range log {
		if _, err := reference.ApplyEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, snapAt := range []int{0, 1, 37, 99, 100} {
		d := SnapshotDir{Dir: t.TempDir()}
		if snapAt > 0 {
			s := New()
			for _, e := range log[:snapAt] {
				if _, err := s.ApplyEntry(e); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.Save(s); err != nil {
				t.Fatal(err)
			}
		}
		got, err := restart(t, d, log)
		if err != nil {
			t.Fatalf("snapshot at %d: %v", snapAt, err)
		}
		requireSameStore(t, reference, got)
		// The procedure never re-applies: feeding an old entry again is loud.
		if _, err := got.ApplyEntry(log[len(log)-1]); !errors.Is(err, ErrAlreadyApplied) {
			t.Fatalf("re-applying the last entry: %v", err)
		}
	}
}

func TestRestartDetectsCompactedGap(t *testing.T) {
	log := committedLog(t, 50)
	d := SnapshotDir{Dir: t.TempDir()}
	s := New()
	for _, e := range log[:10] {
		if _, err := s.ApplyEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Save(s); err != nil {
		t.Fatal(err)
	}
	// The log was compacted up to index 20 (a newer snapshot was lost): replay
	// from the snapshot at 10 must fail rather than skip entries 11..20.
	if _, err := restart(t, d, log[20:]); !errors.Is(err, ErrGap) {
		t.Fatalf("restart over a gap = %v, want ErrGap", err)
	}
}
