package controlplane

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustPKI(t *testing.T, now time.Time) *PKI {
	t.Helper()
	p, err := GeneratePKI(now, 24*time.Hour)
	if err != nil {
		t.Fatalf("GeneratePKI: %v", err)
	}
	return p
}

func parseCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", pemData)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

func TestServingCertVerifiesForEveryName(t *testing.T) {
	now := time.Now()
	p := mustPKI(t, now)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CACert) {
		t.Fatal("CA PEM not accepted")
	}
	serving := parseCert(t, p.ServingCert)
	for _, tc := range []struct {
		name    string
		wantErr bool
	}{
		{name: "127.0.0.1"},
		{name: "localhost"},
		{name: "10.0.0.1"},
		{name: "kubernetes"},
		{name: "kubernetes.default"},
		{name: "kubernetes.default.svc"},
		{name: "kubernetes.default.svc.cluster.local"},
		{name: "example.com", wantErr: true},
		{name: "127.0.0.2", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serving.Verify(x509.VerifyOptions{
				DNSName:     tc.name,
				Roots:       pool,
				CurrentTime: now,
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("Verify(%s) error = %v, want error %v", tc.name, err, tc.wantErr)
			}
		})
	}
}

func TestCertValidity(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p := mustPKI(t, now)
	ca, serving := parseCert(t, p.CACert), parseCert(t, p.ServingCert)
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA=%v KeyUsage=%v, want a CA that signs certs", ca.IsCA, ca.KeyUsage)
	}
	if serving.IsCA {
		t.Error("serving cert is a CA")
	}
	for _, c := range []*x509.Certificate{ca, serving} {
		if want := now.Add(-time.Hour); !c.NotBefore.Equal(want) {
			t.Errorf("%s NotBefore = %v, want %v (an hour of clock skew)", c.Subject.CommonName, c.NotBefore, want)
		}
		if want := now.Add(24 * time.Hour); !c.NotAfter.Equal(want) {
			t.Errorf("%s NotAfter = %v, want %v", c.Subject.CommonName, c.NotAfter, want)
		}
	}
	if _, err := serving.Verify(x509.VerifyOptions{Roots: poolOf(ca), CurrentTime: now.Add(25 * time.Hour)}); err == nil {
		t.Error("serving cert verifies after it expired")
	}
	if ca.SerialNumber.Cmp(serving.SerialNumber) == 0 {
		t.Error("CA and serving cert share a serial number")
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestKeysMatchTheirCerts(t *testing.T) {
	p := mustPKI(t, time.Now())
	if _, err := tls.X509KeyPair(p.ServingCert, p.ServingKey); err != nil {
		t.Errorf("serving cert and key: %v", err)
	}
	if _, err := tls.X509KeyPair(p.CACert, p.CAKey); err != nil {
		t.Errorf("CA cert and key: %v", err)
	}

	priv := parsePrivateKey(t, p.SAKey)
	b, _ := pem.Decode(p.SAPub)
	if b == nil || b.Type != "PUBLIC KEY" {
		t.Fatalf("SA public key: no PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatalf("parse SA public key: %v", err)
	}
	if !priv.PublicKey.Equal(pub) {
		t.Error("SA public key is not the private key's")
	}
}

func parsePrivateKey(t *testing.T, pemData []byte) *ecdsa.PrivateKey {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("no PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("parse private key: %v", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("private key is %T, want ECDSA", k)
	}
	return ek
}

func TestEachPKIIsFresh(t *testing.T) {
	a, b := mustPKI(t, time.Now()), mustPKI(t, time.Now())
	if string(a.CAKey) == string(b.CAKey) || a.AdminToken == b.AdminToken {
		t.Fatal("two PKIs share a CA key or admin token")
	}
	if len(a.AdminToken) != 64 {
		t.Errorf("admin token %q: want 64 hex digits", a.AdminToken)
	}
}

func TestTokenFile(t *testing.T) {
	p := &PKI{AdminToken: "abc123"}
	if got, want := string(p.TokenFile()), "abc123,admin,admin,\"system:masters\"\n"; got != want {
		t.Fatalf("TokenFile() = %q, want %q", got, want)
	}
}

func TestWriteFiles(t *testing.T) {
	p := mustPKI(t, time.Now())
	dir := filepath.Join(t.TempDir(), "pki")
	if err := p.WriteFiles(dir); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	for name, want := range map[string][]byte{
		caCertFile: p.CACert, caKeyFile: p.CAKey, servingCertFile: p.ServingCert,
		servingKeyFile: p.ServingKey, saKeyFile: p.SAKey, saPubFile: p.SAPub, tokenFile: p.TokenFile(),
		kubeletClientCertFile: p.KubeletClientCert, kubeletClientKeyFile: p.KubeletClientKey,
	} {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the PKI's", name)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
}

func TestKubeconfig(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	kc := string(Kubeconfig("https://127.0.0.1:6443", ca, "tok"))
	for _, want := range []string{
		"server: https://127.0.0.1:6443\n",
		"certificate-authority-data: " + base64.StdEncoding.EncodeToString(ca) + "\n",
		"token: tok\n",
		"current-context: localkube\n",
	} {
		if !strings.Contains(kc, want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, kc)
		}
	}
}

func TestClientCertKubeconfig(t *testing.T) {
	ca, cert, key := []byte("ca"), []byte("cert"), []byte("key")
	kc := string(ClientCertKubeconfig("https://127.0.0.1:6443", ca, cert, key, "system:node:n1"))
	b64 := base64.StdEncoding.EncodeToString
	for _, want := range []string{
		"certificate-authority-data: " + b64(ca) + "\n",
		"- name: system:node:n1\n  user:\n    client-certificate-data: " + b64(cert) + "\n    client-key-data: " + b64(key) + "\ncontexts:\n",
		"    user: system:node:n1\n",
	} {
		if !strings.Contains(kc, want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, kc)
		}
	}
	if strings.Contains(kc, "token:") {
		t.Errorf("a client-certificate kubeconfig carries a token:\n%s", kc)
	}
}

func TestServingIPsAreLoopbackAndServiceIP(t *testing.T) {
	_, svc, err := net.ParseCIDR(ServiceClusterIPRange)
	if err != nil {
		t.Fatal(err)
	}
	first := svc.IP.To4()
	first[3]++
	found := false
	for _, ip := range servingIPs {
		found = found || ip.Equal(first)
	}
	if !found {
		t.Errorf("serving IPs %v lack the kubernetes Service IP %v", servingIPs, first)
	}
}

func TestIssueCert(t *testing.T) {
	now := time.Now()
	p := mustPKI(t, now)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, p.CACert))
	for _, tc := range []struct {
		name    string
		req     CertRequest
		wantEKU []x509.ExtKeyUsage
	}{
		{"kubelet client", CertRequest{CommonName: "system:node:n1", Organization: []string{"system:nodes"}, Client: true},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{"kubelet serving", CertRequest{CommonName: "n1", DNSNames: []string{"n1"}, IPs: []net.IP{net.IPv4(10, 244, 0, 1)}, Server: true},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
	} {
		certPEM, keyPEM, err := IssueCert(p.CACert, p.CAKey, tc.req, now, time.Hour)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := parseCert(t, certPEM)
		if c.Subject.CommonName != tc.req.CommonName || !slices.Equal(c.Subject.Organization, tc.req.Organization) {
			t.Errorf("%s: subject %v, want CN %s O %v", tc.name, c.Subject, tc.req.CommonName, tc.req.Organization)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: tc.wantEKU, CurrentTime: now}); err != nil {
			t.Errorf("%s: does not chain to the CA for %v: %v", tc.name, tc.wantEKU, err)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Errorf("%s: key does not match: %v", tc.name, err)
		}
	}
	kc := parseCert(t, p.KubeletClientCert)
	if kc.Subject.CommonName != KubeletClientCommonName || !slices.Equal(kc.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("apiserver kubelet client cert subject %v", kc.Subject)
	}
	if _, _, err := IssueCert([]byte("junk"), p.CAKey, CertRequest{CommonName: "x"}, now, time.Hour); err == nil {
		t.Error("IssueCert accepted a CA that is not PEM")
	}
}
