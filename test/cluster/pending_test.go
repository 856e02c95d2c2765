package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// TestChangeWhileJointIsRefused enters a joint configuration with explicit
// leave and checks that it stays joint, that every other membership change is
// refused with FailedPrecondition until LeaveJoint, and that LeaveJoint
// outside a joint configuration is refused the same way.
func TestChangeWhileJointIsRefused(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	first := c.Members()
	learner, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spare, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddLearner(ctx, learner); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCaughtUp(ctx, learner); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := other(first, leader)
	resp, err := follower.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{
		Changes:       []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: learner.ID()}},
		ExplicitLeave: true,
	})
	if err != nil {
		t.Fatalf("promote with explicit leave, through a follower: %v", err)
	}
	four := ids(append(slices.Clone(first), learner)...)
	cfg := resp.GetConfiguration()
	if !slices.Equal(cfg.GetVoters(), four) || !slices.Equal(cfg.GetOutgoingVoters(), ids(first...)) || cfg.GetAutoLeave() {
		t.Fatalf("entered voters %x outgoing %x auto leave %v, want %x, %x, false", cfg.GetVoters(), cfg.GetOutgoingVoters(), cfg.GetAutoLeave(), four, ids(first...))
	}
	all := append(slices.Clone(first), learner)
	if err := waitJoint(ctx, all, true); err != nil {
		t.Fatal(err)
	}

	// Every change but LeaveJoint is refused, on the leader and on a follower.
	for _, n := range []*harness.Node{leader, follower} {
		_, err := n.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{
			Changes: []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: learner.ID()}},
		})
		wantCode(t, n.Name()+": change membership while joint", err, codes.FailedPrecondition)
		if !serverpb.HasReason(err, serverpb.ReasonChangeInProgress) {
			t.Errorf("%s: change membership while joint: %v lacks reason %s", n.Name(), err, serverpb.ReasonChangeInProgress)
		}
		_, err = n.Admin().AddLearner(ctx, &serverpb.AddLearnerRequest{Member: spare.Member()})
		wantCode(t, n.Name()+": add learner while joint", err, codes.FailedPrecondition)
	}
	st, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetConfiguration().GetOutgoingVoters()) == 0 || slices.Contains(st.GetConfiguration().GetLearners(), spare.ID()) {
		t.Fatalf("a refused change changed the configuration: %v", st.GetConfiguration())
	}

	resp, err = follower.Admin().LeaveJoint(ctx, &serverpb.LeaveJointRequest{})
	if err != nil {
		t.Fatalf("leave joint through a follower: %v", err)
	}
	if cfg := resp.GetConfiguration(); !slices.Equal(cfg.GetVoters(), four) || len(cfg.GetOutgoingVoters()) > 0 {
		t.Errorf("left to voters %x outgoing %x, want %x only", cfg.GetVoters(), cfg.GetOutgoingVoters(), four)
	}
	c.SetMembers(all...)
	if err := c.WaitConfiguration(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*harness.Node{leader, follower} {
		_, err := n.Admin().LeaveJoint(ctx, &serverpb.LeaveJointRequest{})
		wantCode(t, n.Name()+": leave joint when not joint", err, codes.FailedPrecondition)
	}
	// Changes are accepted again.
	if err := c.AddLearner(ctx, spare); err != nil {
		t.Errorf("add learner after leaving: %v", err)
	}
}

// waitJoint waits until every node of nodes reports a joint configuration
// (or none, with joint false).
func waitJoint(ctx context.Context, nodes []*harness.Node, joint bool) error {
	return harness.WaitFor(ctx, fmt.Sprintf("joint=%v everywhere", joint), func(ctx context.Context) error {
		for _, n := range nodes {
			st, err := n.Status(ctx)
			if err != nil {
				return err
			}
			if got := len(st.GetConfiguration().GetOutgoingVoters()) > 0; got != joint {
				return fmt.Errorf("%s: joint=%v", n.Name(), got)
			}
		}
		return nil
	})
}

// TestLeaveJointAfterRemovingTheLeader removes the leader itself in a joint
// change with explicit leave (no transfer first): the leader, now only an
// outgoing voter, still leads the joint configuration, and LeaveJoint sent to
// a remaining member must complete the removal.
func TestLeaveJointAfterRemovingTheLeader(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(c.Members(), func(n *harness.Node) bool { return n == leader })
	_, err = rest[0].Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{
		Changes:       []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: leader.ID()}},
		ExplicitLeave: true,
	})
	if err != nil {
		t.Fatalf("remove the leader with explicit leave: %v", err)
	}
	if err := waitJoint(ctx, c.Members(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := rest[0].Admin().LeaveJoint(ctx, &serverpb.LeaveJointRequest{}); err != nil {
		t.Errorf("leave joint through %s, a remaining member: %v", rest[0].Name(), err)
	}
	c.SetMembers(rest...)
	if err := c.WaitConfiguration(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitRemoved(ctx, leader); err != nil {
		t.Fatal(err)
	}
}
