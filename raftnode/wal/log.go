package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// DefaultSegmentSize is the segment size used when Options.SegmentSize is zero.
const DefaultSegmentSize = 64 << 20

// ErrClosed is returned by writes to a closed Log.
var ErrClosed = errors.New("wal: log is closed")

// Options configure Open.
type Options struct {
	// Dir is the log's directory; Open creates it when it does not exist.
	Dir string
	// SegmentSize is the size past which the next write starts a new segment
	// (DefaultSegmentSize when zero). A batch is never split, so a segment may
	// exceed it by one batch.
	SegmentSize int64
	// Logger receives recovery reports (truncated tails) and segment changes;
	// nil discards them.
	Logger *slog.Logger
	// NoSync skips every fsync. It is UNSAFE: a crash of the machine may lose or
	// tear acknowledged writes. Only for tests.
	NoSync bool
}

// Log is the durable Raft log of a member: it persists what a raft.Ready hands
// out and serves the core's reads through raft.Storage. The entries since the
// last snapshot are kept in memory; the files are read only by Open.
//
// A Log is safe for concurrent use; a Save holds it for the duration of its write
// and fsync. Write and Sync split a Save in two, so that a caller can keep
// writing while a Sync runs: Sync holds the Log only to note what it covers.
type Log struct {
	mu sync.Mutex
	// syncMu is held during a Sync's fsync, which runs without mu; closing a
	// rolled segment waits for it.
	syncMu  sync.Mutex
	dir     string
	segSize int64
	logger  *slog.Logger
	noSync  bool

	// segs are the segments on disk, oldest first; the last one is f.
	// Invariant: len(segs) >= 1 while the Log is open.
	segs []segment
	f    *os.File
	// size is the length of f.
	size int64
	// crc is the crc of the last record written to f.
	crc uint32
	// unsynced says f holds writes not yet fsynced.
	unsynced bool
	// written counts the writes made; synced is the count known durable.
	written, synced uint64
	// err is the first write or sync failure; after it the Log refuses writes.
	err    error
	closed bool
	buf    []byte // encoding buffer reused by Save

	hs  pb.HardState
	mem memLog
}

// Open opens the log in opts.Dir, creating the directory and a first segment when
// there is none, and otherwise recovering it as the package doc describes.
func Open(opts Options) (*Log, error) {
	l := &Log{dir: opts.Dir, segSize: opts.SegmentSize, logger: opts.Logger, noSync: opts.NoSync}
	if l.segSize <= 0 {
		l.segSize = DefaultSegmentSize
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(l.dir, 0o750); err != nil {
		return nil, fmt.Errorf("open wal %s: %w", l.dir, err)
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return nil, fmt.Errorf("open wal %s: %w", l.dir, err)
	}
	if len(segs) == 0 {
		err = l.startSegment(segment{seq: 0, first: 1})
	} else {
		err = l.recover(segs)
	}
	if err != nil {
		return nil, fmt.Errorf("open wal %s: %w", l.dir, err)
	}
	return l, nil
}

// Save appends ents and then hs (unless empty) to the log and syncs them with
// one fsync. An entry at index i replaces the entry at i and every entry after
// it; entries at or before the snapshot are skipped; ents must be contiguous and
// must not leave a gap after the last index. The fsync is skipped only when
// raft.MustSync says so (no entries, and term and vote unchanged).
func (l *Log) Save(hs pb.HardState, ents []pb.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _, err := l.save(hs, ents, true)
	return err
}

// Write is Save without the fsync: the records reach the file (and the entries
// the log's memory, so Storage reads see them), and become durable with a
// later Sync, or Save, SaveSnapshot or Close. It returns the write's sequence
// number for Sync, and whether raft.MustSync asks for a sync before the
// caller's messages go out.
func (l *Log) Write(hs pb.HardState, ents []pb.Entry) (seq uint64, needSync bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.save(hs, ents, false)
}

// Sync makes every Write made before it durable, and returns the sequence
// number of the last of them. Writes may go on while it runs.
func (l *Log) Sync() (uint64, error) {
	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return 0, fmt.Errorf("sync: %w", err)
	}
	seq, f := l.written, l.f
	if seq == l.synced || !l.unsynced || l.noSync {
		l.synced = seq
		l.mu.Unlock()
		return seq, nil
	}
	l.mu.Unlock()

	l.syncMu.Lock()
	err := datasync(f)
	l.syncMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(err, os.ErrClosed) && l.f != f && !l.closed {
		err = nil // rolled meanwhile: maybeRoll synced f before closing it
	}
	if err != nil {
		if l.err == nil {
			l.err = fmt.Errorf("sync segment: %w", err)
		}
		return 0, l.err
	}
	if seq > l.synced {
		l.synced = seq
		if seq == l.written && f == l.f {
			l.unsynced = false
		}
	}
	return seq, nil
}

