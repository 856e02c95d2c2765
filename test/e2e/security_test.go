package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/pki"
	"github.com/raftkube/raftkube/raftnode/client"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// secureNS is TestSecurity's namespace: Pod Security "restricted" enforced.
const secureNS = "secure"

// TestSecurity applies the sample RaftCluster, unchanged, in a namespace
// that enforces the restricted Pod Security Standard, and checks what
// "secure by default" promises: the pods are admitted; under a checked
// workload (talking mutual TLS with the application certificate) the
// cluster scales 3 -> 5 -> 3 and rotates its CA until every member trusts
// the new CA alone, losing no acknowledged write; and from outside the
// cluster (the test process reaches pod IPs) a caller without a
// certificate, with the application's certificate calling the Admin API,
// with a certificate of another CA, or in plaintext is refused with the
// right code, on the client port as on the peer port, where forged Raft
// traffic with the right cluster id changes nothing. A raftctl pod without
// a certificate is told it is unauthenticated. A second cluster gets its
// certificates from the real cert-manager controller instead. Times are
// logged, not asserted.
func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	c := e.clusterClient(t)
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "3m")

	restricted := map[string]string{}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		restricted["pod-security.kubernetes.io/"+mode] = "restricted"
		restricted["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: secureNS, Labels: restricted},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 1. The sample as it is: admitted and Available.
	key := ctrlclient.ObjectKey{Namespace: secureNS, Name: clusterName}
	start := time.Now()
	e.tool(ctx, t, "kubectl", "apply", "--namespace", secureNS, "-f", filepath.Join(repoRoot, "config", "samples", "raftkube_v1alpha1_raftcluster.yaml"))
	rc := waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	t.Logf("apply in a restricted namespace -> Available (3 voters): %v", time.Since(start).Round(100*time.Millisecond))
	if rc.Status.TLS == nil || rc.Status.TLS.ClientSecretName != appCert.secretName(clusterName) || rc.Status.TLS.AdminSecretName != adminCert.secretName(clusterName) {
		t.Fatalf("status.tls = %+v, want the client and admin Secrets %s and %s", rc.Status.TLS, appCert.secretName(clusterName), adminCert.secretName(clusterName))
	}
	e.checkNoPodRefused(ctx, t, secureNS)

	// 2. Under a checked workload: scale 3 -> 5 -> 3, rotate the CA.
	w := startWorkloadIn(ctx, t, e, secureNS, clusterName)
	start = time.Now()
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--namespace", secureNS, "--replicas=5")
	waitClusterIn(ctx, t, c, key, "Available with 5 voters", available(5))
	t.Logf("scale 3 -> 5: %v", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--namespace", secureNS, "--replicas=3")
	waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	e.waitPodsGone(ctx, t, secureNS, clusterName, 3, 4)
	t.Logf("scale 5 -> 3 (pods and claims gone): %v", time.Since(start).Round(100*time.Millisecond))
	e.checkNoPodRefused(ctx, t, secureNS)

	e.rotateCA(ctx, t, c, key)

	// 3. Attacks, with the CA the cluster trusts now.
	app := e.clusterCreds(ctx, t, secureNS, clusterName, appCert)
	e.attackClientPort(ctx, t, app)
	e.attackPeerPort(ctx, t, c, key, app)
	e.raftctlWithoutCertificate(ctx, t)

	// 4. The other way to certificates: a cluster whose certificates the
	// real cert-manager issues (spec.tls.issuerRef).
	e.certManagerCluster(ctx, t, c)

	// 5. No acknowledged write lost; the history linearizable.
	w.stopAndCheck(ctx, t)
}

// waitClusterIn polls the RaftCluster key until cond holds.
func waitClusterIn(ctx context.Context, t *testing.T, c ctrlclient.Client, key ctrlclient.ObjectKey, what string, cond func(*raftv1.RaftCluster) bool) *raftv1.RaftCluster {
	t.Helper()
	var rc *raftv1.RaftCluster
	waitFor(ctx, t, key.String()+": "+what, func(ctx context.Context) (bool, error) {
		got := &raftv1.RaftCluster{}
		if err := c.Get(ctx, key, got); err != nil {
			return false, err
		}
		rc = got
		if cond(got) {
			return true, nil
		}
		b, _ := json.Marshal(got.Status)
		return false, fmt.Errorf("status %s", b)
	})
	return rc
}

// waitPodsGone waits until the pods and claims of the cluster's ordinals
// are gone.
func (e *env) waitPodsGone(ctx context.Context, t *testing.T, namespace, cluster string, ordinals ...int) {
	t.Helper()
	for _, i := range ordinals {
		pod, claim := fmt.Sprintf("%s-%d", cluster, i), fmt.Sprintf("data-%s-%d", cluster, i)
		waitFor(ctx, t, pod+" and "+claim+" gone", func(ctx context.Context) (bool, error) {
			_, perr := e.client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
			_, cerr := e.client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
			return apierrors.IsNotFound(perr) && apierrors.IsNotFound(cerr), nil
		})
	}
}

// checkNoPodRefused fails t if Pod Security admission refused a pod in the
// namespace: the StatefulSet controller records a FailedCreate event.
func (e *env) checkNoPodRefused(ctx context.Context, t *testing.T, namespace string) {
	t.Helper()
	events, err := e.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		t.Errorf("%s %s: %s", ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Message)
	}
}

