package cluster

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

func ids(nodes ...*harness.Node) []uint64 {
	var out []uint64
	for _, n := range nodes {
		out = append(out, n.ID())
	}
	slices.Sort(out)
	return out
}

// checkJoint fails t unless resp is the joint configuration from old to
// new voters, left automatically.
func checkJoint(t *testing.T, what string, resp *serverpb.MembershipResponse, old, new []uint64) {
	t.Helper()
	cfg := resp.GetConfiguration()
	if !slices.Equal(cfg.GetVoters(), new) || !slices.Equal(cfg.GetOutgoingVoters(), old) || !cfg.GetAutoLeave() {
		t.Errorf("%s entered voters %x outgoing %x auto leave %v, want %x, %x, true",
			what, cfg.GetVoters(), cfg.GetOutgoingVoters(), cfg.GetAutoLeave(), new, old)
	}
	if resp.GetIndex() == 0 {
		t.Errorf("%s: no log index in the response", what)
	}
}

// TestScaleThreeFiveThreeUnderWrites grows a cluster from 3 to 5 voters and
// shrinks it back to 3, each in one joint change, while a client writes.
func TestScaleThreeFiveThreeUnderWrites(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	first := c.Members()
	cl := c.Client(t)
	w := startWriter(ctx, t, cl, "scale")
	if err := w.waitAcks(ctx, 20); err != nil {
		t.Fatal(err)
	}

	// 3 -> 5: two learners, caught up, promoted together.
	var added []*harness.Node
	for range 2 {
		n, err := c.AddNode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddLearner(ctx, n); err != nil {
			t.Fatal(err)
		}
		added = append(added, n)
	}
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.GetConfiguration().GetLearners(); !slices.Equal(got, ids(added...)) {
		t.Errorf("learners %x, want %x", got, ids(added...))
	}
	if err := c.WaitCaughtUp(ctx, added...); err != nil {
		t.Fatal(err)
	}
	resp, err := c.ChangeMembership(ctx, added, nil)
	if err != nil {
		t.Fatal(err)
	}
	five := append(slices.Clone(first), added...)
	checkJoint(t, "3 -> 5", resp, ids(first...), ids(five...))
	for _, n := range c.Members() {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.GetConfiguration().GetLearners()) > 0 {
			t.Errorf("%s still has learners %x", n.Name(), st.GetConfiguration().GetLearners())
		}
	}
	if err := w.waitAcks(ctx, w.acks()+20); err != nil {
		t.Fatal(err)
	}

	// 5 -> 3: two of the first members leave in one joint change (the leader
	// hands over first if it is one of them).
	leaving := first[:2]
	resp, err = c.Shrink(ctx, leaving...)
	if err != nil {
		t.Fatal(err)
	}
	three := append([]*harness.Node{first[2]}, added...)
	checkJoint(t, "5 -> 3", resp, ids(five...), ids(three...))
	for _, n := range leaving {
		if err := waitRemoved(ctx, n); err != nil {
			t.Error(err)
		}
	}
	if err := w.waitAcks(ctx, w.acks()+20); err != nil {
		t.Fatal(err)
	}
	acked := w.stop()
	t.Logf("%d writes acknowledged, %d failed", len(acked), w.failures())

	rest := c.Client(t)
	rng, err := rangePrefix(ctx, rest, "scale")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "the 3 remaining", rng, "scale", acked)
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range added {
		rng, err := serializableRange(ctx, n, "scale")
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, "added "+n.Name(), rng, "scale", acked)
	}
}

