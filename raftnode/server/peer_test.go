package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// sendBatch sends one batch on a raw peer stream to m and returns how the
// stream ended.
func sendBatch(t *testing.T, m *member, b *transportpb.Batch) error {
	t.Helper()
	cc, err := grpc.NewClient(m.srv.PeerAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := transportpb.NewRaftClient(cc).Stream(ctxT(t))
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if err := stream.Send(b); err != nil {
		t.Fatalf("send: %v", err)
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

func TestPeerBatchFromAnotherClusterIsRefused(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	heartbeat := encode(t, pb.Message{Type: pb.MsgHeartbeat, From: 7, To: a.srv.ID(), Term: 100})
	err := sendBatch(t, a, &transportpb.Batch{ClusterId: a.srv.ClusterID() + 1, From: 7, To: a.srv.ID(), Messages: [][]byte{heartbeat}})
	wantCode(t, err, codes.FailedPrecondition, "batch from another cluster")
	if !strings.Contains(err.Error(), "cluster id mismatch") {
		t.Errorf("error %q does not say why", err)
	}
	// The refused heartbeat's higher term never reached the core.
	if st := a.status(); st.GetRole() != serverpb.Role_ROLE_LEADER || st.GetHeader().GetTerm() >= 100 {
		t.Fatalf("after a refused batch: role %v term %d", st.GetRole(), st.GetHeader().GetTerm())
	}
	a.put("still", "serving")
}

func TestNewMemberWaitsForALeader(t *testing.T) {
	m := startMember(t, t.TempDir(), false)
	vote := encode(t, pb.Message{Type: pb.MsgVote, From: 7, To: m.srv.ID(), Term: 5})
	err := sendBatch(t, m, &transportpb.Batch{ClusterId: 42, From: 7, To: m.srv.ID(), Messages: [][]byte{vote}})
	wantCode(t, err, codes.FailedPrecondition, "a vote request to a member not yet added")
	if m.srv.ClusterID() != 0 {
		t.Fatalf("adopted cluster %x from a vote request", m.srv.ClusterID())
	}
}

func TestMalformedPeerMessage(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	err := sendBatch(t, a, &transportpb.Batch{ClusterId: a.srv.ClusterID(), From: 7, To: a.srv.ID(),
		Messages: [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}}})
	wantCode(t, err, codes.InvalidArgument, "malformed peer message")
	a.put("still", "serving")
}

// A data dir whose newest kv snapshot is corrupt, with the log compacted
// behind it, cannot be recovered locally: the member must refuse to start and
// say what to do, not start with a state missing entries.
func TestCorruptNewestSnapshotRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	small := func(c *Config) { c.SnapshotEntries = 4 }
	a := startMember(t, dir, true, small)
	a.waitLeader()
	for range 10 {
		a.put("k", "v")
	}
	// The newest snapshot is then the one the wal records.
	if _, err := a.admin.Snapshot(ctxT(t), &serverpb.SnapshotRequest{}); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	a.close()

	snaps, err := filepath.Glob(filepath.Join(dir, "snap", "*"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshots in %s: %v", dir, err)
	}
	newest := snaps[len(snaps)-1] // names sort by index
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(newest, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{DataDir: dir, PeerListener: listen(t), ClientListener: listen(t), NoSync: true})
	if err == nil {
		t.Fatal("started with its newest snapshot corrupt and the log compacted behind it")
	}
	if !strings.Contains(err.Error(), "cannot recover its state locally") {
		t.Fatalf("error %q does not explain the way out", err)
	}
}
