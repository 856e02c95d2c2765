// Package pki issues the certificates of a RaftCluster: a certificate
// authority per cluster and the leaf certificates it signs for members,
// the operator and applications. It is pure: no Kubernetes, no clock of its
// own (callers pass the time), keys from crypto/rand.
//
// Keys are ECDSA P-256, encoded as PKCS #8 "PRIVATE KEY" PEM blocks;
// certificates as "CERTIFICATE" PEM blocks, as kubernetes.io/tls Secrets
// and Go's crypto/tls expect them.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// ErrInvalid is wrapped by every error about PEM data that holds no usable
// certificate or key: the caller issues a new one instead.
var ErrInvalid = errors.New("invalid certificate data")

// clockSkew backdates every certificate, so a member whose clock is a little
// behind the operator's does not refuse a certificate just issued.
const clockSkew = 5 * time.Minute

// KeyPair is a certificate and its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertPEM is the certificate in PEM.
func (k KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

// KeyPEM is the private key in PKCS #8 PEM.
func (k KeyPair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewCA makes a self-signed certificate authority valid from now (less the
// clock skew allowance) for lifetime.
func NewCA(commonName string, now time.Time, lifetime time.Duration) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaves only, never another CA.
		MaxPathLenZero: true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Request describes a leaf certificate.
type Request struct {
	CommonName string
	// Organizations carry the holder's roles (see tlsconfig.AdminOrganization
	// and MemberOrganization).
	Organizations []string
	// DNSNames are the names a server is reached by; empty for a client.
	DNSNames []string
	// Server and Client select the extended key usages.
	Server, Client bool
}

// Issue signs a new leaf for req with ca, valid from now for lifetime (never
// past the CA's own end).
func Issue(ca KeyPair, req Request, now time.Time, lifetime time.Duration) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: slices.Clone(req.Organizations)},
		DNSNames:     slices.Clone(req.DNSNames),
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	tmpl.ExtKeyUsage = req.extKeyUsages()
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return KeyPair{}, fmt.Errorf("sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, fmt.Errorf("parse the certificate just signed: %w", err)
	}
	return KeyPair{Cert: cert, Key: key}, nil
}

// newSerial is a random 128-bit serial number, as RFC 5280 allows (at most
// 20 octets, positive).
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// ParseKeyPair reads a PEM certificate and its PEM private key, checking
// that they belong together. Errors wrap ErrInvalid.
func ParseKeyPair(certPEM, keyPEM []byte) (KeyPair, error) {
	certs, err := ParseBundle(certPEM)
	if err != nil {
		return KeyPair{}, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return KeyPair{}, fmt.Errorf("%w: no PEM private key", ErrInvalid)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%w: private key: %w", ErrInvalid, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return KeyPair{}, fmt.Errorf("%w: private key is a %T, not ECDSA", ErrInvalid, parsed)
	}
	pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return KeyPair{}, fmt.Errorf("%w: the private key does not match the certificate", ErrInvalid)
	}
	return KeyPair{Cert: certs[0], Key: key}, nil
}

// ParseBundle reads every certificate of PEM data; at least one, and
// nothing truncated. Errors wrap ErrInvalid.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	certs, err := tlsconfig.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate", ErrInvalid)
	}
	return certs, nil
}

// Bundle is certs in PEM, in order, without duplicates.
func Bundle(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	var seen []string
	for _, c := range certs {
		fp := Fingerprint(c)
		if slices.Contains(seen, fp) {
			continue
		}
		seen = append(seen, fp)
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // a bytes.Buffer never fails
	}
	return b.Bytes()
}

// Fingerprint is the lowercase hex SHA-256 of the certificate's DER, as
// members report what they load.
func Fingerprint(c *x509.Certificate) string { return tlsconfig.Fingerprint(c.Raw) }

// RenewalDue reports whether c has passed two thirds of its lifetime at
// now, when it is renewed: the last third leaves time to retry a failed
// renewal many times.
func RenewalDue(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return !now.Before(c.NotBefore.Add(life * 2 / 3))
}

// Satisfies reports whether leaf was signed by ca and carries exactly what
// req asks for, so it need not be issued again.
func Satisfies(leaf *x509.Certificate, ca *x509.Certificate, req Request) bool {
	if leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	if leaf.Subject.CommonName != req.CommonName ||
		!slices.Equal(leaf.Subject.Organization, req.Organizations) ||
		!slices.Equal(leaf.DNSNames, req.DNSNames) {
		return false
	}
	return slices.Equal(leaf.ExtKeyUsage, req.extKeyUsages())
}

// extKeyUsages are the extended key usages Server and Client select.
func (req Request) extKeyUsages() []x509.ExtKeyUsage {
	var usages []x509.ExtKeyUsage
	if req.Server {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	return usages
}
