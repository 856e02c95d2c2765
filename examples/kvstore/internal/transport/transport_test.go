package transport

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// receiver is a peer's endpoint that passes what it receives to a channel.
func receiver(t *testing.T) (*httptest.Server, <-chan pb.Message) {
	got := make(chan pb.Message, 16)
	srv := httptest.NewServer(Handler(func(ctx context.Context, m pb.Message) error {
		select {
		case got <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func receive(t *testing.T, got <-chan pb.Message) pb.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message arrived")
		return pb.Message{}
	}
}

func closeNow(tr *Transport) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr.Close(ctx)
}

// With Config.ReuseReadyMessages the core clears and reuses a Ready's
// message slices after Advance; what the peer receives must be what was
// handed to Send, not what the slice holds later.
func TestSendCopiesMessages(t *testing.T) {
	srv, got := receiver(t)
	tr := New(make(chan Report, 1))
	defer closeNow(tr)
	tr.SetPeers(map[uint64]string{2: srv.URL})

	msgs := []pb.Message{
		{Type: pb.MsgApp, From: 1, To: 2, Term: 3, Index: 4, LogTerm: 3, Commit: 4,
			Entries: []pb.Entry{{Term: 3, Index: 5, Data: []byte("x=1")}}},
		{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 5},
	}
	want := []string{pb.DescribeMessage(msgs[0]), pb.DescribeMessage(msgs[1])}
	if dropped := tr.Send(msgs); len(dropped) != 0 {
		t.Fatalf("dropped %v", dropped)
	}
	clear(msgs) // what Advance does
	for i, w := range want {
		if m := receive(t, got); pb.DescribeMessage(m) != w {
			t.Fatalf("message %d = %s, want %s", i, pb.DescribeMessage(m), w)
		}
	}
}

// A snapshot's outcome is reported whether or not it arrived; a failure to
// reach a peer is reported too.
func TestReports(t *testing.T) {
	srv, got := receiver(t)
	down := httptest.NewServer(nil)
	downURL := down.URL
	down.Close()

	reports := make(chan Report, 4)
	tr := New(reports)
	defer closeNow(tr)
	tr.SetPeers(map[uint64]string{2: srv.URL, 3: downURL})
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: pb.SnapshotMetadata{Index: 9, Term: 2}}
	tr.Send([]pb.Message{{Type: pb.MsgSnap, From: 1, To: 2, Term: 2, Snapshot: snap}})
	receive(t, got)
	if r := <-reports; r != (Report{Peer: 2, Snapshot: true}) {
		t.Fatalf("report %+v, want a delivered snapshot to 2", r)
	}
	tr.Send([]pb.Message{{Type: pb.MsgSnap, From: 1, To: 3, Term: 2, Snapshot: snap}})
	if r := <-reports; r != (Report{Peer: 3, Failed: true, Snapshot: true}) {
		t.Fatalf("report %+v, want a failed snapshot to 3", r)
	}
	dropped := tr.Send([]pb.Message{{Type: pb.MsgHeartbeat, From: 1, To: 4, Term: 2}})
	if len(dropped) != 1 || dropped[0] != (Report{Peer: 4, Failed: true}) {
		t.Fatalf("send to an unknown peer: %+v, want one failure", dropped)
	}
}

// Close still delivers what was queued: a removed leader's last messages
// hand leadership over.
func TestCloseDrainsQueue(t *testing.T) {
	srv, got := receiver(t)
	tr := New(make(chan Report, 1))
	tr.SetPeers(map[uint64]string{2: srv.URL})
	tr.Send([]pb.Message{{Type: pb.MsgTimeoutNow, From: 1, To: 2, Term: 7}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr.Close(ctx)
	if m := receive(t, got); m.Type != pb.MsgTimeoutNow || m.Term != 7 {
		t.Fatalf("got %s", pb.DescribeMessage(m))
	}
	if dropped := tr.Send([]pb.Message{{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 7}}); len(dropped) != 1 {
		t.Fatalf("a closed transport queued a message")
	}
}

func TestDecodeBatchRejectsDamage(t *testing.T) {
	m := pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 1}
	data := m.MarshalAppend(nil)
	frame := append([]byte{byte(len(data))}, data...)
	for name, body := range map[string][]byte{
		"length past the end": frame[:len(frame)-1],
		"bad varint":          {0xff},
		"undecodable message": {2, 0xff, 0xff},
	} {
		if _, err := decodeBatch(body); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	msgs, err := decodeBatch(append(frame, frame...))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("two frames: %d messages, %v", len(msgs), err)
	}
}
