package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// maxBatch bounds the proposals or reads taken from their queue at once.
const maxBatch = 512

// loop is the event loop: the only goroutine that touches the member core.
// It turns channels, the ticker and the syncer into the core's events, and
// handles the Readys they make.
func (s *Server) loop(ctx context.Context) error {
	ticker := newTicker(s.cfg.TickInterval)
	defer ticker.Stop()
	s.start()
	for {
		if err := s.handleReady(); err != nil {
			return err
		}
		s.changes.notify()
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			s.tick()
			if !s.outcast {
				s.maybeProbeRemoval(ctx)
			}
		case m := <-s.recvc:
			s.step(m)
			s.drain()
		case p := <-s.propc:
			s.propose(takeBatch(p, s.propc))
			s.drain()
		case r := <-s.readc:
			s.readIndex(takeBatch(r, s.readc))
			s.drain()
		case f := <-s.actc:
			f()
		case r := <-s.syncedc:
			if r.err != nil {
				return fmt.Errorf("sync the log: %w", r.err)
			}
			s.onSynced(r.seq)
			s.drain()
		case job := <-s.snapDone:
			if err := s.finishSnapshot(job); err != nil {
				return err
			}
		case <-s.reportc:
			for _, r := range s.takeReports() {
				s.report(r)
			}
		}
	}
}

// takeBatch returns first and whatever else is queued on c, up to maxBatch.
func takeBatch[T any](first T, c <-chan T) []T {
	batch := []T{first}
	for len(batch) < maxBatch {
		select {
		case v := <-c:
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// maxDrain bounds the queued messages, proposals and reads drain takes in.
const maxDrain = 4096

// drain steps whatever else is already queued before the next Ready, so that
// one Ready (and one fsync) covers every message and proposal that arrived
// while the last one was being persisted: group commit across sources.
func (s *Server) drain() {
	for range maxDrain {
		select {
		case m := <-s.recvc:
			s.step(m)
		case p := <-s.propc:
			s.propose(takeBatch(p, s.propc))
		case r := <-s.readc:
			s.readIndex(takeBatch(r, s.readc))
		default:
			return
		}
	}
}

// send hands msgs to the transport, filling in snapshot data first
// (memberShell).
func (s *Server) send(msgs []pb.Message) {
	if len(msgs) == 0 {
		return
	}
	out := s.out.Load()
	if out == nil {
		for _, m := range msgs {
			s.rn.ReportUnreachable(m.To)
			if m.Type == pb.MsgSnap {
				s.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
			}
		}
		return
	}
	dropped := false
	for i := range msgs {
		m := &msgs[i]
		if m.Type != pb.MsgSnap || m.Snapshot == nil {
			continue
		}
		data, err := s.snapshotData(m.Snapshot.Metadata.Index)
		if err != nil {
			s.log.Warn("cannot send snapshot", "to", fmt.Sprintf("%x", m.To), "err", err)
			s.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
			m.To, dropped = 0, true // dropped below
			continue
		}
		snap := *m.Snapshot
		snap.Data = data
		m.Snapshot = &snap
	}
	if dropped {
		// Rare; the common path sends the core's slice as it is (the
		// transport copies each message as it queues it).
		msgs = slices.DeleteFunc(slices.Clone(msgs), func(m pb.Message) bool { return m.To == 0 })
	}
	out.Send(msgs)
}

// confApplied is what a membership request's waiter receives.
type confApplied struct {
	index uint64
	cs    pb.ConfState
}

// configChanged publishes the new table and configuration for RPC and
// transport goroutines and makes the transport's peers follow them
// (memberShell).
func (s *Server) configChanged() {
	s.publishView()
	s.syncPeers()
}

// persistRemoved records the removal in member.json, so a restart stays
// removed (memberShell).
func (s *Server) persistRemoved() error {
	return s.setIdentity(func(id *identity) { id.Removed = true })
}

// syncPeers makes the sending transport's peers follow the configuration and
// the table.
func (s *Server) syncPeers() {
	out := s.out.Load()
	if out == nil {
		return
	}
	want := map[uint64]string{}
	for id := range s.configIDs() {
		if m, ok := s.table.Members[id]; ok && id != s.id && m.PeerAddress != "" {
			want[id] = m.PeerAddress
		}
	}
	for id, addr := range want {
		if s.peers[id] != addr {
			out.UpdatePeer(id, addr)
		}
	}
	for id := range s.peers {
		if _, ok := want[id]; !ok {
			out.RemovePeer(id)
		}
	}
	s.peers = want
}
