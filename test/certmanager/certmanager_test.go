package certmanager

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/test/kubeenv"
)

var kube kubeenv.Shared

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

// issueTimeout bounds each wait for cert-manager to act on an object.
const issueTimeout = 2 * time.Minute

// TestCAIssuerSignsLeafCertificate is the chain raftkube's spec.tls.issuerRef
// relies on: a SelfSigned ClusterIssuer signs a CA certificate, a CA Issuer
// built on that CA's Secret signs a leaf with the roles as organizations.
func TestCAIssuerSignsLeafCertificate(t *testing.T) {
	begin := time.Now()
	srv := kube.Get(t)
	apiUp := time.Now()
	Start(t, srv.Config)
	controllerUp := time.Now()
	ctx := t.Context()
	ns := srv.Namespace(t)
	c := srv.Client

	selfSigned := Object(ClusterIssuerKind, "", "selfsigned-"+ns, map[string]any{"selfSigned": map[string]any{}})
	create(ctx, t, c, selfSigned)
	t.Cleanup(func() {
		// Cluster-scoped: the namespace's end does not remove it.
		if err := c.Delete(context.WithoutCancel(ctx), selfSigned); err != nil {
			t.Errorf("delete ClusterIssuer: %v", err)
		}
	})
	create(ctx, t, c, Object(CertificateKind, ns, "raftkube-ca", map[string]any{
		"isCA":       true,
		"commonName": "raftkube-ca",
		"secretName": "raftkube-ca",
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
		"issuerRef":  map[string]any{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": selfSigned.GetName()},
	}))
	create(ctx, t, c, Object(IssuerKind, ns, "raftkube-ca", map[string]any{
		"ca": map[string]any{"secretName": "raftkube-ca"},
	}))
	dnsNames := []string{"member-0.members." + ns + ".svc", "member-0.members." + ns + ".svc.cluster.local"}
	organizations := []string{tlsconfig.AdminOrganization, tlsconfig.MemberOrganization}
	create(ctx, t, c, Object(CertificateKind, ns, "member", map[string]any{
		"secretName": "member-tls",
		"dnsNames":   toAny(dnsNames),
		"usages":     []any{"server auth", "client auth"},
		"subject":    map[string]any{"organizations": toAny(organizations)},
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
		"issuerRef":  map[string]any{"group": "cert-manager.io", "kind": "Issuer", "name": "raftkube-ca"},
	}))

	waitReady(ctx, t, c, IssuerKind, ns, "raftkube-ca")
	waitReady(ctx, t, c, CertificateKind, ns, "member")
	t.Logf("API server up in %s, CRDs installed and controller ready in %s, CA and leaf issued in %s",
		apiUp.Sub(begin).Round(time.Millisecond), controllerUp.Sub(apiUp).Round(time.Millisecond), time.Since(controllerUp).Round(time.Millisecond))

	caSecret := secret(ctx, t, c, ns, "raftkube-ca")
	leafSecret := secret(ctx, t, c, ns, "member-tls")
	for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt"} {
		if len(leafSecret.Data[key]) == 0 {
			t.Fatalf("Secret member-tls has no %s; keys: %v", key, keys(leafSecret.Data))
		}
	}
	ca := parseCert(t, "the CA's tls.crt", caSecret.Data[corev1.TLSCertKey])
	if !ca.IsCA || ca.Subject.CommonName != "raftkube-ca" {
		t.Errorf("CA certificate: IsCA %v, CN %q; want a CA named raftkube-ca", ca.IsCA, ca.Subject.CommonName)
	}
	caPEM := leafSecret.Data["ca.crt"]
	if got := parseCert(t, "member-tls ca.crt", caPEM); !got.Equal(ca) {
		t.Errorf("member-tls ca.crt is %q, want the CA's certificate", got.Subject)
	}
	leaf := parseCert(t, "member-tls tls.crt", leafSecret.Data[corev1.TLSCertKey])
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no PEM certificate")
	}
	for _, name := range dnsNames {
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots:     roots,
			DNSName:   name,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}); err != nil {
			t.Errorf("the leaf does not verify against ca.crt for %s as server and client: %v", name, err)
		}
	}
	if got := slices.Sorted(slices.Values(leaf.Subject.Organization)); !slices.Equal(got, slices.Sorted(slices.Values(organizations))) {
		t.Errorf("leaf organizations %v, want %v", got, organizations)
	}
	if got := slices.Sorted(slices.Values(leaf.DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(dnsNames))) {
		t.Errorf("leaf DNS names %v, want %v", got, dnsNames)
	}
	if leaf.IsCA {
		t.Error("the leaf is a CA")
	}
}

// TestStartKubeconfig starts the controller from a kubeconfig file, the way
// a test on localkube would, on a server whose CRDs an earlier Start may
// already have installed, and has it issue a self-signed certificate.
func TestStartKubeconfig(t *testing.T) {
	srv := kube.Get(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(kubeconfig, srv.Config); err != nil {
		t.Fatal(err)
	}
	StartKubeconfig(t, kubeconfig)
	ctx := t.Context()
	ns := srv.Namespace(t)
	create(ctx, t, srv.Client, Object(IssuerKind, ns, "selfsigned", map[string]any{"selfSigned": map[string]any{}}))
	create(ctx, t, srv.Client, Object(CertificateKind, ns, "self", map[string]any{
		"commonName": "self",
		"secretName": "self-tls",
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
		"issuerRef":  map[string]any{"group": "cert-manager.io", "kind": "Issuer", "name": "selfsigned"},
	}))
	waitReady(ctx, t, srv.Client, CertificateKind, ns, "self")
	cert := parseCert(t, "self-tls tls.crt", secret(ctx, t, srv.Client, ns, "self-tls").Data[corev1.TLSCertKey])
	if cert.Subject.CommonName != "self" || cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
		t.Errorf("self-tls holds %q, want a certificate named self that signs itself", cert.Subject)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func create(ctx context.Context, t *testing.T, c client.Client, obj *unstructured.Unstructured) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// waitReady polls the object until its Ready condition is True; the object
// as last seen is in the failure.
func waitReady(ctx context.Context, t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
		if err == nil && readyCondition(obj) == "True" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s %s/%s not Ready after %s (last error %v); status: %v", gvk.Kind, ns, name, issueTimeout, err, obj.Object["status"])
		case <-tick.C:
		}
	}
}

func readyCondition(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Ready" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func secret(ctx context.Context, t *testing.T, c client.Client, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatalf("get Secret %s: %v", name, err)
	}
	return s
}

func keys(m map[string][]byte) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func parseCert(t *testing.T, what string, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", what, err)
	}
	return cert
}
