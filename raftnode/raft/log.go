package raft

import (
	"errors"
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// raftLog is the member's view of the log: the persisted part in storage and the
// not yet persisted part in unstable.
type raftLog struct {
	// storage holds what was persisted: entries up to unstable.offset-1.
	storage Storage
	// unstable holds accepted entries and a snapshot not yet persisted.
	unstable unstable
	// committed is the highest index known to be stored on a quorum.
	// Invariant: applied <= committed.
	committed uint64
	// applied is the highest index the caller has applied to its state machine.
	applied uint64
	// maxApplyingEntsSize bounds the size of the committed entries one Ready hands out.
	maxApplyingEntsSize uint64
	logger              Logger
}

func newLog(storage Storage, logger Logger, maxApplyingEntsSize uint64) (*raftLog, error) {
	firstIndex, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("read first index: %w", err)
	}
	lastIndex, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("read last index: %w", err)
	}
	return &raftLog{
		storage:             storage,
		unstable:            unstable{offset: lastIndex + 1, logger: logger},
		committed:           firstIndex - 1,
		applied:             firstIndex - 1,
		maxApplyingEntsSize: maxApplyingEntsSize,
		logger:              logger,
	}, nil
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d, applied=%d, %s", l.committed, l.applied, l.unstable.String())
}

// maybeAppend appends ents received after the entry (index, logTerm) if the log
// holds that entry, and advances commit to at most committed. It returns the index
// of the last new entry and whether the append happened.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []pb.Entry) (lastnewi uint64, ok bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastnewi = index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
	case ci <= l.committed:
		l.logger.Panicf("entry %d conflicts with committed entry [committed(%d)]", ci, l.committed)
	default:
		offset := index + 1
		if ci-offset > uint64(len(ents)) {
			l.logger.Panicf("index %d is out of range [%d]", ci-offset, len(ents))
		}
		l.append(ents[ci-offset:]...)
	}
	l.commitTo(min(committed, lastnewi))
	return lastnewi, true
}

// append adds ents after truncating anything from ents[0].Index on and returns the
// new last index.
func (l *raftLog) append(ents ...pb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		l.logger.Panicf("after(%d) is out of range [committed(%d)]", after, l.committed)
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents whose term differs from
// the log's, or the first new entry's index if ents only extends the log, or 0 when
// every entry is already present.
func (l *raftLog) findConflict(ents []pb.Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			if ents[i].Index <= l.lastIndex() {
				l.logger.Infof("found conflict at index %d [existing term: %d, conflicting term: %d]",
					ents[i].Index, l.zeroTermOnOutOfBounds(l.term(ents[i].Index)), ents[i].Term)
			}
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <= term, and
// that term. A leader uses it to skip a whole term of mismatching entries in one
// round trip instead of probing them one by one.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		ourTerm, err := l.term(index)
		if err != nil {
			// Compacted or unavailable: the answer is not knowable beyond here.
			return index, 0
		}
		if ourTerm <= term {
			return index, ourTerm
		}
	}
	return 0, 0
}

// nextUnstableEnts returns the entries the caller must persist next. The
// slice ends at its length: a caller's append must not write into the log.
func (l *raftLog) nextUnstableEnts() []pb.Entry {
	ents := l.unstable.entries
	return ents[:len(ents):len(ents)]
}

// hasNextUnstableEnts reports whether there are entries to persist.
func (l *raftLog) hasNextUnstableEnts() bool { return len(l.unstable.entries) > 0 }

// hasNextOrInProgressSnapshot reports whether an unstable snapshot awaits persisting.
func (l *raftLog) hasNextUnstableSnapshot() bool { return l.unstable.snapshot != nil }

// applyingLimit returns the last index that may be handed to the caller to apply:
// everything committed, but not past a snapshot that is still to be persisted.
func (l *raftLog) maxAppliableIndex() uint64 {
	if l.hasNextUnstableSnapshot() {
		return 0
	}
	return l.committed
}

// nextCommittedEnts returns the committed entries to apply next, bounded in size.
// Entries still in unstable may be returned: the caller persists a Ready's entries
// before it applies the Ready's committed entries.
func (l *raftLog) nextCommittedEnts() []pb.Entry {
	hi := l.maxAppliableIndex()
	if l.applied >= hi {
		return nil
	}
	// lo is at or past the first index and hi at most the last (commit
	// never passes it): the bounds slice would check hold, and checking
	// them again would ask the storage twice more on every Ready.
	lo := max(l.applied+1, l.firstIndex())
	ents, err := l.sliceInBounds(lo, hi+1, l.maxApplyingEntsSize)
	if err != nil {
		l.logger.Panicf("unexpected error when getting unapplied entries (%v)", err)
	}
	return ents[:len(ents):len(ents)] // may alias the unstable log: see nextUnstableEnts
}

// hasNextCommittedEnts reports whether there are committed entries to apply.
func (l *raftLog) hasNextCommittedEnts() bool {
	return l.applied < l.maxAppliableIndex()
}

// snapshot returns the unstable snapshot if any, else the storage's.
func (l *raftLog) snapshot() (pb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	index, err := l.storage.FirstIndex()
	if err != nil {
		l.logger.Panicf("storage FirstIndex: %v", err)
	}
	return index
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		l.logger.Panicf("storage LastIndex: %v", err)
	}
	return i
}

