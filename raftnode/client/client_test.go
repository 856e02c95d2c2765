package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, eps ...string) *client.Client {
	t.Helper()
	c, err := client.New(context.Background(), client.Config{
		Endpoints: eps, DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newClientNoBackoff returns a client whose backoff outlasts the test: a
// request that waits one out fails on its deadline.
func newClientNoBackoff(t *testing.T, eps ...string) *client.Client {
	t.Helper()
	c, err := client.New(ctx(t), client.Config{Endpoints: eps, BackoffBase: time.Hour})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKVRoundTrip(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Endpoints()...)
	ctx := ctx(t)
	for _, k := range []string{"a/1", "a/2", "b"} {
		if _, err := c.Put(ctx, []byte(k), []byte("v-"+k)); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
	kv, ok, err := c.Get(ctx, []byte("a/1"), client.Serializable())
	if err != nil || !ok || string(kv.GetValue()) != "v-a/1" {
		t.Fatalf("Get = %v, %v, %v", kv, ok, err)
	}
	if _, ok, err := c.Get(ctx, []byte("zz")); ok || err != nil {
		t.Fatalf("Get missing = %v, %v", ok, err)
	}
	rr, err := c.Range(ctx, []byte("a/"), client.WithPrefix(), client.WithLimit(1))
	if err != nil || len(rr.GetKvs()) != 1 || !rr.GetMore() || rr.GetCount() != 2 {
		t.Fatalf("Range = %v, %v", rr, err)
	}
	res, err := c.CompareAndSwap(ctx, &kvpb.CompareAndSwap{Key: []byte("b"),
		Expected: &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte("v-b")}, Value: []byte("new")})
	if err != nil || !res.GetSucceeded() {
		t.Fatalf("CAS = %v, %v", res, err)
	}
	res, err = c.Delete(ctx, []byte("a/"), client.WithPrefix())
	if err != nil || res.GetDeleted() != 2 {
		t.Fatalf("Delete = %v, %v", res, err)
	}
}

// The first write goes to the first endpoint; its header names member 2 as
// leader, the client looks up member 2's address and sends the next write there.
func TestFollowsLeader(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(2)
	c := newClient(t, cl.Endpoints()...)
	ctx := ctx(t)
	for i := 0; i < 3; i++ {
		if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if got := []int{cl.Members[0].Calls("Put"), cl.Members[1].Calls("Put"), cl.Members[2].Calls("Put")}; got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Fatalf("Put calls per member = %v, want [1 2 0]", got)
	}
	// Leadership moves: a member reporting a new leader redirects the client.
	cl.SetLeader(3)
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := cl.Members[2].Calls("Put"); n != 1 {
		t.Fatalf("new leader got %d Puts, want 1", n)
	}
	l, err := c.Leader(ctx)
	if err != nil || l.GetId() != 3 || l.GetClientAddress() != cl.Members[2].Addr {
		t.Fatalf("Leader = %v, %v", l, err)
	}
}

// A member that names another leader than the rest: the client believes the
// last report and still gets its answers, since any member serves.
func TestMemberReportingOtherLeader(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[1].ReportLeader(2)
	c := newClient(t, cl.Endpoints()[1], cl.Endpoints()[0])
	ctx := ctx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if c.LeaderID() != 2 {
		t.Fatalf("LeaderID = %d, want 2", c.LeaderID())
	}
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("Get: %v", err)
	}
}

func TestReadRetriesOtherEndpoint(t *testing.T) {
	cl := clienttest.Start(t, 2)
	down := clienttest.DownAddr(t)
	c := newClient(t, down, cl.Endpoints()[0], cl.Endpoints()[1])
	ctx := ctx(t)
	cl.Members[0].Fail("Get", status.Error(codes.Unavailable, "no leader"))
	if _, ok, err := c.Get(ctx, []byte("k")); err != nil || ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if a, b := cl.Members[0].Calls("Get"), cl.Members[1].Calls("Get"); a != 1 || b != 1 {
		t.Fatalf("Get calls = %d, %d; want 1, 1", a, b)
	}
	// A read that times out on one member is retried on the next.
	cl.Members[0].Fail("Get", nil)
	cl.Members[0].Hang("Range", true)
	c2, err := client.New(ctx, client.Config{Endpoints: cl.Endpoints(), RequestTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Range(ctx, []byte("k")); err != nil {
		t.Fatalf("Range: %v", err)
	}
	if n := cl.Members[1].Calls("Range"); n != 1 {
		t.Fatalf("second member Range calls = %d", n)
	}
}

func TestReadGivesUpWhenAllDown(t *testing.T) {
	c := newClient(t, clienttest.DownAddr(t), clienttest.DownAddr(t))
	_, _, err := c.Get(ctx(t), []byte("k"))
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "KV.Get") {
		t.Fatalf("Get err = %v, want ErrUnavailable naming KV.Get", err)
	}
}

func TestPutTimedOutAfterSendingIsNotRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[0].Hang("Put", true)
	c, err := client.New(context.Background(), client.Config{Endpoints: cl.Endpoints(), RequestTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Put(ctx(t), []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put err = %v, want ErrOutcomeUnknown", err)
	}
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), cl.Members[0].Addr) {
		t.Fatalf("Put err = %v (code %v), want DeadlineExceeded naming the endpoint", err, status.Code(err))
	}
	if n := cl.Members[1].Calls("Put"); n != 0 {
		t.Fatalf("Put was retried on another member (%d calls)", n)
	}
	if _, ok := cl.Value("k"); !ok {
		t.Fatalf("the fake should have applied the write: the outcome really was unknown to the client")
	}
}

func TestPutWhoseDialFailedIsRetried(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, clienttest.DownAddr(t), cl.Endpoints()[0])
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := cl.Members[0].Calls("Put"); n != 1 {
		t.Fatalf("Put calls = %d, want 1", n)
	}
}

func TestPutToRemovedMemberIsRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[0].Fail("Put", clienttest.RemovedError())
	c := newClient(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := cl.Members[1].Calls("Put"); n != 1 {
		t.Fatalf("second member Put calls = %d, want 1", n)
	}
}

// A write the server did not propose had no effect: it is retried after a
// backoff, and when it keeps failing the error does not claim an unknown
// outcome.
func TestPutNotProposedIsRetried(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Members[0].Fail("Put", clienttest.NotProposedError())
	c, err := client.New(ctx(t), client.Config{Endpoints: cl.Endpoints(), MaxReadAttempts: 3, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Put(ctx(t), []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put = %v, want ErrUnavailable without an unknown outcome", err)
	}
	if n := cl.Members[0].Calls("Put"); n != 3 {
		t.Fatalf("Put calls = %d, want 3 (MaxReadAttempts)", n)
	}
	cl.Members[0].Fail("Put", nil)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put once the member proposes again: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    error
		unknown bool
	}{
		{"invalid", status.Error(codes.InvalidArgument, "empty key"), client.ErrInvalidArgument, false},
		{"too large", status.Error(codes.ResourceExhausted, "value too large"), client.ErrTooLarge, false},
		{"pending", status.Error(codes.FailedPrecondition, "a change is pending"), client.ErrFailedPrecondition, false},
		{"removed member", clienttest.RemovedError(), client.ErrRemoved, false},
		// The reason, not the message, tells a removed member apart.
		{"id removed earlier", status.Error(codes.FailedPrecondition, "member 5 was removed; ids are never reused"), client.ErrFailedPrecondition, false},
		{"not found", status.Error(codes.NotFound, "no member 9"), client.ErrNotFound, false},
		{"unavailable after sending", status.Error(codes.Unavailable, "leader lost"), client.ErrUnavailable, true},
		{"internal", status.Error(codes.Internal, "boom"), client.ErrOutcomeUnknown, true},
		{"no client certificate", clienttest.UnauthenticatedError(), client.ErrUnauthenticated, false},
		{"not an admin", clienttest.PermissionDeniedError(), client.ErrPermissionDenied, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 1)
			cl.Members[0].Fail("ChangeMembership", tt.err)
			c := newClient(t, cl.Endpoints()...)
			_, err := c.ChangeMembership(ctx(t), []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: 1}}, false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := errors.Is(err, client.ErrOutcomeUnknown); got != tt.unknown {
				t.Fatalf("outcome unknown = %v, want %v (%v)", got, tt.unknown, err)
			}
			if status.Code(err) != status.Code(tt.err) {
				t.Fatalf("code = %v, want %v", status.Code(err), status.Code(tt.err))
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Method != "Admin.ChangeMembership" || ce.Endpoint != cl.Members[0].Addr {
				t.Fatalf("err = %#v, want *Error naming method and endpoint", err)
			}
		})
	}
}

