package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

var (
	errPeerStopped = errors.New("peer removed or transport closed")
	errStreamEnded = errors.New("peer ended the stream")
)

// peer sends to one member: a queue, the goroutine draining it into one stream,
// and the goroutines of snapshots in flight.
type peer struct {
	t     *Transport
	id    uint64
	addr  string
	queue chan pb.Message

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	// wake ends a backoff pause early: the member was seen at a new address.
	wake chan struct{}
	once sync.Once // guards stop

	// Owned by the run goroutine.
	// announce is set until a stream has carried the peer's first batch, an
	// empty one: the member learns where we are before we send it anything
	// (see the package doc, "Addresses").
	announce bool
	carry    *pb.Message  // drained but did not fit the previous batch
	scratch  []pb.Message // the messages of the batch being built
	sizes    []int        // their encoded sizes

	mu      sync.Mutex
	stopped bool
	// conn is dialled on first use. Invariant: nil once stopped and its users gone.
	conn  *grpc.ClientConn
	snaps sync.WaitGroup // snapshot goroutines
}

// startPeer starts the goroutine of a peer at addr. queue, if not nil, is taken
// over from a previous peer of the same member, whose goroutine closes prevDone
// when it has stopped draining it.
func startPeer(t *Transport, id uint64, addr string, queue chan pb.Message, prevDone <-chan struct{}) *peer {
	if queue == nil {
		queue = make(chan pb.Message, t.cfg.QueueSize)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{t: t, id: id, addr: addr, queue: queue, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go p.run(prevDone)
	return p
}

// enqueue queues m without blocking and reports whether there was room.
func (p *peer) enqueue(m pb.Message) bool {
	select {
	case p.queue <- m:
		return true
	default:
		p.t.cfg.Logger.Debug("dropping message: queue full", "to", p.id, "type", m.Type)
		return false
	}
}

// stop ends the peer's goroutines and connection and waits for them.
func (p *peer) stop() {
	p.once.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.cancel()
		<-p.done
		p.snaps.Wait()
		p.mu.Lock()
		conn := p.conn
		p.conn = nil
		p.mu.Unlock()
		if conn != nil {
			_ = conn.Close() // only fails if already closed
		}
	})
}

// client returns a client of the peer's connection, dialling it on first use.
func (p *peer) client() (transportpb.RaftClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errPeerStopped
	}
	if p.conn == nil {
		b := p.t.cfg.Backoff
		opts := append([]grpc.DialOption{
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: b.Min, Multiplier: 1.6, Jitter: 0.2, MaxDelay: b.Max},
				MinConnectTimeout: 5 * time.Second,
			}),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(p.t.maxBatchBytes() + 1024)),
			// The peer is talked to for as long as it is one; idleness
			// would only recreate its subchannel (see retryNow).
			grpc.WithIdleTimeout(0),
		}, p.t.cfg.DialOptions...)
		// passthrough: the address is resolved by each connection attempt
		// (the dialer below), which retries on the backoff above. gRPC's own
		// DNS resolver backs off separately, up to minutes, after a name
		// that did not resolve yet -- as a new member's DNS name does not
		// until its record is published -- delaying its first contact.
		opts = append(opts, grpc.WithContextDialer(p.dial))
		conn, err := grpc.NewClient("passthrough:///"+p.addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("dial member %x at %s: %w", p.id, p.addr, err)
		}
		p.conn = conn
	}
	return transportpb.NewRaftClient(p.conn), nil
}

// firstTryTimeout bounds the attempt at the resolved addresses when the
// member's source address is there to try next: a stale address of a pod
// that is gone may not answer at all.
const firstTryTimeout = time.Second

// dial connects to addr for one connection attempt: to the addresses its
// host resolves to now, else to the address the member last connected from
// (see the package doc, "Addresses").
func (p *peer) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("member %x address %q: %w", p.id, addr, err)
	}
	source := p.t.SeenAddress(p.id)
	if source == host {
		source = ""
	}
	first := ctx
	if source != "" {
		var cancel context.CancelFunc
		first, cancel = context.WithTimeout(ctx, firstTryTimeout)
		defer cancel()
	}
	conn, err := p.dialHost(first, host, port)
	if err == nil || source == "" || ctx.Err() != nil {
		return conn, err
	}
	var d net.Dialer
	conn, serr := d.DialContext(ctx, "tcp", net.JoinHostPort(source, port))
	if serr != nil {
		return nil, errors.Join(err, fmt.Errorf("and at %s, where member %x last connected from: %w", source, p.id, serr))
	}
	p.t.cfg.Logger.Debug("reached member at the address it last connected from", "member", p.id, "address", addr, "ip", source, "err", err)
	return conn, nil
}

