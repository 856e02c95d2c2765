package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
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

// A snapshot is written off the event loop, so that a large store does not hold
// up heartbeats and applies: on the loop, the core's startSnapshot clones the
// store (O(1), copy-on-write) and the table at the applied index; the shell's
// writeSnapshot writes the table and kv files on a goroutine; back on the loop,
// the core's finishSnapshot records the snapshot in the wal and compacts it,
// and the shell's snapshotRecorded prunes older files. One snapshot is written
// at a time.

// snapshotJob is a snapshot being written.
type snapshotJob struct {
	index, term uint64
	confState   pb.ConfState
	// started is set by the shell, which times the writing (the core reads
	// no clock).
	started time.Time
	// waiters are Snapshot RPCs waiting for the job's outcome.
	waiters []chan snapshotResult
	err     error // set by the writer
}

type snapshotResult struct {
	index uint64
	err   error
}

// snapshotStatus is the gRPC error of a snapshot that could not be taken: a
// member catching up after a restart is Unavailable for a while (another
// member, or a retry, serves), anything else is Internal.
func snapshotStatus(err error) error {
	if errors.Is(err, errCatchingUp) {
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
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

// saveReceivedSnapshot writes the table and kv files of a snapshot received
// from the leader (memberShell), decoded by checkReceivedSnapshot if it was
// the last one it saw.
func (s *Server) saveReceivedSnapshot(snap pb.Snapshot) (*restored, error) {
	idx := snap.Metadata.Index
	r, err := s.takeDecoded(snap)
	if err != nil {
		return nil, err
	}
	if err := saveMembership(s.cfg.DataDir, idx, r.table); err != nil {
		return nil, err
	}
	if _, err := s.snaps.Save(r.store); err != nil {
		return nil, fmt.Errorf("save received snapshot %d: %w", idx, err)
	}
	return r, nil
}

// writeSnapshot writes a snapshot's table and kv files off the loop
// (memberShell); the loop hands the job back to finishSnapshot.
func (s *Server) writeSnapshot(job *snapshotJob, store *kv.Store, table *membership) {
	job.started = time.Now()
	s.snapWriters.Go(func() {
		job.err = saveMembership(s.cfg.DataDir, job.index, table)
		if job.err == nil {
			if _, err := s.snaps.Save(store); err != nil {
				job.err = fmt.Errorf("snapshot at %d: %w", job.index, err)
			}
		}
		select {
		case s.snapDone <- job:
		case <-s.done:
		}
	})
}

// snapshotRecorded prunes the files older snapshots left (memberShell).
func (s *Server) snapshotRecorded(job *snapshotJob, prevIndex uint64) {
	if _, err := s.snaps.Prune(keepSnapshots); err != nil {
		s.log.Warn("prune kv snapshots", "err", err)
	}
	if err := pruneMembership(s.cfg.DataDir, prevIndex); err != nil {
		s.log.Warn("prune membership tables", "err", err)
	}
	since(s.metrics.snapshotSave, job.started)
	s.log.Info("snapshot written", "index", job.index, "term", job.term, "took", time.Since(job.started).Round(time.Millisecond))
}
