package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

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
