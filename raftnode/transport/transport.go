// Package transport carries Raft messages between the members of a cluster over
// gRPC (service raftkube.transport.v1.Raft, see proto/raftkube/transport/v1/transport.proto).
//
// # Sending
//
// Each peer has a bounded queue and one goroutine that owns one long-lived
// client-streaming Stream call to that peer. The goroutine opens it as the peer is
// added (or its address updated) and sends a Batch of no messages on it first, the
// announcement (see Addresses); after a failure the stream is reopened on the next
// message. The goroutine drains everything queued into one Batch (up to
// Config.MaxMessageBytes) per Send on the stream, so a busy leader sends few large
// gRPC messages rather than many small ones. When the stream fails, or cannot be
// opened, the peer is reported unreachable once for that failure and the goroutine
// waits an exponentially growing, jittered backoff before opening a new stream.
// Messages stay queued meanwhile; once the queue is full, Send drops and reports.
//
// A MsgSnap is sent off the batching path, on a SendSnapshot call of its own whose
// snapshot data is split into chunks of Config.SnapshotChunkBytes, and the outcome
// is reported through Handler.ReportSnapshot when the call completes.
//
// Messages travel as their raftpb encoding inside opaque bytes fields, so the
// consensus core's values are encoded once by raftpb's codec and never converted to
// generated structs.
//
// # Receiving
//
// Register serves the Raft service on the caller's grpc.Server. A batch from another
// cluster is refused with codes.FailedPrecondition, one addressed to another member
// or holding a malformed message with codes.InvalidArgument, one holding a message
// over Config.MaxMessageBytes with codes.ResourceExhausted; each refusal ends the
// stream. Accepted messages go to Handler.Process in the order they were sent. A
// batch of no messages, an announcement, is accepted like any other.
//
// # Addresses
//
// A peer's address is usually a DNS name (a StatefulSet pod's). Each connection
// attempt resolves it afresh (Config.LookupHost). When that fails, or the
// addresses it gives do not answer within a second, the attempt tries the IP
// address the member last opened a stream to us from (Transport.SeenAt, which
// the receiving side calls; Config.SeenAt when receiving and sending are two
// Transports), on the peer address's port; a new such address ends the
// backoff at once. In Kubernetes a restarted member has a new IP, and the
// cluster DNS keeps answering with its absence (or its old IP) for as long
// as it caches the answer, 30 s with kubeadm's CoreDNS settings. So that
// every peer can reach it at once, not only the leader it sends to as a
// follower, a member announces itself: each peer's goroutine starts with an
// empty Batch on a new stream, retried with backoff until one is sent, and
// the receiving side notes its source as for any first batch. Queued
// messages wait behind the announcement. TLS still verifies the peer's
// certificate against the name in its address.
//
// The server must accept gRPC messages a little over MaxMessageBytes (a batch adds
// a few bytes of framing per message): pass ServerOptions to grpc.NewServer, or set
// grpc.MaxRecvMsgSize yourself.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// Defaults of the zero fields of Config.
const (
	DefaultMaxMessageBytes    = 4 << 20
	DefaultSnapshotChunkBytes = 1 << 20
	DefaultQueueSize          = 4096
	DefaultBackoffMin         = 100 * time.Millisecond
	DefaultBackoffMax         = 5 * time.Second
)

// batchOverhead bounds the bytes a Batch adds around its messages besides the
// per-message framing: three uint64 fields of at most 11 bytes each.
const batchOverhead = 3 * 11

