package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

func TestConfigValidation(t *testing.T) {
	h := newRecorder()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{ID: 1, Handler: h}, ""},
		{"no id", Config{Handler: h}, "ID must not be 0"},
		{"no handler", Config{ID: 1}, "Handler is required"},
		{"negative", Config{ID: 1, Handler: h, QueueSize: -1}, "negative"},
		{"chunk over max", Config{ID: 1, Handler: h, MaxMessageBytes: 10, SnapshotChunkBytes: 11}, "exceeds MaxMessageBytes"},
		{"backoff", Config{ID: 1, Handler: h, Backoff: Backoff{Min: time.Second, Max: time.Millisecond}}, "not a range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				c := tr.cfg
				if c.MaxMessageBytes != DefaultMaxMessageBytes || c.SnapshotChunkBytes != DefaultSnapshotChunkBytes ||
					c.QueueSize != DefaultQueueSize || c.Backoff != (Backoff{DefaultBackoffMin, DefaultBackoffMax}) {
					t.Fatalf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		failures int
		want     time.Duration // before jitter
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {50, time.Second}}
	for _, tt := range tests {
		for range 100 {
			if d := backoffDelay(b, tt.failures); d < tt.want/2 || d > tt.want {
				t.Fatalf("backoffDelay(%d) = %v, want in [%v, %v]", tt.failures, d, tt.want/2, tt.want)
			}
		}
	}
}

// Messages arrive once each and in the order they were sent, per sender and
// receiver, in a three-member cluster.
func TestMessagesArriveInOrder(t *testing.T) {
	nodes := []*node{newNode(t, 1, 7), newNode(t, 2, 7), newNode(t, 3, 7)}
	connect(nodes...)
	const n = 500
	for i := range uint64(n) {
		for _, from := range nodes {
			var msgs []pb.Message
			for _, to := range nodes {
				if to != from {
					msgs = append(msgs, msgApp(from.tr.cfg.ID, to.tr.cfg.ID, i, 1, 8))
				}
			}
			from.tr.Send(msgs)
		}
	}
	for _, to := range nodes {
		next := map[uint64]uint64{}
		for range 2 * n {
			m := recv(t, to.rec.msgs, "message")
			if m.To != to.tr.cfg.ID || m.Index != next[m.From] || len(m.Entries) != 1 {
				t.Fatalf("member %d got %+v, want index %d from %d", to.tr.cfg.ID, m, next[m.From], m.From)
			}
			next[m.From]++
		}
		expectNone(t, to.rec.msgs, "message")
	}
}

// Queued messages go out in few Batch messages, each within MaxMessageBytes.
func TestBatching(t *testing.T) {
	t.Run("many small", func(t *testing.T) {
		a, b := newNode(t, 1, 7), newNode(t, 2, 7)
		a.tr.AddPeer(2, b.addr)
		msgs := make([]pb.Message, 2000)
		for i := range msgs {
			msgs[i] = msgApp(1, 2, uint64(i), 1, 16)
		}
		a.tr.Send(msgs)
		for i := range msgs {
			if m := recv(t, b.rec.msgs, "message"); m.Index != uint64(i) {
				t.Fatalf("got index %d, want %d", m.Index, i)
			}
		}
		if got := b.batches.Load(); got > 20 {
			t.Fatalf("2000 queued messages took %d batches, want at most 20", got)
		}
	})
	t.Run("bounded by MaxMessageBytes", func(t *testing.T) {
		const limit = 64 << 10
		small := func(c *Config) { c.MaxMessageBytes, c.SnapshotChunkBytes = limit, limit }
		a, b := newNode(t, 1, 7, small), newNode(t, 2, 7, small)
		a.tr.AddPeer(2, b.addr)
		msgs := make([]pb.Message, 100)
		for i := range msgs {
			msgs[i] = msgApp(1, 2, uint64(i), 1, 4<<10)
		}
		a.tr.Send(msgs)
		for range msgs {
			recv(t, b.rec.msgs, "message")
		}
		if got := b.batches.Load(); got < 7 {
			t.Fatalf("400 KiB went in %d batches of at most 64 KiB", got)
		}
		if got := b.batchBytes.Load(); got > limit+batchOverhead {
			t.Fatalf("largest batch %d bytes, over the limit %d", got, limit+batchOverhead)
		}
	})
}

