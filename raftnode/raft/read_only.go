package raft

import (
	"encoding/binary"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

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
	// token is the heartbeat context that confirms this request: the request's
	// context plus a sequence number unique to this attempt.
	token string
	// acks are the voters that answered a heartbeat carrying token.
	acks map[uint64]bool
}

// readOnly queues safe read requests until a quorum confirms the leadership that
// their index was taken under.
//
// Each request is confirmed by heartbeats carrying a token made for it, not by
// the caller's context alone: a retried request (same context) must not be
// confirmed by late answers to the heartbeats of an earlier attempt, which may
// predate a leadership change and writes acknowledged since.
type readOnly struct {
	option ReadOnlyOption
	// pendingReadIndex maps a token to its request.
	// Invariant: the keys of pendingReadIndex are exactly readIndexQueue.
	pendingReadIndex map[string]*readIndexStatus
	// tokenOf maps a request context to the token of its pending attempt.
	tokenOf map[string]string
	// readIndexQueue holds tokens in arrival order, so indexes are non-decreasing
	// along it.
	readIndexQueue []string
	// seq numbers the attempts. It survives reset, so a token is never reused by
	// this member.
	seq uint64
}

func newReadOnly(option ReadOnlyOption) *readOnly {
	return &readOnly{
		option:           option,
		pendingReadIndex: make(map[string]*readIndexStatus),
		tokenOf:          make(map[string]string),
	}
}

// reset drops every pending request, keeping the sequence.
func (ro *readOnly) reset() *readOnly {
	fresh := newReadOnly(ro.option)
	fresh.seq = ro.seq
	return fresh
}

// addRequest queues a read at the given commit index and returns the token its
// confirming heartbeats must carry. A retried request (same context) replaces
// the pending one: the older attempt's index may predate writes acknowledged
// between the two.
func (ro *readOnly) addRequest(index uint64, m pb.Message) string {
	ctx := string(m.Context)
	if old, ok := ro.tokenOf[ctx]; ok {
		ro.remove(old)
	}
	ro.seq++
	token := string(binary.BigEndian.AppendUint64([]byte(ctx), ro.seq))
	ro.pendingReadIndex[token] = &readIndexStatus{index: index, req: m, token: token, acks: make(map[uint64]bool)}
	ro.tokenOf[ctx] = token
	ro.readIndexQueue = append(ro.readIndexQueue, token)
	return token
}

func (ro *readOnly) remove(token string) {
	rs := ro.pendingReadIndex[token]
	delete(ro.pendingReadIndex, token)
	if rs != nil && ro.tokenOf[string(rs.req.Context)] == token {
		delete(ro.tokenOf, string(rs.req.Context))
	}
	for i, t := range ro.readIndexQueue {
		if t == token {
			ro.readIndexQueue = append(ro.readIndexQueue[:i:i], ro.readIndexQueue[i+1:]...)
			return
		}
	}
}

// recvAck records that id answered the heartbeat carrying token and returns the
// acknowledgements of that attempt, or nil if it is not pending.
func (ro *readOnly) recvAck(id uint64, token []byte) map[uint64]bool {
	rs, ok := ro.pendingReadIndex[string(token)]
	if !ok {
		return nil
	}
	rs.acks[id] = true
	return rs.acks
}

// advance dequeues the attempt whose heartbeat m answered, with every request
// queued before it: a quorum confirming a later heartbeat confirms earlier ones.
func (ro *readOnly) advance(m pb.Message) []*readIndexStatus {
	token := string(m.Context)
	var rss []*readIndexStatus
	for i, t := range ro.readIndexQueue {
		rs, ok := ro.pendingReadIndex[t]
		if !ok {
			panic("cannot find corresponding read state from pending map")
		}
		rss = append(rss, rs)
		if t == token {
			ro.readIndexQueue = ro.readIndexQueue[i+1:]
			for _, rs := range rss {
				delete(ro.pendingReadIndex, rs.token)
				if ro.tokenOf[string(rs.req.Context)] == rs.token {
					delete(ro.tokenOf, string(rs.req.Context))
				}
			}
			return rss
		}
	}
	return nil
}

// lastPendingToken returns the token of the newest pending request, which
// heartbeats carry so that their answers confirm it and all before it.
func (ro *readOnly) lastPendingToken() []byte {
	if len(ro.readIndexQueue) == 0 {
		return nil
	}
	return []byte(ro.readIndexQueue[len(ro.readIndexQueue)-1])
}