// memberStatuses asks every pod of the cluster for its member's Status, by
// pod name.
func (e *env) memberStatuses(ctx context.Context, namespace, cluster string, creds *clusterCreds) (map[string]*serverpb.StatusResponse, error) {
	pods, err := e.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: raftv1.LabelCluster + "=" + cluster})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := map[string]*serverpb.StatusResponse{}
	for _, p := range pods.Items {
		if p.Status.PodIP == "" {
			return nil, fmt.Errorf("pod %s has no IP", p.Name)
		}
		ep := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clientPort))
		mc, err := client.New(ctx, client.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, TLS: creds.config()})
		if err != nil {
			return nil, err
		}
		st, err := mc.Status(ctx, ep)
		_ = mc.Close()
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", p.Name, err)
		}
		out[p.Name] = st
	}
	return out, nil
}

// rotateCA asks for a CA rotation with the annotation and follows
// status.tls.caRotation through its three steps until it is empty again;
// then every member trusts the new CA alone, on both ports, and serves the
// member certificate it signed. On the way it logs when every member had
// loaded what each step wrote (the kubelet's propagation of the Secret),
// next to when the operator took the step.
func (e *env) rotateCA(ctx context.Context, t *testing.T, c ctrlclient.Client, key ctrlclient.ObjectKey) {
	t.Helper()
	oldCA := e.caFingerprint(ctx, t, key)
	app := e.clusterCreds(ctx, t, key.Namespace, key.Name, appCert)
	oldCert := tlsconfig.Fingerprint(e.clusterCreds(ctx, t, key.Namespace, key.Name, memberCert).cert.Certificate[0])
	start := time.Now()
	e.tool(ctx, t, "kubectl", "annotate", "raft/"+key.Name, "--namespace", key.Namespace, raftv1.AnnotationRotateCA+"=e2e")
	var steps, took []string
	loaded := map[string]time.Duration{}
	// What every member reports once it loaded each step's files.
	seen := map[string]func(*serverpb.TLSStatus) bool{
		"both CAs trusted": func(s *serverpb.TLSStatus) bool {
			return len(s.GetPeerTrustedCas()) == 2 && len(s.GetClientTrustedCas()) == 2
		},
		"new certificate served": func(s *serverpb.TLSStatus) bool {
			return s.GetPeerCertificate() != oldCert && s.GetClientCertificate() != oldCert
		},
		"new CA alone trusted": func(s *serverpb.TLSStatus) bool {
			return len(s.GetPeerTrustedCas()) == 1 && s.GetPeerTrustedCas()[0] != oldCA && len(s.GetClientTrustedCas()) == 1
		},
	}
	waitClusterIn(ctx, t, c, key, "the CA rotation done", func(rc *raftv1.RaftCluster) bool {
		step := ""
		if rc.Status.TLS != nil {
			step = rc.Status.TLS.CARotation
		}
		if step != "" && (len(steps) == 0 || steps[len(steps)-1] != step) {
			steps = append(steps, step)
			took = append(took, fmt.Sprintf("%s at %.1fs", step, time.Since(start).Seconds()))
		}
		// Failures are expected while certificates change: the next
		// poll asks again with the Secret as it is then.
		_ = app.reload(ctx)
		if statuses, err := e.memberStatuses(ctx, key.Namespace, key.Name, app); err == nil {
			for what, cond := range seen {
				every := len(statuses) > 0
				for _, st := range statuses {
					every = every && cond(st.GetTls())
				}
				if _, ok := loaded[what]; !ok && every {
					loaded[what] = time.Since(start)
				}
			}
		}
		_, asked := rc.Annotations[raftv1.AnnotationRotateCA]
		return len(steps) > 0 && step == "" && !asked && available(3)(rc)
	})
	t.Logf("CA rotation: %s, done at %.1fs", strings.Join(took, ", "), time.Since(start).Seconds())
	for _, what := range []string{"both CAs trusted", "new certificate served", "new CA alone trusted"} {
		t.Logf("CA rotation: every member reported %s at %.1fs", what, loaded[what].Seconds())
	}
	want := []string{raftv1.CARotationTrustingNewCA, raftv1.CARotationReissuingCertificates, raftv1.CARotationDroppingOldCA}
	if !slices.Equal(steps, want) {
		t.Errorf("status.tls.caRotation went through %v, want %v", steps, want)
	}
	newCA := e.caFingerprint(ctx, t, key)
	if newCA == oldCA {
		t.Fatalf("the CA Secret holds the old CA %s after the rotation", oldCA)
	}
	admin := e.clusterCreds(ctx, t, key.Namespace, key.Name, adminCert)
	member := e.clusterCreds(ctx, t, key.Namespace, key.Name, memberCert)
	wantCert := tlsconfig.Fingerprint(member.cert.Certificate[0])
	statuses, err := e.memberStatuses(ctx, key.Namespace, key.Name, admin)
	if err != nil {
		t.Fatal(err)
	}
	for pod, st := range statuses {
		got := st.GetTls()
		if !slices.Equal(got.GetPeerTrustedCas(), []string{newCA}) || !slices.Equal(got.GetClientTrustedCas(), []string{newCA}) {
			t.Errorf("%s trusts peer CAs %v and client CAs %v after the rotation, want only the new CA %s (old %s)",
				pod, got.GetPeerTrustedCas(), got.GetClientTrustedCas(), newCA, oldCA)
		}
		if got.GetPeerCertificate() != wantCert || got.GetClientCertificate() != wantCert {
			t.Errorf("%s serves %s (peer) and %s (client), want the re-issued member certificate %s",
				pod, got.GetPeerCertificate(), got.GetClientCertificate(), wantCert)
		}
	}
	if len(statuses) != 3 {
		t.Errorf("asked %d members for their TLS status, want 3", len(statuses))
	}
}