// Handler receives what the transport learns. Its methods may be called
// concurrently from several goroutines (one per peer and per incoming stream) and
// should hand the work to the server's event loop rather than block for long: a
// slow Process holds up the stream it was called from.
type Handler interface {
	// Process delivers a message received from a peer to the local RawNode. The
	// message owns its byte slices. An error ends the stream it arrived on.
	Process(ctx context.Context, m pb.Message) error
	// ReportUnreachable tells that a message to the member id was or may have
	// been lost (queue full, unknown member, stream failed).
	ReportUnreachable(id uint64)
	// ReportSnapshot tells the outcome of sending a MsgSnap to the member id. It
	// is called exactly once for every MsgSnap given to Send.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// RefusalReporter may be implemented by a Handler to learn why a peer ended a
// stream: err is the status the peer refused it with (its cluster id check,
// or the receiving server's own refusal, such as of a removed member).
type RefusalReporter interface {
	ReportRefused(id uint64, err error)
}

// Backoff bounds the wait between attempts to open a stream to a failed peer. The
// wait doubles with each failed attempt, from Min to at most Max, and a random half
// of it is taken off so that members do not retry in lockstep.
type Backoff struct {
	Min time.Duration // default DefaultBackoffMin
	Max time.Duration // default DefaultBackoffMax
}

// Config configures a Transport. ID, ClusterID and Handler are required.
type Config struct {
	// ID is the local member's id; incoming batches must be addressed to it.
	ID uint64
	// ClusterID is sent with every batch; a peer of another cluster refuses it,
	// and batches from another cluster are refused here.
	ClusterID uint64
	// Handler receives incoming messages and delivery reports.
	Handler Handler
	// Logger receives stream failures and refusals; nil discards them.
	Logger *slog.Logger
	// MaxMessageBytes bounds one encoded message and one batch, on send and on
	// receive. Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// SnapshotChunkBytes is the snapshot data carried by one chunk; at most
	// MaxMessageBytes. Default DefaultSnapshotChunkBytes.
	SnapshotChunkBytes int
	// QueueSize is the number of messages queued per peer before Send drops.
	// Default DefaultQueueSize.
	QueueSize int
	// DialOptions are used for every peer connection. They must carry transport
	// credentials (for instance grpc.WithTransportCredentials). Connection
	// backoff defaults to Backoff; an option here overrides it.
	DialOptions []grpc.DialOption
	// Backoff bounds the wait between attempts to reach a failed peer.
	Backoff Backoff
	// LookupHost resolves the host name of a peer address into IP
	// addresses. Default: net.DefaultResolver.LookupHost.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// SeenAt is told the IP address a member opened an accepted stream
	// from. Default: this Transport's own SeenAt. A member that receives on
	// one Transport and sends on another passes the sender's SeenAt.
	SeenAt func(id uint64, ip string)
}

// withDefaults returns cfg with its zero fields defaulted, or an error if it is
// not usable.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.ID == 0 {
		return cfg, errors.New("transport config: ID must not be 0")
	}
	if cfg.Handler == nil {
		return cfg, errors.New("transport config: Handler is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.MaxMessageBytes = orDefault(cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	cfg.SnapshotChunkBytes = orDefault(cfg.SnapshotChunkBytes, DefaultSnapshotChunkBytes)
	cfg.QueueSize = orDefault(cfg.QueueSize, DefaultQueueSize)
	cfg.Backoff.Min = orDefault(cfg.Backoff.Min, DefaultBackoffMin)
	cfg.Backoff.Max = orDefault(cfg.Backoff.Max, DefaultBackoffMax)
	if cfg.LookupHost == nil {
		cfg.LookupHost = net.DefaultResolver.LookupHost
	}
	// SeenAt defaults to the Transport's own, set in New.
	switch {
	case cfg.MaxMessageBytes < 0 || cfg.SnapshotChunkBytes < 0 || cfg.QueueSize < 0:
		return cfg, errors.New("transport config: sizes must not be negative")
	case cfg.SnapshotChunkBytes > cfg.MaxMessageBytes:
		return cfg, fmt.Errorf("transport config: SnapshotChunkBytes %d exceeds MaxMessageBytes %d",
			cfg.SnapshotChunkBytes, cfg.MaxMessageBytes)
	case cfg.Backoff.Min < 0 || cfg.Backoff.Max < cfg.Backoff.Min:
		return cfg, fmt.Errorf("transport config: backoff %v..%v is not a range", cfg.Backoff.Min, cfg.Backoff.Max)
	}
	return cfg, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Transport sends messages to the peers and serves the messages they send. Its
// methods are safe for concurrent use.
type Transport struct {
	cfg Config

	mu sync.Mutex
	// peers by member id. Invariant: nil once closed.
	peers  map[uint64]*peer
	closed bool
	// sources are the IP addresses members last opened a stream from, by
	// member id: where a member is when its name does not resolve to it.
	sources map[uint64]string
}

// New returns a Transport with no peers.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, peers: make(map[uint64]*peer), sources: make(map[uint64]string)}
	if t.cfg.SeenAt == nil {
		t.cfg.SeenAt = t.SeenAt
	}
	return t, nil
}

// ServerOptions returns the grpc.ServerOptions the server passed to Register
// needs: a receive limit that admits a full batch.
func (t *Transport) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(t.maxBatchBytes() + 1024)}
}

// maxBatchBytes is the largest encoded Batch the transport sends.
func (t *Transport) maxBatchBytes() int { return t.cfg.MaxMessageBytes + batchOverhead }

