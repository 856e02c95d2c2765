package wal

import (
	"fmt"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// memLog is the part of the log kept in memory: the last snapshot's metadata and
// the entries after it. Reads are served from it; the files are read only by Open.
type memLog struct {
	// snap is the last saved snapshot; its Index and Term mark where ents start.
	snap pb.SnapshotMetadata
	// Invariant: ents[i].Index == snap.Index+1+i.
	ents []pb.Entry
	// gap is set only while Open replays the oldest kept segment after Compact
	// dropped the segments before it: the entries before snap.Index+1 are gone
	// and snap is a placeholder until a snapshot record at or past it arrives.
	gap bool
}

func (m *memLog) firstIndex() uint64 { return m.snap.Index + 1 }

func (m *memLog) lastIndex() uint64 { return m.snap.Index + uint64(len(m.ents)) }

// trimAppend checks that ents are contiguous and can be appended without a gap,
// and returns them without the ones at or before the snapshot.
func (m *memLog) trimAppend(ents []pb.Entry) ([]pb.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	for i := range ents {
		if ents[i].Index != ents[0].Index+uint64(i) {
			return nil, fmt.Errorf("entries not contiguous: index %d at position %d after %d",
				ents[i].Index, i, ents[0].Index)
		}
	}
	first := m.firstIndex()
	if last := ents[len(ents)-1].Index; last < first {
		return nil, nil // all compacted into the snapshot
	}
	if ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	if ents[0].Index > m.lastIndex()+1 {
		return nil, fmt.Errorf("append at %d: log has a gap after last index %d", ents[0].Index, m.lastIndex())
	}
	return ents, nil
}

// append adds ents, which trimAppend accepted, replacing the entries from
// ents[0].Index on.
func (m *memLog) append(ents []pb.Entry) {
	if len(ents) == 0 {
		return
	}
	off := ents[0].Index - m.firstIndex()
	if off < uint64(len(m.ents)) {
		// Truncating a conflicting suffix: the full slice expression makes append
		// copy, since slices of the replaced entries may still be held by a caller
		// of Entries.
		m.ents = m.ents[:off:off]
	}
	m.ents = append(m.ents, ents...)
}

// replayEntry applies an entry record during Open. allowGap permits an entry past
// the end, which starts the log afresh (see gap).
func (m *memLog) replayEntry(e pb.Entry, allowGap bool) error {
	switch {
	case m.gap && e.Index <= m.snap.Index:
		return fmt.Errorf("entry %d before index %d, where the log starts after compaction", e.Index, m.firstIndex())
	case e.Index <= m.snap.Index:
		return nil // covered by the snapshot
	case e.Index <= m.lastIndex()+1:
		m.append([]pb.Entry{e})
		return nil
	case allowGap:
		m.snap = pb.SnapshotMetadata{Index: e.Index - 1}
		m.ents = []pb.Entry{e}
		m.gap = true
		return nil
	}
	return fmt.Errorf("entry %d after last index %d: gap in the log", e.Index, m.lastIndex())
}

// applySnapshot makes meta the log's snapshot. Entries after it are kept when the
// log holds the snapshot's own entry with the same term; otherwise the log
// restarts at the snapshot. A snapshot older than the current one is ignored.
func (m *memLog) applySnapshot(meta pb.SnapshotMetadata) {
	if meta.Index < m.snap.Index || (meta.Index == m.snap.Index && !m.gap) {
		return
	}
	switch {
	case meta.Index == m.snap.Index:
		// Fills the placeholder of a gap: the entries after it follow it.
	case meta.Index <= m.lastIndex() && m.ents[meta.Index-m.firstIndex()].Term == meta.Term:
		m.ents = slices.Clone(m.ents[meta.Index-m.snap.Index:])
	default:
		m.ents = nil
	}
	m.snap = meta
	m.gap = false
}

func (m *memLog) term(i uint64) (uint64, error) {
	switch {
	case i < m.snap.Index:
		return 0, fmt.Errorf("term of %d (first index %d): %w", i, m.firstIndex(), raft.ErrCompacted)
	case i == m.snap.Index:
		return m.snap.Term, nil
	case i > m.lastIndex():
		return 0, fmt.Errorf("term of %d (last index %d): %w", i, m.lastIndex(), raft.ErrUnavailable)
	}
	return m.ents[i-m.firstIndex()].Term, nil
}

func (m *memLog) entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	switch {
	case lo <= m.snap.Index:
		return nil, fmt.Errorf("entries from %d (first index %d): %w", lo, m.firstIndex(), raft.ErrCompacted)
	case hi > m.lastIndex()+1:
		return nil, fmt.Errorf("entries to %d (last index %d): %w", hi, m.lastIndex(), raft.ErrUnavailable)
	case lo > hi:
		return nil, fmt.Errorf("entries [%d, %d): empty range", lo, hi)
	}
	ents := m.ents[lo-m.firstIndex() : hi-m.firstIndex()]
	return limitSize(ents[:len(ents):len(ents)], maxSize), nil
}

// limitSize returns the longest prefix of ents of total encoded size at most
// maxSize, but at least one entry. The result is capped so that appending to it
// cannot overwrite the entries cut off.
func limitSize(ents []pb.Entry, maxSize uint64) []pb.Entry {
	if len(ents) <= 1 {
		return ents
	}
	size := uint64(ents[0].Size())
	for n := 1; n < len(ents); n++ {
		size += uint64(ents[n].Size())
		if size > maxSize {
			return ents[:n:n]
		}
	}
	return ents
}
