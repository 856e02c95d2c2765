// Package tlsconfig builds the TLS configurations of raftnode's gRPC ports and
// of its clients from PEM files, and reloads them when the files change on
// disk, so certificates and trusted CAs can be rotated without a restart.
//
// A Source holds one port's material: its key pair (a Reloader, read from
// tls.Config's GetCertificate and GetClientCertificate callbacks) and its
// trusted CA bundle (a CABundle). Both look at their files' mtimes at most
// once per check interval and read them again when they changed; a file that
// fails to load keeps the previous material. The serving side picks the
// bundle up per handshake (tls.Config.GetConfigForClient); the dialing side
// gets it from a config made per connection (Source.ClientConfig).
//
// # Rotating a CA
//
// A CA is replaced without downtime in three steps, each waiting until every
// member reports the previous one in its TLS status (fingerprints, see
// Fingerprint): write a bundle with the old and the new CA; re-issue every
// leaf from the new CA; write a bundle with the new CA alone. Connections
// already open stay open: only new handshakes see a change.
//
// # Identities
//
// Certificates carry roles in Subject.Organization: AdminOrganization grants
// the Admin API of a member's client port, MemberOrganization marks a cluster
// member on the peer port (see Files.AllowedOrganization). Members hold both.
//
// It is a leaf package: the server, the Go client's users and the commands use
// it; it imports nothing of raftkube.
package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// Organizations (certificate Subject.Organization values) that carry a role.
const (
	// AdminOrganization grants the Admin API beyond Status on a member's
	// client port (the default of the server's admin organization).
	AdminOrganization = "raftkube:admin"
	// MemberOrganization marks a cluster member's certificate, for the peer
	// port's allowed organization.
	MemberOrganization = "raftkube:member"
)

// Fingerprint is the lowercase hex SHA-256 of a certificate's DER bytes: how
// TLS status names certificates.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Files names the PEM files of one port's TLS setup, and how the other side
// is checked. All files empty: no TLS.
type Files struct {
	// CertFile and KeyFile hold the certificate (chain) and its private key;
	// one without the other is an error.
	CertFile, KeyFile string
	// TrustedCAFile holds the CA certificates the other side must chain to.
	TrustedCAFile string
	// NoClientCertAuth, serving, asks clients for no certificate even with a
	// TrustedCAFile, which then only verifies the servers this side dials
	// (a member calling another's client port with server-only TLS from a
	// private CA).
	NoClientCertAuth bool
	// ClientCertOptional, serving with a TrustedCAFile, lets a client without
	// a certificate finish the handshake; one that presents a certificate
	// must still chain to the bundle. The server then refuses anonymous calls
	// itself, with an answer the client can read (the client port does).
	ClientCertOptional bool
	// AllowedOrganization, when set, is required in the Subject.Organization
	// of the other side's verified certificate, serving (clients) and dialing
	// (servers): an application certificate of the same CA then cannot
	// take a member's place. Needs TrustedCAFile.
	AllowedOrganization string
}

// Empty reports whether no file is named.
func (f Files) Empty() bool { return f.CertFile == "" && f.KeyFile == "" && f.TrustedCAFile == "" }

// check reports a certificate without its key or a key without its
// certificate, and an organization to check without a CA to verify with.
func (f Files) check() error {
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		return fmt.Errorf("certificate %s given without its key file", f.CertFile)
	case f.KeyFile != "" && f.CertFile == "":
		return fmt.Errorf("key %s given without its certificate file", f.KeyFile)
	case f.AllowedOrganization != "" && f.TrustedCAFile == "":
		return fmt.Errorf("allowed organization %q given without a trusted CA file to verify it with", f.AllowedOrganization)
	}
	return nil
}

// ServerConfig is the serving side of f (see Source.ServerConfig), with
// the files checked every DefaultCheckInterval.
func ServerConfig(f Files) (*tls.Config, error) {
	src, err := NewSource(f, 0)
	if err != nil {
		return nil, err
	}
	return src.ServerConfig()
}

// ClientConfig is the dialing side of f as the files are now (see
// Source.ClientConfig); the certificate is reloaded as it changes, the
// trusted CAs are not.
func ClientConfig(f Files) (*tls.Config, error) {
	src, err := NewSource(f, 0)
	if err != nil {
		return nil, err
	}
	return src.ClientConfig(), nil
}

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(file string) (*x509.CertPool, error) {
	pool, _, err := readBundle(file)
	return pool, err
}
