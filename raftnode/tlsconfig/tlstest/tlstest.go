// Package tlstest makes throwaway CAs and certificates for tests: ECDSA
// P-256, valid for 127.0.0.1 and localhost, usable both to serve and to
// authenticate as a client, written as PEM files in a test's temp dir.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// CA is a self-signed certificate authority whose files live in Dir.
type CA struct {
	// Dir holds ca.pem and the pairs Issue wrote.
	Dir string
	// CertFile is the CA certificate, for trusted-CA flags.
	CertFile string

	tb   testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA named name in a new temp dir.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &CA{Dir: tb.TempDir(), tb: tb, cert: cert, key: key}
	ca.CertFile = filepath.Join(ca.Dir, "ca.pem")
	writePEM(tb, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Issue signs a certificate for name (its common name) in organizations
// orgs, valid for 127.0.0.1 and localhost, for serving and client
// authentication, and writes it to name.pem and name-key.pem in ca.Dir,
// replacing earlier ones. It returns the files with ca.CertFile as the
// trusted CA.
func (ca *CA) Issue(name string, orgs ...string) tlsconfig.Files {
	ca.tb.Helper()
	f := tlsconfig.Files{
		CertFile:      filepath.Join(ca.Dir, name+".pem"),
		KeyFile:       filepath.Join(ca.Dir, name+"-key.pem"),
		TrustedCAFile: ca.CertFile,
	}
	ca.IssueTo(name, f.CertFile, f.KeyFile, orgs...)
	return f
}

// IssueTo is Issue writing to the given files; it returns the certificate's
// serial number, to tell a rotated certificate from the one it replaced.
func (ca *CA) IssueTo(name, certFile, keyFile string, orgs ...string) *big.Int {
	tb := ca.tb
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: name, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, keyFile, "PRIVATE KEY", keyDER)
	writePEM(tb, certFile, "CERTIFICATE", der)
	return tmpl.SerialNumber
}

// DER is the CA certificate's DER bytes (for tlsconfig.Fingerprint).
func (ca *CA) DER() []byte { return ca.cert.Raw }

// WriteBundle writes the certificates of cas, in order, to file as one PEM
// CA bundle, replacing it, and moves its mtime past the previous one so a
// reloader sees the change even within the file system's timestamp
// granularity.
func WriteBundle(tb testing.TB, file string, cas ...*CA) {
	tb.Helper()
	var buf []byte
	for _, ca := range cas {
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	}
	var prev time.Time
	if fi, err := os.Stat(file); err == nil {
		prev = fi.ModTime()
	}
	if err := os.WriteFile(file, buf, 0o600); err != nil {
		tb.Fatal(err)
	}
	BumpMtime(tb, prev, file)
}

// BumpMtime sets the files' mtimes to a second after the later of prev and
// their own, so a rotation is seen even within the file system's timestamp
// granularity.
func BumpMtime(tb testing.TB, prev time.Time, files ...string) {
	tb.Helper()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			tb.Fatal(err)
		}
		mt := fi.ModTime()
		if prev.After(mt) {
			mt = prev
		}
		mt = mt.Add(time.Second)
		if err := os.Chtimes(f, mt, mt); err != nil {
			tb.Fatal(err)
		}
	}
}

// ClientConfig is a client TLS config trusting ca and presenting f's pair
// (none when f has no certificate).
func ClientConfig(tb testing.TB, ca *CA, f tlsconfig.Files) *tls.Config {
	tb.Helper()
	f.TrustedCAFile = ca.CertFile
	cfg, err := tlsconfig.ClientConfig(f)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func writePEM(tb testing.TB, file, typ string, der []byte) {
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
