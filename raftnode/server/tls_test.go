package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

func TestTLSConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	good := ca.Issue("member")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name               string
		peerTLS, clientTLS tlsconfig.Files
		want               string
	}{
		{name: "peer without CA", peerTLS: tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile}, want: "peer TLS needs"},
		{name: "peer cert without key", peerTLS: tlsconfig.Files{CertFile: good.CertFile, TrustedCAFile: ca.CertFile}, want: "peer TLS needs"},
		{name: "client key without cert", clientTLS: tlsconfig.Files{KeyFile: good.KeyFile}, want: "client TLS needs"},
		{name: "client CA alone", clientTLS: tlsconfig.Files{TrustedCAFile: ca.CertFile}, want: "client TLS needs"},
		{name: "peer cert missing", peerTLS: tlsconfig.Files{CertFile: missing, KeyFile: good.KeyFile, TrustedCAFile: ca.CertFile}, want: missing},
		{name: "client CA missing", clientTLS: tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile, TrustedCAFile: missing}, want: missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{DataDir: t.TempDir(), PeerListenAddr: "127.0.0.1:0", ClientListenAddr: "127.0.0.1:0",
				PeerTLS: tt.peerTLS, ClientTLS: tt.clientTLS, NoSync: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// peerStream opens a Raft stream to addr with creds and returns how an empty
// batch of cluster cid to member to ends: Unavailable when the handshake was
// refused.
func peerStream(t *testing.T, addr string, creds credentials.TransportCredentials, cid, to uint64) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := transportpb.NewRaftClient(cc).Stream(ctxT(t))
	if err != nil {
		return err
	}
	if err := stream.Send(&transportpb.Batch{ClusterId: cid, From: 0x7e57, To: to}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// With PeerAllowedOrganization the peer port takes only members'
// certificates — not none, not an application's of the same CA — and the
// member dials only servers with a member's certificate.
func TestPeerIdentity(t *testing.T) {
	p := newPKI(t)
	a := startMember(t, t.TempDir(), true, p.member, func(c *Config) { c.PeerAllowedOrganization = tlsconfig.MemberOrganization })
	a.waitLeader()
	cid := a.srv.ClusterID()
	dialWith := func(f tlsconfig.Files) credentials.TransportCredentials {
		f.TrustedCAFile = p.peerCA.CertFile
		conf, err := tlsconfig.ClientConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		return credentials.NewTLS(conf)
	}
	for name, tt := range map[string]struct {
		files tlsconfig.Files
		ok    bool
	}{
		"no certificate":          {files: tlsconfig.Files{}},
		"application certificate": {files: p.peerCA.Issue("app", tlsconfig.AdminOrganization)},
		"member certificate":      {files: p.peerCA.Issue("peer", tlsconfig.MemberOrganization), ok: true},
	} {
		err := peerStream(t, a.srv.PeerAddr(), dialWith(tt.files), cid, a.srv.ID())
		if tt.ok && err != nil {
			t.Errorf("%s: %v, want the batch taken", name, err)
		}
		if !tt.ok && status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want Unavailable (refused handshake)", name, err)
		}
	}

	// Dialing: a server with an application certificate of the CA is not
	// taken for a member; one with a member's is.
	for name, tt := range map[string]struct {
		orgs []string
		ok   bool
	}{
		"application server": {orgs: []string{tlsconfig.AdminOrganization}},
		"member server":      {orgs: []string{tlsconfig.MemberOrganization}, ok: true},
	} {
		sc, err := tlsconfig.ServerConfig(p.peerCA.Issue(strings.ReplaceAll(name, " ", "-"), tt.orgs...))
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(sc)))
		lis := listen(t)
		go func() { _ = srv.Serve(lis) }()
		// No Raft service there: a passed handshake ends as Unimplemented.
		err = peerStream(t, lis.Addr().String(), a.srv.creds.peerDial, cid, a.srv.ID())
		srv.Stop()
		if got := status.Code(err); (got == codes.Unimplemented) != tt.ok || (!tt.ok && got != codes.Unavailable) {
			t.Errorf("%s: %v, want passed handshake %v", name, err, tt.ok)
		}
	}
}

// rotation issues the certificates of a cluster whose CA is rotated: every
// member's leaves at paths of their own, one trusted bundle per port shared
// by all (as if each pod mounted the same Secret).
type rotation struct {
	dir                      string
	peerBundle, clientBundle string
	issuer                   *tlstest.CA
	leaves                   []tlsconfig.Files
	n                        int
}

func (r *rotation) member(c *Config) {
	r.n++
	orgs := []string{tlsconfig.AdminOrganization, tlsconfig.MemberOrganization}
	files := func(port, bundle string) tlsconfig.Files {
		name := fmt.Sprintf("m%d-%s", r.n, port)
		f := tlsconfig.Files{CertFile: filepath.Join(r.dir, name+".pem"), KeyFile: filepath.Join(r.dir, name+"-key.pem"), TrustedCAFile: bundle}
		r.issuer.IssueTo(name, f.CertFile, f.KeyFile, orgs...)
		r.leaves = append(r.leaves, f)
		return f
	}
	c.PeerTLS, c.ClientTLS = files("peer", r.peerBundle), files("client", r.clientBundle)
	c.PeerAllowedOrganization = tlsconfig.MemberOrganization
	c.TLSCheckInterval = 20 * time.Millisecond
}

