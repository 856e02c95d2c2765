package transport

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait of the tests.
const waitFor = 10 * time.Second

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

// recorder is a Handler that passes everything it gets to channels.
type recorder struct {
	msgs        chan pb.Message
	unreachable chan uint64
	snaps       chan snapReport
	// processErr, if set, decides the result of Process.
	processErr func(pb.Message) error
}

func newRecorder() *recorder {
	return &recorder{
		msgs:        make(chan pb.Message, 1<<16),
		unreachable: make(chan uint64, 1<<16),
		snaps:       make(chan snapReport, 64),
	}
}

func (r *recorder) Process(_ context.Context, m pb.Message) error {
	if r.processErr != nil {
		if err := r.processErr(m); err != nil {
			return err
		}
	}
	r.msgs <- m
	return nil
}

func (r *recorder) ReportUnreachable(id uint64) {
	select {
	case r.unreachable <- id:
	default: // enough reports recorded
	}
}

func (r *recorder) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	r.snaps <- snapReport{id, status}
}

// node is a Transport served by a gRPC server on 127.0.0.1.
type node struct {
	tr   *Transport
	rec  *recorder
	srv  *grpc.Server
	addr string
	// batches and chunks count the Batch and SnapshotChunk messages received;
	// batchBytes is the size of the largest Batch.
	batches, chunks, batchBytes atomic.Int64
}

type nodeOption func(*Config)

func newNode(t testing.TB, id, clusterID uint64, opts ...nodeOption) *node {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveNode(t, lis, id, clusterID, opts...)
}

func serveNode(t testing.TB, lis net.Listener, id, clusterID uint64, opts ...nodeOption) *node {
	t.Helper()
	n := &node{rec: newRecorder(), addr: lis.Addr().String()}
	cfg := Config{
		ID: id, ClusterID: clusterID, Handler: n.rec,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		Backoff:     Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}
	for _, o := range opts {
		o(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.tr = tr
	n.srv = grpc.NewServer(append(tr.ServerOptions(), grpc.StreamInterceptor(n.count))...)
	tr.Register(n.srv)
	go func() { _ = n.srv.Serve(lis) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	_ = n.tr.Close()
	n.srv.Stop()
}

// count is a stream interceptor counting the messages received.
func (n *node) count(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &countingStream{ServerStream: ss, n: n})
}

type countingStream struct {
	grpc.ServerStream
	n *node
}

func (c *countingStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *transportpb.Batch:
		c.n.batches.Add(1)
		size := int64(proto.Size(m))
		for old := c.n.batchBytes.Load(); size > old && !c.n.batchBytes.CompareAndSwap(old, size); {
			old = c.n.batchBytes.Load()
		}
	case *transportpb.SnapshotChunk:
		c.n.chunks.Add(1)
	}
	return nil
}

// connect makes every node a peer of every other.
func connect(nodes ...*node) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.tr.AddPeer(b.tr.cfg.ID, b.addr)
			}
		}
	}
}

func recv[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// expectNone fails if c yields anything within a short grace period.
func expectNone[T any](t testing.TB, c <-chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("unexpected %s: %+v", what, v)
	case <-time.After(50 * time.Millisecond):
	}
}

func msgApp(from, to, index uint64, entries, entryBytes int) pb.Message {
	m := pb.Message{Type: pb.MsgApp, From: from, To: to, Term: 1, Index: index, LogTerm: 1, Commit: index}
	for i := range entries {
		m.Entries = append(m.Entries, pb.Entry{Term: 1, Index: index + uint64(i) + 1, Data: make([]byte, entryBytes)})
	}
	return m
}

// rawClient is a plain gRPC client of n's Raft service.
func rawClient(t *testing.T, n *node) transportpb.RaftClient {
	t.Helper()
	conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return transportpb.NewRaftClient(conn)
}

// sendRaw sends batches on one Stream call and returns the call's outcome.
func sendRaw(t *testing.T, n *node, batches ...*transportpb.Batch) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := rawClient(t, n).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := st.Send(b); err != nil {
			break // the outcome comes from CloseAndRecv
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

func encode(t testing.TB, m pb.Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
