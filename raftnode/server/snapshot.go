package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/raftkube/raftkube/raftnode/kv"
	pb "github.com/raftkube/raftkube/raftnode/raftpb"
)

func newTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// keepSnapshots is how many kv snapshots (and tables) are kept on disk.
const keepSnapshots = 2

// restored is a received snapshot, decoded (and, once persisted, waiting to
// be applied).
type restored struct {
	meta  pb.SnapshotMetadata
	store *kv.Store
	table *membership
}

// decodeSnapshot decodes a snapshot's data: the table and the kv store.
func (s *Server) decodeSnapshot(snap pb.Snapshot) (*restored, error) {
	idx := snap.Metadata.Index
	table, kvData, err := decodeSnapshotData(snap.Data)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", idx, err)
	}
	store, err := kv.Restore(bytes.NewReader(kvData), s.kvOpts...)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot %d: %w", idx, err)
	}
	if store.AppliedIndex() != idx {
		return nil, fmt.Errorf("snapshot %d holds a store at applied index %d", idx, store.AppliedIndex())
	}
	return &restored{meta: snap.Metadata, store: store, table: table}, nil
}

// checkReceivedSnapshot decodes a snapshot message's data before the Raft core
// sees it: once the core accepts a snapshot there is no going back, so a
// corrupt or forged one must be refused here (the sender is told, and reports
// the snapshot failed). The decoded state is kept for persistSnapshot.
func (s *Server) checkReceivedSnapshot(m pb.Message) error {
	if m.Snapshot == nil {
		return errors.New("snapshot message without a snapshot")
	}
	r, err := s.decodeSnapshot(*m.Snapshot)
	if err != nil {
		return err
	}
	s.receivedMu.Lock()
	s.received = r
	s.receivedMu.Unlock()
	return nil
}

// takeDecoded returns the snapshot checkReceivedSnapshot decoded for meta, or
// decodes it now.
func (s *Server) takeDecoded(snap pb.Snapshot) (*restored, error) {
	s.receivedMu.Lock()
	r := s.received
	s.received = nil
	s.receivedMu.Unlock()
	if r != nil && r.meta.Index == snap.Metadata.Index && r.meta.Term == snap.Metadata.Term {
		return r, nil
	}
	return s.decodeSnapshot(snap)
}

// persistSnapshot makes a snapshot received from the leader durable: its table
// and kv files first, then its metadata in the wal.
func (s *Server) persistSnapshot(snap pb.Snapshot) error {
	idx := snap.Metadata.Index
	r, err := s.takeDecoded(snap)
	if err != nil {
		return err
	}
	store, table := r.store, r.table
	if err := saveMembership(s.cfg.DataDir, idx, table); err != nil {
		return err
	}
	if _, err := s.snaps.Save(store); err != nil {
		return fmt.Errorf("save received snapshot %d: %w", idx, err)
	}
	if err := s.wal.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("persist snapshot %d: %w", idx, err)
	}
	s.pending = r
	s.metrics.snapshotsReceived.Inc()
	return nil
}

// applySnapshot replaces the state machine with the snapshot persisted above.
func (s *Server) applySnapshot(snap pb.Snapshot) error {
	r := s.pending
	s.pending = nil
	if r == nil {
		return fmt.Errorf("apply snapshot %d: not persisted", snap.Metadata.Index)
	}
	s.store.Store(r.store)
	s.table = r.table
	s.confState = snap.Metadata.ConfState
	s.snapIndex = snap.Metadata.Index
	s.publishView()
	s.syncPeers()
	s.log.Info("restored snapshot", "index", snap.Metadata.Index, "voters", s.confState.Voters, "learners", s.confState.Learners)
	return s.checkRemoved()
}

// A snapshot is written off the event loop, so that a large store does not hold
// up heartbeats and applies: on the loop, startSnapshot clones the store (O(1),
// copy-on-write) and the table at the applied index; a goroutine writes the
// table and kv files; back on the loop, finishSnapshot records the snapshot in
// the wal and compacts it. One snapshot is written at a time.

// snapshotJob is a snapshot being written.
type snapshotJob struct {
	index, term uint64
	confState   pb.ConfState
	started     time.Time
	// waiters are Snapshot RPCs waiting for the job's outcome.
	waiters []chan snapshotResult
	err     error // set by the writer
}

type snapshotResult struct {
	index uint64
	err   error
}

