package controllers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/pki"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update

// The cluster's certificates live in Secrets of type kubernetes.io/tls: the
// key pair in tls.crt and tls.key, the CA bundle to trust in ca.crt.
const (
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
	keyBundle = corev1.ServiceAccountRootCAKey // "ca.crt", the name cert-manager and kubelet use too

	// keyNextCert and keyNextKey hold, in the CA Secret, the CA that
	// replaces the current one while a rotation makes members trust it.
	keyNextCert = "next.crt"
	keyNextKey  = "next.key"

	// annotationCARotation on the CA Secret is the rotation's step (the
	// source of truth; status.tls.caRotation mirrors it).
	annotationCARotation = "raftkube.io/ca-rotation"

	// tlsDir is where a member's certificate Secret is mounted.
	tlsDir = "/etc/raftnode/tls"
	// tlsVolume names that volume.
	tlsVolume = "tls"

	// clientOrganization is the role of application certificates: key-value
	// access, no admin API.
	clientOrganization = "raftkube:client"
	// operatorCommonName names the operator's admin certificate.
	operatorCommonName = "raftkube-operator"

	// caLifetime is how long a cluster's CA is valid; it is replaced once
	// two thirds of it have passed, like any certificate here.
	caLifetime = 5 * 365 * 24 * time.Hour
)

func caSecretName(rc *raftv1.RaftCluster) string     { return rc.Name + "-ca" }
func memberSecretName(rc *raftv1.RaftCluster) string { return rc.Name + "-member-tls" }
func adminSecretName(rc *raftv1.RaftCluster) string  { return rc.Name + "-admin-tls" }
func clientSecretName(rc *raftv1.RaftCluster) string { return rc.Name + "-client-tls" }

// serverName is the name the operator verifies members' client-port
// certificates against: it dials pod IPs, which no certificate names.
func serverName(rc *raftv1.RaftCluster) string {
	return fmt.Sprintf("%s.%s.svc", clientServiceName(rc), rc.Namespace)
}

// leafRequests are the certificates issued from the cluster's CA, by Secret
// name.
func leafRequests(rc *raftv1.RaftCluster, domain string) map[string]pki.Request {
	peer := fmt.Sprintf("%s.%s.svc", peerServiceName(rc), rc.Namespace)
	svc := clientServiceName(rc)
	return map[string]pki.Request{
		// One certificate serves both ports of every member: a member is
		// reached by its stable name under the headless Service (peers,
		// forwarding) and by the client Service. It carries the admin role
		// because members forward admin calls to the leader; anyone holding
		// it could forge Raft traffic anyway.
		memberSecretName(rc): {
			CommonName:    memberSecretName(rc),
			Organizations: []string{tlsconfig.AdminOrganization, tlsconfig.MemberOrganization},
			DNSNames: []string{
				"*." + peer, "*." + peer + "." + domain,
				svc, svc + "." + rc.Namespace, serverName(rc), serverName(rc) + "." + domain,
			},
			Server: true, Client: true,
		},
		adminSecretName(rc): {
			CommonName: operatorCommonName, Organizations: []string{tlsconfig.AdminOrganization}, Client: true,
		},
		clientSecretName(rc): {
			CommonName: clientSecretName(rc), Organizations: []string{clientOrganization}, Client: true,
		},
	}
}

// authority is the cluster's CA as its Secret holds it.
type authority struct {
	secret *corev1.Secret
	// current signs certificates; next, during a rotation's first step, is
	// the CA that replaces it.
	current pki.KeyPair
	next    *pki.KeyPair
	// trusted is the bundle every Secret's ca.crt holds.
	trusted []*x509.Certificate
	// rotation is the rotation's step, empty when none is under way.
	rotation string
}

