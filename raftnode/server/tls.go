package server

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

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
}

// checkTLS validates the TLS settings before any file is read.
func (c Config) checkTLS() error {
	if p := c.PeerTLS; !p.Empty() && (p.CertFile == "" || p.KeyFile == "" || p.TrustedCAFile == "") {
		return errors.New("server config: peer TLS needs a certificate, its key and a trusted CA (members authenticate each other)")
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
		if cr.peerServe, cr.peerDial, err = tlsCreds(c.PeerTLS); err != nil {
			return creds{}, fmt.Errorf("peer TLS: %w", err)
		}
	}
	if !c.ClientTLS.Empty() {
		if cr.clientServe, cr.clientDial, err = tlsCreds(c.ClientTLS); err != nil {
			return creds{}, fmt.Errorf("client TLS: %w", err)
		}
	}
	return cr, nil
}

func tlsCreds(f tlsconfig.Files) (serve, dial credentials.TransportCredentials, err error) {
	sc, err := tlsconfig.ServerConfig(f)
	if err != nil {
		return nil, nil, err
	}
	cc, err := tlsconfig.ClientConfig(f)
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(sc), credentials.NewTLS(cc), nil
}
