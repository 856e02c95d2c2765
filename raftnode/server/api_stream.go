package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// maxStreamPending bounds the requests one KV.Stream may have waiting: past
// it a request is refused at once (ResourceExhausted) instead of queueing
// without bound in the member's memory.
const maxStreamPending = 8192

// Stream serves KV.Stream (see streamSession).
func (k *kvService) Stream(stream serverpb.KV_StreamServer) error {
	return k.s.serveStream(stream)
}

// streamSession serves one KV.Stream. A reader goroutine takes the requests
// and starts each one (proposes a write, queues a read) without waiting for
// it; the event loop hands each result to the session through a sink, which
// queues the answer and wakes the sender, the stream handler's goroutine,
// which encodes and sends every answer queued. So a request costs neither a
// goroutine nor an HTTP/2 stream of its own, and answers ready together
// leave together.
//
// A request is answered exactly once: the pending map decides between its
// result, its deadline (RequestTimeout after it arrived) and the member's
// shutdown, whichever takes it out first.
type streamSession struct {
	s      *Server
	stream serverpb.KV_StreamServer
	// wake has room for one signal: answers are queued.
	wake chan struct{}

	mu      sync.Mutex
	pending map[uint64]pendingRequest // by the request's id on the stream
	answers []streamAnswer
}

// pendingRequest is a request started and not yet answered.
type pendingRequest struct {
	req      *serverpb.StreamRequest
	deadline time.Time
	// reqID is a write's waiter (see waiters); 0 for a read.
	reqID uint64
}

// streamAnswer is an answer queued for sending: the request and its
// outcome, for a write what its waiter received, for a read nil (it may be
// served now) or the error that ended it.
type streamAnswer struct {
	req     *serverpb.StreamRequest
	outcome any
}

// streamWrite and streamRead are the sinks of a stream's writes and reads.
type streamWrite struct {
	sess *streamSession
	id   uint64
}

func (w streamWrite) deliver(v any) { w.sess.finish(w.id, v) }

type streamRead struct {
	sess *streamSession
	id   uint64
}

func (r streamRead) readDone(err error) { r.sess.finish(r.id, err) }

func (s *Server) serveStream(stream serverpb.KV_StreamServer) error {
	// Headers at once: a client learns the method exists before it sends a
	// request it would otherwise have to classify after an Unimplemented.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	sess := &streamSession{s: s, stream: stream, wake: make(chan struct{}, 1), pending: map[uint64]pendingRequest{}}
	received := make(chan error, 1)
	// The reader may still be blocked in Recv when the handler returns (the
	// member shutting down): gRPC ends the stream then and Recv returns.
	// Run waits for it after the client server stopped.
	s.streamReaders.Go(func() { received <- sess.receive() })
	return sess.send(received)
}

// receive starts every request that arrives, until the stream ends.
func (ss *streamSession) receive() error {
	ctx := ss.stream.Context()
	for {
		req, err := ss.stream.Recv()
		if err != nil {
			return err
		}
		ss.start(ctx, req)
	}
}

// start begins req: refused or answered at once when it can be, else
// pending until the event loop hands back its outcome.
func (ss *streamSession) start(ctx context.Context, req *serverpb.StreamRequest) {
	method, inner := streamMethod(req)
	if method == "" {
		ss.queue(req, status.Errorf(codes.InvalidArgument, "stream request %d carries no request", req.GetId()))
		return
	}
	if err := ss.s.refusal(method, inner); err != nil {
		ss.queue(req, err)
		return
	}
	switch r := req.GetRequest().(type) {
	case *serverpb.StreamRequest_Get:
		ss.startRead(ctx, req, validateGet(r.Get), r.Get.GetConsistency())
	case *serverpb.StreamRequest_Range:
		ss.startRead(ctx, req, validateRange(r.Range), r.Range.GetConsistency())
	default:
		ss.startWrite(ctx, req, streamCommand(req))
	}
}

// startWrite proposes cmd; its waiter answers it.
func (ss *streamSession) startWrite(ctx context.Context, req *serverpb.StreamRequest, cmd *kvpb.Command) {
	p, err := ss.s.prepareWrite(cmd, streamWrite{sess: ss, id: req.GetId()})
	if err != nil {
		ss.queue(req, err)
		return
	}
	if err := ss.add(req, p.reqID); err != nil {
		ss.s.w.cancel(p.reqID)
		ss.queue(req, err)
		return
	}
	if err := ss.s.sendProposal(ctx, p); err != nil {
		ss.s.w.cancel(p.reqID)
		ss.finish(req.GetId(), err)
	}
}

