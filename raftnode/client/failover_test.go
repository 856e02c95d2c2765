package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

func newClientCfg(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	c, err := client.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The leader's endpoint stops answering (a frozen or cut-off member) while
// the other members still name it leader, as they do until they elect
// another: the write that hung there is not retried (its outcome is
// unknown), and the next writes go to the other members, not back to it.
func TestWriteAvoidsUnreachableLeader(t *testing.T) {
	cl := clienttest.Start(t, 3)
	c := newClientCfg(t, client.Config{Endpoints: cl.Endpoints(), RequestTimeout: 200 * time.Millisecond,
		SuspectFor: time.Hour})
	ctx := ctx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v0")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cl.Members[0].Hang("Put", true)
	if _, err := c.Put(ctx, []byte("k"), []byte("v1")); !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put to the hanging leader = %v, want ErrOutcomeUnknown", err)
	}
	for i := range 3 {
		if _, err := c.Put(ctx, []byte("k"), []byte("v2")); err != nil {
			t.Fatalf("Put %d after the leader stopped answering: %v", i, err)
		}
	}
	if n := cl.Members[0].Calls("Put"); n != 2 {
		t.Fatalf("the unreachable leader got %d Puts, want 2 (one answered, one hung)", n)
	}
}

// A suspicion ends after Config.SuspectFor: the leader's endpoint is used
// again once it may have recovered.
func TestSuspicionExpires(t *testing.T) {
	cl := clienttest.Start(t, 3)
	c := newClientCfg(t, client.Config{Endpoints: cl.Endpoints(), RequestTimeout: 200 * time.Millisecond,
		SuspectFor: time.Nanosecond})
	ctx := ctx(t)
	cl.Members[0].Hang("Put", true)
	if _, err := c.Put(ctx, []byte("k"), []byte("v1")); !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put to the hanging leader = %v, want ErrOutcomeUnknown", err)
	}
	cl.Members[0].Hang("Put", false)
	if _, err := c.Put(ctx, []byte("k"), []byte("v2")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := cl.Members[0].Calls("Put"); n != 2 {
		t.Fatalf("the recovered leader got %d Puts, want 2", n)
	}
}

