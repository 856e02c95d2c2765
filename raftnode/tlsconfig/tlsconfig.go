// Package tlsconfig builds the TLS configurations of raftnode's gRPC ports and
// of its clients from PEM files, and reloads the certificate when its files
// change on disk, so certificates can be rotated without a restart.
//
// A member's key pair is read through a Reloader from tls.Config's
// GetCertificate (serving) and GetClientCertificate (dialing) callbacks. The
// trusted CA bundle is read once, at start: rotating a CA needs a restart.
//
// It is a leaf package: the server, the Go client's users and the commands use
// it; it imports nothing of raftkube.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of one port's TLS setup. All empty: no TLS.
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
}

// Empty reports whether no file is named.
func (f Files) Empty() bool { return f.CertFile == "" && f.KeyFile == "" && f.TrustedCAFile == "" }

// checkPair reports a certificate without its key or a key without its certificate.
func (f Files) checkPair() error {
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		return fmt.Errorf("certificate %s given without its key file", f.CertFile)
	case f.KeyFile != "" && f.CertFile == "":
		return fmt.Errorf("key %s given without its certificate file", f.KeyFile)
	}
	return nil
}

// ServerConfig is the serving side of f: f's certificate (reloaded as it
// changes), and, when f.TrustedCAFile is set, client certificates required
// and verified against it (mutual TLS). The certificate is required.
func ServerConfig(f Files) (*tls.Config, error) {
	if err := f.checkPair(); err != nil {
		return nil, err
	}
	if f.CertFile == "" {
		return nil, errors.New("serving TLS needs a certificate and key file")
	}
	r, err := NewReloader(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if f.TrustedCAFile != "" && !f.NoClientCertAuth {
		if cfg.ClientCAs, err = LoadCAs(f.TrustedCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig is the dialing side of f: servers verified against
// f.TrustedCAFile (the system roots when empty), and f's certificate, when
// set, presented to servers that ask for one (reloaded as it changes).
func ClientConfig(f Files) (*tls.Config, error) {
	if err := f.checkPair(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.TrustedCAFile != "" {
		var err error
		if cfg.RootCAs, err = LoadCAs(f.TrustedCAFile); err != nil {
			return nil, err
		}
	}
	if f.CertFile != "" {
		r, err := NewReloader(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	return cfg, nil
}

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read trusted CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("trusted CA file %s: no PEM certificate found", file)
	}
	return pool, nil
}

// DefaultCheckInterval is how often a Reloader looks at its files' mtimes.
const DefaultCheckInterval = 2 * time.Second

// Reloader serves a key pair read from files and reads it again when either
// file's modification time changes, looking at most once per CheckInterval
// (handshakes in between use the pair in memory). A pair that fails to load
// after a change — a rotation caught between writing the certificate and the
// key — is ignored and the previous one kept; the files are read again at the
// next check. Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	// CheckInterval is the minimum time between two looks at the files.
	// Set it before use. Default DefaultCheckInterval.
	CheckInterval time.Duration
	// now is time.Now; tests replace it.
	now func() time.Time

	mu   sync.Mutex
	cert *tls.Certificate
	// certMod and keyMod are the mtimes of the files cert was read from.
	certMod, keyMod time.Time
	// checked is when the mtimes were last looked at.
	checked time.Time
	// lastErr is the last failed reload, nil after a successful one.
	lastErr error
}

// NewReloader reads the key pair, failing with the file named when it cannot.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, CheckInterval: DefaultCheckInterval, now: time.Now}
	certMod, keyMod, err := r.mtimes()
	if err != nil {
		return nil, err
	}
	if err := r.load(certMod, keyMod); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) mtimes() (certMod, keyMod time.Time, err error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("certificate file: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("key file: %w", err)
	}
	return ci.ModTime(), ki.ModTime(), nil
}

// load reads the pair; r.mu is held or r is not yet shared.
func (r *Reloader) load(certMod, keyMod time.Time) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load key pair %s, %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certMod, r.keyMod, r.checked = &cert, certMod, keyMod, r.now()
	return nil
}

// Certificate returns the current key pair, reading the files again first if
// they changed since the last look (at most once per CheckInterval).
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.CheckInterval {
		return r.cert
	}
	r.checked = now
	certMod, keyMod, err := r.mtimes()
	if err != nil {
		r.lastErr = err
		return r.cert
	}
	if certMod.Equal(r.certMod) && keyMod.Equal(r.keyMod) {
		return r.cert
	}
	r.lastErr = r.load(certMod, keyMod)
	return r.cert
}

// Err returns the error of the last reload, nil if it succeeded or none failed.
func (r *Reloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// GetClientCertificate is for tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}