// startRead answers a serializable read at once and queues a linearizable
// one for the next ReadIndex round.
func (ss *streamSession) startRead(ctx context.Context, req *serverpb.StreamRequest, invalid error, c serverpb.Consistency) {
	switch {
	case invalid != nil:
		ss.queue(req, invalid)
		return
	case c == serverpb.Consistency_CONSISTENCY_SERIALIZABLE:
		ss.queue(req, nil)
		return
	}
	if err := ss.add(req, 0); err != nil {
		ss.queue(req, err)
		return
	}
	if err := ss.s.queueRead(ctx, streamRead{sess: ss, id: req.GetId()}); err != nil {
		ss.finish(req.GetId(), err)
	}
}

// add makes req pending.
func (ss *streamSession) add(req *serverpb.StreamRequest, reqID uint64) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, dup := ss.pending[req.GetId()]; dup {
		return status.Errorf(codes.InvalidArgument, "stream request id %d is already waiting for its answer", req.GetId())
	}
	if len(ss.pending) >= maxStreamPending {
		return status.Errorf(codes.ResourceExhausted, "%d requests are waiting on this stream already; wait for answers first", maxStreamPending)
	}
	ss.pending[req.GetId()] = pendingRequest{req: req, deadline: time.Now().Add(ss.s.cfg.RequestTimeout), reqID: reqID}
	return nil
}

// finish answers the pending request id with outcome, unless it was
// answered already (its deadline passed, the member is shutting down).
func (ss *streamSession) finish(id uint64, outcome any) {
	ss.mu.Lock()
	p, ok := ss.pending[id]
	if ok {
		delete(ss.pending, id)
		ss.answers = append(ss.answers, streamAnswer{req: p.req, outcome: outcome})
	}
	ss.mu.Unlock()
	if ok {
		ss.signal()
	}
}

// queue answers req, which was never pending, with outcome.
func (ss *streamSession) queue(req *serverpb.StreamRequest, outcome any) {
	ss.mu.Lock()
	ss.answers = append(ss.answers, streamAnswer{req: req, outcome: outcome})
	ss.mu.Unlock()
	ss.signal()
}

func (ss *streamSession) signal() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// send sends the answers as they come, until the client ended its side and
// every request is answered, the stream broke, or the member shuts down.
func (ss *streamSession) send(received <-chan error) error {
	ticker := time.NewTicker(sweepInterval(ss.s.cfg.RequestTimeout))
	defer ticker.Stop()
	receiving := true
	for {
		select {
		case <-ss.wake:
		case err := <-received:
			if !errors.Is(err, io.EOF) {
				ss.abandon()
				return err
			}
			receiving, received = false, nil
		case now := <-ticker.C:
			ss.expire(now)
		case <-ss.s.done:
			ss.failAll()
			if err := ss.flush(); err != nil {
				return err
			}
			return errStopped
		}
		if err := ss.flush(); err != nil {
			ss.abandon()
			return err
		}
		if !receiving && ss.idle() {
			return nil
		}
	}
}

// sweepInterval is how often a stream looks for requests past their
// deadline: a tenth of it late at most.
func sweepInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 10*time.Millisecond), time.Second)
}

// flush sends every queued answer.
func (ss *streamSession) flush() error {
	ss.mu.Lock()
	answers := ss.answers
	ss.answers = nil
	ss.mu.Unlock()
	for _, a := range answers {
		if err := ss.stream.Send(ss.s.streamResponse(a)); err != nil {
			return err
		}
	}
	return nil
}

func (ss *streamSession) idle() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.pending) == 0 && len(ss.answers) == 0
}

// expire answers the requests whose deadline passed: the write was proposed
// and its outcome is unknown, the read found no read point in time.
func (ss *streamSession) expire(now time.Time) {
	ss.endPending(func(p pendingRequest) bool { return !now.Before(p.deadline) },
		status.Errorf(codes.DeadlineExceeded, "no read index in time (%v)", ss.s.cfg.RequestTimeout),
		writeTimedOut(context.DeadlineExceeded))
}

// failAll answers every pending request: the member is shutting down.
func (ss *streamSession) failAll() {
	ss.endPending(nil, errStopped, errStoppedWriting)
}

