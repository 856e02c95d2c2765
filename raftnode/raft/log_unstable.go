package raft

import (
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// unstable holds what the core has accepted but the caller has not yet persisted:
// at most one incoming snapshot and the entries after it.
type unstable struct {
	// snapshot is an incoming snapshot not yet persisted, or nil.
	snapshot *pb.Snapshot
	// entries not yet persisted.
	// Invariant: entries[i].Index == offset+i.
	entries []pb.Entry
	// offset is the index of entries[0] (or where the next entry goes).
	// Invariant: snapshot == nil || offset == snapshot.Metadata.Index+1.
	offset uint64
	logger Logger
}

// maybeFirstIndex returns the first index of the log if an unstable snapshot
// defines it.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index held here, if anything is held.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if it is held here.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to index i with term t as persisted. It ignores the
// call when the entry at i was replaced meanwhile (a newer leader overwrote it).
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	u.entries = u.entries[n:]
	u.offset = i + 1
	u.shrinkEntriesArray()
}

// shrinkEntriesArray drops the array behind entries once most of it is unused, so
// that persisted entries can be collected. An emptied slice keeps its spare
// capacity: appends continue into it without allocating.
func (u *unstable) shrinkEntriesArray() {
	const lenMultiple = 2
	if len(u.entries) == 0 {
		return
	}
	if len(u.entries)*lenMultiple < cap(u.entries) && cap(u.entries) > minEntriesCap {
		newEntries := make([]pb.Entry, len(u.entries), max(len(u.entries), minEntriesCap))
		copy(newEntries, u.entries)
		u.entries = newEntries
	}
}

// stableSnapTo marks the unstable snapshot at index i as persisted.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}

// restore replaces everything with snapshot s.
func (u *unstable) restore(s pb.Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
}

// truncateAndAppend appends ents, first dropping any held entries they replace.
func (u *unstable) truncateAndAppend(ents []pb.Entry) {
	fromIndex := ents[0].Index
	switch {
	case fromIndex == u.offset+uint64(len(u.entries)):
		u.appendEntries(ents)
	case fromIndex <= u.offset:
		u.logger.Infof("replace the unstable entries from index %d", fromIndex)
		// The whole unstable log is replaced; copy so a caller's slice is not kept.
		u.entries = append([]pb.Entry(nil), ents...)
		u.offset = fromIndex
	default:
		u.logger.Infof("truncate the unstable entries before index %d", fromIndex)
		keep := u.slice(u.offset, fromIndex)
		u.entries = append(append([]pb.Entry(nil), keep...), ents...)
	}
}

// minEntriesCap is the smallest array allocated for unstable entries. Persisted
// entries are sliced off the front, so an array is used up from both ends; a
// floor on its size keeps a steady stream of one-entry proposals from allocating
// on every append.
const minEntriesCap = 256

// appendEntries appends ents, growing the array by at least minEntriesCap. The
// array is never written below len(entries), so slices of it already handed out
// (in a Ready, in messages) stay intact.
func (u *unstable) appendEntries(ents []pb.Entry) {
	if n := len(u.entries) + len(ents); n > cap(u.entries) {
		grown := make([]pb.Entry, len(u.entries), max(2*n, minEntriesCap))
		copy(grown, u.entries)
		u.entries = grown
	}
	u.entries = append(u.entries, ents...)
}

// slice returns the held entries in [lo, hi).
func (u *unstable) slice(lo, hi uint64) []pb.Entry {
	u.mustCheckOutOfBounds(lo, hi)
	// Cap the result so appends by the caller cannot overwrite held entries.
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}

func (u *unstable) mustCheckOutOfBounds(lo, hi uint64) {
	if lo > hi {
		u.logger.Panicf("invalid unstable.slice %d > %d", lo, hi)
	}
	upper := u.offset + uint64(len(u.entries))
	if lo < u.offset || hi > upper {
		u.logger.Panicf("unstable.slice[%d,%d) out of bound [%d,%d)", lo, hi, u.offset, upper)
	}
}

func (u *unstable) String() string {
	return fmt.Sprintf("unstable{offset=%d entries=%d snapshot=%v}", u.offset, len(u.entries), u.snapshot != nil)
}
