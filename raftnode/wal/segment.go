package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	segmentExt = ".wal"
	tmpExt     = ".wal.tmp"
	// segmentHeaderSize is the payload size of a segment header record.
	segmentHeaderSize = 20
)

// segment names one segment file.
type segment struct {
	seq   uint64
	first uint64 // the raft index the segment was started for
}

func (s segment) name() string { return fmt.Sprintf("%016x-%016x%s", s.seq, s.first, segmentExt) }

// parseSegmentName parses NNNNNNNNNNNNNNNN-IIIIIIIIIIIIIIII.wal.
func parseSegmentName(name string) (segment, bool) {
	var s segment
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(base) != 33 {
		return s, false
	}
	if _, err := fmt.Sscanf(base, "%016x-%016x", &s.seq, &s.first); err != nil {
		return s, false
	}
	return s, s.name() == name
}

// segmentHeader is the payload of a RecordSegmentHeader.
type segmentHeader struct {
	segment
	prevCRC uint32 // the running crc at the end of the previous segment
}

func (h segmentHeader) marshal() []byte {
	b := make([]byte, 0, segmentHeaderSize)
	b = binary.LittleEndian.AppendUint64(b, h.seq)
	b = binary.LittleEndian.AppendUint64(b, h.first)
	return binary.LittleEndian.AppendUint32(b, h.prevCRC)
}

func (h *segmentHeader) unmarshal(b []byte) error {
	if len(b) != segmentHeaderSize {
		return fmt.Errorf("segment header of %d bytes, want %d", len(b), segmentHeaderSize)
	}
	h.seq = binary.LittleEndian.Uint64(b)
	h.first = binary.LittleEndian.Uint64(b[8:])
	h.prevCRC = binary.LittleEndian.Uint32(b[16:])
	return nil
}

// listSegments returns the segments in dir by sequence, after removing leftover
// temporary files. It fails with ErrCorrupt when a sequence number is missing or a
// .wal file has a malformed name.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, tmpExt):
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("remove unfinished segment %s: %w", name, err)
			}
		case strings.HasSuffix(name, segmentExt):
			s, ok := parseSegmentName(name)
			if !ok {
				return nil, fmt.Errorf("segment %s: malformed name: %w", name, ErrCorrupt)
			}
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, fmt.Errorf("segment %s follows %s: missing segment: %w",
				segs[i].name(), segs[i-1].name(), ErrCorrupt)
		}
	}
	return segs, nil
}

// createSegment writes a new segment file holding head (its header and the
// records that follow it) atomically: it is written to a temporary file,
// preallocated to size bytes (zeros after head, which recovery reads as
// unwritten space), synced and renamed, and the directory is synced. The file
// is returned open for writing at len(head).
func createSegment(dir string, s segment, head []byte, size int64, noSync bool) (*os.File, error) {
	path := filepath.Join(dir, s.name())
	tmp := strings.TrimSuffix(path, segmentExt) + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", s.name(), err)
	}
	if size > int64(len(head)) {
		err = preallocate(f, size)
	}
	if err == nil {
		err = writeAndSync(f, head, noSync)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir, noSync)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("create segment %s: %w", s.name(), err)
	}
	return f, nil
}

func writeAndSync(f *os.File, b []byte, noSync bool) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	if noSync {
		return nil
	}
	return f.Sync()
}

// syncDir makes the creation, renaming or removal of files in dir durable.
func syncDir(dir string, noSync bool) error {
	if noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// errAt wraps err as corruption at offset off of segment s.
func errAt(s segment, off int, err error) error {
	if !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return fmt.Errorf("segment %s at offset %d: %w", s.name(), off, err)
}
