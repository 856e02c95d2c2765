package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/snapfile"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
	"github.com/raftkube/raftkube/test/harness"
)

// savedFile is what raftctl snapshot save -o json prints.
type savedFile struct {
	Member    string `json:"member"`
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	ClusterID string `json:"cluster_id"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// saveWithRaftctl runs the raftctl binary's snapshot save against eps.
func saveWithRaftctl(ctx context.Context, t *testing.T, eps []string, file string) savedFile {
	t.Helper()
	out, err := exec.CommandContext(ctx, bins.Ctl, "--endpoints", strings.Join(eps, ","), "-o", "json",
		"snapshot", "save", file).CombinedOutput()
	if err != nil {
		t.Fatalf("raftctl snapshot save: %v\n%s", err, out)
	}
	var s savedFile
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("raftctl output %q: %v", out, err)
	}
	return s
}

// readSnapshotFile reads a snapshot file whole into a store.
func readSnapshotFile(t *testing.T, file string) (snapfile.Metadata, *kv.Store) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := snapfile.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	store, err := kv.Restore(r)
	if err != nil {
		t.Fatalf("restore %s: %v", file, err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: after the data: %v", file, err)
	}
	return r.Metadata(), store
}

// ackedWrite is one acknowledged put: its key, value and applying index.
type ackedWrite struct {
	key, value string
	index      uint64
}

// overwriters overwrite a small set of keys from several goroutines and keep
// every acknowledged put with its index, and the values of puts that failed
// (which may or may not have been applied).
type overwriters struct {
	mu       sync.Mutex
	acked    []ackedWrite
	failed   map[string]bool
	maxIndex uint64
	wg       sync.WaitGroup
	stopc    chan struct{}
}

func startOverwriters(ctx context.Context, cl *client.Client, writers, keys int) *overwriters {
	o := &overwriters{failed: map[string]bool{}, stopc: make(chan struct{})}
	for w := range writers {
		o.wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for seq := 0; ; seq++ {
				select {
				case <-o.stopc:
					return
				case <-ctx.Done():
					return
				default:
				}
				key, value := fmt.Sprintf("ow/%03d", r.IntN(keys)), fmt.Sprintf("w%d-%d", w, seq)
				res, err := cl.Put(ctx, []byte(key), []byte(value))
				o.mu.Lock()
				if err == nil {
					o.acked = append(o.acked, ackedWrite{key, value, res.GetModIndex()})
					o.maxIndex = max(o.maxIndex, res.GetModIndex())
				} else {
					o.failed[key+"="+value] = true
				}
				o.mu.Unlock()
			}
		})
	}
	return o
}

func (o *overwriters) stop() {
	select {
	case <-o.stopc:
	default:
		close(o.stopc)
	}
	o.wg.Wait()
}

func (o *overwriters) snapshot() (n int, maxIndex uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.acked), o.maxIndex
}

// TestSaveSnapshotUnderWrites: a snapshot saved while writers overwrite keys
// is the state at one index: every key holds the value of its last
// acknowledged put at or before the snapshot's index (what a linearizable
// read at that index returns), no put after it shows, and the index is at
// least that of every put acknowledged before the save began.
func TestSaveSnapshotUnderWrites(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	w := startOverwriters(ctx, c.Client(t), 4, 64)
	t.Cleanup(w.stop)
	if err := harness.WaitFor(ctx, "300 acknowledged puts", func(context.Context) error {
		if n, _ := w.snapshot(); n < 300 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, before := w.snapshot()
	file := filepath.Join(t.TempDir(), "under-writes.snap")
	saved := saveWithRaftctl(ctx, t, endpoints(c.Members()), file)
	if saved.Member == fmt.Sprintf("%x", leader.ID()) {
		t.Errorf("the leader %s took the snapshot; a follower should, to spare the leader's writes", leader.Name())
	}
	n, _ := w.snapshot()
	if err := harness.WaitFor(ctx, "puts after the save", func(context.Context) error {
		if m, after := w.snapshot(); m < n+50 || after <= saved.Index {
			return fmt.Errorf("%d acknowledged, last index %d", m, after)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.stop()

	meta, store := readSnapshotFile(t, file)
	if meta.Index != saved.Index || store.AppliedIndex() != meta.Index {
		t.Fatalf("file index %d, store at %d, raftctl printed %d", meta.Index, store.AppliedIndex(), saved.Index)
	}
	if meta.Index < before {
		t.Fatalf("snapshot at %d misses puts acknowledged up to %d before the save began", meta.Index, before)
	}
	if len(meta.Voters) != 3 || len(meta.Members) != 3 || meta.Term == 0 {
		t.Errorf("metadata %+v: want 3 voters and members, a term", meta)
	}
	want := map[string]ackedWrite{}
	for _, a := range w.acked {
		if a.index <= meta.Index && a.index > want[a.key].index {
			want[a.key] = a
		}
	}
	for key, a := range want {
		got, ok := store.Get([]byte(key))
		switch {
		case !ok:
			t.Errorf("%s: missing; last put at or before %d: %s at %d", key, meta.Index, a.value, a.index)
		case string(got.GetValue()) != a.value || got.GetModIndex() != a.index:
			if got.GetModIndex() <= a.index || !w.failed[key+"="+string(got.GetValue())] {
				t.Errorf("%s = %s at %d, want %s at %d", key, got.GetValue(), got.GetModIndex(), a.value, a.index)
			}
		}
	}
	rng, err := store.Range(&kvpb.RangeRequest{Key: []byte("ow/"), Prefix: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, kvp := range rng.GetKvs() {
		if _, ok := want[string(kvp.GetKey())]; !ok && !w.failed[string(kvp.GetKey())+"="+string(kvp.GetValue())] {
			t.Errorf("%s = %s at %d: no put of it at or before %d", kvp.GetKey(), kvp.GetValue(), kvp.GetModIndex(), meta.Index)
		}
	}
	t.Logf("snapshot at %d (puts acknowledged before the save up to %d), %d keys, %d bytes", meta.Index, before, store.Len(), saved.Size)
}

// TestRestoreFoundsNewCluster: a member started with --restore-from on an
// empty data dir founds a new cluster (new cluster and member ids) that serves
// every key of the snapshot, grows to three members the usual way and takes
// writes; the source cluster's members can neither send it Raft traffic nor
// join it; and a data dir that holds a member refuses the restore.
func TestRestoreFoundsNewCluster(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	old := c.Members()
	acked := putKeys(ctx, t, c.Client(t), "bk", 50)
	file := filepath.Join(t.TempDir(), "backup.snap")
	saved := saveWithRaftctl(ctx, t, endpoints(old), file)
	_, snapStore := readSnapshotFile(t, file)
	oldLeader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldSt, err := oldLeader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldCID := oldSt.GetHeader().GetClusterId()
	// The harness finds leaders among all its running nodes: the old
	// cluster stops while the new one forms, and comes back below.
	for _, n := range old {
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	founder, err := c.AddNodeArgs(ctx, "--restore-from="+file)
	if err != nil {
		t.Fatal(err)
	}
	c.SetMembers(founder)
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := founder.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newCID := st.GetHeader().GetClusterId()
	if newCID == 0 || newCID == oldCID || fmt.Sprintf("%x", oldCID) != saved.ClusterID {
		t.Fatalf("new cluster id %x, old %x (file says %s)", newCID, oldCID, saved.ClusterID)
	}
	for _, o := range old {
		if founder.ID() == o.ID() {
			t.Fatalf("the founder reuses member id %x", o.ID())
		}
	}
	if st.GetAppliedIndex() < saved.Index || len(st.GetConfiguration().GetVoters()) != 1 {
		t.Fatalf("founder applied %d (snapshot %d), voters %v", st.GetAppliedIndex(), saved.Index, st.GetConfiguration().GetVoters())
	}

	if _, err := c.Grow(ctx, 2); err != nil {
		t.Fatal(err)
	}
	newMembers := c.Members()
	cl := c.ClientOf(t, newMembers...)
	rng, err := rangePrefix(ctx, cl, "bk")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "restored cluster", rng, "bk", acked)
	if int64(snapStore.Len()) != rng.GetCount() {
		t.Errorf("restored cluster holds %d keys, the snapshot %d", rng.GetCount(), snapStore.Len())
	}
	for k, v := range putKeys(ctx, t, cl, "after", 10) {
		acked[k] = v
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}

	for _, n := range old {
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// An old member's Raft traffic, with its cluster's id, is refused.
	heartbeat := encode(t, pb.Message{Type: pb.MsgHeartbeat, From: oldLeader.ID(), To: founder.ID(), Term: 100})
	err = sendBatches(ctx, peerClient(t, founder), &transportpb.Batch{ClusterId: oldCID, From: oldLeader.ID(), To: founder.ID(), Messages: [][]byte{heartbeat}})
	wantCode(t, "an old member's heartbeat", err, codes.FailedPrecondition)

	// An old member added to the new cluster refuses its leader: it stays in
	// its own cluster and never gets the new cluster's data.
	outsider := old[0]
	if _, err := cl.AddLearner(ctx, outsider.Member()); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Put(ctx, []byte("after/marker"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range newMembers {
		if err := n.WaitApplied(ctx, res.GetModIndex()); err != nil {
			t.Fatal(err)
		}
	}
	ost, err := outsider.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ost.GetHeader().GetClusterId() != oldCID {
		t.Errorf("old member %s now in cluster %x, was %x", outsider.Name(), ost.GetHeader().GetClusterId(), oldCID)
	}
	if rng, err := serializableRange(ctx, outsider, "after"); err != nil || rng.GetCount() != 0 {
		t.Errorf("old member %s holds %d keys of the new cluster (%v)", outsider.Name(), rng.GetCount(), err)
	}
	lst, err := leaderStatus(ctx, newMembers)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lst.GetProgress() {
		if p.GetId() == outsider.ID() && p.GetMatchIndex() != 0 {
			t.Errorf("the new leader counts the old member %s at match %d", outsider.Name(), p.GetMatchIndex())
		}
	}
	// The old cluster serves on, unaffected.
	oldCl := c.ClientOf(t, old...)
	if _, err := oldCl.Put(ctx, []byte("bk/old-still-serves"), []byte("x")); err != nil {
		t.Errorf("old cluster: %v", err)
	}

	// A data dir holding a member refuses the restore, and is left as it was.
	if err := founder.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bins.Node, "--data-dir="+old[1].DataDir(), "--restore-from="+file,
		"--listen-peer=127.0.0.1:0", "--listen-client=127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "data dir is not empty") {
		t.Errorf("restore over a member's data dir: %v\n%s", err, out)
	}
	// The founder restarts with the flag still set: the same snapshot is
	// recognized, nothing is restored again.
	if err := founder.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if fst, err := founder.Status(ctx); err != nil || fst.GetHeader().GetClusterId() != newCID {
		t.Fatalf("founder after a restart: %v, %v", fst.GetHeader(), err)
	}
}

// leaderStatus is the status of the member of nodes that leads them.
func leaderStatus(ctx context.Context, nodes []*harness.Node) (*serverpb.StatusResponse, error) {
	var st *serverpb.StatusResponse
	err := harness.WaitFor(ctx, "a leader among "+fmt.Sprint(len(nodes))+" nodes", func(ctx context.Context) error {
		for _, n := range nodes {
			s, err := n.Status(ctx)
			if err == nil && s.GetRole() == serverpb.Role_ROLE_LEADER {
				st = s
				return nil
			}
		}
		return errors.New("none leads")
	})
	return st, err
}

func endpoints(nodes []*harness.Node) []string {
	eps := make([]string, len(nodes))
	for i, n := range nodes {
		eps[i] = n.ClientAddr()
	}
	return eps
}

// TestRestoreRefusesBadFiles: raftnode --restore-from refuses a damaged or
// foreign file with the format's typed error, and writes nothing to its
// data dir.
func TestRestoreRefusesBadFiles(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	store := kv.New()
	if err := store.ApplyNoop(1); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	fw, err := snapfile.NewWriter(&good, snapfile.Metadata{Index: 1, Term: 1, ClusterID: 9, DataFormatVersion: kv.SnapshotFormatVersion})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteSnapshot(fw); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good.Bytes())
	flipped[len(flipped)-40] ^= 1
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"flipped", flipped, snapfile.ErrChecksumMismatch},
		{"truncated", good.Bytes()[:good.Len()-8], snapfile.ErrTruncated},
		{"other format", []byte("not a snapshot at all"), snapfile.ErrNotSnapshot},
	}
	for _, c := range cases {
		file := filepath.Join(dir, c.name+".snap")
		if err := os.WriteFile(file, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(dir, c.name+"-data")
		out, err := exec.CommandContext(ctx, bins.Node, "--data-dir="+data, "--restore-from="+file,
			"--listen-peer=127.0.0.1:0", "--listen-client=127.0.0.1:0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want.Error()) {
			t.Errorf("%s: %v, want the error %q in\n%s", c.name, err, c.want, out)
		}
		if _, err := os.Stat(filepath.Join(data, "member.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: member.json: %v, want none", c.name, err)
		}
	}
}