// ensureTLS keeps the cluster's CA and certificates: it creates them, renews
// what nears its end or no longer matches (names, roles, CA), starts a CA
// rotation when one is due or asked for, and names the Secrets in status. A
// cluster with TLS disabled gets a Warning event on each change of its spec.
func (r *RaftClusterReconciler) ensureTLS(ctx context.Context, p *pass) error {
	rc := p.cluster
	if !rc.Spec.TLS.IsEnabled() {
		p.tls = nil
		if rc.Generation != rc.Status.ObservedGeneration && r.Recorder != nil {
			r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, raftv1.ReasonTLSDisabled, "Validate",
				"spec.tls.enabled is false: both ports serve plaintext to any pod that reaches them, with no authentication")
		}
		return nil
	}
	if rc.Spec.TLS.IssuerRef != nil {
		return r.ensureCertificates(ctx, p)
	}
	now := time.Now()
	ca, err := r.ensureCA(ctx, p, now)
	if err != nil {
		return err
	}
	if err := r.ensureLeaves(ctx, p, ca, now); err != nil {
		return err
	}
	p.ca = ca
	p.tls = &raftv1.TLSStatus{
		ClientSecretName: clientSecretName(rc),
		AdminSecretName:  adminSecretName(rc),
		CASecretName:     caSecretName(rc),
		CANotAfter:       &metav1.Time{Time: ca.current.Cert.NotAfter},
		CARotation:       ca.rotation,
	}
	return nil
}

// ensureCA reads the CA Secret, creating the CA when there is none (or what
// is there is unusable), and starts a rotation when the CA nears its end or
// the cluster's annotation asks for one.
func (r *RaftClusterReconciler) ensureCA(ctx context.Context, p *pass, now time.Time) (*authority, error) {
	rc := p.cluster
	sec := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: caSecretName(rc)}, sec)
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: caSecretName(rc)}}
	case err != nil:
		return nil, fmt.Errorf("get CA Secret: %w", err)
	}
	ca, err := readAuthority(sec)
	if err != nil {
		if !sec.CreationTimestamp.IsZero() {
			r.warnInvalidSecret(rc, sec.Name, err)
		}
		fresh, err := pki.NewCA(rc.Namespace+"/"+rc.Name+" CA", now, caLifetime)
		if err != nil {
			return nil, err
		}
		ca = &authority{secret: sec, current: fresh, trusted: []*x509.Certificate{fresh.Cert}}
	}
	if ca.rotation == "" && (pki.RenewalDue(ca.current.Cert, now) || rc.Annotations[raftv1.AnnotationRotateCA] != "") {
		next, err := pki.NewCA(rc.Namespace+"/"+rc.Name+" CA", now, caLifetime)
		if err != nil {
			return nil, err
		}
		ca.next, ca.rotation = &next, raftv1.CARotationTrustingNewCA
		ca.trusted = append(ca.trusted, next.Cert)
		r.eventTLS(rc, raftv1.ReasonCARotation, "a new CA is trusted alongside the current one; certificates follow once every member trusts it")
	}
	if err := r.writeAuthority(ctx, p, ca); err != nil {
		return nil, err
	}
	if _, asked := rc.Annotations[raftv1.AnnotationRotateCA]; asked && ca.rotation != "" {
		if err := r.dropAnnotation(ctx, p, raftv1.AnnotationRotateCA); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

// readAuthority parses the CA Secret; an error wraps pki.ErrInvalid when it
// holds no usable CA.
func readAuthority(sec *corev1.Secret) (*authority, error) {
	if sec.CreationTimestamp.IsZero() {
		return nil, fmt.Errorf("%w: no CA Secret", pki.ErrInvalid)
	}
	current, err := pki.ParseKeyPair(sec.Data[keyCert], sec.Data[keyKey])
	if err != nil {
		return nil, err
	}
	if !current.Cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", pki.ErrInvalid, keyCert)
	}
	trusted, err := pki.ParseBundle(sec.Data[keyBundle])
	if err != nil {
		return nil, err
	}
	ca := &authority{secret: sec, current: current, trusted: trusted, rotation: sec.Annotations[annotationCARotation]}
	if ca.rotation == raftv1.CARotationTrustingNewCA {
		next, err := pki.ParseKeyPair(sec.Data[keyNextCert], sec.Data[keyNextKey])
		if err != nil {
			return nil, err
		}
		ca.next = &next
	}
	return ca, nil
}

// writeAuthority stores ca in its Secret when anything changed.
func (r *RaftClusterReconciler) writeAuthority(ctx context.Context, p *pass, ca *authority) error {
	key, err := ca.current.KeyPEM()
	if err != nil {
		return err
	}
	data := map[string][]byte{keyCert: ca.current.CertPEM(), keyKey: key, keyBundle: pki.Bundle(ca.trusted...)}
	if ca.next != nil {
		nextKey, err := ca.next.KeyPEM()
		if err != nil {
			return err
		}
		data[keyNextCert], data[keyNextKey] = ca.next.CertPEM(), nextKey
	}
	sec := ca.secret
	err = r.apply(ctx, p, sec, func() {
		sec.Labels = mergeLabels(sec.Labels, selectorLabels(p.cluster))
		sec.Type = corev1.SecretTypeTLS
		sec.Data = data
		if ca.rotation == "" {
			delete(sec.Annotations, annotationCARotation)
		} else {
			if sec.Annotations == nil {
				sec.Annotations = map[string]string{}
			}
			sec.Annotations[annotationCARotation] = ca.rotation
		}
	})
	return err
}

