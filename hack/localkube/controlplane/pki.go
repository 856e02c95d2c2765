package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServiceClusterIPRange is the apiserver's service range; its first address is
// the kubernetes.default Service's, which the serving cert therefore names.
const ServiceClusterIPRange = "10.0.0.0/24"

// ServiceAccountIssuer is the apiserver's --service-account-issuer.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// servingDNSNames are the names a client may use for the apiserver: loopback and
// the in-cluster names of the kubernetes Service.
var servingDNSNames = []string{
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster",
	"kubernetes.default.svc.cluster.local",
}

// servingIPs are 127.0.0.1 and the kubernetes Service's cluster IP.
var servingIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)}

// PKI is everything secret a control plane needs, PEM-encoded.
// ECDSA P-256 keys throughout: they take microseconds to generate where RSA
// takes a noticeable part of a test's start time, and every component accepts them.
type PKI struct {
	CACert, CAKey           []byte // the cluster CA
	ServingCert, ServingKey []byte // signed by the CA; served by apiserver, controller manager and scheduler
	SAKey, SAPub            []byte // service-account token signing key pair
	AdminToken              string // bearer token of user "admin" in group system:masters
	// KubeletClientCert and Key are the apiserver's client certificate for
	// kubelets (logs, exec, port-forward): CN kube-apiserver-kubelet-client in
	// system:masters, so a kubelet that authorizes through the apiserver
	// (webhook) lets it in without anonymous access.
	KubeletClientCert, KubeletClientKey []byte
}

// GeneratePKI makes a fresh CA, a serving cert valid from now-1h (clock skew)
// for the given duration, a service-account key pair and an admin token.
func GeneratePKI(now time.Time, validity time.Duration) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localkube-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := signCert(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}

	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	servingTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    servingDNSNames,
		IPAddresses: servingIPs,
	}
	servingDER, err := signCert(servingTmpl, caCert, &servingKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign serving cert: %w", err)
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode service-account public key: %w", err)
	}

	kubeletClientCert, kubeletClientKey, err := IssueCert(pemBlock("CERTIFICATE", caDER), mustPKCS8(caKey), CertRequest{
		CommonName:   KubeletClientCommonName,
		Organization: []string{"system:masters"},
		Client:       true,
	}, now, validity)
	if err != nil {
		return nil, fmt.Errorf("issue apiserver kubelet client cert: %w", err)
	}

	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("generate admin token: %w", err)
	}

	p := &PKI{
		CACert:      pemBlock("CERTIFICATE", caDER),
		ServingCert: pemBlock("CERTIFICATE", servingDER),
		SAPub:       pemBlock("PUBLIC KEY", saPubDER),
		AdminToken:  hex.EncodeToString(token),

		KubeletClientCert: kubeletClientCert,
		KubeletClientKey:  kubeletClientKey,
	}
	for _, k := range []struct {
		key *ecdsa.PrivateKey
		out *[]byte
	}{{caKey, &p.CAKey}, {servingKey, &p.ServingKey}, {saKey, &p.SAKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
		*k.out = pemBlock("PRIVATE KEY", der)
	}
	return p, nil
}

// TokenFile is the apiserver's --token-auth-file: one admin in system:masters.
func (p *PKI) TokenFile() []byte {
	return fmt.Appendf(nil, "%s,admin,admin,\"system:masters\"\n", p.AdminToken)
}

// pkiFiles are the PKI's file names under the state directory's pki/.
const (
	caCertFile      = "ca.crt"
	caKeyFile       = "ca.key"
	servingCertFile = "serving.crt"
	servingKeyFile  = "serving.key"
	saKeyFile       = "sa.key"
	saPubFile       = "sa.pub"
	tokenFile       = "tokens.csv"

	kubeletClientCertFile = "apiserver-kubelet-client.crt"
	kubeletClientKeyFile  = "apiserver-kubelet-client.key"
)

// KubeletClientCommonName is the CN of the apiserver's kubelet client certificate.
const KubeletClientCommonName = "kube-apiserver-kubelet-client"

// WriteFiles writes the PKI into dir (created if missing), keys readable by the owner only.
func (p *PKI) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for name, data := range map[string][]byte{
		caCertFile:      p.CACert,
		caKeyFile:       p.CAKey,
		servingCertFile: p.ServingCert,
		servingKeyFile:  p.ServingKey,
		saKeyFile:       p.SAKey,
		saPubFile:       p.SAPub,
		tokenFile:       p.TokenFile(),

		kubeletClientCertFile: p.KubeletClientCert,
		kubeletClientKeyFile:  p.KubeletClientKey,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func signCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// mustPKCS8 encodes a key GeneratePKI just made; only a key type the standard
// library cannot encode fails, and ECDSA P-256 is not one.
func mustPKCS8(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic("controlplane: encode a fresh ECDSA key: " + err.Error())
	}
	return pemBlock("PRIVATE KEY", der)
}

// CertRequest describes a certificate IssueCert signs with the cluster CA.
type CertRequest struct {
	CommonName   string
	Organization []string // Kubernetes groups, for a client certificate
	DNSNames     []string
	IPs          []net.IP
	Client       bool // usable for client authentication
	Server       bool // usable for serving TLS
}

// IssueCert makes a fresh ECDSA P-256 key and a certificate for it signed by
// the CA (PEM cert and PKCS#8 key), valid from now-1h (clock skew) for validity.
// Package node uses it for the kubelet's client and serving certificates.
func IssueCert(caCertPEM, caKeyPEM []byte, req CertRequest, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	caCert, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %s: %w", req.CommonName, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		DNSNames:    req.DNSNames,
		IPAddresses: req.IPs,
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := signCert(tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign cert for %s: %w", req.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key for %s: %w", req.CommonName, err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("CA certificate: no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, errors.New("CA key: no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA key: %w", err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("CA key of type %T cannot sign", parsed)
	}
	return cert, signer, nil
}
