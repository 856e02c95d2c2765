package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
	"github.com/raftkube/raftkube/test/harness"
)

// tlsFlags are the node flags of peer files p and client files c.
func tlsFlags(p, c tlsconfig.Files) []string {
	return []string{
		"--peer-cert-file=" + p.CertFile, "--peer-key-file=" + p.KeyFile, "--peer-trusted-ca-file=" + p.TrustedCAFile,
		"--client-cert-file=" + c.CertFile, "--client-key-file=" + c.KeyFile, "--client-trusted-ca-file=" + c.TrustedCAFile,
		"--peer-allowed-organization=" + tlsconfig.MemberOrganization,
	}
}

// A cluster with mutual TLS on both ports forms as usual (bootstrap,
// learners, joint promotion), serves a TLS client and raftctl, forwards
// admin requests between members over TLS, and refuses clients without a
// certificate and members whose certificate another CA issued.
func TestMutualTLS(t *testing.T) {
	ctx := testContext(t)
	peerCA, clientCA, rogueCA := tlstest.NewCA(t, "peer-ca"), tlstest.NewCA(t, "client-ca"), tlstest.NewCA(t, "rogue-ca")
	// Organizations as the operator issues them: members forward admin
	// calls with their own client certificate.
	peerFiles := peerCA.Issue("member", tlsconfig.MemberOrganization)
	serverFiles := clientCA.Issue("member", tlsconfig.AdminOrganization, tlsconfig.MemberOrganization)
	admin := clientCA.Issue("admin", tlsconfig.AdminOrganization)
	c := harness.StartCluster(ctx, t, bins, harness.Options{
		Voters:    3,
		ExtraArgs: tlsFlags(peerFiles, serverFiles),
		ClientTLS: tlstest.ClientConfig(t, clientCA, admin),
	})

	cl := c.Client(t)
	if _, err := cl.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	if kv, ok, err := cl.Get(ctx, []byte("k")); err != nil || !ok || string(kv.GetValue()) != "v" {
		t.Fatalf("get over TLS = %v, %v, %v; want v", kv, ok, err)
	}

	t.Run("client without certificate", func(t *testing.T) {
		for name, tt := range map[string]struct {
			conf *tls.Config
			want error
		}{
			"no certificate": {tlstest.ClientConfig(t, clientCA, tlsconfig.Files{}), client.ErrUnauthenticated},
			"plaintext":      {nil, client.ErrUnavailable},
		} {
			anon, err := client.New(ctx, client.Config{Endpoints: []string{c.Members()[0].ClientAddr()}, TLS: tt.conf,
				DialTimeout: 500 * time.Millisecond, MaxReadAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = anon.Get(ctx, []byte("k"))
			anon.Close()
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: get = %v, want %v", name, err, tt.want)
			}
		}
	})

	t.Run("raftctl", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, bins.Ctl, "--endpoints="+c.Members()[1].ClientAddr(),
			"--cacert="+clientCA.CertFile, "--cert="+admin.CertFile, "--key="+admin.KeyFile,
			"get", "k", "-o", "json").CombinedOutput()
		var kv struct{ Key, Value string }
		if err != nil || json.Unmarshal(out, &kv) != nil || kv.Key != "k" || kv.Value != "v" {
			t.Fatalf("raftctl get: %v\n%s", err, out)
		}
		out, err = exec.CommandContext(ctx, bins.Ctl, "--endpoints="+c.Members()[1].ClientAddr(),
			"--cacert="+clientCA.CertFile, "--dial-timeout=500ms", "--command-timeout=2s", "get", "k").CombinedOutput()
		if err == nil {
			t.Fatalf("raftctl without a client certificate succeeded:\n%s", out)
		}
	})

	t.Run("member of another CA", func(t *testing.T) {
		leader, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Its client port is the cluster's, so the harness can watch it.
		rogueFiles := rogueCA.Issue("member")
		rogue, err := c.AddNodeArgs(ctx, "--peer-cert-file="+rogueFiles.CertFile,
			"--peer-key-file="+rogueFiles.KeyFile, "--peer-trusted-ca-file="+rogueFiles.TrustedCAFile)
		if err != nil {
			t.Fatal(err)
		}
		// Added through a follower: the follower forwards to the leader's
		// client port with its own client certificate.
		follower := c.Members()[0]
		if follower == leader {
			follower = c.Members()[1]
		}
		if _, err := follower.Client(t).AddLearner(ctx, rogue.Member()); err != nil {
			t.Fatalf("add learner through follower %s: %v", follower.Name(), err)
		}
		// A learner of the CA catches up in well under a second (see Grow);
		// this one is never reached.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = c.WaitCaughtUp(wctx, rogue)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("rogue learner: WaitCaughtUp = %v, want it never to catch up", err)
		}
		st, err := rogue.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.GetHeader().GetClusterId() != 0 || st.GetCommitIndex() != 0 {
			t.Fatalf("rogue learned cluster %x, commit %d: the leader reached it", st.GetHeader().GetClusterId(), st.GetCommitIndex())
		}

		// Sending to the leader's peer port with the rogue certificate is
		// refused in the handshake, while a member's certificate gets through.
		rogueFiles.TrustedCAFile = peerCA.CertFile // it trusts the leader: only the leader's check is left
		if code := peerSendCode(ctx, t, leader, rogueFiles); code != codes.Unavailable {
			t.Errorf("rogue send to the leader's peer port: code %v, want Unavailable (refused handshake)", code)
		}
		if code := peerSendCode(ctx, t, leader, peerFiles); code == codes.Unavailable {
			t.Errorf("member send to the leader's peer port: code %v, want the handshake to pass", code)
		}
	})
}

// peerSendCode opens a Stream to n's peer port with files and returns the
// status code of an empty batch.
func peerSendCode(ctx context.Context, t *testing.T, n *harness.Node, files tlsconfig.Files) codes.Code {
	t.Helper()
	conf, err := tlsconfig.ClientConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(n.PeerAddr(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = sendBatches(sctx, transportpb.NewRaftClient(conn), &transportpb.Batch{})
	t.Logf("send with %s: %v", files.CertFile, err)
	return status.Code(err)
}
