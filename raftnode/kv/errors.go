package kv

import (
	"errors"
	"fmt"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// Sentinel errors. Every error the package returns wraps one of them (or an I/O
// error), so callers test with errors.Is and read the context from the message.
var (
	// ErrAlreadyApplied: Apply or ApplyNoop was given an index at or below the
	// applied index. Nothing changed. Seeing it means the caller replayed an entry.
	ErrAlreadyApplied = errors.New("kv: entry already applied")
	// ErrGap: Apply or ApplyNoop was given an index above AppliedIndex()+1.
	// Nothing changed. Seeing it means the caller lost entries (for instance it
	// restored a snapshot older than the start of its log).
	ErrGap = errors.New("kv: gap in applied indexes")
	// ErrInvalid: a command or range request is malformed (no op, empty key, bad
	// key interval, negative limit, undecodable data).
	ErrInvalid = errors.New("kv: invalid request")
	// ErrTooLarge: a key, range end or value exceeds the store's limits.
	ErrTooLarge = errors.New("kv: key or value too large")
	// ErrCorruptSnapshot: a snapshot is truncated, fails its checksum, or breaks
	// the format's rules. Restore never returns a partial store with it.
	ErrCorruptSnapshot = errors.New("kv: corrupt snapshot")
	// ErrSnapshotVersion: a snapshot was written in a format version this build
	// does not read (written by a newer release).
	ErrSnapshotVersion = errors.New("kv: unsupported snapshot format version")
)

// errorCode maps a validation error to the code recorded in a Result.
func errorCode(err error) kvpb.ErrorCode {
	if errors.Is(err, ErrTooLarge) {
		return kvpb.ErrorCode_ERROR_CODE_TOO_LARGE
	}
	return kvpb.ErrorCode_ERROR_CODE_INVALID
}

// ResultErr returns the error a Result carries: nil for ERROR_CODE_NONE (including
// a CompareAndSwap whose comparison failed, which is an answer, not an error), and
// otherwise an error wrapping ErrInvalid or ErrTooLarge with the recorded message.
func ResultErr(r *kvpb.Result) error {
	switch r.GetErrorCode() {
	case kvpb.ErrorCode_ERROR_CODE_NONE:
		return nil
	case kvpb.ErrorCode_ERROR_CODE_TOO_LARGE:
		return fmt.Errorf("%w: %s", ErrTooLarge, r.GetErrorMessage())
	default:
		return fmt.Errorf("%w: %s", ErrInvalid, r.GetErrorMessage())
	}
}
