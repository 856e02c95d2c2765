package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// KV requests travel on one KV.Stream per connection: a request is one
// message each way on a stream that stays open, instead of an HTTP/2 stream
// of its own with headers and trailers, which halves what a request costs the
// client and the member. A member without KV.Stream (an older version) gets
// unary calls, and is asked again after unaryFor.
const unaryFor = time.Minute

// streams holds each connection's KV.Stream.
type streams struct {
	dialTimeout time.Duration

	mu     sync.Mutex
	byConn map[*grpc.ClientConn]*streamSlot
	closed bool
	// readers are the streams' receiving goroutines; Close waits for them.
	readers sync.WaitGroup
}

// streamSlot is one connection's stream; mu is held while it is opened, so
// the requests that find none wait for the one being opened.
type streamSlot struct {
	mu         sync.Mutex
	st         *kvStream
	unaryUntil time.Time
}

func newStreams(dialTimeout time.Duration) *streams {
	return &streams{dialTimeout: dialTimeout, byConn: map[*grpc.ClientConn]*streamSlot{}}
}

// get returns cc's open stream, opening one when there is none; nil (and no
// error) when the member has no KV.Stream. An error means nothing was sent.
func (p *streams) get(ctx context.Context, cc *grpc.ClientConn) (*kvStream, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	slot := p.byConn[cc]
	if slot == nil {
		slot = &streamSlot{}
		p.byConn[cc] = slot
	}
	p.mu.Unlock()

	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.st != nil && slot.st.usable() {
		return slot.st, nil
	}
	if time.Now().Before(slot.unaryUntil) {
		return nil, nil
	}
	st, err := p.open(ctx, cc)
	if status.Code(err) == codes.Unimplemented {
		slot.unaryUntil = time.Now().Add(unaryFor)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slot.st = st
	return st, nil
}

// open opens a stream on cc and waits for the member's headers, which it
// sends at once, for at most dialTimeout or until ctx ends.
func (p *streams) open(ctx context.Context, cc *grpc.ClientConn) (*kvStream, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stopOnCtx := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(p.dialTimeout, cancel)
	stream, err := serverpb.NewKVClient(cc).Stream(sctx)
	if err == nil {
		var md metadata.MD
		// No headers and no error: the call ended at once (an Unimplemented
		// from a member without the method), and Recv says how.
		if md, err = stream.Header(); err == nil && md == nil {
			if _, err = stream.Recv(); err == nil {
				err = errors.New("member answered before any request")
			}
		}
	}
	timedOut := !timer.Stop()
	if !stopOnCtx() {
		cancel()
		return nil, fmt.Errorf("open request stream: %w", ctx.Err())
	}
	if err == nil && timedOut {
		err = fmt.Errorf("no answer within %v", p.dialTimeout)
	}
	if err != nil {
		cancel()
		if refused(status.Code(err)) {
			return nil, err // the member's answer (Unimplemented, Unauthenticated, ...), as is
		}
		return nil, fmt.Errorf("open request stream: %w", err)
	}
	st := &kvStream{stream: stream, cancel: cancel, waiting: map[uint64]chan streamResult{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cancel()
		return nil, ErrClosed
	}
	p.readers.Go(st.receive)
	return st, nil
}

// close ends every stream and waits for their readers.
func (p *streams) close() {
	p.mu.Lock()
	p.closed = true
	slots := p.byConn
	p.byConn = nil
	p.mu.Unlock()
	for _, slot := range slots {
		slot.mu.Lock()
		if slot.st != nil {
			slot.st.cancel()
		}
		slot.mu.Unlock()
	}
	p.readers.Wait()
}

// kvStream is one open KV.Stream: callers send on it in turn, and its reader
// hands each answer to the caller waiting for its id.
type kvStream struct {
	stream serverpb.KV_StreamClient
	cancel context.CancelFunc
	sendMu sync.Mutex

	mu      sync.Mutex
	nextID  uint64
	waiting map[uint64]chan streamResult
	// broken is why the stream ended; once set, requests go on a new one.
	broken error
}

// streamResult is what came of one request: the member's answer, or the
// stream's end before it came.
type streamResult struct {
	resp *serverpb.StreamResponse
	err  error
}

func (s *kvStream) usable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken == nil
}

// receive hands out answers until the stream ends, then fails every request
// still waiting with the reason.
func (s *kvStream) receive() {
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			s.mu.Lock()
			s.broken = err
			waiting := s.waiting
			s.waiting = nil
			s.mu.Unlock()
			for _, ch := range waiting {
				ch <- streamResult{err: err}
			}
			s.cancel()
			return
		}
		s.mu.Lock()
		ch := s.waiting[resp.GetId()]
		delete(s.waiting, resp.GetId())
		s.mu.Unlock()
		if ch != nil {
			ch <- streamResult{resp: resp}
		}
	}
}

// call sends req and waits for its answer; w learns whether it was sent and
// answered. A request the member failed comes back as the status its own
// call would have returned.
func (s *kvStream) call(ctx context.Context, req *serverpb.StreamRequest, w *wire) (*serverpb.StreamResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err() // not sent, as a call would not be
	}
	ch := make(chan streamResult, 1)
	s.mu.Lock()
	if s.broken != nil {
		err := s.broken
		s.mu.Unlock()
		return nil, fmt.Errorf("request stream ended: %w", err)
	}
	s.nextID++
	id := s.nextID
	s.waiting[id] = ch
	s.mu.Unlock()

	req.Id = id
	s.sendMu.Lock()
	err := s.stream.Send(req)
	s.sendMu.Unlock()
	if err != nil {
		// gRPC hands a message to the connection or fails the Send; it
		// failed, so the member never saw it. Why the stream ended, the
		// reader learns from Recv.
		s.forget(id)
		return nil, fmt.Errorf("request stream ended before the request was sent: %w", err)
	}
	w.wrote.Store(true)
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		w.answered.Store(true)
		if err := r.resp.GetStatus().Err(); err != nil {
			return nil, err
		}
		return r.resp, nil
	case <-ctx.Done():
		s.forget(id)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (s *kvStream) forget(id uint64) {
	s.mu.Lock()
	delete(s.waiting, id)
	s.mu.Unlock()
}

// errNoResponse is a member's answer without the response its request asked
// for: a member that does not speak this client's protocol.
var errNoResponse = errors.New("member answered without a response of the request's kind")

// streamed is fn sent on the connection's KV.Stream: req makes the request,
// pick takes the response out of the answer. Members without KV.Stream get
// unary instead.
func streamed[R headered](c *Client, req func() *serverpb.StreamRequest, pick func(*serverpb.StreamResponse) R, unary rpc[R]) rpc[R] {
	return func(ctx context.Context, cc *grpc.ClientConn) (R, error) {
		var zero R
		w, _ := ctx.Value(wireKey{}).(*wire)
		if w == nil {
			w = new(wire)
		}
		st, err := c.streams.get(ctx, cc)
		if err != nil {
			if refused(status.Code(err)) {
				// The member refused the stream as it would have refused
				// the call (no client certificate): its answer, not a
				// request that never left.
				w.wrote.Store(true)
				w.answered.Store(true)
			}
			return zero, err
		}
		if st == nil {
			return unary(ctx, cc)
		}
		resp, err := st.call(ctx, req(), w)
		if err != nil {
			return zero, err
		}
		r := pick(resp)
		if r.GetHeader() == nil { // every response carries one
			return zero, status.Errorf(codes.Internal, "%v: %T", errNoResponse, resp.GetResponse())
		}
		return r, nil
	}
}
