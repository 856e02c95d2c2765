package transport

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

func msgSnap(from, to uint64, data []byte) pb.Message {
	return pb.Message{Type: pb.MsgSnap, From: from, To: to, Term: 3, Snapshot: &pb.Snapshot{
		Data:     data,
		Metadata: pb.SnapshotMetadata{Index: 42, Term: 3, ConfState: pb.ConfState{Voters: []uint64{1, 2, 3}}},
	}}
}

func TestSnapshotChunkedAndReassembled(t *testing.T) {
	a, b := newNode(t, 1, 7), newNode(t, 2, 7)
	a.tr.AddPeer(2, b.addr)
	data := make([]byte, 10<<20)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	a.tr.Send([]pb.Message{msgSnap(1, 2, data)})

	m := recv(t, b.rec.msgs, "snapshot")
	if m.Type != pb.MsgSnap || m.Snapshot == nil || m.Snapshot.Metadata.Index != 42 || m.Term != 3 {
		t.Fatalf("got %v", pb.DescribeMessage(m))
	}
	if !bytes.Equal(m.Snapshot.Data, data) {
		t.Fatalf("snapshot data differs: got %d bytes, want %d", len(m.Snapshot.Data), len(data))
	}
	if r := recv(t, a.rec.snaps, "snapshot report"); r != (snapReport{2, raft.SnapshotFinish}) {
		t.Fatalf("got %+v, want finish for 2", r)
	}
	if got := b.chunks.Load(); got != 10 {
		t.Fatalf("10 MiB went in %d chunks, want 10 of 1 MiB", got)
	}
}

func TestEmptySnapshot(t *testing.T) {
	a, b := newNode(t, 1, 7), newNode(t, 2, 7)
	a.tr.AddPeer(2, b.addr)
	a.tr.Send([]pb.Message{msgSnap(1, 2, nil)})
	if m := recv(t, b.rec.msgs, "snapshot"); len(m.Snapshot.Data) != 0 {
		t.Fatalf("got %d bytes", len(m.Snapshot.Data))
	}
	if r := recv(t, a.rec.snaps, "snapshot report"); r.status != raft.SnapshotFinish {
		t.Fatalf("got %+v", r)
	}
}

func TestSnapshotFailure(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		a, b := newNode(t, 1, 7), newNode(t, 2, 7)
		b.rec.processErr = func(pb.Message) error { return errors.New("cannot apply") }
		a.tr.AddPeer(2, b.addr)
		a.tr.Send([]pb.Message{msgSnap(1, 2, make([]byte, 3<<20))})
		if r := recv(t, a.rec.snaps, "snapshot report"); r != (snapReport{2, raft.SnapshotFailure}) {
			t.Fatalf("got %+v, want failure for 2", r)
		}
	})
	t.Run("peer down", func(t *testing.T) {
		a := newNode(t, 1, 7)
		a.tr.AddPeer(2, "127.0.0.1:1")
		a.tr.Send([]pb.Message{msgSnap(1, 2, []byte("state"))})
		if r := recv(t, a.rec.snaps, "snapshot report"); r != (snapReport{2, raft.SnapshotFailure}) {
			t.Fatalf("got %+v, want failure for 2", r)
		}
	})
	t.Run("removed while sending", func(t *testing.T) {
		a, b := newNode(t, 1, 7), newNode(t, 2, 7)
		block := make(chan struct{})
		b.rec.processErr = func(pb.Message) error { <-block; return nil }
		a.tr.AddPeer(2, b.addr)
		a.tr.Send([]pb.Message{msgSnap(1, 2, []byte("state"))})
		a.tr.RemovePeer(2) // cancels the call and waits for it
		close(block)
		if r := recv(t, a.rec.snaps, "snapshot report"); r.status != raft.SnapshotFailure {
			t.Logf("the snapshot was delivered before the removal: %+v", r)
		}
	})
}

func TestRefusedSnapshots(t *testing.T) {
	b := newNode(t, 2, 7, func(c *Config) { c.MaxMessageBytes, c.SnapshotChunkBytes = 1024, 1024 })
	head := func(m pb.Message) []byte { m.Snapshot.Data = nil; return encode(t, m) }
	tests := []struct {
		name   string
		chunks []*transportpb.SnapshotChunk
		want   codes.Code
	}{
		{"other cluster", []*transportpb.SnapshotChunk{{ClusterId: 8, From: 1, To: 2, Message: head(msgSnap(1, 2, nil)), Last: true}}, codes.FailedPrecondition},
		{"malformed", []*transportpb.SnapshotChunk{{ClusterId: 7, From: 1, To: 2, Message: []byte{0xff}, Last: true}}, codes.InvalidArgument},
		{"not a MsgSnap", []*transportpb.SnapshotChunk{{ClusterId: 7, From: 1, To: 2, Message: encode(t, msgApp(1, 2, 0, 0, 0)), Last: true}}, codes.InvalidArgument},
		{"oversize chunk", []*transportpb.SnapshotChunk{{ClusterId: 7, From: 1, To: 2, Message: head(msgSnap(1, 2, nil)), Data: make([]byte, 2000)}}, codes.ResourceExhausted},
		{"no last chunk", []*transportpb.SnapshotChunk{{ClusterId: 7, From: 1, To: 2, Message: head(msgSnap(1, 2, nil)), Data: []byte("x")}}, codes.InvalidArgument},
		{"no chunks", nil, codes.InvalidArgument},
	}
	client := rawClient(t, b)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			st, err := client.SendSnapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.chunks {
				if st.Send(c) != nil {
					break
				}
			}
			if _, err := st.CloseAndRecv(); status.Code(err) != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	expectNone(t, b.rec.msgs, "refused snapshot")
}
