package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
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