// caFingerprint is the fingerprint of the CA that signs the cluster's
// certificates now.
func (e *env) caFingerprint(ctx context.Context, t *testing.T, key ctrlclient.ObjectKey) string {
	t.Helper()
	sec, err := e.client.CoreV1().Secrets(key.Namespace).Get(ctx, key.Name+"-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ParseBundle(sec.Data[corev1.TLSCertKey])
	if err != nil || len(ca) != 1 {
		t.Fatalf("CA certificate in Secret %s: %v (%d certificates)", sec.Name, err, len(ca))
	}
	return tlsconfig.Fingerprint(ca[0].Raw)
}

// attackClientPort calls pod 0's client port as callers the cluster must
// refuse, and as the application it must serve.
func (e *env) attackClientPort(ctx context.Context, t *testing.T, app *clusterCreds) {
	t.Helper()
	pod, err := e.client.CoreV1().Pods(secureNS).Get(ctx, clusterName+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(clientPort))
	foreign := foreignCert(t)
	foreignTLS := app.serverOnly()
	foreignTLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return foreign, nil }

	dial := func(cfg *tls.Config) *client.Client {
		t.Helper()
		conf := client.Config{Endpoints: []string{ep}, DialTimeout: 3 * time.Second, RequestTimeout: 5 * time.Second, TLS: cfg}
		c, err := client.New(ctx, conf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	noCert, withApp, withForeign, plaintext := dial(app.serverOnly()), dial(app.config()), dial(foreignTLS), dial(nil)
	learner := &serverpb.Member{Id: 0xe2e, Name: "intruder", PeerAddress: "192.0.2.1:2380", ClientAddress: "192.0.2.1:2379"}
	put := func(c *client.Client) error {
		_, err := c.Put(ctx, []byte("e2e-attack"), []byte("x"))
		return err
	}
	addLearner := func(c *client.Client) error {
		_, err := c.AddLearner(ctx, learner)
		return err
	}
	leader, err := withApp.Leader(ctx)
	if err != nil {
		t.Fatalf("the application certificate cannot ask for the leader: %v", err)
	}

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		kind   error
		reason string
	}{
		{"no certificate: Put", func() error { return put(noCert) }, codes.Unauthenticated, client.ErrUnauthenticated, serverpb.ReasonUnauthenticated},
		{"no certificate: AddLearner", func() error { return addLearner(noCert) }, codes.Unauthenticated, client.ErrUnauthenticated, serverpb.ReasonUnauthenticated},
		{"application certificate: AddLearner", func() error { return addLearner(withApp) }, codes.PermissionDenied, client.ErrPermissionDenied, serverpb.ReasonPermissionDenied},
		{"application certificate: TransferLeadership", func() error {
			_, err := withApp.TransferLeadership(ctx, leader.GetId())
			return err
		}, codes.PermissionDenied, client.ErrPermissionDenied, serverpb.ReasonPermissionDenied},
		{"application certificate: ForceNewCluster", func() error {
			_, err := withApp.ForceNewCluster(ctx, ep)
			return err
		}, codes.PermissionDenied, client.ErrPermissionDenied, serverpb.ReasonPermissionDenied},
		{"application certificate: Put", func() error { return put(withApp) }, codes.OK, nil, ""},
		{"application certificate: Get", func() error {
			kv, found, err := withApp.Get(ctx, []byte("e2e-attack"))
			if err == nil && (!found || string(kv.GetValue()) != "x") {
				return fmt.Errorf("read %q (found %v), want x", kv.GetValue(), found)
			}
			return err
		}, codes.OK, nil, ""},
		{"certificate of another CA: Put", func() error { return put(withForeign) }, codes.Unavailable, client.ErrUnavailable, ""},
		{"plaintext: Put", func() error { return put(plaintext) }, codes.Unavailable, client.ErrUnavailable, ""},
	} {
		err := tc.call()
		t.Logf("client port, %s: %s %v", tc.name, status.Code(err), err)
		if status.Code(err) != tc.code || (tc.kind != nil && !errors.Is(err, tc.kind)) || (tc.kind == nil && err != nil) {
			t.Errorf("client port, %s: %v; want %s (%v)", tc.name, err, tc.code, tc.kind)
		}
		if tc.reason != "" && !serverpb.HasReason(err, tc.reason) {
			t.Errorf("client port, %s: no ErrorInfo reason %s in %v", tc.name, tc.reason, err)
		}
	}
	// Unavailable says nothing was served; the handshake itself says who
	// refused: the member, with an alert.
	if err := refusedAtHandshake(ctx, ep, foreignTLS); err != nil {
		t.Errorf("client port, certificate of another CA: %v", err)
	}
}

// foreignCert is an admin certificate of a CA no cluster trusts.
func foreignCert(t *testing.T) *tls.Certificate {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("e2e intruder CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Issue(ca, pki.Request{CommonName: "intruder",
		Organizations: []string{tlsconfig.AdminOrganization, tlsconfig.MemberOrganization}, Client: true}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
}

// refusedAtHandshake completes the client's side of a TLS handshake with
// ep and reads: nil when the member answers with an alert (it refused the
// certificate), an error saying what happened otherwise.
func refusedAtHandshake(ctx context.Context, ep string, cfg *tls.Config) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(dctx, "tcp", ep)
	if err == nil {
		defer func() { _ = conn.Close() }()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		// TLS 1.3: the server checks the client's certificate after the
		// client finished; its verdict arrives with the first read.
		_, err = conn.Read(make([]byte, 1))
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%s accepted the handshake and sent data", ep)
	}
	return fmt.Errorf("no TLS alert from %s: %w", ep, err)
}