// A write a member did not propose (it knows no leader) goes next to the
// leader the other members name, not to the next endpoint in order.
func TestPutNotProposedGoesToLeader(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(3)
	cl.Members[0].Fail("Put", clienttest.NotProposedError())
	cl.Members[0].ReportLeader(0)
	c := newClientNoBackoff(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n1, n2 := cl.Members[1].Calls("Put"), cl.Members[2].Calls("Put"); n1 != 0 || n2 != 1 {
		t.Fatalf("Put calls on members 2 and 3 = %d, %d, want 0, 1 (the leader)", n1, n2)
	}
}

// A write whose first endpoint refuses connections goes to the leader next.
func TestPutNotSentGoesToLeader(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(3)
	c := newClientNoBackoff(t, append([]string{clienttest.DownAddr(t)}, cl.Endpoints()...)...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n0, n1, n2 := cl.Members[0].Calls("Put"), cl.Members[1].Calls("Put"), cl.Members[2].Calls("Put"); n0 != 0 || n1 != 0 || n2 != 1 {
		t.Fatalf("Put calls = %d, %d, %d, want 0, 0, 1 (the leader)", n0, n1, n2)
	}
}

// A write refused at connect time never left the client: it is not applied,
// and the error says so (ErrNotSent, not ErrOutcomeUnknown) with the cause.
func TestPutToRefusingEndpointIsNotSent(t *testing.T) {
	down := clienttest.DownAddr(t)
	c := newClient(t, down)
	_, err := c.Put(ctx(t), []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrNotSent) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put = %v, want ErrNotSent and no unknown outcome", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, down) || !strings.Contains(msg, "connection refused") || strings.Contains(msg, "no endpoint") {
		t.Fatalf("Put err %q: want the endpoint and the refusal, and no claim about other endpoints", msg)
	}
}

// A write whose context ended before it was written to a ready connection
// never left the client either.
func TestPutWithEndedContextIsNotSent(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Put(ended, []byte("k"), []byte("v2"))
	if !errors.Is(err, client.ErrNotSent) || errors.Is(err, client.ErrOutcomeUnknown) || status.Code(err) != codes.Canceled {
		t.Fatalf("Put with an ended context = %v, want Canceled, ErrNotSent, no unknown outcome", err)
	}
	if n := cl.Members[0].Calls("Put"); n != 1 {
		t.Fatalf("Put calls = %d, want 1", n)
	}
}

// A connection that breaks after the write was sent: outcome unknown, not
// retried, and the error names the one endpoint tried rather than claiming
// that no endpoint was available.
func TestBrokenConnectionAfterSendSaysWhatHappened(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[0].Drop("Put")
	c := newClient(t, cl.Endpoints()...)
	_, err := c.Put(ctx(t), []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrOutcomeUnknown) || errors.Is(err, client.ErrNotSent) || status.Code(err) != codes.Unavailable {
		t.Fatalf("Put = %v, want Unavailable with an unknown outcome", err)
	}
	if n := cl.Members[1].Calls("Put"); n != 0 {
		t.Fatalf("the write was retried on another member (%d calls)", n)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || !slices.Equal(ce.Tried, []string{cl.Members[0].Addr}) {
		t.Fatalf("err = %#v, want Tried = [%s]", err, cl.Members[0].Addr)
	}
	if msg := err.Error(); strings.Contains(msg, "no endpoint") || !strings.Contains(msg, cl.Members[0].Addr) {
		t.Fatalf("Put err %q: want the endpoint, and no claim about other endpoints", msg)
	}
	if _, ok := cl.Value("k"); !ok {
		t.Fatalf("the fake should have applied the write: the outcome really was unknown to the client")
	}
}

// A read that every endpoint failed names them all and the last error.
func TestReadFailureNamesEveryEndpointTried(t *testing.T) {
	a, b := clienttest.DownAddr(t), clienttest.DownAddr(t)
	c := newClientCfg(t, client.Config{Endpoints: []string{a, b}, MaxReadAttempts: 2})
	_, _, err := c.Get(ctx(t), []byte("k"))
	var ce *client.Error
	if !errors.As(err, &ce) || !slices.Equal(ce.Tried, []string{a, b}) {
		t.Fatalf("Get err = %#v, want Tried = [%s %s]", err, a, b)
	}
	if msg := err.Error(); !strings.Contains(msg, a) || !strings.Contains(msg, b) || !strings.Contains(msg, "connection refused") {
		t.Fatalf("Get err %q: want both endpoints and the last error", msg)
	}
}

// LeaderStatus answers from the member that leads, whichever endpoint is
// asked first, and says so with ErrNoLeader when none does.
func TestLeaderStatus(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(2)
	c := newClient(t, cl.Endpoints()...)
	st, err := c.LeaderStatus(ctx(t))
	if err != nil || st.GetSelf().GetId() != 2 || st.GetRole() != serverpb.Role_ROLE_LEADER {
		t.Fatalf("LeaderStatus = %v, %v; want member 2's, as leader", st, err)
	}
	cl.SetLeader(0)
	_, err = c.LeaderStatus(ctx(t))
	if !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("LeaderStatus without a leader = %v, want ErrNoLeader", err)
	}
}

// LeaderStatus skips an endpoint that is down and one that answers as a
// follower naming no leader, and finds the leader at the last endpoint.
func TestLeaderStatusFindsLeaderPastOthers(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(3)
	cl.Members[0].ReportLeader(0)
	c := newClient(t, clienttest.DownAddr(t), cl.Members[0].Addr, cl.Members[2].Addr)
	st, err := c.LeaderStatus(ctx(t))
	if err != nil || st.GetSelf().GetId() != 3 {
		t.Fatalf("LeaderStatus = %v, %v; want member 3's", st, err)
	}
}

// While the others elect a new leader they answer that they propose nothing;
// a write then waits for the next round rather than going to the leader
// that stopped answering, where it would hang and end of unknown outcome.
func TestWriteDuringElectionSkipsUnreachableLeader(t *testing.T) {
	cl := clienttest.Start(t, 3)
	c := newClientCfg(t, client.Config{Endpoints: cl.Endpoints(), RequestTimeout: 200 * time.Millisecond,
		SuspectFor: time.Hour, MaxReadAttempts: 3})
	ctx := ctx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v0")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cl.Members[0].Hang("Put", true)
	if _, err := c.Put(ctx, []byte("k"), []byte("v1")); !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put to the hanging leader = %v, want ErrOutcomeUnknown", err)
	}
	for _, m := range cl.Members[1:] {
		m.Fail("Put", clienttest.NotProposedError())
	}
	_, err := c.Put(ctx, []byte("k"), []byte("v2"))
	if !errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put during the election = %v, want ErrUnavailable, not of unknown outcome", err)
	}
	if n := cl.Members[0].Calls("Put"); n != 2 {
		t.Fatalf("the unreachable leader got %d Puts, want 2", n)
	}
	if n := cl.Members[1].Calls("Put"); n != 3 {
		t.Fatalf("member 2 got %d Puts, want 3 (one a round)", n)
	}
	for _, m := range cl.Members[1:] {
		m.Fail("Put", nil)
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("v3")); err != nil {
		t.Fatalf("Put once a leader is elected: %v", err)
	}
}
