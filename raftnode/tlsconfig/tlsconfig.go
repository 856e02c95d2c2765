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
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
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

// DefaultCheckInterval is how often a Reloader or CABundle looks at its
// files' mtimes.
const DefaultCheckInterval = 2 * time.Second

// fileWatch remembers the mtimes of the files a value was read from, and
// when they were last looked at.
type fileWatch struct {
	files   []string
	mods    []time.Time
	checked time.Time
}

func (w *fileWatch) stat() ([]time.Time, error) {
	mods := make([]time.Time, len(w.files))
	for i, f := range w.files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		mods[i] = fi.ModTime()
	}
	return mods, nil
}

// poll looks at the mtimes once interval has passed since the last look, and
// returns them when one changed since the last successful read.
func (w *fileWatch) poll(now time.Time, interval time.Duration) (mods []time.Time, changed bool, err error) {
	if now.Sub(w.checked) < interval {
		return nil, false, nil
	}
	w.checked = now
	if mods, err = w.stat(); err != nil {
		return nil, false, err
	}
	return mods, !slices.EqualFunc(mods, w.mods, time.Time.Equal), nil
}

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
	// watch has the mtimes of the files cert was read from.
	watch fileWatch
	// lastErr is the last failed reload, nil after a successful one.
	lastErr error
}

// NewReloader reads the key pair, failing with the file named when it cannot.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, CheckInterval: DefaultCheckInterval, now: time.Now,
		watch: fileWatch{files: []string{certFile, keyFile}}}
	mods, err := r.watch.stat()
	if err != nil {
		return nil, fmt.Errorf("key pair: %w", err)
	}
	if err := r.load(mods); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the pair; r.mu is held or r is not yet shared.
func (r *Reloader) load(mods []time.Time) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load key pair %s, %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.watch.mods, r.watch.checked = &cert, mods, r.now()
	return nil
}

// Certificate returns the current key pair, reading the files again first if
// they changed since the last look (at most once per CheckInterval).
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	mods, changed, err := r.watch.poll(r.now(), r.CheckInterval)
	switch {
	case err != nil:
		r.lastErr = fmt.Errorf("key pair: %w", err)
	case changed:
		r.lastErr = r.load(mods)
	}
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

// CABundle serves the CA certificates of a PEM bundle, read again when the
// file's modification time changes, looking at most once per CheckInterval.
// A bundle that fails to parse after a change (a half-written file, one
// without a certificate) is ignored and the previous one kept until the file
// changes again. Its methods are safe for concurrent use.
type CABundle struct {
	file string
	// CheckInterval is the minimum time between two looks at the file. Set
	// it before use. Default DefaultCheckInterval.
	CheckInterval time.Duration
	// now is time.Now; tests replace it.
	now func() time.Time

	mu sync.Mutex
	// pool and fingerprints are the bundle's certificates; pool is replaced,
	// never changed, so a caller may compare pools to see a reload.
	pool         *x509.CertPool
	fingerprints []string
	watch        fileWatch
	lastErr      error
}

// NewCABundle reads the bundle, failing with the file named when it cannot.
func NewCABundle(file string) (*CABundle, error) {
	b := &CABundle{file: file, CheckInterval: DefaultCheckInterval, now: time.Now, watch: fileWatch{files: []string{file}}}
	mods, err := b.watch.stat()
	if err != nil {
		return nil, fmt.Errorf("read trusted CA file: %w", err)
	}
	if err := b.load(mods); err != nil {
		return nil, err
	}
	return b, nil
}

// load reads the bundle; b.mu is held or b is not yet shared. A failed read
// keeps the old mtimes, so the next check tries again.
func (b *CABundle) load(mods []time.Time) error {
	pool, fps, err := readBundle(b.file)
	if err != nil {
		return err
	}
	b.pool, b.fingerprints, b.watch.mods, b.watch.checked = pool, fps, mods, b.now()
	return nil
}

// refresh reads the bundle again if a look is due and the file changed.
func (b *CABundle) refresh() {
	mods, changed, err := b.watch.poll(b.now(), b.CheckInterval)
	switch {
	case err != nil:
		b.lastErr = fmt.Errorf("trusted CA file: %w", err)
	case changed:
		b.lastErr = b.load(mods)
	}
}

// Pool returns the CAs trusted now.
func (b *CABundle) Pool() *x509.CertPool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh()
	return b.pool
}

// Fingerprints returns the fingerprints of the CAs trusted now, in bundle order.
func (b *CABundle) Fingerprints() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh()
	return slices.Clone(b.fingerprints)
}

// Err returns the error of the last reload, nil if it succeeded or none failed.
func (b *CABundle) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// readBundle reads a file of PEM CA certificates (see ParseCertificates),
// with their fingerprints; at least one.
func readBundle(file string) (*x509.CertPool, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read trusted CA file: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, nil, fmt.Errorf("trusted CA file %s: %w", file, err)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("trusted CA file %s: no PEM certificate found", file)
	}
	pool := x509.NewCertPool()
	fps := make([]string, 0, len(certs))
	for _, c := range certs {
		pool.AddCert(c)
		fps = append(fps, Fingerprint(c.Raw))
	}
	return pool, fps, nil
}

// ParseCertificates parses every CERTIFICATE block of PEM data (other
// blocks are passed over). Anything after the last block but blanks is an
// error, so a bundle cut short in its last certificate is refused rather
// than read as the certificates before it.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the last PEM certificate (a truncated bundle?)")
	}
	return certs, nil
}
