package envtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/test/certmanager"
)

// TestIssuerRefWithCertManager: a RaftCluster naming a cert-manager CA
// Issuer gets its three certificates from the real cert-manager controller,
// in Secrets the operator's cache sees, that work together: a member serves
// mutual TLS that the operator's admin certificate and an application's
// certificate pass, verified against the client Service's name as the
// operator dials.
func TestIssuerRefWithCertManager(t *testing.T) {
	api := kube.Get(t)
	certmanager.Start(t, api.Config)
	ctx := t.Context()
	ns := api.Namespace(t)
	c := api.Client

	certmanager.CAIssuer(ctx, t, c, ns, "ca")

	r := &controllers.RaftClusterReconciler{
		Client:   c,
		Scheme:   api.Scheme,
		Recorder: &events.FakeRecorder{},
		// No pod runs in envtest: no member is ever asked.
		Members:  controllers.NewMemberClient,
		Settings: controllers.Settings{NodeImage: "raftnode:test", ClusterDomain: "cluster.local", OperatorNamespace: operatorNamespace},
	}
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec:       raftv1.RaftClusterSpec{TLS: raftv1.TLSSpec{IssuerRef: &raftv1.IssuerReference{Name: "ca"}}},
	}
	if err := c.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(rc)

	// Passes until cert-manager has written the three Secrets.
	names := []string{"demo-member-tls", "demo-admin-tls", "demo-client-tls"}
	secrets := map[string]*corev1.Secret{}
	deadline := time.Now().Add(time.Minute)
	for len(secrets) < len(names) {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, Secrets %v of %v exist", slices.Collect(maps.Keys(secrets)), names)
		}
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		for _, name := range names {
			sec := &corev1.Secret{}
			switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); {
			case err == nil && len(sec.Data[corev1.TLSCertKey]) > 0:
				secrets[name] = sec
			case err != nil && !apierrors.IsNotFound(err):
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond) // cert-manager works in its own process
	}

	for _, name := range names {
		cert := &unstructured.Unstructured{}
		cert.SetGroupVersionKind(certmanager.CertificateKind)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cert); err != nil {
			t.Fatalf("Certificate %s: %v", name, err)
		}
		if owner := metav1.GetControllerOf(cert); owner == nil || owner.Name != "demo" || owner.Kind != "RaftCluster" {
			t.Errorf("Certificate %s is controlled by %v, want the RaftCluster", name, owner)
		}
		if l := secrets[name].Labels; l[raftv1.LabelManagedBy] != "raftkube-operator" || l[raftv1.LabelCluster] != "demo" {
			t.Errorf("Secret %s labels %v: the manager's cache selects raftkube-operator's objects only", name, l)
		}
	}
	if err := c.Get(ctx, key, rc); err != nil {
		t.Fatal(err)
	}
	if st := rc.Status.TLS; st == nil || st.ClientSecretName != "demo-client-tls" || st.AdminSecretName != "demo-admin-tls" || st.CASecretName != "" {
		t.Errorf("status.tls %+v, want the client and admin Secrets and no CA of the operator's", st)
	}
	var caSecrets corev1.SecretList
	if err := c.List(ctx, &caSecrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range caSecrets.Items {
		if s.Name == "demo-ca" {
			t.Error("the operator made a CA of its own although an issuer is named")
		}
	}
	sts := &appsv1.StatefulSet{}
	if err := c.Get(ctx, key, sts); err != nil {
		t.Fatal(err)
	}
	if v := sts.Spec.Template.Spec.Volumes; len(v) != 1 || v[0].Secret == nil || v[0].Secret.SecretName != "demo-member-tls" {
		t.Errorf("pod volumes %+v, want the member Secret", v)
	}

	// The member certificate serves mutual TLS; the admin and application
	// certificates pass it, verified as the operator verifies members.
	member := keyPair(t, secrets["demo-member-tls"])
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secrets["demo-member-tls"].Data["ca.crt"]) {
		t.Fatal("member Secret has no ca.crt")
	}
	for _, who := range []struct {
		secret string
		org    string
	}{{"demo-admin-tls", tlsconfig.AdminOrganization}, {"demo-client-tls", "raftkube:client"}} {
		got, err := handshake(ctx, member, roots, keyPair(t, secrets[who.secret]), "demo."+ns+".svc")
		if err != nil {
			t.Errorf("%s against the member certificate: %v", who.secret, err)
			continue
		}
		if !slices.Contains(got, who.org) {
			t.Errorf("%s presented organizations %v, want %s", who.secret, got, who.org)
		}
	}
	if _, err := handshake(ctx, member, roots, keyPair(t, secrets["demo-admin-tls"]), "demo.elsewhere.svc"); err == nil {
		t.Error("the member certificate passed for a name it should not carry")
	}
}

func keyPair(t *testing.T, s *corev1.Secret) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatalf("Secret %s: %v", s.Name, err)
	}
	return pair
}

// handshake runs a TLS handshake over a pipe: server presents srv and
// requires a client certificate of roots; the client presents cli and
// verifies the server for serverName. It returns the organizations the
// server saw.
func handshake(ctx context.Context, srv tls.Certificate, roots *x509.CertPool, cli tls.Certificate, serverName string) ([]string, error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	server := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srv}, ClientCAs: roots,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	type result struct {
		orgs []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		err := server.HandshakeContext(ctx)
		var orgs []string
		if err == nil {
			orgs = server.ConnectionState().PeerCertificates[0].Subject.Organization
		}
		done <- result{orgs, err}
		_, _ = io.Copy(io.Discard, server) // until the client closes
	}()
	conn := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{cli}, RootCAs: roots, ServerName: serverName,
		MinVersion: tls.VersionTLS12})
	clientErr := conn.HandshakeContext(ctx)
	_ = conn.Close()
	res := <-done
	return res.orgs, errors.Join(clientErr, res.err)
}