// dialHost connects to the first address of host that answers on port.
func (p *peer) dialHost(ctx context.Context, host, port string) (net.Conn, error) {
	ips := []string{host}
	if net.ParseIP(host) == nil {
		var err error
		if ips, err = p.t.cfg.LookupHost(ctx, host); err != nil {
			return nil, err
		}
	}
	var d net.Dialer
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("lookup %s: no addresses", host)
	}
	return nil, errors.Join(errs...)
}

// run drains the queue into batches on one stream, reopening it with backoff after
// a failure, until the peer stops.
func (p *peer) run(prevDone <-chan struct{}) {
	defer close(p.done)
	if prevDone != nil {
		select {
		case <-prevDone:
		case <-p.ctx.Done():
			return
		}
	}
	var s *outStream
	defer func() { s.close() }()
	p.announce = true
	failures := 0
	for {
		err := p.step(&s)
		if p.ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		s.close()
		s = nil
		failures++
		p.fail(err)
		if !p.pause(failures) {
			return
		}
	}
}

// step waits for the next message or the end of the stream *s, and sends one
// batch, opening the stream first if there is none. An error means *s failed.
func (p *peer) step(s **outStream) error {
	if p.announce {
		return p.announceSelf(s)
	}
	first, err := p.next(*s)
	if err != nil || first == nil {
		return err
	}
	if *s == nil {
		if *s, err = p.openStream(); err != nil {
			return err
		}
	}
	b := p.batch(*first)
	if b == nil {
		return nil
	}
	if err := (*s).send(b); err != nil {
		return fmt.Errorf("send batch of %d messages: %w", len(b.Messages), err)
	}
	return nil
}

// announceSelf opens the stream and sends a batch of no messages on it, so
// that the member notes the address we are at now (Transport.SeenAt) even if
// we have nothing to send it: a restarted member that is a follower sends
// only to the leader, and the others could not reach it at its new address
// until it campaigns. Queued messages wait for it, so their order holds.
func (p *peer) announceSelf(s **outStream) error {
	if *s == nil {
		var err error
		if *s, err = p.openStream(); err != nil {
			return err
		}
	}
	if err := (*s).send(p.header()); err != nil {
		return fmt.Errorf("announce ourselves: %w", err)
	}
	p.announce = false
	return nil
}

// next returns the next message to send, or nil when the peer stops, or the error
// that ended s.
func (p *peer) next(s *outStream) (*pb.Message, error) {
	if m := p.carry; m != nil {
		p.carry = nil
		return m, nil
	}
	select {
	case <-p.ctx.Done():
		return nil, nil
	case m := <-p.queue:
		return &m, nil
	case err := <-s.ended():
		s.finished = true
		if err == nil {
			err = errStreamEnded
		}
		return nil, fmt.Errorf("stream: %w", err)
	}
}

// fail reports one failure of the stream, and the peer's refusal, if it was
// one, to a Handler that is a RefusalReporter.
func (p *peer) fail(err error) {
	p.t.cfg.Logger.Warn("stream to peer failed", "peer", p.id, "addr", p.addr, "err", err)
	p.t.cfg.Handler.ReportUnreachable(p.id)
	if rr, ok := p.t.cfg.Handler.(RefusalReporter); ok {
		if code := status.Code(err); code == codes.FailedPrecondition || code == codes.InvalidArgument {
			rr.ReportRefused(p.id, err)
		}
	}
}

// pause waits the backoff after the given number of consecutive failures, and
// reports false if the peer stopped meanwhile.
func (p *peer) pause(failures int) bool {
	timer := time.NewTimer(backoffDelay(p.t.cfg.Backoff, failures))
	defer timer.Stop()
	select {
	case <-p.ctx.Done():
		return false
	case <-timer.C:
		return true
	case <-p.wake:
		return true
	}
}

// retryNow makes the next attempt to reach the member start now, skipping
// the backoff of its stream and of its connection: it was just seen at a
// new address.
func (p *peer) retryNow() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Only a connection in transient failure waits out a backoff. And only
	// there is ResetConnectBackoff safe: it reads the connection's subchannel
	// map unlocked (grpc-go PR 9155), which gRPC writes as the connection
	// leaves idle -- once, as idleness is off -- but never in transient failure.
	if p.conn != nil && p.conn.GetState() == connectivity.TransientFailure {
		p.conn.ResetConnectBackoff()
	}
}

