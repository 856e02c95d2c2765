package v1alpha1

// AnnotationRotateCA on a RaftCluster asks the operator to replace the
// cluster's certificate authority now, without waiting for it to near its
// expiry. Any value; the operator removes the annotation when the rotation
// starts.
const AnnotationRotateCA = "raftkube.io/rotate-ca"

// Steps of a CA rotation, in status.tls.caRotation. Each waits until every
// member reports (in its Status) that it loaded what the step wrote, so no
// member ever distrusts a certificate another member presents.
const (
	// CARotationTrustingNewCA: the bundle of every Secret holds the old and
	// the new CA; certificates are still the old CA's.
	CARotationTrustingNewCA = "TrustingNewCA"
	// CARotationReissuingCertificates: certificates are re-issued by the new
	// CA; the bundle still trusts both.
	CARotationReissuingCertificates = "ReissuingCertificates"
	// CARotationDroppingOldCA: the old CA leaves the bundle.
	CARotationDroppingOldCA = "DroppingOldCA"
)

// Reasons of events about the cluster's transport security.
const (
	// ReasonTLSDisabled: spec.tls.enabled is false; both ports serve
	// plaintext to any pod that reaches them.
	ReasonTLSDisabled = "TLSDisabled"
	// ReasonCertificatesIssued: the operator issued or renewed
	// certificates.
	ReasonCertificatesIssued = "CertificatesIssued"
	// ReasonCARotation: a step of a CA rotation was taken.
	ReasonCARotation = "CARotation"
	// ReasonInvalidTLSSecret: a Secret the operator owns holds no valid
	// certificate or key; the operator issues a new one.
	ReasonInvalidTLSSecret = "InvalidTLSSecret"
)
