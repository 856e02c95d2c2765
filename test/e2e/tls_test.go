package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// certRole names one of the client certificates the operator issues for a
// cluster into a Secret <cluster>-<role>-tls (status.tls names them).
type certRole string

const (
	// appCert is the application's certificate: key-value calls and Status.
	appCert certRole = "client"
	// adminCert is the operator's: the whole Admin API too.
	adminCert certRole = "admin"
	// memberCert is the members' own, for both ports and both roles.
	memberCert certRole = "member"
)

// secretName is the Secret the operator keeps the role's certificate in.
func (r certRole) secretName(cluster string) string { return cluster + "-" + string(r) + "-tls" }

// memberServerName is the name member certificates carry for the client
// Service. Tests dial pod IPs, which no certificate names, so they verify
// members against it, as the operator does.
func memberServerName(namespace, cluster string) string {
	return cluster + "." + namespace + ".svc"
}

// clusterCreds is one of a cluster's certificate Secrets as a client
// presents it. A CA rotation rewrites the Secret while a test's clients keep
// connecting, so the tls.Config it makes reads the certificate and the CA
// bundle as last loaded at each handshake, and reload reads the Secret
// again: what an application watching its mounted Secret does.
type clusterCreds struct {
	e                 *env
	namespace, secret string
	serverName        string

	mu     sync.Mutex
	data   map[string][]byte // the Secret's data as last read
	cert   *tls.Certificate
	roots  *x509.CertPool
	loaded time.Time
}

// credsReloadEvery bounds how often reload reads a Secret: clients call it
// after every failed request.
const credsReloadEvery = time.Second

// clusterCreds reads the role's certificate Secret of the cluster, waiting
// for the operator to create it.
func (e *env) clusterCreds(ctx context.Context, t *testing.T, namespace, cluster string, role certRole) *clusterCreds {
	t.Helper()
	c := &clusterCreds{e: e, namespace: namespace, secret: role.secretName(cluster),
		serverName: memberServerName(namespace, cluster)}
	waitFor(ctx, t, "Secret "+namespace+"/"+c.secret, func(ctx context.Context) (bool, error) {
		err := c.load(ctx)
		return err == nil, err
	})
	return c
}

// load reads the Secret and parses its key pair and CA bundle.
func (c *clusterCreds) load(ctx context.Context) error {
	sec, err := c.e.client.CoreV1().Secrets(c.namespace).Get(ctx, c.secret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get Secret %s/%s: %w", c.namespace, c.secret, err)
	}
	pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return fmt.Errorf("key pair in Secret %s/%s: %w", c.namespace, c.secret, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(sec.Data[corev1.ServiceAccountRootCAKey]) {
		return fmt.Errorf("Secret %s/%s: no CA certificate in %s", c.namespace, c.secret, corev1.ServiceAccountRootCAKey)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data, c.cert, c.roots, c.loaded = sec.Data, &pair, roots, time.Now()
	return nil
}

// reload reads the Secret again unless it was read less than a second ago.
func (c *clusterCreds) reload(ctx context.Context) error {
	c.mu.Lock()
	fresh := time.Since(c.loaded) < credsReloadEvery
	c.mu.Unlock()
	if fresh {
		return nil
	}
	return c.load(ctx)
}

// config presents the certificate and verifies members against the CA
// bundle and memberServerName, both as last loaded.
func (c *clusterCreds) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: c.serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.cert, nil
		},
		// The bundle changes during a CA rotation and crypto/tls fixes
		// RootCAs per Config: verifyMember does what it would, with the
		// bundle of the moment.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   c.verifyMember,
	}
}

// serverOnly verifies members like config but presents no certificate:
// a caller that trusts the cluster but has no identity in it.
func (c *clusterCreds) serverOnly() *tls.Config {
	cfg := c.config()
	cfg.GetClientCertificate = nil
	return cfg
}

// verifyMember checks the member's certificate chain against the current
// bundle and memberServerName.
func (c *clusterCreds) verifyMember(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the member presented no certificate")
	}
	c.mu.Lock()
	roots := c.roots
	c.mu.Unlock()
	inter := x509.NewCertPool()
	for _, cert := range cs.PeerCertificates[1:] {
		inter.AddCert(cert)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: c.serverName, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// raftctlFlags writes the certificate, its key and the CA bundle as last
// loaded into a temp dir and returns the raftctl flags that use them
// against pod IPs or the client Service's address.
func (c *clusterCreds) raftctlFlags(t *testing.T) []string {
	t.Helper()
	c.mu.Lock()
	data := c.data
	c.mu.Unlock()
	dir := t.TempDir()
	files := map[string]string{"--cacert": corev1.ServiceAccountRootCAKey, "--cert": corev1.TLSCertKey, "--key": corev1.TLSPrivateKeyKey}
	var flags []string
	for flag, key := range files {
		file := filepath.Join(dir, key)
		if err := os.WriteFile(file, data[key], 0o600); err != nil {
			t.Fatal(err)
		}
		flags = append(flags, flag, file)
	}
	return append(flags, "--tls-server-name", c.serverName)
}