// A refusal by certificate is the same on every member: a read is not
// tried on the next endpoint.
func TestAuthorizationRefusalIsNotRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	for _, m := range cl.Members {
		m.Fail("Get", clienttest.UnauthenticatedError())
	}
	c := newClient(t, cl.Endpoints()...)
	_, _, err := c.Get(ctx(t), []byte("k"))
	if !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
	if calls := cl.Members[0].Calls("Get") + cl.Members[1].Calls("Get"); calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}

func TestResultErrorCode(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Endpoints()...)
	_, err := c.Put(ctx(t), nil, []byte("v"))
	if !errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("Put empty key err = %v", err)
	}
}

func TestClusterStatusAndMembership(t *testing.T) {
	cl := clienttest.Start(t, 2)
	down := clienttest.DownAddr(t)
	c := newClient(t, cl.Endpoints()[0], down, cl.Endpoints()[1])
	ctx := ctx(t)
	sts, err := c.ClusterStatus(ctx)
	if err != nil || len(sts) != 3 {
		t.Fatalf("ClusterStatus = %v, %v", sts, err)
	}
	if sts[0].Err != nil || sts[0].Status.GetRole() != serverpb.Role_ROLE_LEADER || sts[2].Status.GetSelf().GetId() != 2 {
		t.Fatalf("statuses = %+v", sts)
	}
	if sts[1].Err == nil || !strings.Contains(sts[1].Err.Error(), down) {
		t.Fatalf("down endpoint err = %v", sts[1].Err)
	}
	if _, err := c.AddLearner(ctx, &serverpb.Member{Id: 7, Name: "m7", PeerAddress: "p", ClientAddress: "c"}); err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	resp, err := c.ChangeMembership(ctx, []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: 7}}, true)
	if err != nil || len(resp.GetConfiguration().GetOutgoingVoters()) != 2 {
		t.Fatalf("ChangeMembership = %v, %v", resp, err)
	}
	if _, err := c.LeaveJoint(ctx); err != nil {
		t.Fatalf("LeaveJoint: %v", err)
	}
	if _, err := c.TransferLeadership(ctx, 2); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	if _, err := c.Snapshot(ctx, cl.Endpoints()[1]); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if _, err := c.Snapshot(ctx, "elsewhere:1"); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("Snapshot unknown endpoint err = %v", err)
	}
	if _, err := c.Status(ctx, down); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Status down err = %v", err)
	}
}