// attackPeerPort speaks the Raft transport to every member's peer port
// with the cluster's id, as a member would: a heartbeat from a made-up
// member of a term far ahead, which any member accepting it would follow
// (the leader stepping down). In plaintext, over TLS without a
// certificate, and with the application's certificate (the right CA, but
// not a member) each is refused; the member certificate's empty batch, a
// control, is accepted. Leader and term stay as they were.
func (e *env) attackPeerPort(ctx context.Context, t *testing.T, c ctrlclient.Client, key ctrlclient.ObjectKey, app *clusterCreds) {
	t.Helper()
	rc := waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	clusterID, err := strconv.ParseUint(rc.Status.ClusterID, 16, 64)
	if err != nil {
		t.Fatalf("status.clusterID %q: %v", rc.Status.ClusterID, err)
	}
	before, err := e.memberStatuses(ctx, key.Namespace, key.Name, app)
	if err != nil {
		t.Fatal(err)
	}
	member := e.clusterCreds(ctx, t, key.Namespace, key.Name, memberCert)
	pods, err := e.client.CoreV1().Pods(key.Namespace).List(ctx, metav1.ListOptions{LabelSelector: raftv1.LabelCluster + "=" + key.Name})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		st := before[p.Name]
		if st.GetHeader().GetClusterId() != clusterID {
			t.Errorf("%s is in cluster %x, status.clusterID says %x", p.Name, st.GetHeader().GetClusterId(), clusterID)
		}
		ep := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(peerPort))
		// Members' certificates name them under the peer Service.
		serverName := fmt.Sprintf("%s.%s-peer.%s.svc", p.Name, key.Name, key.Namespace)
		forged := pb.Message{Type: pb.MsgHeartbeat, From: 0xe2e, To: st.GetSelf().GetId(), Term: st.GetHeader().GetTerm() + 100}
		batch := &transportpb.Batch{ClusterId: clusterID, From: 0xe2e, To: st.GetSelf().GetId(), Messages: [][]byte{forged.MarshalAppend(nil)}}
		peerTLS := func(cfg *tls.Config) credentials.TransportCredentials {
			cfg.ServerName = serverName
			return credentials.NewTLS(cfg)
		}
		for _, tc := range []struct {
			name  string
			creds credentials.TransportCredentials
			batch *transportpb.Batch
			code  codes.Code
		}{
			{"plaintext", insecure.NewCredentials(), batch, codes.Unavailable},
			{"TLS without a certificate", peerTLS(app.serverOnly()), batch, codes.Unavailable},
			{"application certificate", peerTLS(app.config()), batch, codes.Unavailable},
			{"member certificate, empty batch (control)", peerTLS(member.config()),
				&transportpb.Batch{ClusterId: clusterID, From: 0xe2e, To: st.GetSelf().GetId()}, codes.OK},
		} {
			sum, err := sendBatch(ctx, ep, tc.creds, tc.batch)
			t.Logf("peer port of %s, %s: %s %v", p.Name, tc.name, status.Code(err), err)
			if status.Code(err) != tc.code {
				t.Errorf("peer port of %s, %s: %v, want %s", p.Name, tc.name, err, tc.code)
			}
			if tc.code == codes.OK && sum.GetBatches() != 1 {
				t.Errorf("peer port of %s, %s: %d batches accepted, want 1", p.Name, tc.name, sum.GetBatches())
			}
		}
		if err := refusedAtHandshake(ctx, ep, func() *tls.Config { cfg := app.config(); cfg.ServerName = serverName; return cfg }()); err != nil {
			t.Errorf("peer port of %s, application certificate: %v", p.Name, err)
		}
	}
	after, err := e.memberStatuses(ctx, key.Namespace, key.Name, app)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range after {
		b := before[name]
		if st.GetHeader().GetTerm() != b.GetHeader().GetTerm() || st.GetLeader().GetId() != b.GetLeader().GetId() {
			t.Errorf("%s: term %d, leader %x after the forged heartbeats; before: term %d, leader %x",
				name, st.GetHeader().GetTerm(), st.GetLeader().GetId(), b.GetHeader().GetTerm(), b.GetLeader().GetId())
		}
	}
}

