package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, name string) KeyPair {
	t.Helper()
	ca, err := NewCA(name, t0, 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssuedLeafVerifiesForItsNamesAndUsages(t *testing.T) {
	ca := mustCA(t, "ca")
	req := Request{CommonName: "m", Organizations: []string{"raftkube:admin", "raftkube:member"},
		DNSNames: []string{"*.c-peer.ns.svc", "c.ns.svc"}, Server: true, Client: true}
	leaf, err := Issue(ca, req, t0, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"c-0.c-peer.ns.svc", "c.ns.svc"} {
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: t0,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "other.ns.svc", Roots: roots, CurrentTime: t0}); err == nil {
		t.Error("the leaf verified for a name it does not carry")
	}
	if !Satisfies(leaf.Cert, ca.Cert, req) {
		t.Error("Satisfies refused the leaf just issued for the request")
	}
	changed := req
	changed.DNSNames = []string{"c.ns.svc"}
	if Satisfies(leaf.Cert, ca.Cert, changed) {
		t.Error("Satisfies accepted a leaf whose names differ")
	}
	changed = req
	changed.Organizations = []string{"raftkube:member"}
	if Satisfies(leaf.Cert, ca.Cert, changed) {
		t.Error("Satisfies accepted a leaf whose organizations differ")
	}
	changed = req
	changed.Server = false
	if Satisfies(leaf.Cert, ca.Cert, changed) {
		t.Error("Satisfies accepted a leaf whose usages differ")
	}
	if Satisfies(leaf.Cert, mustCA(t, "other").Cert, req) {
		t.Error("Satisfies accepted a leaf signed by another CA")
	}
}

func TestPEMRoundTripServesTLS(t *testing.T) {
	ca := mustCA(t, "ca")
	leaf, err := Issue(ca, Request{CommonName: "s", DNSNames: []string{"s.example"}, Server: true}, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeyPair(leaf.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("parse what was written: %v", err)
	}
	if Fingerprint(back.Cert) != Fingerprint(leaf.Cert) {
		t.Error("the certificate read back differs")
	}
	// crypto/tls, which raftnode uses, reads the same PEM.
	if _, err := tls.X509KeyPair(leaf.CertPEM(), keyPEM); err != nil {
		t.Errorf("crypto/tls refuses the pair: %v", err)
	}
}

func TestParseRefusesBadData(t *testing.T) {
	ca := mustCA(t, "ca")
	other := mustCA(t, "other")
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct{ cert, key []byte }{
		"empty":                {nil, nil},
		"garbage":              {[]byte("not pem"), caKey},
		"truncated cert":       {ca.CertPEM()[:len(ca.CertPEM())/2], caKey},
		"key missing":          {ca.CertPEM(), nil},
		"key of another":       {ca.CertPEM(), otherKey},
		"certificate as a key": {ca.CertPEM(), ca.CertPEM()},
	}
	for name, tt := range tests {
		if _, err := ParseKeyPair(tt.cert, tt.key); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

func TestBundleKeepsOrderAndDropsDuplicates(t *testing.T) {
	a, b := mustCA(t, "a"), mustCA(t, "b")
	certs, err := ParseBundle(Bundle(a.Cert, b.Cert, a.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || Fingerprint(certs[0]) != Fingerprint(a.Cert) || Fingerprint(certs[1]) != Fingerprint(b.Cert) {
		t.Errorf("bundle read back %d certificates, want a then b", len(certs))
	}
	// Cut in the second certificate: refused, not read as a alone.
	both := Bundle(a.Cert, b.Cert)
	if _, err := ParseBundle(both[:len(both)-40]); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated bundle: err %v, want ErrInvalid", err)
	}
}

func TestRenewalDueAtTwoThirds(t *testing.T) {
	ca := mustCA(t, "ca")
	leaf, err := Issue(ca, Request{CommonName: "c", Client: true}, t0, 90*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The lifetime counts from NotBefore, backdated by the skew allowance.
	life := leaf.Cert.NotAfter.Sub(leaf.Cert.NotBefore)
	due := leaf.Cert.NotBefore.Add(life * 2 / 3)
	if RenewalDue(leaf.Cert, due.Add(-time.Second)) {
		t.Error("due a second before two thirds of the lifetime")
	}
	if !RenewalDue(leaf.Cert, due) {
		t.Error("not due at two thirds of the lifetime")
	}
}

func TestLeafNeverOutlivesItsCA(t *testing.T) {
	ca, err := NewCA("short", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(ca, Request{CommonName: "c", Client: true}, t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("leaf valid until %s, past its CA's %s", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestMutualTLSWithIssuedCertificates(t *testing.T) {
	ca := mustCA(t, "ca")
	srv, err := Issue(ca, Request{CommonName: "s", DNSNames: []string{"s.example"}, Server: true}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Issue(ca, Request{CommonName: "c", Organizations: []string{"raftkube:admin"}, Client: true}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pair := func(k KeyPair) tls.Certificate {
		return tls.Certificate{Certificate: [][]byte{k.Cert.Raw}, PrivateKey: k.Key}
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair(srv)},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- nil
			return
		}
		got <- tc.ConnectionState().PeerCertificates[0].Subject.Organization
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "s.example",
		Certificates: []tls.Certificate{pair(cli)}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	if org := <-got; len(org) != 1 || org[0] != "raftkube:admin" {
		t.Errorf("server saw organizations %v, want the client's", org)
	}
}
