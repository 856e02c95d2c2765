package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// creds are the transport credentials of the two gRPC ports, each side.
type creds struct {
	// peerServe and peerDial secure the peer port and the transport's
	// connections to other members.
	peerServe, peerDial credentials.TransportCredentials
	// clientServe secures the client port; clientDial is what this member
	// uses to call other members' client ports (forwarding to the leader,
	// removal probes).
	clientServe, clientDial credentials.TransportCredentials
	// peerSrc and clientSrc are the ports' TLS material; nil for plaintext.
	peerSrc, clientSrc *tlsconfig.Source
	// clientIdentity is set when the client port verifies client
	// certificates: calls are then authorized by them (see authz.go).
	clientIdentity bool
}

// checkTLS validates the TLS settings before any file is read.
func (c Config) checkTLS() error {
	if p := c.PeerTLS; !p.Empty() && (p.CertFile == "" || p.KeyFile == "" || p.TrustedCAFile == "") {
		return errors.New("server config: peer TLS needs a certificate, its key and a trusted CA (members authenticate each other)")
	}
	if c.PeerAllowedOrganization != "" && c.PeerTLS.Empty() {
		return errors.New("server config: PeerAllowedOrganization needs peer TLS (there is no certificate to check without it)")
	}
	if p := c.ClientTLS; !p.Empty() && (p.CertFile == "" || p.KeyFile == "") {
		return errors.New("server config: client TLS needs a certificate and its key")
	}
	return nil
}

// loadCreds reads the certificate files; unset ports are plaintext.
func (c Config) loadCreds() (creds, error) {
	cr := creds{
		peerServe: insecure.NewCredentials(), peerDial: insecure.NewCredentials(),
		clientServe: insecure.NewCredentials(), clientDial: insecure.NewCredentials(),
	}
	var err error
	if !c.PeerTLS.Empty() {
		f := c.PeerTLS
		f.AllowedOrganization = c.PeerAllowedOrganization
		if cr.peerSrc, cr.peerServe, cr.peerDial, err = tlsCreds(f, c.TLSCheckInterval); err != nil {
			return creds{}, fmt.Errorf("peer TLS: %w", err)
		}
	}
	if !c.ClientTLS.Empty() {
		f := c.ClientTLS
		cr.clientIdentity = f.TrustedCAFile != "" && !f.NoClientCertAuth
		// Callers without a certificate get an answer that says so,
		// instead of a failed handshake (see authz.go).
		f.ClientCertOptional = cr.clientIdentity
		// Identities on the client port are checked per method (authz.go).
		f.AllowedOrganization = ""
		if cr.clientSrc, cr.clientServe, cr.clientDial, err = tlsCreds(f, c.TLSCheckInterval); err != nil {
			return creds{}, fmt.Errorf("client TLS: %w", err)
		}
	}
	return cr, nil
}

func tlsCreds(f tlsconfig.Files, checkInterval time.Duration) (src *tlsconfig.Source, serve, dial credentials.TransportCredentials, err error) {
	if src, err = tlsconfig.NewSource(f, checkInterval); err != nil {
		return nil, nil, nil, err
	}
	sc, err := src.ServerConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	return src, credentials.NewTLS(sc), dialCreds{TransportCredentials: credentials.NewTLS(src.ClientConfig()), src: src}, nil
}

// dialCreds make each connection's TLS config afresh from src, so that a
// rotated CA bundle is trusted by the next connection this member opens.
type dialCreds struct {
	credentials.TransportCredentials
	src *tlsconfig.Source
}

func (d dialCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(d.src.ClientConfig()).ClientHandshake(ctx, authority, conn)
}

func (d dialCreds) Clone() credentials.TransportCredentials {
	return dialCreds{TransportCredentials: d.TransportCredentials.Clone(), src: d.src}
}

// tlsStatus describes the TLS material in force on both ports, after a
// look at the files if one is due; nil when both ports are plaintext.
func (s *Server) tlsStatus() *serverpb.TLSStatus {
	peer, client := s.creds.peerSrc, s.creds.clientSrc
	if peer == nil && client == nil {
		return nil
	}
	st := &serverpb.TLSStatus{}
	if peer != nil {
		st.PeerTrustedCas, st.PeerCertificate = peer.TrustedCAs(), peer.Certificate()
	}
	if client != nil {
		st.ClientTrustedCas, st.ClientCertificate = client.TrustedCAs(), client.Certificate()
	}
	return st
}
