package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Source is one port's TLS material read from Files and kept current: the
// key pair and the trusted CA bundle, each read again when its files change.
// Its methods are safe for concurrent use.
type Source struct {
	files Files
	// cert is nil without CertFile; cas is nil without TrustedCAFile.
	cert *Reloader
	cas  *CABundle
}

// NewSource reads f's files, failing with the file named when one cannot be
// read; checkInterval is the least time between two looks at their mtimes
// (DefaultCheckInterval when zero).
func NewSource(f Files, checkInterval time.Duration) (*Source, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if checkInterval <= 0 {
		checkInterval = DefaultCheckInterval
	}
	s := &Source{files: f}
	var err error
	if f.CertFile != "" {
		if s.cert, err = NewReloader(f.CertFile, f.KeyFile); err != nil {
			return nil, err
		}
		s.cert.CheckInterval = checkInterval
	}
	if f.TrustedCAFile != "" {
		if s.cas, err = NewCABundle(f.TrustedCAFile); err != nil {
			return nil, err
		}
		s.cas.CheckInterval = checkInterval
	}
	return s, nil
}

// ServerConfig serves the source's certificate. With a TrustedCAFile (and
// not NoClientCertAuth) clients must present a certificate that chains to the
// bundle as it is at their handshake (ClientCertOptional: may present), and
// carries AllowedOrganization when set. The certificate is required.
func (s *Source) ServerConfig() (*tls.Config, error) {
	if s.cert == nil {
		return nil, errors.New("serving TLS needs a certificate and key file")
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.cert.GetCertificate}
	if s.cas == nil || s.files.NoClientCertAuth {
		return base, nil
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	if s.files.ClientCertOptional {
		base.ClientAuth = tls.VerifyClientCertIfGiven
	}
	// A resumed session skips the client's certificate: a CA dropped from
	// the bundle must not live on in session tickets.
	base.SessionTicketsDisabled = true
	if org := s.files.AllowedOrganization; org != "" {
		base.VerifyConnection = requireOrganization(org, "client")
	}
	var (
		mu     sync.Mutex
		pool   *x509.CertPool
		perCAs *tls.Config
	)
	outer := base.Clone()
	outer.ClientCAs = s.cas.Pool()
	outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		p := s.cas.Pool()
		mu.Lock()
		defer mu.Unlock()
		if p != pool {
			perCAs = base.Clone()
			perCAs.ClientCAs, pool = p, p
		}
		return perCAs, nil
	}
	return outer, nil
}

// ClientConfig presents the source's certificate, when set, to servers that
// ask for one, and verifies servers (host name included) against the bundle
// as it is now (the system roots without a TrustedCAFile), requiring
// AllowedOrganization when set. The trusted CAs are fixed in the config
// returned: a long-lived dialer makes one per connection to follow a
// rotation (as the server's dialing credentials do).
func (s *Source) ClientConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cas != nil {
		cfg.RootCAs = s.cas.Pool()
	}
	if s.cert != nil {
		cfg.GetClientCertificate = s.cert.GetClientCertificate
	}
	if org := s.files.AllowedOrganization; org != "" {
		cfg.VerifyConnection = requireOrganization(org, "server")
	}
	return cfg
}

// TrustedCAs returns the fingerprints of the CAs trusted now, in bundle
// order, after a look at the bundle file if one is due; nil without a
// TrustedCAFile.
func (s *Source) TrustedCAs() []string {
	if s.cas == nil {
		return nil
	}
	return s.cas.Fingerprints()
}

// Certificate returns the fingerprint of the leaf certificate served now,
// after a look at the files if one is due; "" without a CertFile.
func (s *Source) Certificate() string {
	if s.cert == nil {
		return ""
	}
	return Fingerprint(s.cert.Certificate().Certificate[0])
}

// requireOrganization is a VerifyConnection callback refusing a verified
// peer certificate without org; side names the other side in the error.
func requireOrganization(org, side string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
			return fmt.Errorf("the %s presented no verified certificate, and organization %q is required", side, org)
		}
		leaf := cs.VerifiedChains[0][0]
		if !slices.Contains(leaf.Subject.Organization, org) {
			return fmt.Errorf("the %s certificate %q lacks organization %q", side, leaf.Subject.String(), org)
		}
		return nil
	}
}
