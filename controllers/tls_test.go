package controllers

import (
	"crypto/x509"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/pki"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// secretPair reads a Secret's key pair and CA bundle.
func (h *harness) secretPair(name string) (pki.KeyPair, []*x509.Certificate, *corev1.Secret) {
	h.t.Helper()
	sec := &corev1.Secret{}
	h.get(sec, name)
	if sec.Type != corev1.SecretTypeTLS {
		h.t.Errorf("Secret %s has type %q, want %q", name, sec.Type, corev1.SecretTypeTLS)
	}
	pair, err := pki.ParseKeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		h.t.Fatalf("Secret %s: %v", name, err)
	}
	bundle, err := pki.ParseBundle(sec.Data["ca.crt"])
	if err != nil {
		h.t.Fatalf("Secret %s ca.crt: %v", name, err)
	}
	return pair, bundle, sec
}

// verifies checks that leaf chains to one of the bundle's CAs for the usage
// (and name, when set).
func verifies(leaf *x509.Certificate, bundle []*x509.Certificate, usage x509.ExtKeyUsage, name string) error {
	roots := x509.NewCertPool()
	for _, c := range bundle {
		roots.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func issuedEvents(events []testEvent) []string {
	var notes []string
	for _, e := range events {
		if e.Reason == raftv1.ReasonCertificatesIssued || e.Reason == raftv1.ReasonInvalidTLSSecret {
			notes = append(notes, e.Type+" "+e.Note)
		}
	}
	return notes
}

func TestCertificatesIssuedForANewCluster(t *testing.T) {
	h := newHarness(t, nil)
	h.step(plan.SetReplicas)
	if n := len(issuedEvents(h.lastEvents)); n != 3 {
		t.Errorf("first pass: %d issuance events, want 3 (member, admin, client): %v", n, h.lastEvents)
	}
	ca, caBundle, caSecret := h.secretPair("demo-ca")
	if !ca.Cert.IsCA || len(caBundle) != 1 || pki.Fingerprint(caBundle[0]) != pki.Fingerprint(ca.Cert) {
		t.Fatalf("CA Secret: IsCA %v, bundle of %d, want the CA alone", ca.Cert.IsCA, len(caBundle))
	}
	if caSecret.Labels[raftv1.LabelCluster] != "demo" || len(caSecret.OwnerReferences) != 1 {
		t.Errorf("CA Secret labels %v owners %v, want the cluster's", caSecret.Labels, caSecret.OwnerReferences)
	}

	member, bundle, _ := h.secretPair("demo-member-tls")
	for _, name := range []string{
		"demo-0.demo-peer." + h.ns + ".svc", "demo-4.demo-peer." + h.ns + ".svc.cluster.local",
		"demo", "demo." + h.ns, "demo." + h.ns + ".svc", "demo." + h.ns + ".svc.cluster.local",
	} {
		if err := verifies(member.Cert, bundle, x509.ExtKeyUsageServerAuth, name); err != nil {
			t.Errorf("member certificate as a server for %s: %v", name, err)
		}
	}
	if err := verifies(member.Cert, bundle, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("member certificate as a client: %v", err)
	}
	if o := member.Cert.Subject.Organization; !slices.Equal(o, []string{"raftkube:admin", "raftkube:member"}) {
		t.Errorf("member organizations %v, want admin and member (members forward admin calls)", o)
	}
	admin, _, _ := h.secretPair("demo-admin-tls")
	if o := admin.Cert.Subject.Organization; !slices.Equal(o, []string{"raftkube:admin"}) {
		t.Errorf("admin organizations %v, want raftkube:admin", o)
	}
	app, appBundle, _ := h.secretPair("demo-client-tls")
	if o := app.Cert.Subject.Organization; slices.Contains(o, "raftkube:admin") || slices.Contains(o, "raftkube:member") {
		t.Errorf("application certificate organizations %v: it must carry no admin or member role", o)
	}
	if err := verifies(app.Cert, appBundle, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("application certificate as a client: %v", err)
	}
	if err := verifies(app.Cert, appBundle, x509.ExtKeyUsageServerAuth, ""); err == nil {
		t.Error("the application certificate is usable as a server's")
	}

	st := h.cluster().Status.TLS
	if st == nil || st.ClientSecretName != "demo-client-tls" || st.AdminSecretName != "demo-admin-tls" ||
		st.CASecretName != "demo-ca" || st.CANotAfter == nil || st.CARotation != "" {
		t.Errorf("status.tls %+v, want the three Secrets named and no rotation", st)
	}

	// A second pass issues nothing.
	secretNames := []string{"demo-ca", "demo-member-tls", "demo-admin-tls", "demo-client-tls"}
	before := map[string]string{}
	for _, name := range secretNames {
		sec := &corev1.Secret{}
		h.get(sec, name)
		before[name] = sec.ResourceVersion
	}
	h.startPod(0)
	h.step(plan.FinishBootstrap)
	if n := issuedEvents(h.lastEvents); len(n) != 0 {
		t.Errorf("second pass issued %v, want nothing", n)
	}
	for _, name := range secretNames {
		sec := &corev1.Secret{}
		h.get(sec, name)
		if before[name] != sec.ResourceVersion {
			t.Errorf("Secret %s was written again", name)
		}
	}
}

func TestCertificatesRenewedAndRepaired(t *testing.T) {
	h := newHarness(t, nil)
	h.step(plan.SetReplicas)
	ca, _, _ := h.secretPair("demo-ca")
	oldMember, _, _ := h.secretPair("demo-member-tls")

	// The application certificate nears its end: two thirds of its life
	// have passed.
	req := leafRequests(h.cluster(), "cluster.local")["demo-client-tls"]
	aging, err := pki.Issue(ca, req, time.Now().Add(-61*24*time.Hour), 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.writeSecretPair("demo-client-tls", aging)
	// Someone broke the admin Secret's key.
	admin := &corev1.Secret{}
	h.get(admin, "demo-admin-tls")
	admin.Data["tls.key"] = []byte("garbage")
	if err := h.c.Update(h.ctx, admin); err != nil {
		t.Fatal(err)
	}

	h.startPod(0)
	h.step(plan.FinishBootstrap)
	got := issuedEvents(h.lastEvents)
	if !slices.ContainsFunc(got, func(s string) bool { return s == "Normal issued the certificate in Secret demo-client-tls" }) ||
		!slices.ContainsFunc(got, func(s string) bool { return s == "Normal issued the certificate in Secret demo-admin-tls" }) ||
		!slices.ContainsFunc(got, func(s string) bool { return s[:7] == "Warning" }) || len(got) != 3 {
		t.Errorf("events %v, want a Warning about the broken admin Secret and the client and admin certificates issued", got)
	}
	renewed, _, _ := h.secretPair("demo-client-tls")
	if pki.Fingerprint(renewed.Cert) == pki.Fingerprint(aging.Cert) || pki.RenewalDue(renewed.Cert, time.Now()) {
		t.Error("the aging application certificate was not renewed")
	}
	h.secretPair("demo-admin-tls") // parses again
	member, _, _ := h.secretPair("demo-member-tls")
	if pki.Fingerprint(member.Cert) != pki.Fingerprint(oldMember.Cert) {
		t.Error("the member certificate, still good, was re-issued")
	}

	// A name the member certificate must carry changes (the cluster domain):
	// it is re-issued.
	h.r.Settings.ClusterDomain = "example.org"
	h.step(plan.SetReplicas)
	member, bundle, _ := h.secretPair("demo-member-tls")
	if err := verifies(member.Cert, bundle, x509.ExtKeyUsageServerAuth, "demo-0.demo-peer."+h.ns+".svc.example.org"); err != nil {
		t.Errorf("after the domain changed: %v", err)
	}
}

func (h *harness) writeSecretPair(name string, pair pki.KeyPair) {
	h.t.Helper()
	sec := &corev1.Secret{}
	h.get(sec, name)
	key, err := pair.KeyPEM()
	if err != nil {
		h.t.Fatal(err)
	}
	sec.Data["tls.crt"], sec.Data["tls.key"] = pair.CertPEM(), key
	if err := h.c.Update(h.ctx, sec); err != nil {
		h.t.Fatal(err)
	}
}

func TestPlaintextClusterWarnsAndIssuesNothing(t *testing.T) {
	h := newHarness(t, nil, func(rc *raftv1.RaftCluster) { rc.Spec.TLS.Enabled = new(false) })
	h.step(plan.SetReplicas)
	var warned int
	for _, e := range h.lastEvents {
		if e.Reason == raftv1.ReasonTLSDisabled && e.Type == corev1.EventTypeWarning {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d TLSDisabled warnings, want 1: %v", warned, h.lastEvents)
	}
	var secrets corev1.SecretList
	if err := h.c.List(h.ctx, &secrets); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if s.Namespace == h.ns && s.Labels[raftv1.LabelCluster] == "demo" {
			t.Errorf("plaintext cluster got Secret %s", s.Name)
		}
	}
	if st := h.cluster().Status.TLS; st != nil {
		t.Errorf("status.tls %+v, want none", st)
	}
	h.startPod(0)
	h.step(plan.FinishBootstrap)
	for _, e := range h.lastEvents {
		if e.Reason == raftv1.ReasonTLSDisabled {
			t.Error("warned again without a spec change")
		}
	}
}

// loadCertificates plays the kubelet and raftnode for the named pods (all
// running members when none is named): they load the member Secret as it
// is now and report it in their Status.
func (h *harness) loadCertificates(pods ...string) {
	h.t.Helper()
	leaf, bundle, _ := h.secretPair("demo-member-tls")
	var cas []string
	for _, c := range bundle {
		cas = append(cas, pki.Fingerprint(c))
	}
	st := &serverpb.TLSStatus{PeerTrustedCas: cas, ClientTrustedCas: cas,
		PeerCertificate: pki.Fingerprint(leaf.Cert), ClientCertificate: pki.Fingerprint(leaf.Cert)}
	h.raft.mu.Lock()
	defer h.raft.mu.Unlock()
	for _, n := range h.raft.nodes {
		if n.endpoint != "" && (len(pods) == 0 || slices.Contains(pods, n.name)) {
			n.tls = st
		}
	}
}

func (h *harness) rotation() string {
	h.t.Helper()
	st := h.cluster().Status.TLS
	if st == nil {
		h.t.Fatal("status.tls is not set")
	}
	return st.CARotation
}

// rotationPass runs a pass while a CA rotation is under way or ends: it
// must succeed, take no membership step, and come back soon while a step
// is left (members load files within seconds; the steady 30 s would make a
// rotation take minutes).
func (h *harness) rotationPass() {
	h.t.Helper()
	res, err := h.reconcile()
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	h.lastEvents = h.events.take()
	want := requeueChanging
	if h.rotation() == "" {
		want = requeueSteady
	}
	if res.RequeueAfter != want {
		h.t.Errorf("requeue after %v with rotation %q, want %v", res.RequeueAfter, h.rotation(), want)
	}
}

func TestCARotation(t *testing.T) {
	h := newHarness(t, nil)
	h.converge()
	h.loadCertificates()
	oldCA, _, _ := h.secretPair("demo-ca")
	oldApp, _, _ := h.secretPair("demo-client-tls")

	rc := h.cluster()
	rc.Annotations = map[string]string{raftv1.AnnotationRotateCA: "now"}
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationTrustingNewCA {
		t.Fatalf("rotation %q after the annotation, want %s", got, raftv1.CARotationTrustingNewCA)
	}
	if _, asked := h.cluster().Annotations[raftv1.AnnotationRotateCA]; asked {
		t.Error("the rotate-ca annotation is still there once the rotation started")
	}
	member, bundle, _ := h.secretPair("demo-member-tls")
	if len(bundle) != 2 || pki.Fingerprint(bundle[0]) != pki.Fingerprint(oldCA.Cert) {
		t.Fatalf("member bundle of %d CAs, want the old one then the new one", len(bundle))
	}
	newCA := bundle[1]
	if member.Cert.CheckSignatureFrom(oldCA.Cert) != nil {
		t.Error("certificates changed before every member trusts the new CA")
	}

	// Two of three members loaded the bundle: the rotation waits.
	h.loadCertificates("demo-0", "demo-1")
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationTrustingNewCA {
		t.Fatalf("rotation %q with a member on the old bundle, want it to wait", got)
	}
	h.loadCertificates()
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationReissuingCertificates {
		t.Fatalf("rotation %q once every member trusts the new CA, want %s", got, raftv1.CARotationReissuingCertificates)
	}
	for _, name := range []string{"demo-member-tls", "demo-admin-tls", "demo-client-tls"} {
		leaf, bundle, _ := h.secretPair(name)
		if leaf.Cert.CheckSignatureFrom(newCA) != nil {
			t.Errorf("%s not re-issued by the new CA", name)
		}
		if len(bundle) != 2 {
			t.Errorf("%s bundle of %d CAs, want both while members switch", name, len(bundle))
		}
	}
	// Until the members serve the new certificate, the old CA stays.
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationReissuingCertificates {
		t.Fatalf("rotation %q before members serve the new certificate, want it to wait", got)
	}
	h.loadCertificates()
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationDroppingOldCA {
		t.Fatalf("rotation %q, want %s", got, raftv1.CARotationDroppingOldCA)
	}
	_, bundle, _ = h.secretPair("demo-client-tls")
	if len(bundle) != 1 || pki.Fingerprint(bundle[0]) != pki.Fingerprint(newCA) {
		t.Errorf("application bundle of %d CAs, want the new CA alone", len(bundle))
	}
	h.loadCertificates()
	h.rotationPass()
	if got := h.rotation(); got != "" {
		t.Fatalf("rotation %q once members trust the new CA alone, want done", got)
	}
	ca, caBundle, caSecret := h.secretPair("demo-ca")
	if pki.Fingerprint(ca.Cert) != pki.Fingerprint(newCA) || len(caBundle) != 1 || len(caSecret.Data) != 3 {
		t.Errorf("CA Secret after the rotation: %d keys, bundle of %d; want the new CA alone", len(caSecret.Data), len(caBundle))
	}
	app, _, _ := h.secretPair("demo-client-tls")
	if pki.Fingerprint(app.Cert) == pki.Fingerprint(oldApp.Cert) {
		t.Error("the application certificate is the old CA's")
	}
	if !slices.ContainsFunc(h.lastEvents, func(e testEvent) bool {
		return e.Reason == raftv1.ReasonCARotation && e.Note == "CA rotation done: members trust the new CA alone"
	}) {
		t.Errorf("last pass's events %v lack the end of the rotation", h.lastEvents)
	}
}

func TestIssuerRefWithoutCertManager(t *testing.T) {
	h := newHarness(t, nil, func(rc *raftv1.RaftCluster) {
		rc.Spec.TLS.IssuerRef = &raftv1.IssuerReference{Name: "ca"}
	})
	_, err := h.reconcile()
	if !errors.Is(err, ErrNoCertManager) {
		t.Fatalf("reconcile err = %v, want ErrNoCertManager", err)
	}
	if c := h.cluster().Status.Condition(raftv1.ConditionProgressing); c == nil || !strings.Contains(c.Message, "needs cert-manager") {
		t.Errorf("Progressing %+v, want it to say cert-manager is needed", c)
	}
	var secrets corev1.SecretList
	if err := h.c.List(h.ctx, &secrets, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d Secrets made: with an issuer the operator issues nothing itself", len(secrets.Items))
	}
}

func TestMutateCertificate(t *testing.T) {
	rc := cluster(3, func(rc *raftv1.RaftCluster) {
		rc.Spec.TLS.IssuerRef = &raftv1.IssuerReference{Name: "corp", Kind: "ClusterIssuer"}
	})
	req := leafRequests(rc, "cluster.local")["demo-member-tls"]
	cert := &unstructured.Unstructured{}
	cert.SetName("demo-member-tls")
	if err := mutateCertificate(rc, cert, req, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(cert.Object, "spec")
	want := map[string]any{
		"secretName":     "demo-member-tls",
		"secretTemplate": map[string]any{"labels": map[string]any{}},
		"commonName":     "demo-member-tls",
		"subject":        map[string]any{"organizations": []any{"raftkube:admin", "raftkube:member"}},
		"usages":         []any{"digital signature", "server auth", "client auth"},
		"duration":       "2160h0m0s",
		"renewBefore":    "720h0m0s",
		"privateKey":     map[string]any{"algorithm": "ECDSA", "size": int64(256), "encoding": "PKCS8", "rotationPolicy": "Always"},
		"issuerRef":      map[string]any{"name": "corp", "kind": "ClusterIssuer", "group": "cert-manager.io"},
		"dnsNames":       anySlice(req.DNSNames),
	}
	for k, v := range selectorLabels(rc) {
		want["secretTemplate"].(map[string]any)["labels"].(map[string]any)[k] = v
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("Certificate spec\n%v\nwant\n%v", spec, want)
	}
	// A second mutation changes nothing: no update on every pass.
	before := cert.DeepCopy()
	if err := mutateCertificate(rc, cert, req, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Object, cert.Object) {
		t.Error("a second mutation changed the Certificate")
	}
}

// A CA past two thirds of its life is replaced without anyone asking.
func TestAgingCARotatesByItself(t *testing.T) {
	h := newHarness(t, nil)
	h.converge()
	aging, err := pki.NewCA("aging", time.Now().Add(-4*365*24*time.Hour), 5*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{}
	h.get(sec, "demo-ca")
	key, err := aging.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	sec.Data["tls.crt"], sec.Data["tls.key"], sec.Data["ca.crt"] = aging.CertPEM(), key, aging.CertPEM()
	if err := h.c.Update(h.ctx, sec); err != nil {
		t.Fatal(err)
	}
	h.rotationPass()
	if got := h.rotation(); got != raftv1.CARotationTrustingNewCA {
		t.Fatalf("rotation %q with a CA 4 years into 5, want %s", got, raftv1.CARotationTrustingNewCA)
	}
	_, bundle, _ := h.secretPair("demo-ca")
	if len(bundle) != 2 || pki.Fingerprint(bundle[0]) != pki.Fingerprint(aging.Cert) {
		t.Errorf("CA bundle of %d, want the aging CA and its successor", len(bundle))
	}
}
