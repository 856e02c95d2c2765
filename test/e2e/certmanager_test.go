package e2e

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/certmanager"
)

// issuerNS is where the cert-manager-issued cluster runs.
const issuerNS = "issued"

// certManagerCluster runs a RaftCluster whose certificates the real
// cert-manager controller issues (spec.tls.issuerRef naming a CA Issuer):
// the controller runs against the local control plane, the members in pods
// on the real node. The cluster forms, serves writes to the application
// certificate cert-manager issued, and refuses that certificate the Admin
// API.
func (e *env) certManagerCluster(ctx context.Context, t *testing.T, c ctrlclient.Client) {
	t.Helper()
	start := time.Now()
	certmanager.StartKubeconfig(t, e.kubeconfig)
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: issuerNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	certmanager.CAIssuer(ctx, t, c, issuerNS, "ca")

	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: issuerNS, Name: clusterName},
		Spec:       raftv1.RaftClusterSpec{TLS: raftv1.TLSSpec{IssuerRef: &raftv1.IssuerReference{Name: "ca"}}},
	}
	if err := c.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	key := ctrlclient.ObjectKeyFromObject(rc)
	rc = waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	t.Logf("cert-manager started, issuer chain and a 3-voter cluster with its certificates Available: %v", time.Since(start).Round(100*time.Millisecond))
	if rc.Status.TLS == nil || rc.Status.TLS.CASecretName != "" {
		t.Errorf("status.tls = %+v, want Secrets of cert-manager's and no CA of the operator's", rc.Status.TLS)
	}

	app := e.clusterCreds(ctx, t, issuerNS, clusterName, appCert)
	pod, err := e.client.CoreV1().Pods(issuerNS).Get(ctx, clusterName+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(clientPort))
	cl, err := client.New(ctx, client.Config{Endpoints: []string{ep}, TLS: app.config(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Put(ctx, []byte("issued-by"), []byte("cert-manager")); err != nil {
		t.Fatalf("put with cert-manager's application certificate: %v", err)
	}
	if kv, ok, err := cl.Get(ctx, []byte("issued-by")); err != nil || !ok || string(kv.GetValue()) != "cert-manager" {
		t.Fatalf("get = %v, %v, %v; want cert-manager", kv, ok, err)
	}
	_, err = cl.AddLearner(ctx, &serverpb.Member{Name: "intruder", PeerAddress: "10.0.0.1:2380", ClientAddress: "10.0.0.1:2379"})
	if !errors.Is(err, client.ErrPermissionDenied) || !serverpb.HasReason(err, serverpb.ReasonPermissionDenied) {
		t.Errorf("AddLearner with the application certificate = %v, want PermissionDenied (%s)", err, serverpb.ReasonPermissionDenied)
	}
}
