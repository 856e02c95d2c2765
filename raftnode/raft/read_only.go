package raft

import pb "github.com/raftkube/raftkube/raftnode/raftpb"

// ReadState answers a ReadIndex request: once the caller has applied up to Index,
// a read of its state machine reflects every write acknowledged before the request.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// readIndexStatus is one pending safe read request.
type readIndexStatus struct {
	req   pb.Message
	index uint64
	// acks are the voters that confirmed our leadership after the request arrived.
	acks map[uint64]bool
}

// readOnly queues safe read requests until a quorum confirms the leadership that
// their index was taken under.
type readOnly struct {
	option ReadOnlyOption
	// pendingReadIndex maps a request context to its status.
	// Invariant: the keys of pendingReadIndex are exactly readIndexQueue.
	pendingReadIndex map[string]*readIndexStatus
	// readIndexQueue is in arrival order, so indexes are non-decreasing along it.
	readIndexQueue []string
}

func newReadOnly(option ReadOnlyOption) *readOnly {
	return &readOnly{option: option, pendingReadIndex: make(map[string]*readIndexStatus)}
}

// addRequest queues a read at the given commit index. A retried request (same
// context) replaces the pending one rather than joining it: the older entry's
// index may predate writes acknowledged between the two, and its acks confirm
// leadership only up to a point before the retry arrived.
func (ro *readOnly) addRequest(index uint64, m pb.Message) {
	s := string(m.Context)
	if _, ok := ro.pendingReadIndex[s]; ok {
		ro.remove(s)
	}
	ro.pendingReadIndex[s] = &readIndexStatus{index: index, req: m, acks: make(map[uint64]bool)}
	ro.readIndexQueue = append(ro.readIndexQueue, s)
}

func (ro *readOnly) remove(ctx string) {
	delete(ro.pendingReadIndex, ctx)
	for i, c := range ro.readIndexQueue {
		if c == ctx {
			ro.readIndexQueue = append(ro.readIndexQueue[:i:i], ro.readIndexQueue[i+1:]...)
			return
		}
	}
}

// recvAck records that id confirmed the heartbeat carrying context and returns
// the acknowledgements of that request, or nil if it is not pending.
func (ro *readOnly) recvAck(id uint64, context []byte) map[uint64]bool {
	rs, ok := ro.pendingReadIndex[string(context)]
	if !ok {
		return nil
	}
	rs.acks[id] = true
	return rs.acks
}

// advance dequeues the request whose heartbeat m acknowledged, with every request
// queued before it: a quorum confirming a later heartbeat confirms earlier ones.
func (ro *readOnly) advance(m pb.Message) []*readIndexStatus {
	ctx := string(m.Context)
	var rss []*readIndexStatus
	for i, okctx := range ro.readIndexQueue {
		rs, ok := ro.pendingReadIndex[okctx]
		if !ok {
			panic("cannot find corresponding read state from pending map")
		}
		rss = append(rss, rs)
		if okctx == ctx {
			ro.readIndexQueue = ro.readIndexQueue[i+1:]
			for _, rs := range rss {
				delete(ro.pendingReadIndex, string(rs.req.Context))
			}
			return rss
		}
	}
	return nil
}

// lastPendingRequestCtx returns the context of the newest pending request.
func (ro *readOnly) lastPendingRequestCtx() []byte {
	if len(ro.readIndexQueue) == 0 {
		return nil
	}
	return []byte(ro.readIndexQueue[len(ro.readIndexQueue)-1])
}