func TestClosed(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c, err := client.New(context.Background(), client.Config{Endpoints: cl.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Put after Close err = %v", err)
	}
}

func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	srv, err := tlsconfig.ServerConfig(ca.Issue("server"))
	if err != nil {
		t.Fatal(err)
	}
	cl := clienttest.StartTLS(t, 1, srv)
	tests := []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{
		{name: "client certificate of the CA", tls: tlstest.ClientConfig(t, ca, ca.Issue("client")), ok: true},
		{name: "no client certificate", tls: tlstest.ClientConfig(t, ca, tlsconfig.Files{})},
		{name: "server of an unknown CA", tls: tlstest.ClientConfig(t, tlstest.NewCA(t, "other"), ca.Issue("client2"))},
		{name: "plaintext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(context.Background(), client.Config{Endpoints: cl.Endpoints(), TLS: tt.tls,
				DialTimeout: time.Second, MaxReadAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = c.Get(ctx(t), []byte("k"))
			if (err == nil) != tt.ok {
				t.Fatalf("Get err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// A connection that fails says why: the handshake's error, typed, not a
// bare "connection failed".
func TestConnectionErrorSaysWhy(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	srv, err := tlsconfig.ServerConfig(ca.Issue("server"))
	if err != nil {
		t.Fatal(err)
	}
	cl := clienttest.StartTLS(t, 1, srv)
	conf := tlstest.ClientConfig(t, ca, ca.Issue("client"))
	conf.ServerName = "demo.elsewhere.svc" // not a name the certificate carries
	c, err := client.New(context.Background(), client.Config{Endpoints: cl.Endpoints(), TLS: conf,
		DialTimeout: time.Second, MaxReadAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.Get(ctx(t), []byte("k"))
	var wrongName x509.HostnameError
	if !errors.As(err, &wrongName) {
		t.Fatalf("Get err = %v, want it to carry the x509.HostnameError", err)
	}
	if !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Get err = %v, want ErrUnavailable too", err)
	}
}

// A member in no configuration (one waiting to be added) refuses at once; the
// write goes on to the next endpoint in the same round, without a backoff.
func TestPutToNonMemberTriesNextEndpoint(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[0].Fail("Put", clienttest.NotMemberError(nil))
	cl.Members[0].Fail("Get", clienttest.NotMemberError(nil))
	c := newClientNoBackoff(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if _, _, err := c.Get(ctx(t), []byte("k")); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n := cl.Members[1].Calls("Put"); n != 1 {
		t.Fatalf("second member Put calls = %d, want 1", n)
	}
}

// A write one member did not propose (it knows no leader) goes on to the next
// endpoint at once: it had no effect, and another member may know the leader.
func TestPutNotProposedTriesNextEndpoint(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Members[0].Fail("Put", clienttest.NotProposedError())
	c := newClientNoBackoff(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n0, n1 := cl.Members[0].Calls("Put"), cl.Members[1].Calls("Put"); n0 != 1 || n1 != 1 {
		t.Fatalf("Put calls = %d, %d, want 1, 1", n0, n1)
	}
}

// A non-member that names the leader sends the write straight there.
func TestNonMemberLeaderHintIsFollowed(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.SetLeader(3)
	cl.Members[0].Fail("Put", clienttest.NotMemberError(cl.Members[2]))
	c := newClient(t, cl.Endpoints()...)
	if _, err := c.Put(ctx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n1, n2 := cl.Members[1].Calls("Put"), cl.Members[2].Calls("Put"); n1 != 0 || n2 != 1 {
		t.Fatalf("Put calls on members 2 and 3 = %d, %d, want 0, 1 (the leader named)", n1, n2)
	}
	if got := c.LeaderID(); got != 3 {
		t.Fatalf("LeaderID = %d, want 3", got)
	}
}