// backoffDelay is b.Min doubled for each failure after the first, at most b.Max,
// less a random part of up to half of it.
func backoffDelay(b Backoff, failures int) time.Duration {
	d := b.Min
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d - rand.N(d/2+1)
}

// batch encodes first and whatever else is queued, up to MaxMessageBytes, into one
// Batch. Messages over the limit are dropped and reported; nil means none was left.
func (p *peer) batch(first pb.Message) *transportpb.Batch {
	limit := p.t.cfg.MaxMessageBytes
	total, framed := 0, 0
	add := func(m pb.Message) bool {
		n := m.Size()
		f := protowire.SizeTag(1) + protowire.SizeBytes(n)
		switch {
		case n > limit:
			p.t.cfg.Logger.Warn("dropping oversize message", "to", p.id, "type", m.Type, "bytes", n, "limit", limit)
			p.t.cfg.Handler.ReportUnreachable(p.id)
			return true
		case len(p.scratch) > 0 && framed+f > limit:
			p.carry = &m
			return false
		}
		p.scratch, p.sizes = append(p.scratch, m), append(p.sizes, n)
		total, framed = total+n, framed+f
		return true
	}
	if add(first) {
		p.drain(add)
	}
	defer func() { clear(p.scratch); p.scratch, p.sizes = p.scratch[:0], p.sizes[:0] }()
	if len(p.scratch) == 0 {
		return nil
	}
	return p.encode(total)
}

// drain passes queued messages to add until the queue is empty or add refuses.
func (p *peer) drain(add func(pb.Message) bool) {
	for {
		select {
		case m := <-p.queue:
			if !add(m) {
				return
			}
		default:
			return
		}
	}
}

// encode marshals the scratch messages into one buffer of total bytes. A new
// buffer each time: gRPC may read a sent message after SendMsg returns.
func (p *peer) encode(total int) *transportpb.Batch {
	buf := make([]byte, 0, total)
	msgs := make([][]byte, len(p.scratch))
	for i := range p.scratch {
		start := len(buf)
		buf = p.scratch[i].MarshalAppend(buf)
		msgs[i] = buf[start:len(buf):len(buf)]
	}
	b := p.header()
	b.Messages = msgs
	return b
}

// header returns a Batch of no messages from us to the peer.
func (p *peer) header() *transportpb.Batch {
	return &transportpb.Batch{ClusterId: p.t.cfg.ClusterID, From: p.t.cfg.ID, To: p.id}
}

// outStream is an open Stream call to a peer and the goroutine waiting for its
// outcome, which learns of a refusal by the peer without waiting for the next send.
type outStream struct {
	stream grpc.ClientStreamingClient[transportpb.Batch, transportpb.StreamSummary]
	cancel context.CancelFunc
	result chan error // the call's outcome, sent once
	// finished is set once result was received.
	finished bool
	// outcome is the result received by close, kept for debugging.
	outcome error
}

// openStream opens a Stream call to the peer.
func (p *peer) openStream() (*outStream, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	st, err := c.Stream(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open stream to member %x at %s: %w", p.id, p.addr, err)
	}
	s := &outStream{stream: st, cancel: cancel, result: make(chan error, 1)}
	go func() { s.result <- st.RecvMsg(new(transportpb.StreamSummary)) }()
	return s, nil
}

// ended returns the channel of the call's outcome; nil (never ready) for no stream.
func (s *outStream) ended() <-chan error {
	if s == nil || s.finished {
		return nil
	}
	return s.result
}

// send sends b; on failure it returns the status the peer ended the call with.
func (s *outStream) send(b *transportpb.Batch) error {
	err := s.stream.Send(b)
	if !errors.Is(err, io.EOF) {
		return err
	}
	// io.EOF: the peer ended the call; its status is the outcome.
	err = <-s.result
	s.finished = true
	if err == nil {
		err = errStreamEnded
	}
	return err
}

// close cancels the call and waits for its outcome goroutine. s may be nil.
func (s *outStream) close() {
	if s == nil {
		return
	}
	s.cancel()
	if !s.finished {
		s.outcome = <-s.result
		s.finished = true
	}
}