func (r *rotation) trust(t *testing.T, cas ...*tlstest.CA) {
	tlstest.WriteBundle(t, r.peerBundle, cas...)
	tlstest.WriteBundle(t, r.clientBundle, cas...)
}

// reissue replaces every leaf with one of ca.
func (r *rotation) reissue(t *testing.T, ca *tlstest.CA) {
	r.issuer = ca
	for _, f := range r.leaves {
		fi, err := os.Stat(f.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		ca.IssueTo(filepath.Base(f.CertFile), f.CertFile, f.KeyFile, tlsconfig.AdminOrganization, tlsconfig.MemberOrganization)
		tlstest.BumpMtime(t, fi.ModTime(), f.CertFile, f.KeyFile)
	}
}

// waitTLS waits until every member reports TLS material (as Status does)
// that satisfies ok.
func waitTLS(t *testing.T, what string, ms []*member, ok func(*serverpb.TLSStatus) bool) {
	t.Helper()
	for _, m := range ms {
		// The files are looked at when asked, if a look is due: each
		// event of the loop (ticks among them) asks again.
		waitFor(t, what, func() bool { return ok(m.srv.tlsStatus()) }, m.srv)
	}
}

func fingerprints(cas ...*tlstest.CA) []string {
	var fps []string
	for _, ca := range cas {
		fps = append(fps, tlsconfig.Fingerprint(ca.DER()))
	}
	return fps
}

// leafFingerprints are the fingerprints of the files' leaves.
func leafFingerprints(t *testing.T, files ...tlsconfig.Files) map[string]bool {
	t.Helper()
	fps := map[string]bool{}
	for _, f := range files {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		fps[tlsconfig.Fingerprint(cert.Certificate[0])] = true
	}
	return fps
}

// A running cluster's CA is replaced as the operator does it — trust old
// and new, re-issue the leaves from the new, trust the new alone — with
// no restart: Status shows each step as soon as the files change, and at
// the end new connections (a forwarded write, a new member's peer streams,
// clients) work with the new CA only.
func TestCARotationOnRunningMembers(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t, "old"), tlstest.NewCA(t, "new")
	dir := t.TempDir()
	r := &rotation{dir: dir, peerBundle: filepath.Join(dir, "peer-ca.pem"), clientBundle: filepath.Join(dir, "client-ca.pem"), issuer: oldCA}
	r.trust(t, oldCA)
	ms := threeMembers(t, r.member)
	ms[0].put("before", "rotation")

	both := fingerprints(oldCA, newCA)
	r.trust(t, oldCA, newCA)
	waitTLS(t, "old+new trusted", ms, func(st *serverpb.TLSStatus) bool {
		return slices.Equal(st.GetPeerTrustedCas(), both) && slices.Equal(st.GetClientTrustedCas(), both)
	})
	r.reissue(t, newCA)
	newLeaves := leafFingerprints(t, r.leaves...)
	waitTLS(t, "new leaves served", ms, func(st *serverpb.TLSStatus) bool {
		return newLeaves[st.GetPeerCertificate()] && newLeaves[st.GetClientCertificate()]
	})
	r.trust(t, newCA)
	waitTLS(t, "new CA alone trusted", ms, func(st *serverpb.TLSStatus) bool {
		return slices.Equal(st.GetPeerTrustedCas(), fingerprints(newCA)) && slices.Equal(st.GetClientTrustedCas(), fingerprints(newCA))
	})

	// A client of the new CA is served, and an admin call through a
	// follower is forwarded to the leader over a new connection.
	admin := tlstest.ClientConfig(t, newCA, newCA.Issue("admin", tlsconfig.AdminOrganization))
	admin.RootCAs = mustPool(t, r.clientBundle)
	kv, adm := ms[1].apis(admin)
	if _, err := kv.Put(ctxT(t), &serverpb.PutRequest{Key: []byte("after"), Value: []byte("rotation")}); err != nil {
		t.Fatalf("put with a new-CA client: %v", err)
	}
	if _, err := adm.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: ms[2].srv.ID()}); err != nil {
		t.Fatalf("transfer through a follower (forwarded on a new connection): %v", err)
	}
	ms[2].waitLeader()
	oldClient := tlstest.ClientConfig(t, oldCA, oldCA.Issue("old-admin", tlsconfig.AdminOrganization))
	oldClient.RootCAs = mustPool(t, r.clientBundle)
	oldKV, _ := ms[1].apis(oldClient)
	if _, err := oldKV.Get(ctxT(t), &serverpb.GetRequest{Key: []byte("after")}); status.Code(err) != codes.Unavailable {
		t.Errorf("old-CA client after the rotation: %v, want Unavailable (refused handshake)", err)
	}

	// A new member opens new peer connections both ways.
	d := startMember(t, t.TempDir(), false, r.member)
	if _, err := ms[2].admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: d.self()}); err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	waitFor(t, "the new learner to catch up", func() bool {
		return d.applied() >= ms[2].srv.commit.Load()
	}, d.srv, ms[2].srv)
	if kv := d.get("after", serverpb.Consistency_CONSISTENCY_SERIALIZABLE); string(kv.GetValue()) != "rotation" {
		t.Errorf("the new learner has %v", kv)
	}
}

func mustPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pool, err := tlsconfig.LoadCAs(file)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}