// save writes, and syncs if sync is set or the write must be synced. It returns
// the write's sequence number and whether it needs a sync (it is durable if
// sync was set).
func (l *Log) save(hs pb.HardState, ents []pb.Entry, sync bool) (uint64, bool, error) {
	if err := l.writable(); err != nil {
		return 0, false, fmt.Errorf("save: %w", err)
	}
	ents, err := l.mem.trimAppend(ents)
	if err != nil {
		return 0, false, fmt.Errorf("save: %w", err)
	}
	if len(ents) == 0 && hs.IsEmpty() {
		return l.written, false, nil
	}
	if err := l.maybeRoll(); err != nil {
		return 0, false, fmt.Errorf("save: %w", err)
	}
	buf, crc := l.buf[:0], l.crc
	for i := range ents {
		buf, crc = appendEntry(buf, crc, &ents[i])
	}
	if !hs.IsEmpty() {
		buf, crc = AppendRecord(buf, crc, RecordHardState, hs.MarshalAppend(nil))
	}
	needSync := raft.MustSync(hs, l.hs, len(ents))
	if err := l.write(buf, crc, sync && needSync); err != nil {
		return 0, false, fmt.Errorf("save: %w", err)
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	}
	l.mem.append(ents)
	if !hs.IsEmpty() {
		l.hs = hs
	}
	return l.written, needSync, nil
}

// appendEntry appends the record of e to buf, encoding e in place.
func appendEntry(buf []byte, crc uint32, e *pb.Entry) ([]byte, uint32) {
	start := len(buf)
	buf = e.MarshalAppend(append(buf, make([]byte, HeaderSize)...))
	return frameRecord(buf, start, crc, RecordEntry)
}

// SaveSnapshot makes the metadata of snap (index, term and ConfState) durable and
// drops the entries up to its index from memory; the state machine's data is the
// caller's to store. The entries after the snapshot are kept when the log holds
// the snapshot's entry with the same term, and dropped otherwise. From then on
// the hard state commits the snapshot (see commitSnapshot). It returns
// raft.ErrSnapOutOfDate when snap is not newer than the last saved snapshot.
func (l *Log) SaveSnapshot(snap pb.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	meta := snap.Metadata
	if err := l.writable(); err != nil {
		return fmt.Errorf("save snapshot %d: %w", meta.Index, err)
	}
	if meta.Index <= l.mem.snap.Index {
		return fmt.Errorf("save snapshot %d (have %d): %w", meta.Index, l.mem.snap.Index, raft.ErrSnapOutOfDate)
	}
	if err := l.maybeRoll(); err != nil {
		return fmt.Errorf("save snapshot %d: %w", meta.Index, err)
	}
	buf, crc := AppendRecord(nil, l.crc, RecordSnapshot, meta.MarshalAppend(nil))
	if err := l.write(buf, crc, true); err != nil {
		return fmt.Errorf("save snapshot %d: %w", meta.Index, err)
	}
	l.mem.applySnapshot(meta)
	l.hs = commitSnapshot(l.hs, meta)
	return nil
}

// commitSnapshot is hs once a snapshot's record is durable. A snapshot holds
// committed state only, so its index is committed; and a member that holds an
// entry of a term is at least in that term. A follower that crashes after it
// saved a snapshot from the leader, before the hard state that came with it,
// would otherwise restart with a commit index below its snapshot, which the
// Raft core refuses: it could never start again. A term raised drops the vote
// (it was cast in an older term).
func commitSnapshot(hs pb.HardState, meta pb.SnapshotMetadata) pb.HardState {
	if hs.Term < meta.Term {
		hs.Term, hs.Vote = meta.Term, 0
	}
	hs.Commit = max(hs.Commit, meta.Index)
	return hs
}

