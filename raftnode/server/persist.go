package server

import (
	"context"
	"slices"
	"time"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// syncWait is the event loop's side of pipelined persistence (see
// handleReady): writes not yet reported durable, and the messages held until
// they are. It holds no channel, file or core: the loop feeds it and acts on
// what it returns, so reordered or late sync reports are tested step by step.
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

// persistedUpTo is what the core is told is durable: the last entry written
// (index 0: no entries) and the newest hard state term written.
type persistedUpTo struct {
	index, term, hardStateTerm uint64
}

// recordWrite notes a Ready's write, made as sequence number seq, for
// onSynced; a write that needs no sync changes nothing.
func (sw *syncWait) recordWrite(seq uint64, needSync bool, rd raft.Ready) {
	if !needSync {
		return
	}
	sw.needSeq = seq
	w := pendingWrite{seq: seq, hardStateTerm: rd.HardState.Term}
	if n := len(rd.Entries); n > 0 {
		w.index, w.term = rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	sw.writes = append(sw.writes, w)
}

// holdOrSend returns msgs to send now if every write they follow is durable
// and no earlier message waits; otherwise it holds a copy (the core reuses
// its slices) and returns nil.
func (sw *syncWait) holdOrSend(msgs []pb.Message) []pb.Message {
	if len(msgs) == 0 {
		return nil
	}
	if sw.needSeq <= sw.synced && len(sw.held) == 0 {
		return msgs
	}
	sw.held = append(sw.held, heldMessages{seq: sw.needSeq, msgs: slices.Clone(msgs)})
	return nil
}

// onSynced takes the report that the writes up to seq are durable (one
// fsync covers every write before it): what to tell the core (nil when
// nothing new), and the held messages that may go now, in order. A report
// older than one already taken changes nothing.
func (sw *syncWait) onSynced(seq uint64) (*persistedUpTo, [][]pb.Message) {
	if seq <= sw.synced {
		return nil, nil
	}
	sw.synced = seq
	var p *persistedUpTo
	n := 0
	for ; n < len(sw.writes) && sw.writes[n].seq <= seq; n++ {
		if p == nil {
			p = &persistedUpTo{}
		}
		w := sw.writes[n]
		if w.index > 0 {
			p.index, p.term = w.index, w.term
		}
		p.hardStateTerm = max(p.hardStateTerm, w.hardStateTerm)
	}
	sw.writes = slices.Delete(sw.writes, 0, n)
	var send [][]pb.Message
	n = 0
	for ; n < len(sw.held) && sw.held[n].seq <= seq; n++ {
		send = append(send, sw.held[n].msgs)
	}
	if n > 0 {
		clear(sw.held[:n])
		sw.held = slices.Delete(sw.held, 0, n)
	}
	return p, send
}

// requestSync wakes the syncer (memberShell); requests made while it syncs
// coalesce into its next round.
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
