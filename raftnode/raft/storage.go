package raft

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Errors a Storage returns at its edges. The core recognises them with errors.Is and
// reacts (sending a snapshot instead of entries, retrying later); any other error
// from a Storage is treated as fatal.
var (
	// ErrCompacted means the requested index lies before the first available entry:
	// the log was compacted into a snapshot.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate means a snapshot older than the one already held was offered.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable means the requested index is past the last entry.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable means a snapshot is being prepared; the core
	// retries on a later heartbeat.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)

// StateStorage gives the core the state it persisted before a restart.
type StateStorage interface {
	// InitialState returns the saved HardState and the configuration of the latest
	// snapshot or conf change the caller applied before the restart.
	InitialState() (pb.HardState, pb.ConfState, error)
}

// LogStorage gives the core read access to the durable log. The core never writes
// through it: the caller persists what Ready hands out and makes it visible here
// before calling Advance.
//
// Indexes are 1-based; FirstIndex is the first entry still held (the entry before it
// is the snapshot's), LastIndex the last one. Every method may be called at any time
// on the goroutine that drives the RawNode; implementations that are also written by
// another goroutine must synchronise themselves.
type LogStorage interface {
	// Entries returns the entries in [lo, hi), of total encoded size at most maxSize
	// but at least one entry if any is in range. It returns ErrCompacted when lo is at
	// or before the snapshot and ErrUnavailable when hi-1 is past LastIndex.
	Entries(lo, hi, maxSize uint64) ([]pb.Entry, error)
	// Term returns the term of entry i, for i in [FirstIndex-1, LastIndex] (the term
	// at FirstIndex-1 is the snapshot's). It returns ErrCompacted before that range
	// and ErrUnavailable after it.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry (the snapshot's index when the
	// log holds no entry after it).
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry that Entries may return.
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot, or ErrSnapshotTemporarilyUnavailable
	// while one is being made.
	Snapshot() (pb.Snapshot, error)
}

// Storage is what the core reads persisted state from.
type Storage interface {
	StateStorage
	LogStorage
}

// MemoryStorage is a Storage kept in memory. Tests, benchmarks and simulations use
// it; a real member wraps it with a write-ahead log. It is safe for concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState pb.HardState
	snapshot  pb.Snapshot
	// ents[0] is a dummy entry holding the index and term of the snapshot.
	// Invariant: len(ents) >= 1 and ents[i].Index == ents[0].Index+i.
	ents []pb.Entry
	// publishedFirst and publishedLast are ents' bounds, published after
	// every change of ents under mu: the core asks for them several times
	// per Ready, and reading them without the lock saves most of its cost.
	publishedFirst, publishedLast atomic.Uint64
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	ms := &MemoryStorage{ents: make([]pb.Entry, 1)}
	ms.publishBounds()
	return ms
}

// publishBounds publishes ents' bounds; mu is held (or ms is not shared yet).
func (ms *MemoryStorage) publishBounds() {
	ms.publishedFirst.Store(ms.ents[0].Index + 1)
	ms.publishedLast.Store(ms.lastIndex())
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (pb.HardState, pb.ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, ms.snapshot.Metadata.ConfState, nil
}

// SetHardState saves st.
func (ms *MemoryStorage) SetHardState(st pb.HardState) error {
	ms.mu.Lock()
	ms.hardState = st
	ms.mu.Unlock()
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	ents := ms.ents[lo-offset : hi-offset]
	// Cap the slice so that a caller appending to it cannot overwrite our entries.
	return limitSize(ents[:len(ents):len(ents)], maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if int(i-offset) >= len(ms.ents) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	return ms.publishedLast.Load(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	return ms.publishedFirst.Load(), nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the whole log with snap. It returns ErrSnapOutOfDate when
// snap is older than the snapshot already held.
func (ms *MemoryStorage) ApplySnapshot(snap pb.Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.snapshot.Metadata.Index >= snap.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []pb.Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	ms.publishBounds()
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index i, which must be
// at most LastIndex, with configuration cs (nil keeps the previous one).
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return pb.Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return pb.Snapshot{}, fmt.Errorf("create snapshot at %d: %w (last index %d)", i, ErrUnavailable, ms.lastIndex())
	}
	ms.snapshot.Metadata.Index = i
	ms.snapshot.Metadata.Term = ms.ents[i-offset].Term
	if cs != nil {
		ms.snapshot.Metadata.ConfState = *cs
	}
	ms.snapshot.Data = data
	return ms.snapshot, nil
}

// Compact discards all entries before compactIndex. The caller must not compact
// past the applied index.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("compact to %d: %w (last index %d)", compactIndex, ErrUnavailable, ms.lastIndex())
	}
	i := compactIndex - offset
	// Copy into a fresh array so the compacted prefix can be collected.
	ents := make([]pb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0].Index = ms.ents[i].Index
	ents[0].Term = ms.ents[i].Term
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	ms.publishBounds()
	return nil
}

// Append adds entries to the log, replacing any existing entries from the first
// appended index on. Entries already compacted away are skipped.
func (ms *MemoryStorage) Append(entries []pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil // all compacted
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		// Truncate a conflicting suffix. The full slice expression makes append
		// copy instead of writing over the replaced entries in place: slices of
		// them may still be held outside (a Ready, messages in a transport).
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("append at %d: log has a gap after last index %d", entries[0].Index, ms.lastIndex())
	}
	ms.publishBounds()
	return nil
}
