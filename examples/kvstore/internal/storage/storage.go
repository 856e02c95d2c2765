package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

const (
	logName    = "log"
	tmpSuffix  = ".tmp"
	snapSuffix = ".snap"
)

// Storage is one member's durable Raft state. Its writing methods are called
// by one goroutine (the member's loop); the raft.Storage methods may be
// called from any.
type Storage struct {
	dir string
	// mem is what the core reads: a copy of what is durable, updated only
	// after a write to disk succeeded.
	mem *raft.MemoryStorage
	// log is the log file, opened for appending.
	log *os.File
	// hardState is the last hard state written, for a rewritten log.
	hardState pb.HardState
	// snap is the snapshot the log starts after (Index 0: none).
	snap pb.SnapshotMetadata
	// tornBytes is how much Open cut off the end of the log.
	tornBytes int
	// buf and body are reused encoding buffers.
	buf, body []byte
}

var _ raft.Storage = (*Storage)(nil)

// Open reads the data dir (creating it if needed), truncates a torn end of
// the log and returns the state it holds. It returns an error wrapping
// ErrCorrupt when a record is damaged.
func Open(dir string) (*Storage, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := removeTemporaries(dir); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, logName)
	data, err := os.ReadFile(logPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read log: %w", err)
	}
	r, good, err := replay(data)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", logPath, err)
	}
	s := &Storage{dir: dir, mem: raft.NewMemoryStorage(), hardState: r.hardState, snap: r.snap, tornBytes: len(data) - good}
	if err := s.load(r); err != nil {
		return nil, err
	}
	if s.log, err = openLog(dir, good); err != nil {
		return nil, err
	}
	if err := removeSnapshotsBut(dir, s.snap); err != nil {
		_ = s.log.Close()
		return nil, err
	}
	return s, nil
}

// load fills mem from what the log replayed and the snapshot it names.
func (s *Storage) load(r replayed) error {
	if r.snap.Index > 0 {
		snap, err := readSnapshotFile(filepath.Join(s.dir, snapshotName(r.snap)))
		if err != nil {
			return err
		}
		if snap.Metadata.Index != r.snap.Index || snap.Metadata.Term != r.snap.Term {
			return fmt.Errorf("%w: snapshot file %s holds %d/%d", ErrCorrupt, snapshotName(r.snap), snap.Metadata.Term, snap.Metadata.Index)
		}
		if err := s.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("load snapshot %d: %w", r.snap.Index, err)
		}
	}
	if err := s.mem.Append(r.entries); err != nil {
		return fmt.Errorf("load entries: %w", err)
	}
	hs := r.hardState
	if !hs.IsEmpty() && hs.Commit < r.snap.Index {
		// A crash between a received snapshot's mark and the hard state
		// written after it: the snapshot is committed by definition.
		hs.Commit = r.snap.Index
	}
	return s.mem.SetHardState(hs)
}

