package server

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/raftkube/raftkube/raftnode/kv"
	pb "github.com/raftkube/raftkube/raftnode/raftpb"
)

func newTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// keepSnapshots is how many kv snapshots (and tables) are kept on disk.
const keepSnapshots = 2

// restored is a received snapshot, persisted and waiting to be applied.
type restored struct {
	store *kv.Store
	table *membership
}

// persistSnapshot makes a snapshot received from the leader durable: its table
// and kv files first, then its metadata in the wal.
func (s *Server) persistSnapshot(snap pb.Snapshot) error {
	idx := snap.Metadata.Index
	table, kvData, err := decodeSnapshotData(snap.Data)
	if err != nil {
		return fmt.Errorf("snapshot %d: %w", idx, err)
	}
	store, err := kv.Restore(bytes.NewReader(kvData), s.kvOpts...)
	if err != nil {
		return fmt.Errorf("restore snapshot %d: %w", idx, err)
	}
	if store.AppliedIndex() != idx {
		return fmt.Errorf("snapshot %d holds a store at applied index %d", idx, store.AppliedIndex())
	}
	if err := saveMembership(s.cfg.DataDir, idx, table); err != nil {
		return err
	}
	if _, err := s.snaps.Save(store); err != nil {
		return fmt.Errorf("save received snapshot %d: %w", idx, err)
	}
	if err := s.wal.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("persist snapshot %d: %w", idx, err)
	}
	s.pending = &restored{store: store, table: table}
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

// maybeSnapshot snapshots once SnapshotEntries entries were applied since the
// last snapshot.
func (s *Server) maybeSnapshot() error {
	if s.store.Load().AppliedIndex()-s.snapIndex < s.cfg.SnapshotEntries {
		return nil
	}
	_, err := s.snapshot()
	return err
}

// snapshot writes the table, the kv snapshot and the wal's snapshot metadata
// at the applied index, then compacts the wal and prunes old files. It returns
// the snapshot's index.
func (s *Server) snapshot() (uint64, error) {
	store := s.store.Load()
	applied := store.AppliedIndex()
	if applied <= s.snapIndex {
		return s.snapIndex, nil
	}
	defer since(s.metrics.snapshotSave, time.Now())
	term, err := s.wal.Term(applied)
	if err != nil {
		return 0, fmt.Errorf("snapshot at %d: term: %w", applied, err)
	}
	if err := saveMembership(s.cfg.DataDir, applied, s.table); err != nil {
		return 0, err
	}
	if _, err := s.snaps.Save(store); err != nil {
		return 0, fmt.Errorf("snapshot at %d: %w", applied, err)
	}
	meta := pb.SnapshotMetadata{Index: applied, Term: term, ConfState: s.confState}
	if err := s.wal.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
		return 0, fmt.Errorf("snapshot at %d: %w", applied, err)
	}
	prev := s.snapIndex
	s.snapIndex = applied
	if err := s.wal.Compact(applied); err != nil {
		return 0, fmt.Errorf("snapshot at %d: %w", applied, err)
	}
	if _, err := s.snaps.Prune(keepSnapshots); err != nil {
		s.log.Warn("prune kv snapshots", "err", err)
	}
	if err := pruneMembership(s.cfg.DataDir, prev); err != nil {
		s.log.Warn("prune membership tables", "err", err)
	}
	s.log.Info("snapshot written", "index", applied, "term", term)
	return applied, nil
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
