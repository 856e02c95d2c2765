package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func FuzzDecodeRecord(f *testing.F) {
	valid, _ := AppendRecord(nil, 42, RecordEntry, []byte("hello"))
	f.Add(valid, uint32(42))
	f.Add(valid, uint32(0))
	f.Add(valid[:7], uint32(42))
	f.Add(make([]byte, 32), uint32(0))
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, prev uint32) {
		rec, n, err := DecodeRecord(b, prev)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		again, crc := AppendRecord(nil, prev, rec.Type, rec.Payload)
		if !bytes.Equal(again, b[:n]) || crc != rec.CRC {
			t.Fatalf("re-encoding %x gives %x (crc %08x, decoded %08x)", b[:n], again, crc, rec.CRC)
		}
	})
}

// fuzzState is what a reader of the log observes.
type fuzzState struct {
	hs       pb.HardState
	snap     uint64
	snapTerm uint64
	ents     string // rendering of the entries after the snapshot
}

func renderEnts(ents []pb.Entry) string {
	var b []byte
	for _, e := range ents {
		b = fmt.Appendf(b, "%d/%d:%s ", e.Index, e.Term, e.Data)
	}
	return string(b)
}

// fuzzOp is one step of the fixed history FuzzRecover writes.
type fuzzOp struct {
	hs   pb.HardState
	ents []pb.Entry
	snap pb.SnapshotMetadata // set for a SaveSnapshot
}

func fuzzHistory() []fuzzOp {
	return []fuzzOp{
		{hs: pb.HardState{Term: 1, Vote: 1}, ents: mkEnts(1, 6, 1)},
		{hs: pb.HardState{Term: 1, Vote: 1, Commit: 3}, ents: mkEnts(6, 9, 1)},
		{hs: pb.HardState{Term: 2, Vote: 2, Commit: 5}, ents: mkEnts(7, 11, 2)},
		{snap: pb.SnapshotMetadata{Index: 6, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}},
		{hs: pb.HardState{Term: 2, Vote: 2, Commit: 8}, ents: mkEnts(11, 15, 2)},
		{hs: pb.HardState{Term: 3, Vote: 3, Commit: 9}, ents: mkEnts(13, 16, 3)},
		{hs: pb.HardState{Term: 3, Vote: 3, Commit: 12}, ents: mkEnts(16, 21, 3)},
	}
}

// fuzzStates returns every state a prefix of the history's records can leave,
// computed with a model independent of the package: a plain slice where entry i
// is at i-1.
func fuzzStates() map[fuzzState]bool {
	var log []pb.Entry
	var cur fuzzState
	states := map[fuzzState]bool{}
	record := func() {
		cur.ents = renderEnts(log[cur.snap:])
		states[cur] = true
	}
	record()
	for _, op := range fuzzHistory() {
		if op.snap.Index != 0 {
			cur.snap, cur.snapTerm = op.snap.Index, op.snap.Term
			record()
			continue
		}
		for _, e := range op.ents {
			log = append(log[:e.Index-1:e.Index-1], e)
			record()
		}
		cur.hs = op.hs
		record()
	}
	return states
}

func writeFuzzHistory(t *testing.T, dir string) {
	l, err := Open(Options{Dir: dir, SegmentSize: 300, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range fuzzHistory() {
		if op.snap.Index != 0 {
			err = l.SaveSnapshot(pb.Snapshot{Metadata: op.snap})
		} else {
			err = l.Save(op.hs, op.ents)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// damageFiles applies ops, in 4-byte steps [kind, file, pos high, pos low], to the
// segment files: kind%3 is 0 to truncate at pos, 1 to flip bit kind/4%8 at pos, 2
// to zero 16 bytes from pos.
func damageFiles(t *testing.T, files []string, ops []byte) {
	for ; len(ops) >= 4; ops = ops[4:] {
		path := files[int(ops[1])%len(files)]
		b := readFile(t, path)
		if len(b) == 0 {
			continue
		}
		pos := (int(ops[2])<<8 | int(ops[3])) % len(b)
		switch ops[0] % 3 {
		case 0:
			b = b[:pos]
		case 1:
			b[pos] ^= 1 << (ops[0] / 4 % 8)
		case 2:
			clear(b[pos:min(pos+16, len(b))])
		}
		writeFile(t, path, b)
	}
}

func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 255, 0, 200}) // cut the last segment
	f.Add([]byte{1, 0, 0, 40})    // flip a bit in the first segment
	f.Add([]byte{1, 255, 0, 60})  // flip a bit in the last segment
	f.Add([]byte{2, 255, 0, 100}) // zero a run in the last segment
	f.Add([]byte{0, 255, 0, 0})   // empty the last segment
	f.Add([]byte{29, 1, 0, 3, 0, 255, 1, 0})
	states := fuzzStates()
	f.Fuzz(func(t *testing.T, ops []byte) {
		dir := t.TempDir()
		writeFuzzHistory(t, dir)
		damageFiles(t, segmentFiles(t, dir), ops)
		l, err := Open(Options{Dir: dir, SegmentSize: 300, NoSync: true})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed without ErrCorrupt: %v", err)
			}
			return
		}
		defer func() { _ = l.Close() }()
		hs, _, _ := l.InitialState()
		snap, _ := l.Snapshot()
		got := fuzzState{hs: hs, snap: snap.Metadata.Index, snapTerm: snap.Metadata.Term,
			ents: renderEnts(allEntries(t, l))}
		if !states[got] {
			t.Fatalf("recovered a state no prefix of the history leaves: %+v", got)
		}
	})
}

// TestFuzzHistoryHasSegments guards the fuzz target's premise: the history spans
// several segments, so damage can land in an earlier one.
func TestFuzzHistoryHasSegments(t *testing.T) {
	dir := t.TempDir()
	writeFuzzHistory(t, dir)
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want at least 3", len(files))
	}
	names := slices.Clone(files)
	for i := range names {
		st, err := os.Stat(names[i])
		if err != nil {
			t.Fatal(err)
		}
		names[i] = fmt.Sprintf("%s (%d bytes)", names[i], st.Size())
	}
	t.Logf("segments: %v", names)
}
