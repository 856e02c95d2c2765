package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// RecordType says what a record's payload holds.
type RecordType uint8

// The record types. Zero is never written, so zero-filled space never decodes as
// a record.
const (
	// RecordSegmentHeader opens every segment: sequence, first index and the crc
	// the previous segment ended with.
	RecordSegmentHeader RecordType = 1
	// RecordEntry holds a raftpb.Entry.
	RecordEntry RecordType = 2
	// RecordHardState holds a raftpb.HardState.
	RecordHardState RecordType = 3
	// RecordSnapshot holds a raftpb.SnapshotMetadata.
	RecordSnapshot RecordType = 4
)

// HeaderSize is the size of a record's framing before its payload.
const HeaderSize = 9

// Errors of the framing and of recovery.
var (
	// ErrTornRecord means a record is cut short (its header or payload runs past
	// the end of the data) or its header is all zeros, as in preallocated or
	// unwritten space: what a crash in the middle of a write leaves.
	ErrTornRecord = errors.New("wal: torn record")
	// ErrChecksum means a complete record does not match its checksum.
	ErrChecksum = errors.New("wal: record checksum mismatch")
	// ErrCorrupt means the log is damaged somewhere other than a torn tail, so
	// recovering it would lose or invent entries. Open wraps it with the file and
	// byte offset.
	ErrCorrupt = errors.New("wal: log is corrupt")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one decoded record.
type Record struct {
	Type RecordType
	// Payload aliases the decoded buffer.
	Payload []byte
	// CRC is the record's checksum, the seed of the next record's.
	CRC uint32
}

// AppendRecord appends the framing of a record of type typ holding payload to dst,
// chained from prevCRC, and returns the extended slice and the record's crc.
func AppendRecord(dst []byte, prevCRC uint32, typ RecordType, payload []byte) ([]byte, uint32) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, payload...)
	return frameRecord(dst, start, prevCRC, typ)
}

// frameRecord fills in the header of the record starting at b[start], whose
// payload is b[start+HeaderSize:], and returns b and the record's crc.
func frameRecord(b []byte, start int, prevCRC uint32, typ RecordType) ([]byte, uint32) {
	rec := b[start:]
	binary.LittleEndian.PutUint32(rec, uint32(len(rec)-HeaderSize))
	rec[8] = byte(typ)
	crc := recordCRC(prevCRC, rec)
	binary.LittleEndian.PutUint32(rec[4:], crc)
	return b, crc
}

// recordCRC computes the crc of the framed record rec (whose crc field is ignored)
// chained from prevCRC.
func recordCRC(prevCRC uint32, rec []byte) uint32 {
	crc := crc32.Update(prevCRC, castagnoli, rec[0:4])
	return crc32.Update(crc, castagnoli, rec[8:])
}

// DecodeRecord decodes the record at the start of b, chained from prevCRC, and
// returns it with its framed length. It returns io.EOF when b is empty,
// ErrTornRecord when the record is cut short or its header is zero, and
// ErrChecksum when the record is complete but its checksum does not match.
func DecodeRecord(b []byte, prevCRC uint32) (Record, int, error) {
	if len(b) == 0 {
		return Record{}, 0, io.EOF
	}
	if len(b) < HeaderSize || isZero(b[:HeaderSize]) {
		return Record{}, 0, ErrTornRecord
	}
	length := binary.LittleEndian.Uint32(b)
	if uint64(length) > uint64(len(b)-HeaderSize) {
		return Record{}, 0, ErrTornRecord
	}
	n := HeaderSize + int(length)
	crc := binary.LittleEndian.Uint32(b[4:])
	if recordCRC(prevCRC, b[:n]) != crc {
		return Record{}, 0, ErrChecksum
	}
	return Record{Type: RecordType(b[8]), Payload: b[HeaderSize:n], CRC: crc}, n, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
