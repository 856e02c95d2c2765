package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// putKeys writes n keys prefix/000000... through cl and returns them.
func putKeys(ctx context.Context, t *testing.T, cl *client.Client, prefix string, n int) map[string]string {
	t.Helper()
	acked := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("%s/%06d", prefix, i), fmt.Sprintf("value-%d", i)
		if _, err := cl.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = v
	}
	return acked
}

// loseMajority kills every member but survivor (deleting their data dirs when
// wipe is set) and waits until survivor knows no leader.
func loseMajority(ctx context.Context, t *testing.T, c *harness.Cluster, survivor *harness.Node, wipe bool) []*harness.Node {
	t.Helper()
	var lost []*harness.Node
	for _, n := range c.Members() {
		if n == survivor {
			continue
		}
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
		if wipe {
			if err := os.RemoveAll(n.DataDir()); err != nil {
				t.Fatal(err)
			}
		}
		lost = append(lost, n)
	}
	err := harness.WaitFor(ctx, survivor.Name()+" to know no leader", func(ctx context.Context) error {
		st, err := survivor.Status(ctx)
		if err != nil {
			return err
		}
		if l := st.GetHeader().GetLeaderId(); l != 0 {
			return fmt.Errorf("still knows leader %x", l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lost
}

// forceWithRaftctl runs raftctl member force-new-cluster on n and returns the
// configuration it printed.
func forceWithRaftctl(ctx context.Context, t *testing.T, n *harness.Node) (voters []string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, bins.Ctl, "--endpoints="+n.ClientAddr(), "-o", "json",
		"member", "force-new-cluster", "--confirm").CombinedOutput()
	if err != nil {
		t.Fatalf("raftctl member force-new-cluster: %v\n%s", err, out)
	}
	var resp struct {
		Voters []string `json:"voters"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("raftctl output %q: %v", out, err)
	}
	return resp.Voters
}

// TestForceNewClusterFromSurvivor: two of three voters are lost with their
// disks. The survivor, forced to be the only voter (raftctl member
// force-new-cluster), leads, serves every acknowledged write, keeps that
// configuration across a crash, and grows again the normal way: a fresh
// member joins as a learner, catches up and is promoted.
func TestForceNewClusterFromSurvivor(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	acked := putKeys(ctx, t, c.Client(t), "dr", 50)
	// The leader holds every acknowledged write: the survivor an operator picks.
	survivor, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Status says how far each log goes: what an operator picks the survivor by.
	for _, n := range c.Members() {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.GetLastLogTerm() == 0 || st.GetLastLogIndex() < st.GetCommitIndex() || st.GetCommitIndex() == 0 {
			t.Errorf("%s: last log %d/%d, commit %d", n.Name(), st.GetLastLogTerm(), st.GetLastLogIndex(), st.GetCommitIndex())
		}
	}
	lost := loseMajority(ctx, t, c, survivor, true)

	if got := forceWithRaftctl(ctx, t, survivor); !slices.Equal(got, []string{strconv.FormatUint(survivor.ID(), 16)}) {
		t.Fatalf("voters after force-new-cluster %v, want only %x", got, survivor.ID())
	}
	c.SetMembers(survivor)
	st, err := survivor.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetRole() != serverpb.Role_ROLE_LEADER || st.GetHeader().GetClusterId() == 0 {
		t.Fatalf("survivor after forcing: %v", st)
	}
	for _, n := range lost {
		if !slices.Contains(st.GetConfiguration().GetRemoved(), n.ID()) {
			t.Errorf("lost member %s (%x) not recorded as removed: %x", n.Name(), n.ID(), st.GetConfiguration().GetRemoved())
		}
	}
	cl := c.ClientOf(t, survivor)
	rng, err := rangePrefix(ctx, cl, "dr")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "survivor", rng, "dr", acked)
	for k, v := range putKeys(ctx, t, cl, "after", 10) {
		acked[k] = v
	}

	// A crash right after: the forced configuration is durable.
	if err := survivor.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := survivor.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConfiguration(ctx); err != nil {
		t.Fatal(err)
	}

	// Grow the normal way.
	fresh, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddLearner(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCaughtUp(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeMembership(ctx, []*harness.Node{fresh}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClientOf(t, fresh, survivor).Put(ctx, []byte("grown"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"dr", "after"} {
		rng, err := serializableRange(ctx, fresh, prefix)
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, "fresh member "+prefix, rng, prefix, withPrefix(acked, prefix))
	}
}

// TestForceNewClusterOldMembersRefused: the lost members come back with their
// data after the survivor was forced alone. The survivor refuses their
// messages as removed members'; they learn they were removed and serve
// nothing, and the survivor's configuration and data stay as forced.
func TestForceNewClusterOldMembersRefused(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	acked := putKeys(ctx, t, c.Client(t), "dr", 20)
	survivor, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost := loseMajority(ctx, t, c, survivor, false)
	forceWithRaftctl(ctx, t, survivor)
	c.SetMembers(survivor)
	cl := c.ClientOf(t, survivor)
	for k, v := range putKeys(ctx, t, cl, "forced", 5) {
		acked[k] = v
	}

	for _, n := range lost {
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range lost {
		if err := waitRemoved(ctx, n); err != nil {
			t.Fatal(err)
		}
		_, err := n.KV().Put(ctx, &serverpb.PutRequest{Key: []byte("dr/stale"), Value: []byte("x")})
		wantCode(t, n.Name()+": put on an old member", err, codes.FailedPrecondition)
		if !serverpb.HasReason(err, serverpb.ReasonMemberRemoved) {
			t.Errorf("%s: put on an old member: %v lacks reason %s", n.Name(), err, serverpb.ReasonMemberRemoved)
		}
	}
	if err := c.WaitConfiguration(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Leader(ctx); err != nil || l != survivor {
		t.Fatalf("leader %v (%v), want the survivor %s", l, err, survivor.Name())
	}
	for _, prefix := range []string{"dr", "forced"} {
		rng, err := rangePrefix(ctx, cl, prefix)
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, "survivor "+prefix, rng, prefix, withPrefix(acked, prefix))
	}
}

// withPrefix are the writes of acked under prefix/.
func withPrefix(acked map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range acked {
		if strings.HasPrefix(k, prefix+"/") {
			out[k] = v
		}
	}
	return out
}

// TestForceNewClusterRefused: with a leader, forcing is refused on the leader
// and on a follower (HAS_LEADER); without confirm it is an invalid argument;
// a member waiting to be added is no member (NOT_MEMBER). Nothing changes.
func TestForceNewClusterRefused(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := other(c.Members(), leader)
	for _, n := range []*harness.Node{leader, follower} {
		cl := c.ClientOf(t, n)
		_, err := cl.ForceNewCluster(ctx, n.ClientAddr())
		if !serverpb.HasReason(err, serverpb.ReasonHasLeader) || !errors.Is(err, client.ErrFailedPrecondition) {
			t.Errorf("force on %s with a leader: %v, want reason %s", n.Name(), err, serverpb.ReasonHasLeader)
		}
	}
	_, err = follower.Admin().ForceNewCluster(ctx, &serverpb.ForceNewClusterRequest{})
	wantCode(t, "force without confirm", err, codes.InvalidArgument)
	joining, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = joining.Admin().ForceNewCluster(ctx, &serverpb.ForceNewClusterRequest{Confirm: true})
	if !serverpb.HasReason(err, serverpb.ReasonNotMember) {
		t.Errorf("force on a joining member: %v, want reason %s", err, serverpb.ReasonNotMember)
	}
	if err := c.WaitConfiguration(ctx); err != nil {
		t.Fatal(err)
	}
}