// abandon forgets every pending request: the stream broke, so no answer
// can reach the client any more.
func (ss *streamSession) abandon() {
	ss.endPending(nil, nil, nil)
	ss.mu.Lock()
	ss.answers = nil
	ss.mu.Unlock()
}

// endPending takes the pending requests that match (all, for nil) out,
// forgetting their writes' waiters, and answers them with readErr or
// writeErr; nil errors answer nothing.
func (ss *streamSession) endPending(match func(pendingRequest) bool, readErr, writeErr error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, p := range ss.pending {
		if match != nil && !match(p) {
			continue
		}
		delete(ss.pending, id)
		err := readErr
		if p.reqID != 0 {
			ss.s.w.cancel(p.reqID)
			err = writeErr
		}
		if err != nil {
			ss.answers = append(ss.answers, streamAnswer{req: p.req, outcome: err})
		}
	}
}

// streamMethod is the unary method req stands for and its request, for the
// checks every call goes through; "" when it carries none.
func streamMethod(req *serverpb.StreamRequest) (string, any) {
	switch r := req.GetRequest().(type) {
	case *serverpb.StreamRequest_Put:
		return serverpb.KV_Put_FullMethodName, r.Put
	case *serverpb.StreamRequest_Get:
		return serverpb.KV_Get_FullMethodName, r.Get
	case *serverpb.StreamRequest_Delete:
		return serverpb.KV_Delete_FullMethodName, r.Delete
	case *serverpb.StreamRequest_Range:
		return serverpb.KV_Range_FullMethodName, r.Range
	case *serverpb.StreamRequest_CompareAndSwap:
		return serverpb.KV_CompareAndSwap_FullMethodName, r.CompareAndSwap
	}
	return "", nil
}

// streamCommand is the command of a write request.
func streamCommand(req *serverpb.StreamRequest) *kvpb.Command {
	switch r := req.GetRequest().(type) {
	case *serverpb.StreamRequest_Put:
		return &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: r.Put.GetKey(), Value: r.Put.GetValue()}}}
	case *serverpb.StreamRequest_Delete:
		return &kvpb.Command{Op: &kvpb.Command_Delete{Delete: r.Delete.GetDelete()}}
	case *serverpb.StreamRequest_CompareAndSwap:
		return &kvpb.Command{Op: &kvpb.Command_Cas{Cas: r.CompareAndSwap.GetCas()}}
	}
	panic(fmt.Sprintf("streamCommand: %T is not a write", req.GetRequest()))
}

// streamResponse encodes an answer: the response its own call would have
// returned, or the status it would have failed with.
func (s *Server) streamResponse(a streamAnswer) *serverpb.StreamResponse {
	resp := &serverpb.StreamResponse{Id: a.req.GetId()}
	if err, ok := a.outcome.(error); ok {
		resp.Status = serverpb.NewRequestStatus(err)
		return resp
	}
	var err error
	switch r := a.req.GetRequest().(type) {
	case *serverpb.StreamRequest_Get:
		resp.Response = &serverpb.StreamResponse_Get{Get: s.get(r.Get)}
	case *serverpb.StreamRequest_Range:
		var rr *serverpb.RangeResponse
		if rr, err = s.rangeKeys(r.Range); err == nil {
			resp.Response = &serverpb.StreamResponse_Range{Range: rr}
		}
	default:
		var res *kvpb.Result
		if res, err = writeOutcome(a.outcome); err == nil {
			s.setWriteResponse(resp, a.req, res)
		}
	}
	if err != nil {
		resp.Status = serverpb.NewRequestStatus(err)
	}
	return resp
}

// setWriteResponse sets a write's applied result as resp's response of the
// write's kind.
func (s *Server) setWriteResponse(resp *serverpb.StreamResponse, req *serverpb.StreamRequest, res *kvpb.Result) {
	switch req.GetRequest().(type) {
	case *serverpb.StreamRequest_Delete:
		resp.Response = &serverpb.StreamResponse_Delete{Delete: &serverpb.DeleteResponse{Header: s.header(), Result: res}}
	case *serverpb.StreamRequest_CompareAndSwap:
		resp.Response = &serverpb.StreamResponse_CompareAndSwap{CompareAndSwap: &serverpb.CompareAndSwapResponse{Header: s.header(), Result: res}}
	default:
		resp.Response = &serverpb.StreamResponse_Put{Put: &serverpb.PutResponse{Header: s.header(), Result: res}}
	}
}