// Compact removes the oldest segments whose entries all lie before index. index
// must not be past the last saved snapshot's index plus one: later entries are
// not covered by a snapshot yet. The last segment is never removed.
func (l *Log) Compact(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return fmt.Errorf("compact to %d: %w", index, err)
	}
	if index > l.mem.snap.Index+1 {
		return fmt.Errorf("compact to %d: past the snapshot at %d", index, l.mem.snap.Index)
	}
	// Every entry still live in segs[:k] is before segs[k].first: segs[k] was
	// started at that index and later entries went to it or after it.
	k := 0
	for i := 1; i < len(l.segs); i++ {
		if l.segs[i].first <= index {
			k = i
		}
	}
	// Oldest first, so that a crash leaves contiguous sequence numbers.
	for _, s := range l.segs[:k] {
		if err := os.Remove(filepath.Join(l.dir, s.name())); err != nil {
			return fmt.Errorf("compact to %d: remove segment %s: %w", index, s.name(), err)
		}
		l.segs = l.segs[1:]
	}
	if k > 0 {
		l.logger.Info("wal: removed segments", "dir", l.dir, "count", k, "before_index", index)
	}
	if err := syncDir(l.dir, l.noSync); err != nil {
		return fmt.Errorf("compact to %d: %w", index, err)
	}
	return nil
}

// Close syncs what is not yet synced and closes the last segment. Reads keep
// working on what is in memory; writes return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.err == nil {
		err = l.trimPreallocated()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close segment %s: %w", l.lastSegment().name(), err)
	}
	return nil
}

// trimPreallocated cuts the last segment at the end of its last record and
// makes it durable, records and size.
func (l *Log) trimPreallocated() error {
	err := l.f.Truncate(l.size)
	if err == nil && !l.noSync {
		err = datasync(l.f)
	}
	if err != nil {
		l.err = fmt.Errorf("sync segment %s: %w", l.lastSegment().name(), err)
		return l.err
	}
	l.unsynced = false
	return nil
}

func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

func (l *Log) lastSegment() segment { return l.segs[len(l.segs)-1] }

// write appends b, whose last record has crc, to the last segment and syncs it
// when sync is set. A failure is sticky.
func (l *Log) write(b []byte, crc uint32, sync bool) error {
	n, err := l.f.WriteAt(b, l.size)
	l.size += int64(n)
	if err == nil && sync && !l.noSync {
		err = datasync(l.f)
	}
	if err != nil {
		l.err = fmt.Errorf("write segment %s: %w", l.lastSegment().name(), err)
		return l.err
	}
	l.crc = crc
	l.written++
	if sync {
		l.unsynced = false
		l.synced = l.written
	} else {
		l.unsynced = !l.noSync
	}
	return nil
}

// maybeRoll starts a new segment when the last one has reached the segment size.
func (l *Log) maybeRoll() error {
	if l.size < l.segSize {
		return nil
	}
	// The old segment must be durable before a newer one exists: Open refuses a
	// torn segment that is not the last.
	// Its preallocated tail is cut: only the last segment may end in zeros.
	if err := l.trimPreallocated(); err != nil {
		return err
	}
	l.synced = l.written
	old := l.f
	if err := l.startSegment(segment{seq: l.lastSegment().seq + 1, first: l.mem.lastIndex() + 1}); err != nil {
		return err
	}
	// A Sync may still be syncing the old segment: let it finish first.
	l.syncMu.Lock()
	err := old.Close()
	l.syncMu.Unlock()
	if err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	return nil
}

// startSegment creates segment s with its header, the snapshot and the hard
// state, and makes it the one written to.
func (l *Log) startSegment(s segment) error {
	head, crc := AppendRecord(nil, 0, RecordSegmentHeader, segmentHeader{segment: s, prevCRC: l.crc}.marshal())
	if l.mem.snap.Index > 0 {
		head, crc = AppendRecord(head, crc, RecordSnapshot, l.mem.snap.MarshalAppend(nil))
	}
	if !l.hs.IsEmpty() {
		head, crc = AppendRecord(head, crc, RecordHardState, l.hs.MarshalAppend(nil))
	}
	f, err := createSegment(l.dir, s, head, l.segSize, l.noSync)
	if err != nil {
		l.err = err
		return err
	}
	l.segs = append(l.segs, s)
	l.f, l.size, l.crc, l.unsynced = f, int64(len(head)), crc, false
	l.logger.Debug("wal: started segment", "dir", l.dir, "segment", s.name())
	return nil
}
