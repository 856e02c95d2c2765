package tlsconfig_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
)

func TestConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	good := ca.Issue("member")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name    string
		files   tlsconfig.Files
		server  bool
		wantErr string // substring; "" for success
	}{
		{name: "server mTLS", files: good, server: true},
		{name: "server TLS only", files: tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile}, server: true},
		{name: "client with pair", files: good},
		{name: "client CA only", files: tlsconfig.Files{TrustedCAFile: ca.CertFile}},
		{name: "client nothing: system roots", files: tlsconfig.Files{}},
		{name: "server without cert", files: tlsconfig.Files{TrustedCAFile: ca.CertFile}, server: true, wantErr: "needs a certificate"},
		{name: "cert without key", files: tlsconfig.Files{CertFile: good.CertFile}, server: true, wantErr: "without its key"},
		{name: "key without cert", files: tlsconfig.Files{KeyFile: good.KeyFile}, wantErr: "without its certificate"},
		{name: "missing cert", files: tlsconfig.Files{CertFile: missing, KeyFile: good.KeyFile}, server: true, wantErr: missing},
		{name: "garbage cert", files: tlsconfig.Files{CertFile: garbage, KeyFile: good.KeyFile}, server: true, wantErr: garbage},
		{name: "key of another cert", files: tlsconfig.Files{CertFile: good.CertFile, KeyFile: ca.Issue("other").KeyFile}, wantErr: good.CertFile},
		{name: "missing CA", files: tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile, TrustedCAFile: missing}, server: true, wantErr: missing},
		{name: "garbage CA", files: tlsconfig.Files{TrustedCAFile: garbage}, wantErr: garbage},
		{name: "organization without CA", files: tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile,
			AllowedOrganization: tlsconfig.MemberOrganization}, server: true, wantErr: "without a trusted CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.server {
				_, err = tlsconfig.ServerConfig(tt.files)
			} else {
				_, err = tlsconfig.ClientConfig(tt.files)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServerConfigAuthenticatesBothSides(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "other")
	srv, err := tlsconfig.ServerConfig(ca.Issue("server"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client tlsconfig.Files
		ok     bool
	}{
		{name: "client of the CA", client: ca.Issue("client"), ok: true},
		{name: "no client certificate", client: tlsconfig.Files{TrustedCAFile: ca.CertFile}},
		{name: "client of another CA", client: withCA(other.Issue("c"), ca.CertFile)},
		{name: "server not trusted by the client", client: other.Issue("c2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := tlsconfig.ClientConfig(tt.client)
			if err != nil {
				t.Fatal(err)
			}
			cli.ServerName = "localhost"
			if err := handshake(srv, cli); (err == nil) != tt.ok {
				t.Fatalf("handshake err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// With NoClientCertAuth the CA still verifies servers this side dials, but
// the server asks its clients for no certificate.
func TestNoClientCertAuth(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "other")
	files := ca.Issue("member")
	files.NoClientCertAuth = true
	srv, err := tlsconfig.ServerConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.NoClientCert {
		t.Errorf("ClientAuth = %v, want NoClientCert", srv.ClientAuth)
	}
	anonymous, err := tlsconfig.ClientConfig(tlsconfig.Files{TrustedCAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	anonymous.ServerName = "localhost"
	if err := handshake(srv, anonymous); err != nil {
		t.Errorf("a client without a certificate was refused: %v", err)
	}
	// The member's own dialing side still verifies servers against the CA.
	dial, err := tlsconfig.ClientConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	dial.ServerName = "localhost"
	foreign, err := tlsconfig.ServerConfig(other.Issue("foreign"))
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(foreign, dial); err == nil {
		t.Error("a server of another CA was trusted")
	}
	if err := handshake(srv, dial); err != nil {
		t.Errorf("a member could not reach another member's client port: %v", err)
	}
}

// With ClientCertOptional a client without a certificate completes the
// handshake, but one with a certificate of another CA still does not.
func TestClientCertOptional(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "other")
	files := ca.Issue("member")
	files.ClientCertOptional = true
	srv, err := tlsconfig.ServerConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client tlsconfig.Files
		ok     bool
	}{
		{name: "no certificate", client: tlsconfig.Files{TrustedCAFile: ca.CertFile}, ok: true},
		{name: "certificate of the CA", client: ca.Issue("client"), ok: true},
		{name: "certificate of another CA", client: withCA(other.Issue("c"), ca.CertFile)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := tlsconfig.ClientConfig(tt.client)
			if err != nil {
				t.Fatal(err)
			}
			cli.ServerName = "localhost"
			if err := handshake(srv, cli); (err == nil) != tt.ok {
				t.Fatalf("handshake err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// AllowedOrganization refuses, on either side, a certificate of the right
// CA that lacks the organization.
func TestAllowedOrganization(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	org := tlsconfig.MemberOrganization
	member := func(name string) tlsconfig.Files {
		f := ca.Issue(name, tlsconfig.AdminOrganization, org)
		f.AllowedOrganization = org
		return f
	}
	app := ca.Issue("app", tlsconfig.AdminOrganization)
	tests := []struct {
		name           string
		server, client tlsconfig.Files
		ok             bool
	}{
		{name: "member to member", server: member("s"), client: member("c"), ok: true},
		{name: "app client to member", server: member("s2"), client: app},
		{name: "member to app server", server: app, client: member("c2")},
		{name: "app client, no check", server: ca.Issue("plain"), client: app, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := tlsconfig.ServerConfig(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			cli, err := tlsconfig.ClientConfig(tt.client)
			if err != nil {
				t.Fatal(err)
			}
			cli.ServerName = "localhost"
			err = handshake(srv, cli)
			if (err == nil) != tt.ok {
				t.Fatalf("handshake err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func withCA(f tlsconfig.Files, caFile string) tlsconfig.Files {
	f.TrustedCAFile = caFile
	return f
}

// handshake runs a TLS handshake over a pipe and returns the first error of
// either side.
func handshake(srv, cli *tls.Config) error {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 reports a refused client certificate on the first read.
			_, err = s.Write([]byte{1})
		}
		srvErr <- err
		a.Close()
	}()
	c := tls.Client(b, cli)
	err := c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	b.Close()
	if serr := <-srvErr; err == nil {
		err = serr
	}
	return err
}

func TestReloaderPicksUpRotatedCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	f := ca.Issue("member")
	first := ca.IssueTo("member", f.CertFile, f.KeyFile)
	r, err := tlsconfig.NewReloader(f.CertFile, f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.SetNow(func() time.Time { return now })
	serial := func() string { return r.Certificate().Leaf.SerialNumber.String() }
	if got := serial(); got != first.String() {
		t.Fatalf("serial %s, want %s", got, first)
	}

	second := ca.IssueTo("member", f.CertFile, f.KeyFile)
	bumpMtime(t, f.CertFile, f.KeyFile)
	if got := serial(); got != first.String() {
		t.Fatalf("reloaded before the check interval passed: serial %s, want %s", got, first)
	}
	now = now.Add(tlsconfig.DefaultCheckInterval)
	if got := serial(); got != second.String() {
		t.Fatalf("after rotation: serial %s, want %s", got, second)
	}

	// A half-written rotation keeps the previous pair, then heals.
	if err := os.WriteFile(f.CertFile, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	bumpMtime(t, f.CertFile)
	now = now.Add(tlsconfig.DefaultCheckInterval)
	if got := serial(); got != second.String() || r.Err() == nil {
		t.Fatalf("after a broken write: serial %s err %v, want %s and an error", got, r.Err(), second)
	}
	third := ca.IssueTo("member", f.CertFile, f.KeyFile)
	bumpMtime(t, f.CertFile, f.KeyFile)
	now = now.Add(tlsconfig.DefaultCheckInterval)
	if got := serial(); got != third.String() || r.Err() != nil {
		t.Fatalf("after the repair: serial %s err %v, want %s and no error", got, r.Err(), third)
	}
}

// bumpMtime moves the files' mtimes forward, so a rotation within the
// file system's timestamp granularity is still seen.
func bumpMtime(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		mt := fi.ModTime().Add(time.Second)
		if err := os.Chtimes(f, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}
