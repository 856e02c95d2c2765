package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
)

// pki issues a test cluster's certificates. Members get both organizations
// on both ports, as the operator issues them.
type pki struct {
	peerCA, clientCA *tlstest.CA
	n                int
}

func newPKI(t *testing.T) *pki {
	return &pki{peerCA: tlstest.NewCA(t, "peer-ca"), clientCA: tlstest.NewCA(t, "client-ca")}
}

// member is a Config tweak giving each member it is applied to mutual TLS on
// both ports with certificates of its own.
func (p *pki) member(c *Config) {
	p.n++
	name := fmt.Sprintf("member%d", p.n)
	c.PeerTLS = p.peerCA.Issue(name, tlsconfig.AdminOrganization, tlsconfig.MemberOrganization)
	c.ClientTLS = p.clientCA.Issue(name, tlsconfig.AdminOrganization, tlsconfig.MemberOrganization)
	c.TLSCheckInterval = 20 * time.Millisecond
}

// client is a TLS config trusting the client CA and presenting a fresh
// certificate of ca in orgs (ca nil: no certificate).
func (p *pki) client(t *testing.T, ca *tlstest.CA, orgs ...string) *tls.Config {
	t.Helper()
	var f tlsconfig.Files
	if ca != nil {
		p.n++
		f = ca.Issue(fmt.Sprintf("client%d", p.n), orgs...)
	}
	return tlstest.ClientConfig(t, p.clientCA, f)
}

// apis dials m's client port with conf (nil: plaintext).
func (m *member) apis(conf *tls.Config) (serverpb.KVClient, serverpb.AdminClient) {
	m.t.Helper()
	creds := insecure.NewCredentials()
	if conf != nil {
		creds = credentials.NewTLS(conf)
	}
	cc, err := grpc.NewClient(m.srv.ClientAddr(), grpc.WithTransportCredentials(creds))
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { cc.Close() })
	return serverpb.NewKVClient(cc), serverpb.NewAdminClient(cc)
}

// clientCall is one method of the client port with a valid request.
type clientCall struct {
	method string
	// admin: the method needs the admin organization.
	admin bool
	do    func(context.Context, serverpb.KVClient, serverpb.AdminClient) error
}

func clientCalls(self uint64) []clientCall {
	key := []byte("authz")
	return []clientCall{
		{"KV.Put", false, func(ctx context.Context, kv serverpb.KVClient, _ serverpb.AdminClient) error {
			_, err := kv.Put(ctx, &serverpb.PutRequest{Key: key, Value: []byte("v")})
			return err
		}},
		{"KV.Get", false, func(ctx context.Context, kv serverpb.KVClient, _ serverpb.AdminClient) error {
			_, err := kv.Get(ctx, &serverpb.GetRequest{Key: key})
			return err
		}},
		{"KV.Range", false, func(ctx context.Context, kv serverpb.KVClient, _ serverpb.AdminClient) error {
			_, err := kv.Range(ctx, &serverpb.RangeRequest{Range: &kvpb.RangeRequest{Key: key, Prefix: true}})
			return err
		}},
		{"KV.CompareAndSwap", false, func(ctx context.Context, kv serverpb.KVClient, _ serverpb.AdminClient) error {
			_, err := kv.CompareAndSwap(ctx, &serverpb.CompareAndSwapRequest{Cas: &kvpb.CompareAndSwap{Key: key, Expected: &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte("v")}, Value: []byte("w")}})
			return err
		}},
		{"KV.Delete", false, func(ctx context.Context, kv serverpb.KVClient, _ serverpb.AdminClient) error {
			_, err := kv.Delete(ctx, &serverpb.DeleteRequest{Delete: &kvpb.Delete{Key: key}})
			return err
		}},
		{"Admin.Status", false, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.Status(ctx, &serverpb.StatusRequest{})
			return err
		}},
		{"Admin.AddLearner", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.AddLearner(ctx, &serverpb.AddLearnerRequest{Member: &serverpb.Member{Id: 0xbad, PeerAddress: "127.0.0.1:1"}})
			return err
		}},
		{"Admin.ChangeMembership", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: []*serverpb.MembershipChange{
				{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: self}}})
			return err
		}},
		{"Admin.LeaveJoint", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.LeaveJoint(ctx, &serverpb.LeaveJointRequest{})
			return err
		}},
		{"Admin.TransferLeadership", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.TransferLeadership(ctx, &serverpb.TransferLeadershipRequest{To: self})
			return err
		}},
		{"Admin.Snapshot", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.Snapshot(ctx, &serverpb.SnapshotRequest{})
			return err
		}},
		{"Admin.ForceNewCluster", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			_, err := a.ForceNewCluster(ctx, &serverpb.ForceNewClusterRequest{Confirm: true})
			return err
		}},
		{"Admin.SaveSnapshot", true, func(ctx context.Context, _ serverpb.KVClient, a serverpb.AdminClient) error {
			stream, err := a.SaveSnapshot(ctx, &serverpb.SaveSnapshotRequest{})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
	}
}

