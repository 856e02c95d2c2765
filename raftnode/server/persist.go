package server

import (
	"context"
	"slices"
	"time"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raftpb"
)

// syncWait is the event loop's side of pipelined persistence (see
// handleReady): writes not yet reported durable, and the messages held until
// they are.
type syncWait struct {
	// needSeq is the newest write that must be durable before later messages
	// go out; synced is the newest write known durable.
	needSeq, synced uint64
	// writes are writes whose durability the core has not been told of yet.
	writes []pendingWrite
	// held are messages waiting for a write to be durable, in order.
	held []heldMessages
}

// pendingWrite is one Ready's write: the last entry written and the term of
// the hard state written (0 when none was).
type pendingWrite struct {
	seq, index, term, hardStateTerm uint64
}

type heldMessages struct {
	seq  uint64
	msgs []pb.Message
}

// syncResult is a sync's outcome, from the syncer to the loop.
type syncResult struct {
	seq uint64
	err error
}

// recordWrite notes a Ready's write for onSynced.
func (s *Server) recordWrite(seq uint64, needSync bool, rd raft.Ready) {
	if !needSync {
		return
	}
	s.sw.needSeq = seq
	w := pendingWrite{seq: seq, hardStateTerm: rd.HardState.Term}
	if n := len(rd.Entries); n > 0 {
		w.index, w.term = rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	s.sw.writes = append(s.sw.writes, w)
}

// holdOrSend sends msgs now if every write they follow is durable, and holds
// them otherwise. Held messages are copied: the core reuses its slices.
func (s *Server) holdOrSend(msgs []pb.Message) {
	if len(msgs) == 0 {
		return
	}
	if s.sw.needSeq <= s.sw.synced && len(s.sw.held) == 0 {
		s.send(msgs)
		return
	}
	s.sw.held = append(s.sw.held, heldMessages{seq: s.sw.needSeq, msgs: slices.Clone(msgs)})
}

// onSynced runs on the loop when the writes up to seq are durable: it tells
// the core, and sends the messages that waited for them.
func (s *Server) onSynced(seq uint64) {
	if seq <= s.sw.synced {
		return
	}
	s.sw.synced = seq
	var index, term, hsTerm uint64
	n := 0
	for ; n < len(s.sw.writes) && s.sw.writes[n].seq <= seq; n++ {
		w := s.sw.writes[n]
		if w.index > 0 {
			index, term = w.index, w.term
		}
		hsTerm = max(hsTerm, w.hardStateTerm)
	}
	if n > 0 {
		s.sw.writes = slices.Delete(s.sw.writes, 0, n)
		s.rn.Persisted(index, term, hsTerm)
	}
	n = 0
	for ; n < len(s.sw.held) && s.sw.held[n].seq <= seq; n++ {
		s.send(s.sw.held[n].msgs)
	}
	if n > 0 {
		clear(s.sw.held[:n])
		s.sw.held = slices.Delete(s.sw.held, 0, n)
	}
}

// requestSync wakes the syncer; requests made while it syncs coalesce into
// its next round.
func (s *Server) requestSync() {
	select {
	case s.syncReq <- struct{}{}:
	default:
	}
}

// syncer fsyncs the log whenever asked, until ctx is done, and reports each
// sync to the loop. One fsync covers every write made before it started: the
// longer a sync takes, the more the next one covers (group commit).
func (s *Server) syncer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.syncReq:
		}
		start := time.Now()
		seq, err := s.wal.Sync()
		since(s.metrics.walSync, start)
		select {
		case s.syncedc <- syncResult{seq: seq, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}