// openLog opens the log for appending, cutting it to size bytes first (a
// torn end), and makes sure a new log's name is durable.
func openLog(dir string, size int) (*os.File, error) {
	path := filepath.Join(dir, logName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("truncate the log's torn end: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync log: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// Empty reports whether the data dir held nothing: a member that has yet to
// be bootstrapped or to receive its first snapshot.
func (s *Storage) Empty() bool {
	last, _ := s.mem.LastIndex()
	return last == 0 && s.hardState.IsEmpty()
}

// TornBytes is how many bytes Open cut off the end of the log.
func (s *Storage) TornBytes() int { return s.tornBytes }

// Save appends a Ready's entries and then its hard state (if not empty) to
// the log, syncing when sync is set, and then makes them visible to the core.
func (s *Storage) Save(hs pb.HardState, entries []pb.Entry, sync bool) error {
	if len(entries) == 0 && hs.IsEmpty() {
		return nil
	}
	buf := s.buf[:0]
	for i := range entries {
		s.body = entries[i].MarshalAppend(s.body[:0])
		buf = appendRecord(buf, kindEntry, s.body)
	}
	if !hs.IsEmpty() {
		s.body = hs.MarshalAppend(s.body[:0])
		buf = appendRecord(buf, kindHardState, s.body)
	}
	s.buf = buf
	if _, err := s.log.Write(buf); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if sync {
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("sync log: %w", err)
		}
	}
	if err := s.mem.Append(entries); err != nil {
		return fmt.Errorf("append entries: %w", err)
	}
	if !hs.IsEmpty() {
		s.hardState = hs
		if err := s.mem.SetHardState(hs); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
	}
	return nil
}

// SaveSnapshot makes snap, received from the leader (or the bootstrap
// snapshot of a new cluster), durable, and replaces the log with it.
func (s *Storage) SaveSnapshot(snap pb.Snapshot) error {
	if snap.Metadata.Index <= s.snap.Index {
		return fmt.Errorf("save snapshot %d: %w (have %d)", snap.Metadata.Index, raft.ErrSnapOutOfDate, s.snap.Index)
	}
	if err := writeSnapshotFile(s.dir, snap); err != nil {
		return err
	}
	s.body = snap.Metadata.MarshalAppend(s.body[:0])
	s.buf = appendRecord(s.buf[:0], kindSnapMark, s.body)
	if _, err := s.log.Write(s.buf); err != nil {
		return fmt.Errorf("write snapshot mark: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	if err := s.mem.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("apply snapshot %d: %w", snap.Metadata.Index, err)
	}
	s.snap = snap.Metadata
	return removeSnapshotsBut(s.dir, s.snap)
}

// CreateSnapshot records data, the state machine's state with every entry up
// to index applied and cs the configuration then, as the snapshot the log
// starts after, and drops the entries it covers.
func (s *Storage) CreateSnapshot(index uint64, cs pb.ConfState, data []byte) error {
	snap, err := s.mem.CreateSnapshot(index, &cs, data)
	if err != nil {
		return fmt.Errorf("create snapshot at %d: %w", index, err)
	}
	if err := writeSnapshotFile(s.dir, snap); err != nil {
		return err
	}
	last, _ := s.mem.LastIndex()
	rest, err := s.mem.Entries(index+1, last+1, math.MaxUint64)
	if err != nil {
		return fmt.Errorf("read entries after snapshot %d: %w", index, err)
	}
	if err := s.rewriteLog(snap.Metadata, rest); err != nil {
		return err
	}
	if err := s.mem.Compact(index); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("compact to %d: %w", index, err)
	}
	s.snap = snap.Metadata
	return removeSnapshotsBut(s.dir, s.snap)
}

// rewriteLog replaces the log with one holding the hard state, the mark of
// snapshot meta and entries: written aside, synced, then renamed into place.
func (s *Storage) rewriteLog(meta pb.SnapshotMetadata, entries []pb.Entry) error {
	var buf []byte
	if !s.hardState.IsEmpty() {
		buf = appendRecord(buf, kindHardState, s.hardState.MarshalAppend(nil))
	}
	buf = appendRecord(buf, kindSnapMark, meta.MarshalAppend(nil))
	for i := range entries {
		buf = appendRecord(buf, kindEntry, entries[i].MarshalAppend(nil))
	}
	path := filepath.Join(s.dir, logName)
	if err := writeFileSynced(path+tmpSuffix, buf); err != nil {
		return fmt.Errorf("rewrite log: %w", err)
	}
	if err := os.Rename(path+tmpSuffix, path); err != nil {
		return fmt.Errorf("rewrite log: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("close replaced log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen log: %w", err)
	}
	s.log = f
	return nil
}

// Close closes the log file.
func (s *Storage) Close() error {
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	return nil
}

// InitialState implements raft.Storage.
func (s *Storage) InitialState() (pb.HardState, pb.ConfState, error) {
	return s.mem.InitialState()
}

// Entries implements raft.Storage.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	return s.mem.Entries(lo, hi, maxSize)
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) { return s.mem.Term(i) }

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) { return s.mem.LastIndex() }

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) { return s.mem.FirstIndex() }

// Snapshot implements raft.Storage.
func (s *Storage) Snapshot() (pb.Snapshot, error) { return s.mem.Snapshot() }

// replayed is the state a log holds.
type replayed struct {
	hardState pb.HardState
	snap      pb.SnapshotMetadata
	// entries follow snap without a gap.
	entries []pb.Entry
}

// replay reads the records of a log and returns the state they hold and the
// length of the log up to its last whole record (less than len(data) when
// the end is torn). Decoded entries alias data.
func replay(data []byte) (replayed, int, error) {
	var r replayed
	off := 0
	for {
		kind, body, n, err := decodeRecord(data[off:])
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, errTornTail):
			return r, off, nil
		case err != nil:
			return r, off, fmt.Errorf("record at offset %d: %w", off, err)
		}
		if err := r.apply(kind, body); err != nil {
			return r, off, fmt.Errorf("record at offset %d: %w", off, err)
		}
		off += n
	}
}

// apply replays one record.
func (r *replayed) apply(kind recordKind, body []byte) error {
	switch kind {
	case kindEntry:
		var e pb.Entry
		if err := e.Unmarshal(body); err != nil {
			return fmt.Errorf("%w: entry: %w", ErrCorrupt, err)
		}
		return r.appendEntry(e)
	case kindHardState:
		var hs pb.HardState
		if err := hs.Unmarshal(body); err != nil {
			return fmt.Errorf("%w: hard state: %w", ErrCorrupt, err)
		}
		r.hardState = hs
	case kindSnapMark:
		var meta pb.SnapshotMetadata
		if err := meta.Unmarshal(body); err != nil {
			return fmt.Errorf("%w: snapshot mark: %w", ErrCorrupt, err)
		}
		if meta.Index <= r.snap.Index {
			return fmt.Errorf("%w: snapshot mark %d after %d", ErrCorrupt, meta.Index, r.snap.Index)
		}
		r.snap, r.entries = meta, nil
	default:
		return fmt.Errorf("%w: unknown record kind %d", ErrCorrupt, kind)
	}
	return nil
}

// appendEntry adds e, replacing any entry at its index or after.
func (r *replayed) appendEntry(e pb.Entry) error {
	first := r.snap.Index + 1
	switch {
	case e.Index < first:
		return nil // covered by the snapshot
	case e.Index > first+uint64(len(r.entries)):
		return fmt.Errorf("%w: entry %d leaves a gap after %d", ErrCorrupt, e.Index, first+uint64(len(r.entries))-1)
	}
	r.entries = append(r.entries[:e.Index-first], e)
	return nil
}