func wantReason(t *testing.T, err error, code codes.Code, reason, what string) {
	t.Helper()
	if status.Code(err) != code || !serverpb.HasReason(err, reason) {
		t.Errorf("%s: got %v, want code %v with reason %s", what, err, code, reason)
	}
}

// The client port with mutual TLS answers each caller by its certificate:
// none (Unauthenticated), an application's (KV and Status only), an
// admin's (everything); one of another CA, or plaintext, never gets past
// the handshake.
func TestClientPortAuthorization(t *testing.T) {
	p := newPKI(t)
	a := startMember(t, t.TempDir(), true, p.member)
	a.waitLeader()
	calls := clientCalls(a.srv.ID())

	t.Run("no certificate", func(t *testing.T) {
		kv, admin := a.apis(p.client(t, nil))
		for _, c := range calls {
			err := c.do(ctxT(t), kv, admin)
			wantReason(t, err, codes.Unauthenticated, serverpb.ReasonUnauthenticated, c.method)
			if err != nil && !strings.Contains(status.Convert(err).Message(), "requires a client certificate signed by the cluster's CA") {
				t.Errorf("%s: message %q does not say what is missing", c.method, status.Convert(err).Message())
			}
		}
	})
	t.Run("application certificate", func(t *testing.T) {
		kv, admin := a.apis(p.client(t, p.clientCA, "shop"))
		for _, c := range calls {
			err := c.do(ctxT(t), kv, admin)
			if !c.admin {
				if err != nil {
					t.Errorf("%s: %v, want served", c.method, err)
				}
				continue
			}
			wantReason(t, err, codes.PermissionDenied, serverpb.ReasonPermissionDenied, c.method)
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, `"raftkube:admin"`) || !strings.Contains(msg, "O=shop") {
				t.Errorf("%s: message %q names neither the organization needed nor the certificate", c.method, msg)
			}
		}
	})
	t.Run("admin certificate", func(t *testing.T) {
		kv, admin := a.apis(p.client(t, p.clientCA, tlsconfig.AdminOrganization))
		if _, err := kv.Put(ctxT(t), &serverpb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Errorf("Put: %v", err)
		}
		if _, err := admin.Snapshot(ctxT(t), &serverpb.SnapshotRequest{}); err != nil {
			t.Errorf("Snapshot: %v", err)
		}
		if stream, err := admin.SaveSnapshot(ctxT(t), &serverpb.SaveSnapshotRequest{}); err != nil {
			t.Errorf("SaveSnapshot: %v", err)
		} else if first, err := stream.Recv(); err != nil || first.GetMetadata() == nil {
			t.Errorf("SaveSnapshot: first message %v, %v; want the metadata", first, err)
		}
		if _, err := admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: a.srv.ID()}); err != nil {
			t.Errorf("TransferLeadership to the leader itself: %v", err)
		}
	})
	t.Run("refused handshakes", func(t *testing.T) {
		other := tlstest.NewCA(t, "other")
		for name, conf := range map[string]*tls.Config{
			"certificate of another CA": p.client(t, other, tlsconfig.AdminOrganization),
			"plaintext":                 nil,
		} {
			kv, _ := a.apis(conf)
			_, err := kv.Get(ctxT(t), &serverpb.GetRequest{Key: []byte("k")})
			if status.Code(err) != codes.Unavailable || serverpb.HasReason(err, serverpb.ReasonUnauthenticated) {
				t.Errorf("%s: got %v, want Unavailable from a refused handshake", name, err)
			}
		}
	})
}

