package main

import (
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/internal/version"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseOptionsEnvironmentAndFlags(t *testing.T) {
	env := envOf(map[string]string{
		"RAFTNODE_DATA_DIR":       "/var/lib/raft",
		"RAFTNODE_NAME":           "demo-0",
		"RAFTNODE_BOOTSTRAP":      "true",
		"RAFTNODE_TICK_INTERVAL":  "50ms",
		"RAFTNODE_ADVERTISE_PEER": "demo-0.demo-peer.ns.svc.cluster.local:2380",
		"RAFTNODE_LISTEN_HTTP":    "0.0.0.0:8080",
		"RAFTNODE_SNAPSHOT_BYTES": "1048576",
	})
	o, err := parseOptions([]string{"--name", "from-flag"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.name != "from-flag" {
		t.Errorf("name = %q: a flag must win over the environment", o.name)
	}
	if o.dataDir != "/var/lib/raft" || !o.bootstrap || o.tickInterval != 50*time.Millisecond || o.listenHTTP != "0.0.0.0:8080" {
		t.Errorf("environment not applied: %+v", o)
	}
	if o.snapshotBytes != 1<<20 || o.snapshotEntries != 10000 {
		t.Errorf("snapshot thresholds %d bytes, %d entries; want 1 MiB from the environment and the default 10000", o.snapshotBytes, o.snapshotEntries)
	}
	if o.advertisePeer != "demo-0.demo-peer.ns.svc.cluster.local:2380" || o.advertiseClient != o.listenClient {
		t.Errorf("advertise addresses %q %q", o.advertisePeer, o.advertiseClient)
	}
}

func TestParseOptionsTLS(t *testing.T) {
	env := envOf(map[string]string{
		"RAFTNODE_DATA_DIR":             "d",
		"RAFTNODE_PEER_CERT_FILE":       "peer.pem",
		"RAFTNODE_PEER_KEY_FILE":        "peer-key.pem",
		"RAFTNODE_PEER_TRUSTED_CA_FILE": "peer-ca.pem",
		"RAFTNODE_CLIENT_CERT_FILE":     "client.pem",
		"RAFTNODE_CLIENT_KEY_FILE":      "client-key.pem",
	})
	o, err := parseOptions([]string{"--client-trusted-ca-file", "client-ca.pem"}, env)
	if err != nil {
		t.Fatal(err)
	}
	wantPeer := tlsconfig.Files{CertFile: "peer.pem", KeyFile: "peer-key.pem", TrustedCAFile: "peer-ca.pem"}
	wantClient := tlsconfig.Files{CertFile: "client.pem", KeyFile: "client-key.pem", TrustedCAFile: "client-ca.pem"}
	if o.peerTLS != wantPeer || o.clientTLS != wantClient {
		t.Errorf("peer TLS %+v client TLS %+v, want %+v and %+v", o.peerTLS, o.clientTLS, wantPeer, wantClient)
	}
}

func TestParseOptionsOrganizations(t *testing.T) {
	o, err := parseOptions(nil, envOf(map[string]string{"RAFTNODE_DATA_DIR": "d"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.adminOrg != tlsconfig.AdminOrganization || o.peerOrg != "" {
		t.Errorf("defaults: admin organization %q, peer organization %q; want %q and none", o.adminOrg, o.peerOrg, tlsconfig.AdminOrganization)
	}
	env := envOf(map[string]string{
		"RAFTNODE_DATA_DIR": "d", "RAFTNODE_PEER_CERT_FILE": "p.pem", "RAFTNODE_PEER_KEY_FILE": "pk.pem", "RAFTNODE_PEER_TRUSTED_CA_FILE": "ca.pem",
		"RAFTNODE_PEER_ALLOWED_ORGANIZATION": tlsconfig.MemberOrganization,
	})
	if o, err = parseOptions([]string{"--client-admin-organization", "ops"}, env); err != nil {
		t.Fatal(err)
	}
	if o.adminOrg != "ops" || o.peerOrg != tlsconfig.MemberOrganization {
		t.Errorf("admin organization %q, peer organization %q; want ops and %q", o.adminOrg, o.peerOrg, tlsconfig.MemberOrganization)
	}
}

func TestRunFailsOnUnreadableCertificate(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	err := run([]string{"--data-dir", filepath.Join(dir, "data"), "--listen-peer", "127.0.0.1:0", "--listen-client", "127.0.0.1:0",
		"--client-cert-file", missing, "--client-key-file", missing}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want one naming %s", err, missing)
	}
}

// TestVersion: --version answers without any other setting (an image's
// entrypoint is checked this way) and ignores the environment.
func TestVersion(t *testing.T) {
	t.Setenv("RAFTNODE_TICK_INTERVAL", "not-a-duration")
	var out strings.Builder
	if err := run([]string{"--version"}, &out); err != nil {
		t.Fatalf("run --version: %v", err)
	}
	if want := "raftnode " + version.Get().String() + "\n"; out.String() != want {
		t.Errorf("--version printed %q, want %q", out.String(), want)
	}
}

func TestParseOptionsBootstrapMember(t *testing.T) {
	tests := []struct {
		name, member string
		want         bool
	}{
		{"demo-0", "demo-0", true},
		{"demo-1", "demo-0", false},
		{"demo-0", "", false},
	}
	for _, tt := range tests {
		env := envOf(map[string]string{"RAFTNODE_DATA_DIR": "d", "RAFTNODE_NAME": tt.name, "RAFTNODE_BOOTSTRAP_MEMBER": tt.member})
		o, err := parseOptions(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		if o.bootstrap != tt.want {
			t.Errorf("name %q, bootstrap member %q: bootstrap = %v, want %v", tt.name, tt.member, o.bootstrap, tt.want)
		}
	}
}

func TestParseOptionsClientCertAuth(t *testing.T) {
	base := map[string]string{"RAFTNODE_DATA_DIR": "d", "RAFTNODE_CLIENT_CERT_FILE": "c.pem", "RAFTNODE_CLIENT_KEY_FILE": "k.pem", "RAFTNODE_CLIENT_TRUSTED_CA_FILE": "ca.pem"}
	o, err := parseOptions(nil, envOf(base))
	if err != nil {
		t.Fatal(err)
	}
	if o.clientTLS.NoClientCertAuth {
		t.Error("client certificates not required by default when a client CA is given")
	}
	base["RAFTNODE_CLIENT_CERT_AUTH"] = "false"
	if o, err = parseOptions(nil, envOf(base)); err != nil {
		t.Fatal(err)
	}
	if !o.clientTLS.NoClientCertAuth {
		t.Error("RAFTNODE_CLIENT_CERT_AUTH=false still requires client certificates")
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no data dir", nil, nil, "--data-dir"},
		{"bad env value", []string{"--data-dir", "d"}, map[string]string{"RAFTNODE_ELECTION_TICKS": "many"}, "RAFTNODE_ELECTION_TICKS"},
		{"ticks", []string{"--data-dir", "d", "--election-ticks", "1"}, nil, "--election-ticks"},
		{"tick interval", []string{"--data-dir", "d", "--tick-interval", "0s"}, nil, "--tick-interval"},
		{"log level", []string{"--data-dir", "d", "--log-level", "loud"}, nil, "--log-level"},
		{"log format", []string{"--data-dir", "d", "--log-format", "xml"}, nil, "--log-format"},
		{"pprof without http", []string{"--data-dir", "d", "--enable-pprof"}, nil, "--listen-http"},
		{"extra args", []string{"--data-dir", "d", "extra"}, nil, "unexpected arguments"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"peer cert without key", []string{"--data-dir", "d", "--peer-cert-file", "c.pem", "--peer-trusted-ca-file", "ca.pem"}, nil, "--peer-key-file"},
		{"peer key without cert", []string{"--data-dir", "d", "--peer-key-file", "k.pem"}, nil, "--peer-cert-file"},
		{"peer without CA", []string{"--data-dir", "d", "--peer-cert-file", "c.pem", "--peer-key-file", "k.pem"}, nil, "--peer-trusted-ca-file"},
		{"client key without cert", nil, map[string]string{"RAFTNODE_DATA_DIR": "d", "RAFTNODE_CLIENT_KEY_FILE": "k.pem"}, "--client-cert-file"},
		{"client CA without cert", []string{"--data-dir", "d", "--client-trusted-ca-file", "ca.pem"}, nil, "--client-cert-file"},
		{"peer organization without peer TLS", []string{"--data-dir", "d", "--peer-allowed-organization", "raftkube:member"}, nil, "needs peer TLS"},
		{"empty admin organization", []string{"--data-dir", "d", "--client-admin-organization", ""}, nil, "--client-admin-organization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseOptionsRestoreFrom(t *testing.T) {
	o, err := parseOptions(nil, envOf(map[string]string{"RAFTNODE_DATA_DIR": "d", "RAFTNODE_RESTORE_FROM": "/backups/a.snap"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.restoreFrom != "/backups/a.snap" {
		t.Errorf("restore from env = %q", o.restoreFrom)
	}
	o, err = parseOptions([]string{"--data-dir", "d", "--restore-from", "b.snap"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o.restoreFrom != "b.snap" {
		t.Errorf("restore from flag = %q", o.restoreFrom)
	}
}

// --bootstrap-from is shared by every pod of a StatefulSet, like
// --bootstrap-member: only the member that bootstraps founds the cluster
// from the file; the others ignore it and join.
func TestParseOptionsBootstrapFrom(t *testing.T) {
	tests := []struct {
		name            string
		args            []string
		env             map[string]string
		wantRestoreFrom string
		wantBootstrap   bool
	}{
		{"named bootstrap member", []string{"--name", "demo-0"},
			map[string]string{"RAFTNODE_BOOTSTRAP_MEMBER": "demo-0", "RAFTNODE_BOOTSTRAP_FROM": "/restore/snapshot"}, "/restore/snapshot", false},
		{"another pod", []string{"--name", "demo-1"},
			map[string]string{"RAFTNODE_BOOTSTRAP_MEMBER": "demo-0", "RAFTNODE_BOOTSTRAP_FROM": "/restore/snapshot"}, "", false},
		{"nobody bootstraps", []string{"--name", "demo-0"},
			map[string]string{"RAFTNODE_BOOTSTRAP_FROM": "/restore/snapshot"}, "", false},
		{"--bootstrap", []string{"--bootstrap", "--bootstrap-from", "a.snap"}, nil, "a.snap", false},
		{"no file", []string{"--name", "demo-0", "--bootstrap-member", "demo-0"}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"RAFTNODE_DATA_DIR": "d"}
			maps.Copy(env, tt.env)
			o, err := parseOptions(tt.args, envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if o.restoreFrom != tt.wantRestoreFrom || o.bootstrap != tt.wantBootstrap {
				t.Errorf("restore from %q, bootstrap %v; want %q, %v", o.restoreFrom, o.bootstrap, tt.wantRestoreFrom, tt.wantBootstrap)
			}
		})
	}
}

func TestParseOptionsBootstrapFromWithRestoreFrom(t *testing.T) {
	_, err := parseOptions([]string{"--data-dir", "d", "--restore-from", "a.snap", "--bootstrap-from", "b.snap"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "--bootstrap-from") {
		t.Fatalf("error %v, want one naming --bootstrap-from", err)
	}
}
