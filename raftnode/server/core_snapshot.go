package server

import (
	"errors"
	"fmt"

	"github.com/raftkube/raftkube/raftnode/kv"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// persistSnapshot makes a snapshot received from the leader durable: its table
// and kv files first, then its metadata in the log.
func (m *memberCore) persistSnapshot(snap pb.Snapshot) error {
	idx := snap.Metadata.Index
	r, err := m.shell.saveReceivedSnapshot(snap)
	if err != nil {
		return err
	}
	if err := m.disk.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("persist snapshot %d: %w", idx, err)
	}
	m.pending = r
	m.metrics.snapshotsReceived.Inc()
	return nil
}

// applySnapshot replaces the state machine with the snapshot persisted above.
func (m *memberCore) applySnapshot(snap pb.Snapshot) error {
	r := m.pending
	m.pending = nil
	if r == nil {
		return fmt.Errorf("apply snapshot %d: not persisted", snap.Metadata.Index)
	}
	m.store.Store(r.store)
	m.table = r.table
	m.confState = snap.Metadata.ConfState
	m.snapIndex, m.applyIndex = snap.Metadata.Index, snap.Metadata.Index
	m.shell.configChanged()
	m.log.Info("restored snapshot", "index", snap.Metadata.Index, "voters", m.confState.Voters, "learners", m.confState.Learners)
	return m.checkRemoved()
}

// errCatchingUp refuses a snapshot while the kv store is ahead of the entries
// the Raft core has handed out to apply: a member that restarted after a
// snapshot's files were written but before the log recorded it (or with the
// log's newest entries lost) loads the newer store, and the core hands out
// the entries again (applying them is a no-op) from the older snapshot on.
// A snapshot then would compact entries the core has yet to hand out.
var errCatchingUp = errors.New("this member is catching up after a restart: its state machine is ahead of its log")

// maybeSnapshot starts a snapshot once SnapshotEntries entries, or entries
// holding SnapshotBytes of data, were applied since the last one.
func (m *memberCore) maybeSnapshot() error {
	if m.snapJob != nil || m.store.Load().AppliedIndex() > m.applyIndex {
		return nil // one at a time; and not while catching up (see errCatchingUp)
	}
	if m.store.Load().AppliedIndex()-m.snapIndex < m.params.snapshotEntries && m.appliedBytes < m.params.snapshotBytes {
		return nil
	}
	return m.startSnapshot(nil)
}

// cloneApplied runs on the loop: it clones the store (O(1), copy-on-write)
// and returns the clone with its applied index and that entry's term.
func (m *memberCore) cloneApplied() (store *kv.Store, index, term uint64, err error) {
	store = m.store.Load().Clone()
	index = store.AppliedIndex()
	if index > m.applyIndex {
		return nil, 0, 0, fmt.Errorf("snapshot at %d (the log is applied to %d): %w", index, m.applyIndex, errCatchingUp)
	}
	if term, err = m.disk.Term(index); err != nil {
		return nil, 0, 0, fmt.Errorf("snapshot at %d: term: %w", index, err)
	}
	return store, index, term, nil
}

// startSnapshot starts writing a snapshot at the applied index; waiter, when
// not nil, receives its outcome. A waiter arriving while a snapshot is being
// written gets that one's.
func (m *memberCore) startSnapshot(waiter chan snapshotResult) error {
	if job := m.snapJob; job != nil {
		if waiter != nil {
			job.waiters = append(job.waiters, waiter)
		}
		return nil
	}
	// Applies run on the loop too: the store's applied index is the one
	// cloneApplied takes.
	if m.store.Load().AppliedIndex() <= m.snapIndex {
		if waiter != nil {
			waiter <- snapshotResult{index: m.snapIndex}
		}
		return nil
	}
	store, applied, term, err := m.cloneApplied()
	if err != nil {
		return err
	}
	// The snapshot covers every entry applied so far.
	m.appliedBytes = 0
	job := &snapshotJob{index: applied, term: term, confState: m.confState}
	if waiter != nil {
		job.waiters = append(job.waiters, waiter)
	}
	m.snapJob = job
	m.shell.writeSnapshot(job, store, m.table.clone())
	return nil
}

// finishSnapshot takes a job whose files were written: it records the
// snapshot in the log and compacts the log.
func (m *memberCore) finishSnapshot(job *snapshotJob) error {
	m.snapJob = nil
	answer := func(r snapshotResult) {
		for _, w := range job.waiters {
			w <- r
		}
	}
	if job.err != nil {
		// Nothing refers to the files yet: the next attempt overwrites them.
		m.log.Error("writing a snapshot failed", "index", job.index, "err", job.err)
		answer(snapshotResult{err: job.err})
		return nil
	}
	if job.index <= m.snapIndex {
		// A snapshot received from the leader overtook this one.
		answer(snapshotResult{index: m.snapIndex})
		return nil
	}
	meta := pb.SnapshotMetadata{Index: job.index, Term: job.term, ConfState: job.confState}
	if err := m.disk.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
		return fmt.Errorf("snapshot at %d: %w", job.index, err)
	}
	prev := m.snapIndex
	m.snapIndex = job.index
	if err := m.disk.Compact(job.index); err != nil {
		return fmt.Errorf("snapshot at %d: %w", job.index, err)
	}
	m.shell.snapshotRecorded(job, prev)
	answer(snapshotResult{index: job.index})
	return nil
}
