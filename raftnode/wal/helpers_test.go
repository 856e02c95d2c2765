package wal

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// entryData is the payload the tests write at index i in term t, so that any
// recovered entry can be checked without remembering what was written.
func entryData(i, t uint64) []byte { return fmt.Appendf(nil, "entry %d term %d", i, t) }

// mkEnts builds the entries [lo, hi) of term t.
func mkEnts(lo, hi, t uint64) []pb.Entry {
	var ents []pb.Entry
	for i := lo; i < hi; i++ {
		ents = append(ents, pb.Entry{Index: i, Term: t, Data: entryData(i, t)})
	}
	return ents
}

func openLog(t testing.TB, dir string, segSize int64) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, SegmentSize: segSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustSave(t testing.TB, l *Log, hs pb.HardState, ents []pb.Entry) {
	t.Helper()
	if err := l.Save(hs, ents); err != nil {
		t.Fatalf("Save(%v, %d entries): %v", hs, len(ents), err)
	}
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// allEntries returns every entry the log holds.
func allEntries(t testing.TB, l *Log) []pb.Entry {
	t.Helper()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	ents, err := l.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	return ents
}

// segmentFiles returns the paths of the segment files in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func equalEntries(a, b []pb.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y pb.Entry) bool {
		return x.Index == y.Index && x.Term == y.Term && x.Type == y.Type && string(x.Data) == string(y.Data)
	})
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
