package server

import (
	"bytes"
	"encoding/binary"

	"github.com/raftkube/raftkube/raftnode/raft"
)

// readSink is told, on the event loop, that a linearizable read may now be
// served (nil) or cannot be (an error). It must not block.
type readSink interface{ readDone(err error) }

// readChan is the sink of a read whose handler waits for the answer; it has
// room for the one answer.
type readChan chan error

func (c readChan) readDone(err error) { c <- err }

// readTracker follows linearizable reads through ReadIndex rounds: queued
// until a round can start, then in the one round in flight, then waiting for
// the round's read index to be applied. One round at a time: reads that
// arrive meanwhile share the next, so a read load costs a heartbeat round
// per round trip, not per request (etcd's linearizable read loop does the
// same). It holds no channel, clock or core: the event loop feeds it and
// acts on what it returns, so it is tested step by step. T is what the loop
// answers a read through.
type readTracker[T any] struct {
	// electionTicks is how long a round may go unanswered before it is
	// sent again (a leader change loses it).
	electionTicks int
	seq           uint64
	queued        []T
	round         *readRound[T]
	awaiting      []readAtIndex[T]
}

// readRound is the ReadIndex request in flight and the reads it serves.
type readRound[T any] struct {
	ctx   []byte
	reads []T
	ticks int
}

// readAtIndex are reads that may be answered once index is applied.
type readAtIndex[T any] struct {
	index uint64
	reads []T
}

// newReadTracker numbers its rounds from start on. start must differ from
// one process of the member to the next: an answer to a round of the process
// before (in flight through a restart) must not match a round of this one,
// or a read would be served at that older read index.
func newReadTracker[T any](electionTicks int, start uint64) *readTracker[T] {
	return &readTracker[T]{electionTicks: max(electionTicks, 1), seq: start}
}

// add queues a read for the next round.
func (q *readTracker[T]) add(r T) { q.queued = append(q.queued, r) }

// startRound takes every queued read into a new round and returns the
// round's request context, to pass to ReadIndex; ok is false when no read
// is queued or a round is in flight. Without a leader no round can be
// answered: the queued reads come back as refused instead. hasLeader is
// asked only when a round could start, so the idle path stays cheap.
func (q *readTracker[T]) startRound(hasLeader func() bool) (ctx []byte, refused []T, ok bool) {
	if q.round != nil || len(q.queued) == 0 {
		return nil, nil, false
	}
	reads := q.queued
	q.queued = nil
	if !hasLeader() {
		return nil, reads, false
	}
	q.seq++
	q.round = &readRound[T]{ctx: binary.BigEndian.AppendUint64(nil, q.seq), reads: reads}
	return q.round.ctx, nil, true
}

// tick counts a tick of the round in flight and returns its context when it
// has gone unanswered for an election timeout: ReadIndex again, with the
// same context, replaces the lost request; nil when nothing is to be re-sent.
func (q *readTracker[T]) tick() []byte {
	if q.round == nil {
		return nil
	}
	if q.round.ticks++; q.round.ticks%q.electionTicks != 0 {
		return nil
	}
	return q.round.ctx
}

// readStates takes the core's answers: the round answered now waits for its
// read index to be applied. Answers for other contexts (a round answered
// twice after a retry) are ignored.
func (q *readTracker[T]) readStates(rss []raft.ReadState) {
	for _, rs := range rss {
		if q.round == nil || !bytes.Equal(rs.RequestCtx, q.round.ctx) {
			continue
		}
		q.awaiting = append(q.awaiting, readAtIndex[T]{index: rs.Index, reads: q.round.reads})
		q.round = nil
	}
}

// applied releases the reads whose read index is at or below index, the
// state machine's applied index.
func (q *readTracker[T]) applied(index uint64) []T {
	var ready []T
	kept := q.awaiting[:0]
	for _, r := range q.awaiting {
		if r.index > index {
			kept = append(kept, r)
			continue
		}
		ready = append(ready, r.reads...)
	}
	q.awaiting = kept
	return ready
}
