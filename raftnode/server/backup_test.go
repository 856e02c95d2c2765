package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// saveTo streams m's SaveSnapshot into a snapfile and returns the file and
// the trailer the member sent.
func saveTo(t *testing.T, m *member) ([]byte, *serverpb.SnapshotTrailer) {
	t.Helper()
	stream, err := m.admin.SaveSnapshot(ctxT(t), &serverpb.SaveSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw, err := snapfile.NewWriter(&buf, snapfile.MetadataFromProto(first.GetMetadata()))
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended before its trailer: %v", err)
		}
		if tr := msg.GetTrailer(); tr != nil {
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the trailer: %v", err)
			}
			return buf.Bytes(), tr
		}
		if _, err := fw.Write(msg.GetData()); err != nil {
			t.Fatal(err)
		}
	}
}

// A saved stream makes a file whose checksum is the member's and that a new
// member founds a cluster from: new ids, the same keys, one voter. A data dir
// holding a member refuses the restore; the founder restarts with the flag.
func TestSaveSnapshotAndRestore(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	var last uint64
	for i := range 20 {
		last = a.put(fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)).GetResult().GetModIndex()
	}
	file, tr := saveTo(t, a)
	info, err := snapfile.Verify(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.SHA256[:], tr.GetSha256()) || uint64(info.DataBytes) != tr.GetDataBytes() {
		t.Fatalf("file %x over %d bytes, member's trailer %x over %d", info.SHA256, info.DataBytes, tr.GetSha256(), tr.GetDataBytes())
	}
	m := info.Metadata
	if m.Index < last || m.ClusterID != a.srv.ClusterID() || m.MemberID != a.srv.ID() || len(m.Voters) != 1 || m.Term == 0 {
		t.Fatalf("metadata %+v: want index >= %d, this cluster and member", m, last)
	}
	path := filepath.Join(t.TempDir(), "a.snap")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}

	// A member's data dir is never restored over.
	a.close()
	if _, err := New(Config{DataDir: a.dir, RestoreFrom: path, PeerListener: listen(t), ClientListener: listen(t)}); !errors.Is(err, ErrDataDirNotEmpty) {
		t.Fatalf("restore over a member: %v, want ErrDataDirNotEmpty", err)
	}

	dir := t.TempDir()
	b := startMember(t, dir, false, func(c *Config) { c.RestoreFrom = path })
	b.waitLeader()
	st := b.status()
	if b.srv.ClusterID() == m.ClusterID || b.srv.ID() == m.MemberID || st.GetAppliedIndex() < m.Index ||
		len(st.GetConfiguration().GetVoters()) != 1 {
		t.Fatalf("restored member %x of cluster %x, applied %d, voters %v", b.srv.ID(), b.srv.ClusterID(), st.GetAppliedIndex(), st.GetConfiguration().GetVoters())
	}
	for i := range 20 {
		kv := b.get(fmt.Sprintf("k%02d", i), serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
		if string(kv.GetValue()) != fmt.Sprintf("v%d", i) {
			t.Errorf("k%02d = %q", i, kv.GetValue())
		}
	}
	if r := b.put("after", "x"); r.GetResult().GetModIndex() <= m.Index {
		t.Errorf("a write after the restore applied at %d, not after the snapshot's %d", r.GetResult().GetModIndex(), m.Index)
	}
	id, cid := b.srv.ID(), b.srv.ClusterID()
	b.close()
	c := startMember(t, dir, false, func(c *Config) { c.RestoreFrom = path })
	if c.srv.ID() != id || c.srv.ClusterID() != cid {
		t.Fatalf("restart with the same file: member %x of %x, was %x of %x", c.srv.ID(), c.srv.ClusterID(), id, cid)
	}
}
