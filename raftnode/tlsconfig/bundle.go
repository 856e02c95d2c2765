package tlsconfig

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

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
