package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkube/raftkube/test/harness"
)

// TestBootstrapFromSharedByPods: the operator's pods share one setting,
// --bootstrap-member naming the founder and --bootstrap-from the snapshot
// file. The named member founds a new cluster from the file, another member
// with the same flags ignores them and joins, and the founder restarts with
// the flags still set once the file is gone (a re-created pod has a new
// emptyDir) as the same member of the same cluster, its data intact.
func TestBootstrapFromSharedByPods(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 1})
	acked := putKeys(ctx, t, c.Client(t), "bf", 20)
	file := filepath.Join(t.TempDir(), "snapshot")
	saved := saveWithRaftctl(ctx, t, endpoints(c.Members()), file)
	for _, n := range c.Members() {
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The harness names nodes n0, n1, ... in start order.
	founderName := fmt.Sprintf("n%d", len(c.Nodes()))
	shared := []string{"--bootstrap-member=" + founderName, "--bootstrap-from=" + file}
	founder, err := c.AddNodeArgs(ctx, shared...)
	if err != nil {
		t.Fatal(err)
	}
	if founder.Name() != founderName {
		t.Fatalf("founder started as %s, expected %s", founder.Name(), founderName)
	}
	c.SetMembers(founder)
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := founder.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cid := st.GetHeader().GetClusterId()
	if fmt.Sprintf("%x", cid) == saved.ClusterID || st.GetAppliedIndex() < saved.Index {
		t.Fatalf("founder in cluster %x (the snapshot's is %s), applied %d of the snapshot's %d",
			cid, saved.ClusterID, st.GetAppliedIndex(), saved.Index)
	}

	joiner, err := c.AddNodeArgs(ctx, shared...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddLearner(ctx, joiner); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCaughtUp(ctx, joiner); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeMembership(ctx, []*harness.Node{joiner}, nil); err != nil {
		t.Fatal(err)
	}
	if jst, err := joiner.Status(ctx); err != nil || jst.GetHeader().GetClusterId() != cid {
		t.Fatalf("joiner: %v, %v; want cluster %x", jst.GetHeader(), err, cid)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := founder.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := founder.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if fst, err := founder.Status(ctx); err != nil || fst.GetHeader().GetClusterId() != cid {
		t.Fatalf("founder restarted without its file: %v, %v; want cluster %x", fst.GetHeader(), err, cid)
	}
	rng, err := rangePrefix(ctx, c.ClientOf(t, founder, joiner), "bf")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "restored cluster", rng, "bf", acked)
}