// commitTo raises committed to tocommit.
func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed < tocommit {
		if l.lastIndex() < tocommit {
			l.logger.Panicf("tocommit(%d) is out of range [lastIndex(%d)]. Was the raft log corrupted, truncated, or lost?", tocommit, l.lastIndex())
		}
		l.committed = tocommit
	}
}

// appliedTo records that the caller applied entries up to i.
func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		l.logger.Panicf("applied(%d) is out of range [prevApplied(%d), committed(%d)]", i, l.applied, l.committed)
	}
	l.applied = i
}

// stableTo records that entries up to i of term t are persisted.
func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

// stableSnapTo records that the snapshot at index i is persisted.
func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		l.logger.Panicf("unexpected error when getting the last term (%v)", err)
	}
	return t
}

// term returns the term of entry i, or ErrCompacted / ErrUnavailable outside the
// log.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	// The valid range is [index of dummy entry, last index]. With nothing
	// unstable, the storage holds the whole log and Term answers outside it
	// itself (LogStorage's contract): two calls into it fewer, each taking
	// its lock, on the path every append and acknowledgement takes.
	if l.unstable.snapshot != nil || len(l.unstable.entries) > 0 {
		if i+1 < l.firstIndex() {
			return 0, ErrCompacted
		}
		if i > l.lastIndex() {
			return 0, ErrUnavailable
		}
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	l.logger.Panicf("storage Term(%d): %v", i, err)
	return 0, err
}

// entries returns the entries from i on, at most maxSize bytes (but at least one).
func (l *raftLog) entries(i, maxSize uint64) ([]pb.Entry, error) {
	last := l.lastIndex()
	if i > last {
		return nil, nil
	}
	return l.slice(i, last+1, maxSize)
}

// allEntries returns every entry in the log; tests use it.
func (l *raftLog) allEntries() []pb.Entry {
	ents, err := l.entries(l.firstIndex(), noLimit)
	if err == nil {
		return ents
	}
	if errors.Is(err, ErrCompacted) { // a racing compaction
		return l.allEntries()
	}
	panic(err)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as up to date
// as ours (Raft paper §5.4.1).
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lastTerm := l.lastTerm()
	return term > lastTerm || (term == lastTerm && lasti >= l.lastIndex())
}

// matchTerm reports whether the log holds entry i with term t.
func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, err := l.term(i)
	if err != nil {
		return false
	}
	return lt == t
}

// maybeCommit advances committed to maxIndex if that entry is of term, the rule
// that a leader only counts replicas for entries of its own term (Raft paper
// §5.4.2).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

// restore resets the log to snapshot s.
func (l *raftLog) restore(s pb.Snapshot) {
	l.logger.Infof("log [%s] starts to restore snapshot [index: %d, term: %d]", l, s.Metadata.Index, s.Metadata.Term)
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// slice returns entries in [lo, hi) of at most maxSize bytes (at least one entry).
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	if err := l.mustCheckOutOfBounds(lo, hi); err != nil {
		return nil, err
	}
	return l.sliceInBounds(lo, hi, maxSize)
}

// sliceInBounds is slice for a caller that knows firstIndex <= lo <= hi <=
// lastIndex+1.
func (l *raftLog) sliceInBounds(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	if lo == hi {
		return nil, nil
	}
	if lo >= l.unstable.offset {
		return limitSize(l.unstable.slice(lo, hi), maxSize), nil
	}
	cut := min(hi, l.unstable.offset)
	ents, err := l.storage.Entries(lo, cut, maxSize)
	if errors.Is(err, ErrCompacted) {
		return nil, err
	} else if errors.Is(err, ErrUnavailable) {
		l.logger.Panicf("entries[%d:%d) is unavailable from storage", lo, cut)
	} else if err != nil {
		l.logger.Panicf("storage Entries(%d, %d): %v", lo, cut, err)
	}
	if hi <= l.unstable.offset {
		return ents, nil
	}
	// Storage stopped early because of the size limit: do not add unstable ones.
	if uint64(len(ents)) < cut-lo {
		return ents, nil
	}
	size := entsSize(ents)
	if size >= maxSize {
		return ents, nil
	}
	unstable := limitSize(l.unstable.slice(l.unstable.offset, hi), maxSize-size)
	// Only the first unstable entry may exceed the remaining budget when storage
	// returned nothing; otherwise respect it strictly.
	if len(unstable) == 1 && size+entsSize(unstable) > maxSize {
		return ents, nil
	}
	// Copy: the storage slice must not be appended to in place.
	combined := make([]pb.Entry, len(ents)+len(unstable))
	n := copy(combined, ents)
	copy(combined[n:], unstable)
	return combined, nil
}

// mustCheckOutOfBounds checks l.firstIndex() <= lo <= hi <= l.lastIndex()+1.
func (l *raftLog) mustCheckOutOfBounds(lo, hi uint64) error {
	if lo > hi {
		l.logger.Panicf("invalid slice %d > %d", lo, hi)
	}
	fi := l.firstIndex()
	if lo < fi {
		return ErrCompacted
	}
	length := l.lastIndex() + 1 - fi
	if hi > fi+length {
		l.logger.Panicf("slice[%d,%d) out of bound [%d,%d]", lo, hi, fi, l.lastIndex())
	}
	return nil
}

func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	l.logger.Panicf("unexpected error (%v)", err)
	return 0
}
