package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// recordKind says what a record's body holds.
type recordKind byte

const (
	kindEntry     recordKind = 1 // a raftpb.Entry
	kindHardState recordKind = 2 // a raftpb.HardState
	kindSnapMark  recordKind = 3 // a raftpb.SnapshotMetadata
	kindSnapshot  recordKind = 4 // a raftpb.Snapshot, in snap files only
)

// headerSize is the length, body CRC and header CRC.
const headerSize = 12

// maxRecordSize bounds a record's length field, so that a damaged header that
// still passed its checksum cannot make a reader allocate without bound.
const maxRecordSize = 1 << 30

var (
	// ErrCorrupt means a whole record failed its checksum or the log's
	// records contradict each other: the data dir is damaged.
	ErrCorrupt = errors.New("storage: corrupt record")
	// errTornTail means the data ends within a record: the end of a write
	// that a crash interrupted.
	errTornTail = errors.New("storage: torn record at the end")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one framed record to b.
func appendRecord(b []byte, kind recordKind, body []byte) []byte {
	length := uint32(len(body) + 1)
	crc := crc32.Update(crc32.Update(0, castagnoli, []byte{byte(kind)}), castagnoli, body)
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, length)
	b = binary.LittleEndian.AppendUint32(b, crc)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:start+8], castagnoli))
	b = append(b, byte(kind))
	return append(b, body...)
}

// decodeRecord decodes the record at the start of b and returns its kind,
// its body (aliasing b) and the bytes it takes. It returns io.EOF when b is
// empty, errTornTail when b ends within the record or is all zeros where a
// header should be, and an error wrapping ErrCorrupt when a whole record's
// checksum does not match.
func decodeRecord(b []byte) (kind recordKind, body []byte, n int, err error) {
	if len(b) == 0 {
		return 0, nil, 0, io.EOF
	}
	if len(b) < headerSize {
		return 0, nil, 0, errTornTail
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	bodyCRC := binary.LittleEndian.Uint32(b[4:8])
	if crc32.Checksum(b[0:8], castagnoli) != binary.LittleEndian.Uint32(b[8:12]) {
		if allZero(b) {
			return 0, nil, 0, errTornTail
		}
		return 0, nil, 0, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if length == 0 || length > maxRecordSize {
		return 0, nil, 0, fmt.Errorf("%w: record length %d", ErrCorrupt, length)
	}
	n = headerSize + int(length)
	if len(b) < n {
		return 0, nil, 0, errTornTail
	}
	payload := b[headerSize:n]
	if crc32.Checksum(payload, castagnoli) != bodyCRC {
		return 0, nil, 0, fmt.Errorf("%w: body checksum mismatch", ErrCorrupt)
	}
	return recordKind(payload[0]), payload[1:], n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
