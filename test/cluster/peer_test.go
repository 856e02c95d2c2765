package cluster

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
	"github.com/raftkube/raftkube/test/harness"
)

// peerClient dials n's peer port as a member would.
func peerClient(t *testing.T, n *harness.Node) transportpb.RaftClient {
	t.Helper()
	conn, err := grpc.NewClient(n.PeerAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return transportpb.NewRaftClient(conn)
}

// sendBatches sends bs on one Stream and returns the stream's final status.
func sendBatches(ctx context.Context, rc transportpb.RaftClient, bs ...*transportpb.Batch) error {
	stream, err := rc.Stream(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if err := stream.Send(b); err != nil {
			break // the server ended the call: CloseAndRecv has its status
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// sendChunks sends cs on one SendSnapshot call and returns its status.
func sendChunks(ctx context.Context, rc transportpb.RaftClient, cs ...*transportpb.SnapshotChunk) error {
	stream, err := rc.SendSnapshot(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := stream.Send(c); err != nil {
			break
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

func encode(t *testing.T, m pb.Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkServing fails t unless n still runs and the cluster serves a write
// sent to n and a linearizable read of it from n.
func checkServing(ctx context.Context, t *testing.T, n *harness.Node, key string) {
	t.Helper()
	if exited, err := n.Exited(); exited {
		t.Fatalf("%s exited: %v", n.Name(), err)
	}
	if _, err := n.KV().Put(ctx, &serverpb.PutRequest{Key: []byte(key), Value: []byte("ok")}); err != nil {
		t.Fatalf("put through %s: %v", n.Name(), err)
	}
	get, err := n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte(key)})
	if err != nil {
		t.Fatalf("get through %s: %v", n.Name(), err)
	}
	if string(get.GetKv().GetValue()) != "ok" {
		t.Fatalf("get %s through %s: %q, want ok", key, n.Name(), get.GetKv().GetValue())
	}
}

// TestMalformedPeerMessages sends garbage and invalid Raft messages to a
// member's transport service: each call is refused with the status the
// transport documents, and the member and its cluster keep working.
func TestMalformedPeerMessages(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := other(c.Members(), leader)
	st, err := f.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cid, term, lid, fid := st.GetHeader().GetClusterId(), st.GetHeader().GetTerm(), leader.ID(), f.ID()
	heartbeat := encode(t, pb.Message{Type: pb.MsgHeartbeat, From: lid, To: fid, Term: term})
	garbage := bytes.Repeat([]byte{0xff}, 64)
	rc := peerClient(t, f)

	batches := []struct {
		name  string
		batch *transportpb.Batch
		want  codes.Code
	}{
		{"garbage message", &transportpb.Batch{ClusterId: cid, From: lid, To: fid, Messages: [][]byte{garbage}}, codes.InvalidArgument},
		{"garbage after a valid message", &transportpb.Batch{ClusterId: cid, From: lid, To: fid, Messages: [][]byte{heartbeat, garbage}}, codes.InvalidArgument},
		{"truncated message", &transportpb.Batch{ClusterId: cid, From: lid, To: fid, Messages: [][]byte{heartbeat[:len(heartbeat)-1]}}, codes.InvalidArgument},
		{"another cluster", &transportpb.Batch{ClusterId: cid + 1, From: lid, To: fid, Messages: [][]byte{heartbeat}}, codes.FailedPrecondition},
		{"another recipient", &transportpb.Batch{ClusterId: cid, From: lid, To: unknownID, Messages: [][]byte{heartbeat}}, codes.InvalidArgument},
		{"message from another sender than the batch", &transportpb.Batch{ClusterId: cid, From: unknownID, To: fid, Messages: [][]byte{heartbeat}}, codes.InvalidArgument},
		{"message over the transport's size limit", &transportpb.Batch{ClusterId: cid, From: lid, To: fid, Messages: [][]byte{make([]byte, 5<<20)}}, codes.ResourceExhausted},
	}
	for _, tc := range batches {
		wantCode(t, "stream: "+tc.name, sendBatches(ctx, rc, tc.batch), tc.want)
	}
	snap := encode(t, pb.Message{Type: pb.MsgSnap, From: lid, To: fid, Term: term,
		Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1 << 40, Term: term, ConfState: pb.ConfState{Voters: []uint64{fid}}}}})
	chunks := []struct {
		name   string
		chunks []*transportpb.SnapshotChunk
		want   codes.Code
	}{
		{"no chunk", nil, codes.InvalidArgument},
		{"garbage message", []*transportpb.SnapshotChunk{{ClusterId: cid, From: lid, To: fid, Message: garbage, Last: true}}, codes.InvalidArgument},
		{"a heartbeat, not a MsgSnap", []*transportpb.SnapshotChunk{{ClusterId: cid, From: lid, To: fid, Message: heartbeat, Last: true}}, codes.InvalidArgument},
		{"another cluster", []*transportpb.SnapshotChunk{{ClusterId: cid + 1, From: lid, To: fid, Message: snap, Last: true}}, codes.FailedPrecondition},
		{"no last chunk", []*transportpb.SnapshotChunk{{ClusterId: cid, From: lid, To: fid, Message: snap, Data: garbage}}, codes.InvalidArgument},
		{"a later chunk of another cluster", []*transportpb.SnapshotChunk{
			{ClusterId: cid, From: lid, To: fid, Message: snap, Data: garbage},
			{ClusterId: cid + 1, From: lid, To: fid, Data: garbage, Last: true},
		}, codes.FailedPrecondition},
	}
	for _, tc := range chunks {
		wantCode(t, "snapshot: "+tc.name, sendChunks(ctx, rc, tc.chunks...), tc.want)
	}

	// Bytes that are not HTTP/2 at all.
	conn, err := net.DialTimeout("tcp", f.PeerAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write(append([]byte("GET / HTTP/1.1\r\n\r\n"), garbage...))
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = conn.Read(make([]byte, 1024))
	conn.Close()

	checkServing(ctx, t, f, "after-garbage")
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestForgedSnapshotWithGarbageData sends a member a well-formed MsgSnap, as
// its leader would, whose snapshot data is garbage: the member must refuse it
// and keep running, not crash.
func TestForgedSnapshotWithGarbageData(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := other(c.Members(), leader)
	st, err := f.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cid, term, lid, fid := st.GetHeader().GetClusterId(), st.GetHeader().GetTerm(), leader.ID(), f.ID()
	voters := st.GetConfiguration().GetVoters()
	snap := encode(t, pb.Message{Type: pb.MsgSnap, From: lid, To: fid, Term: term,
		Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: st.GetCommitIndex() + 1000, Term: term, ConfState: pb.ConfState{Voters: voters}}}})
	err = sendChunks(ctx, peerClient(t, f), &transportpb.SnapshotChunk{
		ClusterId: cid, From: lid, To: fid, Message: snap, Data: []byte("not a raftkube snapshot"), Last: true,
	})
	t.Logf("forged snapshot: %v", err)
	// A linearizable read through f needs the leader's answer, which f's loop
	// receives after the forged message: once it is served, the forged
	// message was handled.
	checkServing(ctx, t, f, "after-forged-snapshot")
	if exited, err := f.Exited(); exited {
		t.Fatalf("%s exited after a forged snapshot: %v", f.Name(), err)
	}
}