// maybeSnapshot starts a snapshot once SnapshotEntries entries, or entries
// holding SnapshotBytes of data, were applied since the last one.
func (s *Server) maybeSnapshot() error {
	if s.snapJob != nil {
		return nil
	}
	if s.store.Load().AppliedIndex()-s.snapIndex < s.cfg.SnapshotEntries && s.appliedBytes < s.cfg.SnapshotBytes {
		return nil
	}
	return s.startSnapshot(nil)
}

// cloneApplied runs on the loop: it clones the store (O(1), copy-on-write)
// and returns the clone with its applied index and that entry's term.
func (s *Server) cloneApplied() (store *kv.Store, index, term uint64, err error) {
	store = s.store.Load().Clone()
	index = store.AppliedIndex()
	if term, err = s.wal.Term(index); err != nil {
		return nil, 0, 0, fmt.Errorf("snapshot at %d: term: %w", index, err)
	}
	return store, index, term, nil
}

// startSnapshot starts writing a snapshot at the applied index; waiter, when
// not nil, receives its outcome. A waiter arriving while a snapshot is being
// written gets that one's.
func (s *Server) startSnapshot(waiter chan snapshotResult) error {
	if job := s.snapJob; job != nil {
		if waiter != nil {
			job.waiters = append(job.waiters, waiter)
		}
		return nil
	}
	// Applies run on the loop too: the store's applied index is the one
	// cloneApplied takes.
	if s.store.Load().AppliedIndex() <= s.snapIndex {
		if waiter != nil {
			waiter <- snapshotResult{index: s.snapIndex}
		}
		return nil
	}
	store, applied, term, err := s.cloneApplied()
	if err != nil {
		return err
	}
	// The snapshot covers every entry applied so far.
	s.appliedBytes = 0
	job := &snapshotJob{index: applied, term: term, confState: s.confState, started: time.Now()}
	if waiter != nil {
		job.waiters = append(job.waiters, waiter)
	}
	s.snapJob = job
	table := s.table.clone()
	s.snapWriters.Add(1)
	go func() {
		defer s.snapWriters.Done()
		job.err = saveMembership(s.cfg.DataDir, applied, table)
		if job.err == nil {
			if _, err := s.snaps.Save(store); err != nil {
				job.err = fmt.Errorf("snapshot at %d: %w", applied, err)
			}
		}
		select {
		case s.snapDone <- job:
		case <-s.done:
		}
	}()
	return nil
}

// finishSnapshot runs on the loop once the job's files are written: it records
// the snapshot in the wal, compacts the wal and prunes older files.
func (s *Server) finishSnapshot(job *snapshotJob) error {
	s.snapJob = nil
	answer := func(r snapshotResult) {
		for _, w := range job.waiters {
			w <- r
		}
	}
	if job.err != nil {
		// Nothing refers to the files yet: the next attempt overwrites them.
		s.log.Error("writing a snapshot failed", "index", job.index, "err", job.err)
		answer(snapshotResult{err: job.err})
		return nil
	}
	if job.index <= s.snapIndex {
		// A snapshot received from the leader overtook this one.
		answer(snapshotResult{index: s.snapIndex})
		return nil
	}
	meta := pb.SnapshotMetadata{Index: job.index, Term: job.term, ConfState: job.confState}
	if err := s.wal.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
		return fmt.Errorf("snapshot at %d: %w", job.index, err)
	}
	prev := s.snapIndex
	s.snapIndex = job.index
	if err := s.wal.Compact(job.index); err != nil {
		return fmt.Errorf("snapshot at %d: %w", job.index, err)
	}
	if _, err := s.snaps.Prune(keepSnapshots); err != nil {
		s.log.Warn("prune kv snapshots", "err", err)
	}
	if err := pruneMembership(s.cfg.DataDir, prev); err != nil {
		s.log.Warn("prune membership tables", "err", err)
	}
	since(s.metrics.snapshotSave, job.started)
	s.log.Info("snapshot written", "index", job.index, "term", job.term, "took", time.Since(job.started).Round(time.Millisecond))
	answer(snapshotResult{index: job.index})
	return nil
}

// snapshotData is the Data of a snapshot at index sent to a follower.
func (s *Server) snapshotData(index uint64) ([]byte, error) {
	table, err := os.ReadFile(membersPath(s.cfg.DataDir, index))
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", index, err)
	}
	kvData, err := os.ReadFile(s.snaps.SnapshotPath(index))
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", index, err)
	}
	return encodeSnapshotData(table, kvData), nil
}