// ensureLeaves issues each leaf certificate that is missing, unusable, due
// for renewal, not signed by the current CA or not what it should be, and
// keeps every Secret's CA bundle current.
func (r *RaftClusterReconciler) ensureLeaves(ctx context.Context, p *pass, ca *authority, now time.Time) error {
	rc := p.cluster
	bundle := pki.Bundle(ca.trusted...)
	lifetime := certificateLifetime(rc)
	for name, req := range leafRequests(rc, r.Settings.ClusterDomain) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: name}}
		var issueErr error
		var issued bool
		err := r.apply(ctx, p, sec, func() {
			sec.Labels = mergeLabels(sec.Labels, selectorLabels(rc))
			sec.Type = corev1.SecretTypeTLS
			leaf, err := pki.ParseKeyPair(sec.Data[keyCert], sec.Data[keyKey])
			if err != nil && !sec.CreationTimestamp.IsZero() {
				r.warnInvalidSecret(rc, name, err)
			}
			if err == nil && pki.Satisfies(leaf.Cert, ca.current.Cert, req) && !pki.RenewalDue(leaf.Cert, now) {
				if !bytes.Equal(sec.Data[keyBundle], bundle) {
					sec.Data[keyBundle] = bundle
				}
				return
			}
			fresh, err := pki.Issue(ca.current, req, now, lifetime)
			if err != nil {
				issueErr = err
				return
			}
			key, err := fresh.KeyPEM()
			if err != nil {
				issueErr = err
				return
			}
			sec.Data = map[string][]byte{keyCert: fresh.CertPEM(), keyKey: key, keyBundle: bundle}
			issued = true
		})
		if err := errors.Join(issueErr, err); err != nil {
			return fmt.Errorf("certificate %s: %w", name, err)
		}
		if issued {
			r.eventTLS(rc, raftv1.ReasonCertificatesIssued, fmt.Sprintf("issued the certificate in Secret %s", name))
		}
	}
	return nil
}

// certificateLifetime is spec.tls.certificateLifetime, 90 days if unset.
func certificateLifetime(rc *raftv1.RaftCluster) time.Duration {
	if d := rc.Spec.TLS.CertificateLifetime.Duration; d > 0 {
		return d
	}
	return 90 * 24 * time.Hour
}

// warnInvalidSecret says that a Secret the operator owns held nothing
// usable and is being replaced.
func (r *RaftClusterReconciler) warnInvalidSecret(rc *raftv1.RaftCluster, name string, why error) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, raftv1.ReasonInvalidTLSSecret, "Issue",
			"Secret %s holds no usable certificate (%v): issuing a new one", name, why)
	}
}

func (r *RaftClusterReconciler) eventTLS(rc *raftv1.RaftCluster, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, reason, "Issue", "%s", note)
	}
}

