package raft

import (
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func readReq(ctx string) pb.Message {
	return pb.Message{Type: pb.MsgReadIndex, Context: []byte(ctx)}
}

// checkReadOnlyInvariant fails unless the pending map's keys are exactly the queue.
func checkReadOnlyInvariant(t *testing.T, ro *readOnly) {
	t.Helper()
	if len(ro.pendingReadIndex) != len(ro.readIndexQueue) {
		t.Fatalf("pending %d requests, queue %v", len(ro.pendingReadIndex), ro.readIndexQueue)
	}
	for _, ctx := range ro.readIndexQueue {
		if _, ok := ro.pendingReadIndex[ctx]; !ok {
			t.Fatalf("queued %q is not pending", ctx)
		}
	}
}

// advancedCtxs returns the contexts and indexes advance released, in order.
func advancedCtxs(rss []*readIndexStatus) (ctxs []string, idxs []uint64) {
	for _, rs := range rss {
		ctxs = append(ctxs, string(rs.req.Context))
		idxs = append(idxs, rs.index)
	}
	return ctxs, idxs
}

func TestReadOnlyQueueOrderAndAdvance(t *testing.T) {
	ro := newReadOnly(ReadOnlySafe)
	if ro.lastPendingToken() != nil {
		t.Fatalf("empty queue has a last pending token")
	}
	a := ro.addRequest(10, readReq("a"))
	b := ro.addRequest(11, readReq("b"))
	c := ro.addRequest(12, readReq("c"))
	checkReadOnlyInvariant(t, ro)
	if a == "a" || a == b || b == c {
		t.Fatalf("tokens %q %q %q must be distinct and differ from the contexts", a, b, c)
	}
	if got := string(ro.lastPendingToken()); got != c {
		t.Fatalf("last pending = %q, want c's token %q", got, c)
	}

	acks := ro.recvAck(2, []byte(b))
	if len(acks) != 1 || !acks[2] {
		t.Fatalf("acks of b = %v, want {2}", acks)
	}
	// The bare context is not a token: it confirms nothing.
	if got := ro.recvAck(2, []byte("b")); got != nil {
		t.Fatalf("ack of a bare context = %v, want nil", got)
	}

	// An unknown token releases nothing.
	if got := ro.advance(pb.Message{Context: []byte("unknown")}); got != nil {
		t.Fatalf("advance(unknown) = %v", got)
	}
	checkReadOnlyInvariant(t, ro)
	if len(ro.readIndexQueue) != 3 {
		t.Fatalf("advance(unknown) changed the queue to %v", ro.readIndexQueue)
	}

	// Confirming b confirms a, queued before it, too; c stays.
	ctxs, idxs := advancedCtxs(ro.advance(pb.Message{Context: []byte(b)}))
	if !slices.Equal(ctxs, []string{"a", "b"}) || !slices.Equal(idxs, []uint64{10, 11}) {
		t.Fatalf("advance(b) released %v at %v, want [a b] at [10 11]", ctxs, idxs)
	}
	checkReadOnlyInvariant(t, ro)
	if !slices.Equal(ro.readIndexQueue, []string{c}) {
		t.Fatalf("queue after advance(b) = %v, want [c]", ro.readIndexQueue)
	}
	// Released requests no longer collect acks.
	if got := ro.recvAck(3, []byte(a)); got != nil {
		t.Fatalf("released request a still collects acks: %v", got)
	}

	ctxs, _ = advancedCtxs(ro.advance(pb.Message{Context: []byte(c)}))
	if !slices.Equal(ctxs, []string{"c"}) || len(ro.readIndexQueue) != 0 || ro.lastPendingToken() != nil {
		t.Fatalf("advance(c) released %v, queue left %v", ctxs, ro.readIndexQueue)
	}
	checkReadOnlyInvariant(t, ro)
}

// A retry with the same context replaces the pending request: it moves to the
// back of the queue with the new index, a new token and none of the old
// acknowledgements; late answers to the old token confirm nothing.
func TestReadOnlyRetriedContextReplaces(t *testing.T) {
	ro := newReadOnly(ReadOnlySafe)
	oldA := ro.addRequest(10, readReq("a"))
	b := ro.addRequest(10, readReq("b"))
	ro.recvAck(2, []byte(oldA))

	a := ro.addRequest(12, readReq("a"))
	checkReadOnlyInvariant(t, ro)
	if a == oldA {
		t.Fatalf("retry reused token %q", a)
	}
	if !slices.Equal(ro.readIndexQueue, []string{b, a}) {
		t.Fatalf("queue = %v, want [b a]", ro.readIndexQueue)
	}
	rs := ro.pendingReadIndex[a]
	if rs.index != 12 || len(rs.acks) != 0 {
		t.Fatalf("retried a: index %d acks %v, want index 12 and no acks", rs.index, rs.acks)
	}
	if got := ro.recvAck(3, []byte(oldA)); got != nil {
		t.Fatalf("a late answer to the first attempt collected acks: %v", got)
	}
	// Confirming b no longer releases a.
	ctxs, _ := advancedCtxs(ro.advance(pb.Message{Context: []byte(b)}))
	if !slices.Equal(ctxs, []string{"b"}) {
		t.Fatalf("advance(b) released %v, want [b]", ctxs)
	}
	ctxs, idxs := advancedCtxs(ro.advance(pb.Message{Context: []byte(a)}))
	if !slices.Equal(ctxs, []string{"a"}) || idxs[0] != 12 {
		t.Fatalf("advance(a) released %v at %v, want [a] at [12]", ctxs, idxs)
	}
	checkReadOnlyInvariant(t, ro)
	if len(ro.tokenOf) != 0 {
		t.Fatalf("tokenOf not emptied: %v", ro.tokenOf)
	}
}

// The sequence survives a reset, so a member never reuses a token.
func TestReadOnlyTokensNeverReused(t *testing.T) {
	ro := newReadOnly(ReadOnlySafe)
	first := ro.addRequest(1, readReq("x"))
	ro = ro.reset()
	if second := ro.addRequest(1, readReq("x")); second == first {
		t.Fatalf("token %q reused after reset", second)
	}
}
