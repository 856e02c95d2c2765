package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// sectorSize is the unit a disk writes atomically at least; a torn write leaves
// whole unwritten sectors reading as zeros.
const sectorSize = 512

// recover replays segs into l, truncates a torn tail of the last segment and
// opens it for appending.
func (l *Log) recover(segs []segment) error {
	for i, s := range segs {
		last := i == len(segs)-1
		if err := l.replaySegment(s, i == 0, last); err != nil {
			return err
		}
	}
	if l.mem.gap {
		return fmt.Errorf("entries before index %d were removed but no snapshot covers them: %w",
			l.mem.firstIndex(), ErrCorrupt)
	}
	l.segs = segs
	s := l.lastSegment()
	f, err := os.OpenFile(filepath.Join(l.dir, s.name()), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", s.name(), err)
	}
	// Writes go on at the end of the last record, into space preallocated
	// again (its size made durable once, here, not by every later sync).
	if err = preallocate(f, l.segSize); err == nil && !l.noSync {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("preallocate segment %s: %w", s.name(), err)
	}
	l.f = f
	return nil
}

// replaySegment applies the records of segment s. oldest says no earlier segment
// is kept; last says s is the newest, whose torn tail is truncated.
func (l *Log) replaySegment(s segment, oldest, last bool) error {
	path := filepath.Join(l.dir, s.name())
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read segment %s: %w", s.name(), err)
	}
	off, crc := 0, uint32(0)
	for {
		rec, n, err := DecodeRecord(data[off:], crc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if last && off > 0 && allZero(data[off:]) {
				break // preallocated space never written: the log ends here
			}
			if !last || off == 0 || !isTornTail(data, off, crc, err) {
				return errAt(s, off, err)
			}
			return l.truncateTail(s, data, off, crc, err)
		}
		if off == 0 {
			err = l.checkHeader(s, rec, oldest)
		} else {
			err = l.apply(rec, oldest)
		}
		if err != nil {
			return errAt(s, off, err)
		}
		off, crc = off+n, rec.CRC
	}
	if off == 0 {
		return errAt(s, 0, errors.New("empty segment"))
	}
	l.size, l.crc = int64(off), crc
	return nil
}

// checkHeader checks that the first record of s is its header and that it
// continues the chain of the previous segment.
func (l *Log) checkHeader(s segment, rec Record, oldest bool) error {
	if rec.Type != RecordSegmentHeader {
		return fmt.Errorf("first record is of type %d, not a segment header", rec.Type)
	}
	var h segmentHeader
	if err := h.unmarshal(rec.Payload); err != nil {
		return err
	}
	if h.segment != s {
		return fmt.Errorf("header names segment %s", h.name())
	}
	if !oldest && h.prevCRC != l.crc {
		return fmt.Errorf("header continues crc %08x, previous segment ended with %08x", h.prevCRC, l.crc)
	}
	return nil
}

// apply replays one record. allowGap is set in the oldest segment, whose
// entries may start past the end of what older records left (see memLog.gap).
func (l *Log) apply(rec Record, allowGap bool) error {
	switch rec.Type {
	case RecordEntry:
		var e pb.Entry
		if err := e.Unmarshal(rec.Payload); err != nil {
			return fmt.Errorf("entry record: %w", err)
		}
		e.Data = bytes.Clone(e.Data) // the segment's buffer is not kept
		return l.mem.replayEntry(e, allowGap)
	case RecordHardState:
		if err := l.hs.Unmarshal(rec.Payload); err != nil {
			return fmt.Errorf("hard state record: %w", err)
		}
	case RecordSnapshot:
		var meta pb.SnapshotMetadata
		if err := meta.Unmarshal(rec.Payload); err != nil {
			return fmt.Errorf("snapshot record: %w", err)
		}
		l.mem.applySnapshot(meta)
		l.hs = commitSnapshot(l.hs, meta)
	default:
		return fmt.Errorf("unexpected record type %d", rec.Type)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// truncateTail cuts the last segment s back to its last good record, which ends
// at off and has crc.
func (l *Log) truncateTail(s segment, data []byte, off int, crc uint32, cause error) error {
	path := filepath.Join(l.dir, s.name())
	l.logger.Warn("wal: truncating torn tail of the last segment",
		"segment", path, "from_offset", off, "to_offset", len(data),
		"bytes_cut", len(data)-off, "cause", cause.Error())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("truncate segment %s: %w", s.name(), err)
	}
	err = f.Truncate(int64(off))
	if err == nil && !l.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("truncate segment %s at %d: %w", s.name(), off, err)
	}
	l.size, l.crc = int64(off), crc
	return nil
}

// isTornTail reports whether the bad record at data[off:], which failed to decode
// with err when chained from crc, is what an interrupted write leaves: cut short
// or zero-filled, or failing its checksum with a zero-filled sector in it, and
// not followed by any valid record.
func isTornTail(data []byte, off int, crc uint32, err error) bool {
	switch {
	case errors.Is(err, ErrTornRecord):
	case errors.Is(err, ErrChecksum):
		n := HeaderSize + int(binary.LittleEndian.Uint32(data[off:]))
		if !hasZeroSector(data, off, off+n) {
			return false
		}
	default:
		return false
	}
	return !validRecordFollows(data, off, crc)
}

// hasZeroSector reports whether some sector-aligned piece of data[start:end] is
// all zeros.
func hasZeroSector(data []byte, start, end int) bool {
	for lo := start; lo < end; {
		hi := min((lo/sectorSize+1)*sectorSize, end)
		if isZero(data[lo:hi]) {
			return true
		}
		lo = hi
	}
	return false
}

// validRecordFollows reports whether a valid record starts anywhere after the bad
// record at off. A record written after the bad one is chained from the bad one's
// crc: as stored (the length or payload was damaged) or as computed over its
// bytes (the stored crc was damaged, the length is intact). Finding one means the
// bad record was in the middle of the log, not at a torn end.
func validRecordFollows(data []byte, off int, crc uint32) bool {
	if len(data)-off < HeaderSize {
		return false
	}
	stored := binary.LittleEndian.Uint32(data[off+4:])
	if n := HeaderSize + int(binary.LittleEndian.Uint32(data[off:])); n <= len(data)-off {
		computed := recordCRC(crc, data[off:off+n])
		if _, _, err := DecodeRecord(data[off+n:], computed); err == nil {
			return true
		}
	}
	for p := off + 1; p+HeaderSize <= len(data); p++ {
		if !plausibleHeader(data[p:]) {
			continue
		}
		if _, _, err := DecodeRecord(data[p:], stored); err == nil {
			return true
		}
	}
	return false
}

// plausibleHeader is a cheap filter before a record's checksum is computed.
func plausibleHeader(b []byte) bool {
	t := RecordType(b[8])
	return t >= RecordSegmentHeader && t <= RecordSnapshot &&
		uint64(binary.LittleEndian.Uint32(b)) <= uint64(len(b)-HeaderSize)
}