// Register serves incoming streams on s. Stopping s ends them; Close does not.
func (t *Transport) Register(s *grpc.Server) {
	transportpb.RegisterRaftServer(s, &server{t: t})
}

// AddPeer makes the member id reachable at addr (a gRPC target such as
// "host:port"). Adding a peer that exists already does nothing; use UpdatePeer to
// change its address.
func (t *Transport) AddPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.peers[id] != nil {
		return
	}
	t.peers[id] = startPeer(t, id, addr, nil, nil)
}

// UpdatePeer changes the address of the member id, adding it if unknown. Queued
// messages are kept and sent to the new address, in order.
func (t *Transport) UpdatePeer(id uint64, addr string) {
	t.mu.Lock()
	old := t.peers[id]
	if t.closed || (old != nil && old.addr == addr) {
		t.mu.Unlock()
		return
	}
	if old == nil {
		t.peers[id] = startPeer(t, id, addr, nil, nil)
		t.mu.Unlock()
		return
	}
	// The new peer takes over the queue once the old one's goroutine has gone.
	t.peers[id] = startPeer(t, id, addr, old.queue, old.done)
	t.mu.Unlock()
	old.stop()
}

// RemovePeer forgets the member id and stops its goroutines and streams; queued
// messages are dropped. Later messages to id are reported unreachable.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Send queues msgs for their recipients and returns without blocking.
//
// A message that cannot be queued (unknown recipient, full queue) is dropped and
// reported with Handler.ReportUnreachable, and a dropped MsgSnap also with
// ReportSnapshot(SnapshotFailure). A message whose encoding exceeds MaxMessageBytes
// is dropped and reported the same way when its turn to be sent comes.
//
// Contract with the caller: Send copies each Message value, so msgs itself may be
// reused (the core recycles Ready.Messages after Advance). The byte slices and
// entries the messages point to (Entries and their Data, Context, Snapshot and its
// Data) are read later by other goroutines and must not be modified afterwards. The
// core never modifies them: log entries and snapshots are immutable once made.
func (t *Transport) Send(msgs []pb.Message) {
	var dropped []*pb.Message
	t.mu.Lock()
	for i := range msgs {
		if !t.route(&msgs[i]) {
			dropped = append(dropped, &msgs[i])
		}
	}
	t.mu.Unlock()
	// Reported outside the lock, so that a Handler may call back into t.
	for _, m := range dropped {
		t.reportDropped(m)
	}
}

// route hands m to its peer and reports whether it was accepted. t.mu is held.
func (t *Transport) route(m *pb.Message) bool {
	p := t.peers[m.To]
	switch {
	case p == nil:
		t.cfg.Logger.Debug("dropping message to unknown member", "to", m.To, "type", m.Type)
		return false
	case m.Type == pb.MsgSnap:
		return p.sendSnapshot(*m)
	default:
		return p.enqueue(*m)
	}
}

// reportDropped reports a message that was never sent.
func (t *Transport) reportDropped(m *pb.Message) {
	t.cfg.Handler.ReportUnreachable(m.To)
	if m.Type == pb.MsgSnap {
		t.cfg.Handler.ReportSnapshot(m.To, raft.SnapshotFailure)
	}
}

// Close stops every peer goroutine and outgoing stream and waits for them. Incoming
// streams end when the caller stops its grpc.Server; until then they refuse new
// messages. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	peers := t.peers
	t.peers, t.closed = nil, true
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	return nil
}

// noteSource passes the IP address member id opened a stream from to
// Config.SeenAt.
func (t *Transport) noteSource(id uint64, addr net.Addr) {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP != nil {
		t.cfg.SeenAt(id, tcp.IP.String())
	}
}

// SeenAt records that member id was seen at the IP address ip (it opened a
// stream from there): connection attempts to it try that address when its
// own does not answer, and a new address (a restarted member) makes them
// start at once rather than after their backoff.
func (t *Transport) SeenAt(id uint64, ip string) {
	t.mu.Lock()
	if t.closed || t.sources[id] == ip {
		t.mu.Unlock()
		return
	}
	t.sources[id] = ip
	p := t.peers[id]
	t.mu.Unlock()
	if p != nil {
		p.retryNow()
	}
}

// SeenAddress is the IP address member id last opened a stream from, as
// recorded by SeenAt; "" if none.
func (t *Transport) SeenAddress(id uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sources[id]
}

// isClosed reports whether Close was called.
func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}