// The admin organization is configurable: the default one then grants
// nothing.
func TestClientAdminOrganization(t *testing.T) {
	p := newPKI(t)
	a := startMember(t, t.TempDir(), true, p.member, func(c *Config) {
		c.ClientTLS = p.clientCA.Issue("ops-member", "ops")
		c.ClientAdminOrganization = "ops"
	})
	a.waitLeader()
	_, defaultAdmin := a.apis(p.client(t, p.clientCA, tlsconfig.AdminOrganization))
	_, err := defaultAdmin.Snapshot(ctxT(t), &serverpb.SnapshotRequest{})
	wantReason(t, err, codes.PermissionDenied, serverpb.ReasonPermissionDenied, "Snapshot with raftkube:admin")
	_, ops := a.apis(p.client(t, p.clientCA, "ops"))
	if _, err := ops.Snapshot(ctxT(t), &serverpb.SnapshotRequest{}); err != nil {
		t.Errorf("Snapshot with ops: %v", err)
	}
}

// Server-only TLS on the client port (no client certificates asked for)
// checks no identity: it is the explicit opt-out, and serves every caller.
func TestServerOnlyTLSAuthorizesNothing(t *testing.T) {
	p := newPKI(t)
	a := startMember(t, t.TempDir(), true, p.member, func(c *Config) { c.ClientTLS.NoClientCertAuth = true })
	a.waitLeader()
	_, admin := a.apis(p.client(t, nil))
	if _, err := admin.Snapshot(ctxT(t), &serverpb.SnapshotRequest{}); err != nil {
		t.Errorf("Snapshot without a certificate on server-only TLS: %v", err)
	}
}

// Followers forward admin calls to the leader, and probe each other, with
// their own client certificate: with the organizations members are issued,
// that keeps working under authorization; an application's certificate is
// refused by the follower before anything is forwarded.
func TestForwardingWithMemberCertificates(t *testing.T) {
	p := newPKI(t)
	ms := threeMembers(t, p.member)
	a, b, c := ms[0], ms[1], ms[2]
	_, app := b.apis(p.client(t, p.clientCA, "shop"))
	_, err := app.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: c.srv.ID()})
	wantReason(t, err, codes.PermissionDenied, serverpb.ReasonPermissionDenied, "TransferLeadership with an application certificate")
	_, admin := b.apis(p.client(t, p.clientCA, tlsconfig.AdminOrganization))
	if _, err := admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: c.srv.ID()}); err != nil {
		t.Fatalf("TransferLeadership through follower b: %v", err)
	}
	c.waitLeader()
	if lead := a.status().GetHeader().GetLeaderId(); lead != c.srv.ID() {
		t.Fatalf("a sees leader %x, want %x", lead, c.srv.ID())
	}
	// Removal probes call Status on the other members with the member's
	// own client credentials.
	cc, err := grpc.NewClient(a.srv.ClientAddr(), grpc.WithTransportCredentials(b.srv.creds.clientDial))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := serverpb.NewAdminClient(cc).Status(ctxT(t), &serverpb.StatusRequest{}); err != nil {
		t.Errorf("Status with b's own client credentials: %v", err)
	}
}