func TestUnknownPeerReportedUnreachable(t *testing.T) {
	a := newNode(t, 1, 7)
	a.tr.Send([]pb.Message{{Type: pb.MsgHeartbeat, From: 1, To: 9}})
	if id := recv(t, a.rec.unreachable, "unreachable report"); id != 9 {
		t.Fatalf("reported %d unreachable, want 9", id)
	}
	a.tr.Send([]pb.Message{{Type: pb.MsgSnap, From: 1, To: 9, Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 5}}}})
	recv(t, a.rec.unreachable, "unreachable report")
	if r := recv(t, a.rec.snaps, "snapshot report"); r != (snapReport{9, raft.SnapshotFailure}) {
		t.Fatalf("got %+v, want failure for 9", r)
	}
}

// A peer that is down is reported unreachable; once it comes up, later messages
// get through on a new stream.
func TestDownPeerReconnects(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // down

	a := newNode(t, 1, 7)
	a.tr.AddPeer(2, addr)
	a.tr.Send([]pb.Message{msgApp(1, 2, 0, 0, 0)})
	if id := recv(t, a.rec.unreachable, "unreachable report"); id != 2 {
		t.Fatalf("reported %d unreachable, want 2", id)
	}

	if lis, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("could not listen on %s again: %v", addr, err)
	}
	b := serveNode(t, lis, 2, 7)
	deadline := time.Now().Add(waitFor)
	for index := uint64(1); ; index++ {
		a.tr.Send([]pb.Message{msgApp(1, 2, index, 0, 0)})
		select {
		case m := <-b.rec.msgs:
			if m.From != 1 {
				t.Fatalf("got %+v", m)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message got through after the peer came up")
		}
	}
}

// Messages queued for a peer that does not answer fill the queue; the rest are
// dropped and reported.
func TestQueueFullReportsUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	a := newNode(t, 1, 7, func(c *Config) { c.QueueSize = 4; c.Backoff = Backoff{Min: time.Minute, Max: time.Minute} })
	a.tr.AddPeer(2, addr)
	// The peer's announcement fails: now in a minute of backoff.
	recv(t, a.rec.unreachable, "stream failure")
	msgs := make([]pb.Message, 20)
	for i := range msgs {
		msgs[i] = msgApp(1, 2, uint64(i+1), 0, 0)
	}
	a.tr.Send(msgs)
	for range len(msgs) - 4 {
		recv(t, a.rec.unreachable, "queue full report")
	}
	expectNone(t, a.rec.unreachable, "unreachable report")
}

func TestUpdatePeer(t *testing.T) {
	a, b := newNode(t, 1, 7), newNode(t, 2, 7)
	a.tr.AddPeer(2, "127.0.0.1:1") // nothing listens there
	a.tr.Send([]pb.Message{msgApp(1, 2, 0, 0, 0)})
	recv(t, a.rec.unreachable, "unreachable report")
	a.tr.UpdatePeer(2, b.addr)
	a.tr.Send([]pb.Message{msgApp(1, 2, 1, 0, 0)})
	// The first message waited in the queue behind the failed announcement.
	for _, want := range []uint64{0, 1} {
		if m := recv(t, b.rec.msgs, "message"); m.Index != want {
			t.Fatalf("got %+v, want index %d", m, want)
		}
	}
}

