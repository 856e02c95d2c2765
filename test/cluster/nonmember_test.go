package cluster

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// A member started to join but not yet added answers requests at once with
// NOT_MEMBER, and a client given it first goes on to a member: the write is
// acknowledged in its first round, and the non-member saw one attempt.
func TestRequestToNonMemberAnsweredAtOnce(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 1})
	member := c.Members()[0]
	joining, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = joining.KV().Put(ctx, &serverpb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	wantCode(t, "put on the joining member", err, codes.Unavailable)
	if !serverpb.HasReason(err, serverpb.ReasonNotMember) {
		t.Fatalf("put on the joining member: %v lacks reason %s", err, serverpb.ReasonNotMember)
	}

	// One round, no backoff: a backoff of an hour would end the test.
	cl, err := client.New(ctx, client.Config{Endpoints: []string{joining.ClientAddr(), member.ClientAddr()},
		BackoffBase: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, k := range []string{"a", "b"} {
		if _, err := cl.Put(ctx, []byte(k), []byte("v")); err != nil {
			t.Fatalf("put %s through [non-member, member]: %v", k, err)
		}
	}
	if _, _, err := cl.Get(ctx, []byte("a")); err != nil {
		t.Fatalf("linearizable get through [non-member, member]: %v", err)
	}
}

// BenchmarkPutNonMemberFirst is a fresh client per put (as a fresh raftctl
// process is) whose first endpoint is a member waiting to be added.
func BenchmarkPutNonMemberFirst(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := harness.StartCluster(ctx, b, bins, harness.Options{Voters: 1})
	member := c.Members()[0]
	joining, err := c.AddNode(ctx)
	if err != nil {
		b.Fatal(err)
	}
	eps := []string{joining.ClientAddr(), member.ClientAddr()}
	b.ResetTimer()
	for b.Loop() {
		cl, err := client.New(ctx, client.Config{Endpoints: eps, DialTimeout: 2 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		_, err = cl.Put(ctx, []byte("k"), []byte("v"))
		cl.Close()
		if err != nil {
			b.Fatalf("put through %v: %v", eps, err)
		}
	}
}