// memberTLS is the TLS configuration the operator calls members with: the
// admin certificate and the cluster's CA bundle from the admin Secret. Nil
// with TLS disabled.
func (r *RaftClusterReconciler) memberTLS(ctx context.Context, rc *raftv1.RaftCluster) (*tls.Config, error) {
	if !rc.Spec.TLS.IsEnabled() {
		return nil, nil
	}
	sec := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: adminSecretName(rc)}, sec); err != nil {
		return nil, fmt.Errorf("get the admin certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(sec.Data[keyCert], sec.Data[keyKey])
	if err != nil {
		return nil, fmt.Errorf("admin certificate in Secret %s: %w", sec.Name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(sec.Data[keyBundle]) {
		return nil, fmt.Errorf("admin certificate Secret %s: no CA certificate in %s", sec.Name, keyBundle)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		RootCAs:      roots,
		ServerName:   serverName(rc),
	}, nil
}

// advanceCARotation takes the next step of a CA rotation once every running
// member reports (in its Status) that it loaded what the last step wrote:
//
//	TrustingNewCA: the bundle holds old and new CA. When every member trusts
//	  the new one, the new CA becomes the signing one and every certificate
//	  is re-issued by it → ReissuingCertificates.
//	ReissuingCertificates: when every member serves the re-issued
//	  certificate, the old CA leaves the bundle → DroppingOldCA.
//	DroppingOldCA: when no member trusts the old CA any more, done.
//
// No member ever meets a certificate it does not trust: each step starts
// only after the previous one reached every member. Members that do not run
// are not waited for; they start with the current files.
func (r *RaftClusterReconciler) advanceCARotation(ctx context.Context, p *pass) error {
	rc := p.cluster
	ca := p.ca
	if ca == nil || ca.rotation == "" {
		return nil
	}
	now := time.Now()
	switch ca.rotation {
	case raftv1.CARotationTrustingNewCA:
		next := pki.Fingerprint(ca.next.Cert)
		if !p.everyMemberTLS(func(t *serverpb.TLSStatus) bool {
			return slices.Contains(t.GetPeerTrustedCas(), next) && slices.Contains(t.GetClientTrustedCas(), next)
		}) {
			return nil
		}
		old := ca.current.Cert
		ca.current, ca.next = *ca.next, nil
		ca.trusted = []*x509.Certificate{ca.current.Cert, old}
		ca.rotation = raftv1.CARotationReissuingCertificates
		r.eventTLS(rc, raftv1.ReasonCARotation, "every member trusts the new CA: re-issuing the certificates with it")
	case raftv1.CARotationReissuingCertificates:
		member, _, err := r.readLeaf(ctx, rc, memberSecretName(rc))
		if err != nil {
			return err
		}
		want := pki.Fingerprint(member.Cert)
		if member.Cert.CheckSignatureFrom(ca.current.Cert) != nil || !p.everyMemberTLS(func(t *serverpb.TLSStatus) bool {
			return t.GetPeerCertificate() == want && t.GetClientCertificate() == want
		}) {
			return nil
		}
		ca.trusted = []*x509.Certificate{ca.current.Cert}
		ca.rotation = raftv1.CARotationDroppingOldCA
		r.eventTLS(rc, raftv1.ReasonCARotation, "every member serves a certificate of the new CA: the old CA leaves the bundle")
	case raftv1.CARotationDroppingOldCA:
		only := []string{pki.Fingerprint(ca.current.Cert)}
		if !p.everyMemberTLS(func(t *serverpb.TLSStatus) bool {
			return slices.Equal(t.GetPeerTrustedCas(), only) && slices.Equal(t.GetClientTrustedCas(), only)
		}) {
			return nil
		}
		ca.rotation = ""
		r.eventTLS(rc, raftv1.ReasonCARotation, "CA rotation done: members trust the new CA alone")
	default:
		return fmt.Errorf("CA Secret %s: unknown rotation step %q", ca.secret.Name, ca.rotation)
	}
	if err := r.writeAuthority(ctx, p, ca); err != nil {
		return err
	}
	if err := r.ensureLeaves(ctx, p, ca, now); err != nil {
		return err
	}
	p.tls.CARotation = ca.rotation
	p.tls.CANotAfter = &metav1.Time{Time: ca.current.Cert.NotAfter}
	return nil
}

// readLeaf parses a certificate Secret.
func (r *RaftClusterReconciler) readLeaf(ctx context.Context, rc *raftv1.RaftCluster, name string) (pki.KeyPair, *corev1.Secret, error) {
	sec := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: name}, sec); err != nil {
		return pki.KeyPair{}, nil, fmt.Errorf("get Secret %s: %w", name, err)
	}
	pair, err := pki.ParseKeyPair(sec.Data[keyCert], sec.Data[keyKey])
	if err != nil {
		return pki.KeyPair{}, nil, fmt.Errorf("read Secret %s: %w", name, err)
	}
	return pair, sec, nil
}

// everyMemberTLS reports whether every running pod answered with a TLS
// status that satisfies ok.
func (p *pass) everyMemberTLS(ok func(*serverpb.TLSStatus) bool) bool {
	for _, pod := range p.pods {
		// A pod whose container is not running starts with the files as
		// they are then.
		if !askable(&pod) || !podRunning(&pod) {
			continue
		}
		st, answered := p.statuses[pod.Name]
		if !answered || !ok(st.GetTls()) {
			return false
		}
	}
	return true
}