// TestRemoveLeaderAfterTransfer moves leadership away from a member, removes
// it, and checks that it then says it was removed and refuses requests with
// FailedPrecondition, also after a restart, while the others go on.
func TestRemoveLeaderAfterTransfer(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	cl := c.Client(t)
	if _, err := cl.Put(ctx, []byte("before"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	to := other(c.Members(), old)
	if err := c.TransferLeadership(ctx, to); err != nil {
		t.Fatal(err)
	}
	st, err := old.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetRole() == serverpb.Role_ROLE_LEADER || st.GetHeader().GetLeaderId() != to.ID() {
		t.Fatalf("after the transfer %s is %v and follows %x, want a follower of %x", old.Name(), st.GetRole(), st.GetHeader().GetLeaderId(), to.ID())
	}
	remaining := slices.DeleteFunc(c.Members(), func(n *harness.Node) bool { return n == old })
	resp, err := c.ChangeMembership(ctx, nil, []*harness.Node{old})
	if err != nil {
		t.Fatal(err)
	}
	checkJoint(t, "removal", resp, ids(append(slices.Clone(remaining), old)...), ids(remaining...))
	if err := waitRemoved(ctx, old); err != nil {
		t.Fatal(err)
	}
	checkRefusesAsRemoved(t, old)
	// Its id is never reused.
	if _, err := to.Admin().AddLearner(ctx, &serverpb.AddLearnerRequest{Member: old.Member()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("add the removed member back as a learner: %v, want FailedPrecondition", err)
	}

	// The two left keep serving.
	rest := c.Client(t)
	if _, err := rest.Put(ctx, []byte("after"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"before", "after"} {
		if _, found, err := rest.Get(ctx, []byte(k)); err != nil || !found {
			t.Errorf("get %s from the remaining members: found %v, %v", k, found, err)
		}
	}
	// The removal survives a restart.
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = old.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.GetRemoved() {
		t.Errorf("%s no longer reports removed after a restart", old.Name())
	}
	checkRefusesAsRemoved(t, old)
}

// checkRefusesAsRemoved checks that n answers everything but Status with
// FailedPrecondition, which the client reads as ErrRemoved.
func checkRefusesAsRemoved(t *testing.T, n *harness.Node) {
	t.Helper()
	ctx := testContext(t)
	_, err := n.KV().Put(ctx, &serverpb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	wantCode(t, "put on the removed member", err, codes.FailedPrecondition)
	_, err = n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("before"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	wantCode(t, "serializable get on the removed member", err, codes.FailedPrecondition)
	_, err = n.Admin().AddLearner(ctx, &serverpb.AddLearnerRequest{Member: &serverpb.Member{Id: 1, PeerAddress: "127.0.0.1:1"}})
	wantCode(t, "add learner on the removed member", err, codes.FailedPrecondition)
	_, err = n.Admin().TransferLeadership(ctx, &serverpb.TransferLeadershipRequest{To: n.ID()})
	wantCode(t, "transfer leadership on the removed member", err, codes.FailedPrecondition)

	// The client, given only this endpoint, says why.
	cl := n.Client(t)
	if _, err := cl.Put(ctx, []byte("k"), []byte("v")); !errors.Is(err, client.ErrRemoved) {
		t.Errorf("client put on the removed member: %v, want ErrRemoved", err)
	}
	if _, _, err := cl.Get(ctx, []byte("before")); !errors.Is(err, client.ErrRemoved) {
		t.Errorf("client get on the removed member: %v, want ErrRemoved", err)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatalf("status of the removed member: %v", err)
	}
	if !st.GetRemoved() {
		t.Errorf("%s does not report removed", n.Name())
	}
}

// TestRemoveLeaderWithoutTransfer removes the leader itself with automatic
// leave: it leads the joint configuration out, steps down, and one of the
// others leads the new configuration.
func TestRemoveLeaderWithoutTransfer(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	cl := c.Client(t)
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(c.Members(), func(n *harness.Node) bool { return n == old })
	resp, err := c.ChangeMembership(ctx, nil, []*harness.Node{old})
	if err != nil {
		t.Fatal(err)
	}
	checkJoint(t, "removal of the leader", resp, ids(append(slices.Clone(rest), old)...), ids(rest...))
	if err := waitRemoved(ctx, old); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader == old {
		t.Fatalf("the removed %s still leads", old.Name())
	}
	if _, err := cl.Put(ctx, []byte("after"), []byte("1")); err != nil {
		t.Fatalf("put after the leader's removal: %v", err)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := old.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetRole() == serverpb.Role_ROLE_LEADER {
		t.Errorf("the removed %s still reports itself leader", old.Name())
	}
}