func TestClusterIDMismatch(t *testing.T) {
	b := newNode(t, 2, 7)
	t.Run("raw", func(t *testing.T) {
		err := sendRaw(t, b, &transportpb.Batch{ClusterId: 8, From: 1, To: 2, Messages: [][]byte{encode(t, msgApp(1, 2, 0, 0, 0))}})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "cluster id mismatch") {
			t.Fatalf("got %v, want FailedPrecondition: cluster id mismatch", err)
		}
	})
	t.Run("transport", func(t *testing.T) {
		a := newNode(t, 1, 8)
		a.tr.AddPeer(2, b.addr)
		a.tr.Send([]pb.Message{msgApp(1, 2, 0, 0, 0)})
		// Either the send or the refusal ends the stream; the next send sees it.
		deadline := time.Now().Add(waitFor)
		for index := uint64(1); ; index++ {
			select {
			case <-a.rec.unreachable:
				expectNone(t, b.rec.msgs, "message from another cluster")
				return
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("refusal not reported")
			}
			a.tr.Send([]pb.Message{msgApp(1, 2, index, 0, 0)})
		}
	})
}

func TestRefusedBatches(t *testing.T) {
	b := newNode(t, 2, 7, func(c *Config) { c.MaxMessageBytes, c.SnapshotChunkBytes = 1024, 1024 })
	good := encode(t, msgApp(1, 2, 0, 0, 0))
	tests := []struct {
		name  string
		batch *transportpb.Batch
		want  codes.Code
	}{
		{"malformed", &transportpb.Batch{ClusterId: 7, From: 1, To: 2, Messages: [][]byte{good, {0xff, 0xff}}}, codes.InvalidArgument},
		{"wrong member", &transportpb.Batch{ClusterId: 7, From: 1, To: 3, Messages: [][]byte{good}}, codes.InvalidArgument},
		{"empty, wrong member", &transportpb.Batch{ClusterId: 7, From: 1, To: 3}, codes.InvalidArgument},
		{"empty, other cluster", &transportpb.Batch{ClusterId: 8, From: 1, To: 2}, codes.FailedPrecondition},
		{"wrong sender", &transportpb.Batch{ClusterId: 7, From: 3, To: 2, Messages: [][]byte{good}}, codes.InvalidArgument},
		{"oversize", &transportpb.Batch{ClusterId: 7, From: 1, To: 2, Messages: [][]byte{encode(t, msgApp(1, 2, 0, 1, 2000))}}, codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sendRaw(t, b, tt.batch); status.Code(err) != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The good message ahead of the malformed one was delivered; nothing else.
	recv(t, b.rec.msgs, "message")
	expectNone(t, b.rec.msgs, "message")
}

// An oversize message is dropped by the sender and reported; the stream goes on.
func TestSendOversizeDropped(t *testing.T) {
	small := func(c *Config) { c.MaxMessageBytes, c.SnapshotChunkBytes = 1024, 1024 }
	a, b := newNode(t, 1, 7, small), newNode(t, 2, 7, small)
	a.tr.AddPeer(2, b.addr)
	a.tr.Send([]pb.Message{msgApp(1, 2, 0, 1, 2000), msgApp(1, 2, 1, 1, 10)})
	if id := recv(t, a.rec.unreachable, "unreachable report"); id != 2 {
		t.Fatalf("reported %d, want 2", id)
	}
	if m := recv(t, b.rec.msgs, "message"); m.Index != 1 {
		t.Fatalf("got %+v, want index 1", m)
	}
}

func TestProcessErrorEndsStream(t *testing.T) {
	b := newNode(t, 2, 7)
	b.rec.processErr = func(pb.Message) error { return errors.New("event loop stopped") }
	err := sendRaw(t, b, &transportpb.Batch{ClusterId: 7, From: 1, To: 2, Messages: [][]byte{encode(t, msgApp(1, 2, 0, 0, 0))}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "event loop stopped") {
		t.Fatalf("got %v, want Unavailable with the handler's error", err)
	}
}

func TestRemovePeerStopsGoroutines(t *testing.T) {
	a, b := newNode(t, 1, 7), newNode(t, 2, 7)
	before := goleak.IgnoreCurrent()
	a.tr.AddPeer(2, b.addr)
	a.tr.AddPeer(2, b.addr) // idempotent
	a.tr.Send([]pb.Message{msgApp(1, 2, 0, 0, 0)})
	recv(t, b.rec.msgs, "message")
	a.tr.RemovePeer(2)
	goleak.VerifyNone(t, before)
	a.tr.Send([]pb.Message{msgApp(1, 2, 1, 0, 0)})
	if id := recv(t, a.rec.unreachable, "unreachable report"); id != 2 {
		t.Fatalf("reported %d, want 2", id)
	}
}

func TestClose(t *testing.T) {
	a, b := newNode(t, 1, 7), newNode(t, 2, 7)
	connect(a, b)
	a.tr.Send([]pb.Message{msgApp(1, 2, 0, 0, 0)})
	recv(t, b.rec.msgs, "message")
	if err := a.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.tr.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	a.tr.Send([]pb.Message{msgApp(1, 2, 1, 0, 0)})
	recv(t, a.rec.unreachable, "unreachable report after Close")
	a.tr.AddPeer(3, b.addr) // ignored after Close
	// A closed transport refuses incoming messages.
	b.tr.Send([]pb.Message{msgApp(2, 1, 0, 0, 0)})
	recv(t, b.rec.unreachable, "refusal by the closed transport")
	expectNone(t, a.rec.msgs, "message to a closed transport")
}

// TestReachedWhereItConnectedFrom: a member whose name does not resolve (a
// restarted pod whose absence the cluster DNS still caches) is reached at
// the address it last opened a stream from, once it has.
func TestReachedWhereItConnectedFrom(t *testing.T) {
	notFound := func(_ context.Context, host string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	a := newNode(t, 1, 7, func(c *Config) { c.LookupHost = notFound })
	b := newNode(t, 2, 7)
	_, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	a.tr.AddPeer(2, net.JoinHostPort("member-2.peers.test", port))

	// Before member 2 has connected, its name is all a has: unreachable.
	if id := recv(t, a.rec.unreachable, "member 2 unreachable"); id != 2 {
		t.Fatalf("unreachable %d, want 2", id)
	}
	// Member 2 opens a stream to a (it campaigns, say).
	b.tr.AddPeer(1, a.addr)
	b.tr.Send([]pb.Message{msgApp(2, 1, 5, 0, 0)})
	if m := recv(t, a.rec.msgs, "member 2's message"); m.From != 2 {
		t.Fatalf("a got %+v, want a message from 2", m)
	}
	if got := a.tr.SeenAddress(2); got != "127.0.0.1" {
		t.Fatalf("a noted member 2 at %q, want 127.0.0.1", got)
	}
	// Now a reaches it on its port at that address, the name still
	// unresolved. a sends on, as a leader's heartbeats do: messages sent
	// while the stream is down are dropped and reported.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-b.rec.msgs:
			if m.From == 1 {
				return
			}
		case <-tick.C:
			a.tr.Send([]pb.Message{msgApp(1, 2, 9, 0, 0)})
		case <-deadline:
			t.Fatal("timed out waiting for a's message to reach member 2")
		}
	}
}

// TestRestartedMemberAnnouncesItself: a member that restarts on a new
// address while the cluster DNS still answers with its old one is reached
// there at once by a peer it has sent nothing (a restarted follower sends
// only to the leader, and another peer may lead next): as it starts, it
// opens a stream to every peer with an empty batch.
func TestRestartedMemberAnnouncesItself(t *testing.T) {
	b := newNode(t, 2, 7) // restarted, now at 127.0.0.1
	_, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	// The DNS still answers with b's old address, where nothing listens.
	stale := func(context.Context, string) ([]string, error) { return []string{"127.0.0.2"}, nil }
	c := newNode(t, 3, 7, func(cfg *Config) { cfg.LookupHost = stale })
	c.tr.AddPeer(2, net.JoinHostPort("member-2.peers.test", port))
	b.tr.AddPeer(3, c.addr) // b starts with its configuration

	// c sends on, as a leader's heartbeats do, until one reaches b; b sends
	// c no message at all.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for reached := false; !reached; {
		select {
		case m := <-b.rec.msgs:
			reached = m.From == 3
		case <-tick.C:
			c.tr.Send([]pb.Message{msgApp(3, 2, 1, 0, 0)})
		case <-deadline:
			t.Fatal("timed out waiting for c's message to reach the restarted member")
		}
	}
	if got := c.tr.SeenAddress(2); got != "127.0.0.1" {
		t.Fatalf("c noted member 2 at %q, want 127.0.0.1", got)
	}
	// One announcement, no Raft message, and nothing resent.
	if got := c.batches.Load(); got != 1 {
		t.Fatalf("c received %d batches from member 2, want its one announcement", got)
	}
	expectNone(t, c.rec.msgs, "message from member 2")
}

// A batch of no messages (an announcement) is accepted and tells where its
// sender is.
func TestEmptyBatchNotesSource(t *testing.T) {
	b := newNode(t, 2, 7)
	if err := sendRaw(t, b, &transportpb.Batch{ClusterId: 7, From: 1, To: 2}); err != nil {
		t.Fatalf("empty batch refused: %v", err)
	}
	if got := b.tr.SeenAddress(1); got != "127.0.0.1" {
		t.Fatalf("member 1 noted at %q, want 127.0.0.1", got)
	}
	expectNone(t, b.rec.msgs, "message")
}

func TestDialHostTriesEveryAddress(t *testing.T) {
	n := newNode(t, 2, 7)
	_, port, err := net.SplitHostPort(n.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		lookup  []string
		wantErr bool
	}{
		{"second address answers", []string{"127.0.0.2", "127.0.0.1"}, false},
		{"no addresses", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 127.0.0.2 does not listen on the port (n listens on 127.0.0.1).
			tr, err := New(Config{ID: 1, Handler: newRecorder(), LookupHost: func(context.Context, string) ([]string, error) { return tc.lookup, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tr.Close() }()
			p := &peer{t: tr, id: 2}
			conn, err := p.dialHost(t.Context(), "member-2.test", port)
			if (err != nil) != tc.wantErr {
				t.Fatalf("dialHost: %v, want error %v", err, tc.wantErr)
			}
			if conn != nil {
				_ = conn.Close()
			}
		})
	}
}

// refusals is a recorder that is also a RefusalReporter.
type refusals struct {
	*recorder
	refused chan error
}

func (r *refusals) ReportRefused(id uint64, err error) {
	select {
	case r.refused <- fmt.Errorf("member %d: %w", id, err):
	default:
	}
}

// A peer's refusal reaches a Handler that is a RefusalReporter, with the
// status the peer sent.
func TestRefusalReported(t *testing.T) {
	b := newNode(t, 2, 7)
	rr := &refusals{recorder: newRecorder(), refused: make(chan error, 16)}
	a := newNode(t, 1, 8, func(c *Config) { c.Handler = rr })
	a.tr.AddPeer(2, b.addr)
	deadline := time.After(waitFor)
	for index := uint64(0); ; index++ {
		a.tr.Send([]pb.Message{msgApp(1, 2, index, 0, 0)})
		select {
		case err := <-rr.refused:
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "member 2: ") {
				t.Fatalf("refusal reported as %v, want member 2's FailedPrecondition", err)
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("refusal not reported")
		}
	}
}

// A member seen at new addresses while its peer's connection is being made
// (announcements cross as members start) does not race with gRPC's making
// of it; run with -race.
func TestSeenAtWhileConnecting(t *testing.T) {
	b := newNode(t, 2, 7)
	for range 20 {
		a := newNode(t, 1, 7)
		a.tr.AddPeer(2, b.addr)
		for i := range 200 {
			a.tr.SeenAt(2, fmt.Sprintf("127.0.0.%d", i%2+2))
		}
		a.stop()
	}
}
