package wal

import (
	"bytes"
	"errors"
	"os"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

const recoverSegSize = 400

// buildLog writes entries 1..30 (term 1) in batches of 3 with a hard state after
// each batch, into segments of recoverSegSize bytes, and returns the segment
// files.
func buildLog(t *testing.T, dir string) []string {
	l := openLog(t, dir, recoverSegSize)
	for i := uint64(1); i <= 30; i += 3 {
		mustSave(t, l, pb.HardState{Term: 1, Commit: i}, mkEnts(i, i+3, 1))
	}
	mustClose(t, l)
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want at least 3", len(files))
	}
	return files
}

// recordOffsets returns the offsets of the records of a segment file.
func recordOffsets(t *testing.T, b []byte) []int {
	var offs []int
	off, crc := 0, uint32(0)
	for off < len(b) {
		rec, n, err := DecodeRecord(b[off:], crc)
		if err != nil {
			t.Fatalf("record at %d: %v", off, err)
		}
		offs = append(offs, off)
		off, crc = off+n, rec.CRC
	}
	return offs
}

func TestRecover(t *testing.T) {
	last := func(files []string) string { return files[len(files)-1] }
	tests := []struct {
		name string
		// damage changes the files of a log built by buildLog.
		damage func(t *testing.T, files []string)
		// wantCorrupt says Open must fail with ErrCorrupt; otherwise it must
		// succeed with a prefix of entries 1..30 at least wantMin long.
		wantCorrupt bool
		wantMin     uint64
	}{
		{"intact", func(*testing.T, []string) {}, false, 30},
		{"tail cut inside the last record", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			writeFile(t, last(files), b[:len(b)-3])
		}, false, 27},
		{"tail cut inside the last header", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			offs := recordOffsets(t, b)
			writeFile(t, last(files), b[:offs[len(offs)-1]+5])
		}, false, 27},
		{"zero-filled tail", func(t *testing.T, files []string) {
			writeFile(t, last(files), append(readFile(t, last(files)), make([]byte, 4096)...))
		}, false, 30},
		{"flipped byte in the middle of the last segment", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			offs := recordOffsets(t, b)
			b[offs[len(offs)/2]+HeaderSize+1] ^= 0x40
			writeFile(t, last(files), b)
		}, true, 0},
		{"flipped length in the middle of the last segment", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			offs := recordOffsets(t, b)
			b[offs[len(offs)/2]+2] ^= 0x10 // length now runs past the end
			writeFile(t, last(files), b)
		}, true, 0},
		{"flipped crc in the middle of the last segment", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			offs := recordOffsets(t, b)
			b[offs[len(offs)/2]+4] ^= 0x01
			writeFile(t, last(files), b)
		}, true, 0},
		{"flipped byte in the last record", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			b[len(b)-1] ^= 0x01 // bit rot, not a torn write: refused
			writeFile(t, last(files), b)
		}, true, 0},
		{"flipped byte in an earlier segment", func(t *testing.T, files []string) {
			b := readFile(t, files[0])
			b[len(b)/2] ^= 0x01
			writeFile(t, files[0], b)
		}, true, 0},
		{"earlier segment cut short", func(t *testing.T, files []string) {
			b := readFile(t, files[1])
			writeFile(t, files[1], b[:len(b)-2])
		}, true, 0},
		{"earlier segment with a zero-filled tail", func(t *testing.T, files []string) {
			writeFile(t, files[0], append(readFile(t, files[0]), make([]byte, 100)...))
		}, true, 0},
		{"missing middle segment", func(t *testing.T, files []string) {
			if err := os.Remove(files[1]); err != nil {
				t.Fatal(err)
			}
		}, true, 0},
		{"last segment's header damaged", func(t *testing.T, files []string) {
			b := readFile(t, last(files))
			b[HeaderSize] ^= 0x01
			writeFile(t, last(files), b)
		}, true, 0},
		{"segments swapped", func(t *testing.T, files []string) {
			a, b := readFile(t, files[0]), readFile(t, files[1])
			writeFile(t, files[0], b)
			writeFile(t, files[1], a)
		}, true, 0},
		{"last segment empty", func(t *testing.T, files []string) {
			writeFile(t, last(files), nil)
		}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.damage(t, buildLog(t, dir))
			l, err := Open(Options{Dir: dir, SegmentSize: recoverSegSize})
			if tt.wantCorrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			checkRecovered(t, l, tt.wantMin)
			// The log still appends after recovery, and the result survives a reopen.
			lastIdx, _ := l.LastIndex()
			mustSave(t, l, pb.HardState{Term: 2}, mkEnts(lastIdx+1, lastIdx+4, 2))
			mustClose(t, l)
			l = openLog(t, dir, recoverSegSize)
			defer mustClose(t, l)
			want := append(mkEnts(1, lastIdx+1, 1), mkEnts(lastIdx+1, lastIdx+4, 2)...)
			if got := allEntries(t, l); !equalEntries(got, want) {
				t.Fatalf("after append and reopen: %d entries, want %d", len(got), len(want))
			}
		})
	}
}

func checkRecovered(t *testing.T, l *Log, wantMin uint64) {
	t.Helper()
	got := allEntries(t, l)
	if uint64(len(got)) < wantMin || !equalEntries(got, mkEnts(1, uint64(len(got))+1, 1)) {
		t.Fatalf("recovered %d entries, want a prefix of 1..30 of at least %d", len(got), wantMin)
	}
}

// TestRecoverLogsTruncation checks that cutting a torn tail is reported with its
// offsets.
func TestRecoverLogsTruncation(t *testing.T) {
	dir := t.TempDir()
	files := buildLog(t, dir)
	last := files[len(files)-1]
	b := readFile(t, last)
	writeFile(t, last, b[:len(b)-3])
	var logBuf bytes.Buffer
	l, err := Open(Options{Dir: dir, SegmentSize: recoverSegSize, Logger: newTextLogger(&logBuf)})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, l)
	for _, want := range []string{"truncating torn tail", "from_offset=", "to_offset=", "bytes_cut="} {
		if !bytes.Contains(logBuf.Bytes(), []byte(want)) {
			t.Errorf("log %q lacks %q", logBuf.String(), want)
		}
	}
}

// TestRecoverUnwrittenSector is a torn write of a large record: one of its
// sectors never reached the disk and reads as zeros. The record is cut.
func TestRecoverUnwrittenSector(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	mustSave(t, l, pb.HardState{}, mkEnts(1, 5, 1))
	big := pb.Entry{Index: 5, Term: 1, Data: bytes.Repeat([]byte("x"), 3000)}
	mustSave(t, l, pb.HardState{}, []pb.Entry{big})
	mustClose(t, l)
	path := segmentFiles(t, dir)[0]
	b := readFile(t, path)
	sector := (len(b) - 1000) / sectorSize * sectorSize
	clear(b[sector : sector+sectorSize])
	writeFile(t, path, b)

	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	if got := allEntries(t, l); !equalEntries(got, mkEnts(1, 5, 1)) {
		t.Fatalf("recovered %v, want entries 1..4", got)
	}
}
