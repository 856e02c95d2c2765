// Package crds holds the CustomResourceDefinitions of cert-manager's
// cert-manager.io group (Issuer, ClusterIssuer, Certificate,
// CertificateRequest) at the version hack/certmanager/go.mod pins: verbatim
// copies of deploy/crds in that version's module, the plain controller-gen
// output its Helm chart templates wrap. The ACME group's CRDs are left out:
// the controller of cmd/cert-manager-controller runs no ACME.
//
// test/certmanager installs these files; TestCRDsMatchPinnedModule fails
// when they differ from the pinned module's, and `go test ./crds -update`
// (run in hack/certmanager) copies them again after a version bump.
package crds
