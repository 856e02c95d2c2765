package cluster

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// TestOversizedRequests sends values over the node's limits, to the leader
// and to a follower: a request over --max-request-bytes is refused by gRPC,
// a value over the store's 1 MiB bound by the member, both with
// ResourceExhausted, and neither is applied.
func TestOversizedRequests(t *testing.T) {
	const maxRequest = 1536 << 10 // the node's default, stated to size the values below
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3, MaxRequestBytes: maxRequest})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := other(c.Members(), leader)
	overValue := bytes.Repeat([]byte("v"), 1<<20+1)        // over kv's MaxValueBytes, under the request limit
	overRequest := bytes.Repeat([]byte("r"), maxRequest+1) // over --max-request-bytes
	for _, n := range []*harness.Node{leader, follower} {
		_, err := n.KV().Put(ctx, &serverpb.PutRequest{Key: []byte("big"), Value: overValue})
		wantCode(t, n.Name()+": put of a value over 1 MiB", err, codes.ResourceExhausted)
		_, err = n.KV().Put(ctx, &serverpb.PutRequest{Key: []byte("big"), Value: overRequest})
		wantCode(t, n.Name()+": put over --max-request-bytes", err, codes.ResourceExhausted)
		_, err = n.KV().CompareAndSwap(ctx, &serverpb.CompareAndSwapRequest{Cas: &kvpb.CompareAndSwap{
			Key: []byte("big"), Value: overValue, Expected: &kvpb.CompareAndSwap_ExpectedModIndex{ExpectedModIndex: 0},
		}})
		wantCode(t, n.Name()+": compare-and-swap of a value over 1 MiB", err, codes.ResourceExhausted)
		_, err = n.KV().Put(ctx, &serverpb.PutRequest{Key: bytes.Repeat([]byte("k"), 4<<10+1), Value: []byte("v")})
		wantCode(t, n.Name()+": put of a key over 4 KiB", err, codes.ResourceExhausted)
		_, err = n.KV().Put(ctx, &serverpb.PutRequest{Value: []byte("v")})
		wantCode(t, n.Name()+": put without a key", err, codes.InvalidArgument)
	}
	cl := c.Client(t)
	if _, err := cl.Put(ctx, []byte("big"), overValue); !errors.Is(err, client.ErrTooLarge) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("client put of a value over 1 MiB: %v, want ErrTooLarge and a known outcome", err)
	}
	// A value of exactly the limit is accepted; nothing oversized was applied.
	limit := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := cl.Put(ctx, []byte("limit"), limit); err != nil {
		t.Fatalf("put of a value of exactly 1 MiB: %v", err)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Members() {
		get, err := n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("big"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
		if err != nil {
			t.Fatal(err)
		}
		if get.GetKv() != nil {
			t.Errorf("%s holds big (%d bytes), refused by every request", n.Name(), len(get.GetKv().GetValue()))
		}
		get, err = n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("limit"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(get.GetKv().GetValue(), limit) {
			t.Errorf("%s: limit holds %d bytes, want %d", n.Name(), len(get.GetKv().GetValue()), len(limit))
		}
	}
}

// unknownID is a member id no test cluster has: ids are random 64-bit numbers.
const unknownID = 0x0123456789abcdef

// TestInvalidMembershipRequestsRefused names a member id the cluster never
// had in membership changes and a leadership transfer, and sends malformed
// membership requests: each is refused with a code that says the request was
// not applied, and the configuration does not change.
func TestInvalidMembershipRequestsRefused(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*harness.Node{leader, other(c.Members(), leader)} {
		for _, tc := range unknownMemberRequests(ctx, n) {
			err := tc.call()
			if err == nil {
				t.Errorf("%s: %s succeeded", n.Name(), tc.name)
				continue
			}
			// The codes the client reads as refusals, not as unknown outcomes.
			if code := status.Code(err); code != codes.NotFound && code != codes.InvalidArgument {
				t.Errorf("%s: %s: %v, want NotFound (or InvalidArgument)", n.Name(), tc.name, err)
			}
		}
	}
	// Malformed membership requests are refused with InvalidArgument.
	var all []*serverpb.MembershipChange
	for _, n := range c.Members() {
		all = append(all, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: n.ID()})
	}
	invalid := []struct {
		name string
		call func() error
	}{
		{"remove every voter", func() error {
			_, err := leader.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: all})
			return err
		}},
		{"no changes", func() error {
			_, err := leader.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{})
			return err
		}},
		{"a change without a type", func() error {
			_, err := leader.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{
				Changes: []*serverpb.MembershipChange{{Id: leader.ID()}}})
			return err
		}},
		{"add a learner without an id", func() error {
			_, err := leader.Admin().AddLearner(ctx, &serverpb.AddLearnerRequest{Member: &serverpb.Member{PeerAddress: "127.0.0.1:1"}})
			return err
		}},
		{"add a learner without a peer address", func() error {
			_, err := leader.Admin().AddLearner(ctx, &serverpb.AddLearnerRequest{Member: &serverpb.Member{Id: unknownID}})
			return err
		}},
	}
	for _, tc := range invalid {
		wantCode(t, tc.name, tc.call(), codes.InvalidArgument)
	}

	after, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, a := before.GetConfiguration(), after.GetConfiguration(); !slices.Equal(b.GetVoters(), a.GetVoters()) ||
		len(a.GetLearners()) > 0 || len(a.GetOutgoingVoters()) > 0 || after.GetRole() != serverpb.Role_ROLE_LEADER {
		t.Errorf("configuration changed from %v to %v (role %v)", b, a, after.GetRole())
	}
}

// TestUnknownMemberIsNotFound asserts the code the client package documents
// for an unknown member id: codes.NotFound (client.ErrNotFound).
func TestUnknownMemberIsNotFound(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*harness.Node{leader, other(c.Members(), leader)} {
		for _, tc := range unknownMemberRequests(ctx, n) {
			wantCode(t, n.Name()+": "+tc.name, tc.call(), codes.NotFound)
		}
	}
	cl := c.Client(t)
	if _, err := cl.TransferLeadership(ctx, unknownID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("client transfer to an unknown member: %v, want ErrNotFound", err)
	}
}

type namedCall struct {
	name string
	call func() error
}

func unknownMemberRequests(ctx context.Context, n *harness.Node) []namedCall {
	change := func(typ serverpb.MembershipChange_Type) func() error {
		return func() error {
			_, err := n.Admin().ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{
				Changes: []*serverpb.MembershipChange{{Type: typ, Id: unknownID}},
			})
			return err
		}
	}
	return []namedCall{
		{"remove an unknown member", change(serverpb.MembershipChange_TYPE_REMOVE)},
		{"promote an unknown member", change(serverpb.MembershipChange_TYPE_ADD_VOTER)},
		{"transfer leadership to an unknown member", func() error {
			_, err := n.Admin().TransferLeadership(ctx, &serverpb.TransferLeadershipRequest{To: unknownID})
			return err
		}},
	}
}