// sendBatch opens a Raft transport stream to ep, sends b and closes it; it
// returns the receiver's summary or the first error.
func sendBatch(ctx context.Context, ep string, creds credentials.TransportCredentials, b *transportpb.Batch) (*transportpb.StreamSummary, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cc, err := grpc.NewClient(ep, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer func() { _ = cc.Close() }()
	stream, err := transportpb.NewRaftClient(cc).Stream(sctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(b); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return stream.CloseAndRecv()
}

// raftctlWithoutCertificate runs raftctl from the raftnode image in a pod of
// the restricted namespace, trusting the cluster's CA but with no
// certificate of its own, against the client Service: it is refused as
// unauthenticated and says so.
func (e *env) raftctlWithoutCertificate(ctx context.Context, t *testing.T) {
	t.Helper()
	no, yes := false, true
	uid := int64(65532)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "raftctl-no-cert", Namespace: secureNS},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "raftctl",
				Image:           nodeImage(),
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"raftctl", "--endpoints", fmt.Sprintf("%s:%d", memberServerName(secureNS, clusterName), clientPort),
					"--cacert", "/etc/raftctl/ca.crt", "put", "e2e-no-cert", "x"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "ca", MountPath: "/etc/raftctl", ReadOnly: true}},
			}},
			// Only the CA bundle: the pod trusts the cluster, it has no
			// identity in it.
			Volumes: []corev1.Volume{{Name: "ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: appCert.secretName(clusterName),
				Items:      []corev1.KeyToPath{{Key: corev1.ServiceAccountRootCAKey, Path: "ca.crt"}},
			}}}},
		},
	}
	if _, err := e.client.CoreV1().Pods(secureNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s in the restricted namespace: %v", pod.Name, err)
	}
	var exit *corev1.ContainerStateTerminated
	waitFor(ctx, t, pod.Name+" to finish", func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(secureNS).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cs := range p.Status.ContainerStatuses {
			exit = cs.State.Terminated
		}
		return exit != nil, fmt.Errorf("phase %s", p.Status.Phase)
	})
	logs, err := e.client.CoreV1().Pods(secureNS).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("raftctl without a certificate exited %d:\n%s", exit.ExitCode, logs)
	if exit.ExitCode == 0 || !strings.Contains(string(logs), codes.Unauthenticated.String()) {
		t.Errorf("raftctl without a certificate exited %d, want non-zero and %s in its output", exit.ExitCode, codes.Unauthenticated)
	}
}
