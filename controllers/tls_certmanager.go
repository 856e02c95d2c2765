package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/pki"
)

// cert-manager's objects are handled as unstructured: the operator does not
// depend on cert-manager's Go module, works with any version serving
// cert-manager.io/v1, and reads them straight from the API server (the
// manager's cache holds no unstructured objects), so a cluster without
// cert-manager costs nothing until a RaftCluster names an issuer.
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;create;update

var certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// ErrNoCertManager is wrapped when spec.tls.issuerRef names an issuer but
// the API server serves no cert-manager Certificate kind.
var ErrNoCertManager = errors.New("spec.tls.issuerRef needs cert-manager, but the API server serves no Certificate.cert-manager.io")

// ensureCertificates keeps one cert-manager Certificate per leaf of
// leafRequests; cert-manager issues, renews and stores them in the Secrets
// of the same names.
func (r *RaftClusterReconciler) ensureCertificates(ctx context.Context, p *pass) error {
	rc := p.cluster
	lifetime := certificateLifetime(rc)
	for name, req := range leafRequests(rc, r.Settings.ClusterDomain) {
		cert := &unstructured.Unstructured{}
		cert.SetGroupVersionKind(certificateGVK)
		cert.SetNamespace(rc.Namespace)
		cert.SetName(name)
		var mutateErr error
		err := r.apply(ctx, p, cert, func() { mutateErr = mutateCertificate(rc, cert, req, lifetime) })
		if meta.IsNoMatchError(err) {
			return fmt.Errorf("%w: %w", ErrNoCertManager, err)
		}
		if err != nil || mutateErr != nil {
			return fmt.Errorf("certificate %s: %w", name, errors.Join(mutateErr, err))
		}
	}
	p.tls = &raftv1.TLSStatus{ClientSecretName: clientSecretName(rc), AdminSecretName: adminSecretName(rc)}
	return nil
}

// mutateCertificate makes cert the Certificate of req, issued by the
// cluster's issuer into the Secret of the same name, labelled so the
// operator's cache sees it.
func mutateCertificate(rc *raftv1.RaftCluster, cert *unstructured.Unstructured, req pki.Request, lifetime time.Duration) error {
	cert.SetLabels(mergeLabels(cert.GetLabels(), selectorLabels(rc)))
	ref := rc.Spec.TLS.IssuerRef
	usages := []any{"digital signature"}
	if req.Server {
		usages = append(usages, "server auth")
	}
	if req.Client {
		usages = append(usages, "client auth")
	}
	labels := map[string]any{}
	for k, v := range selectorLabels(rc) {
		labels[k] = v
	}
	spec := map[string]any{
		"secretName":     cert.GetName(),
		"secretTemplate": map[string]any{"labels": labels},
		"commonName":     req.CommonName,
		"subject":        map[string]any{"organizations": anySlice(req.Organizations)},
		"usages":         usages,
		"duration":       lifetime.String(),
		// Renewed at two thirds of its life, as the built-in CA does.
		"renewBefore": (lifetime / 3).String(),
		"privateKey": map[string]any{
			"algorithm": "ECDSA", "size": int64(256), "encoding": "PKCS8", "rotationPolicy": "Always",
		},
		"issuerRef": map[string]any{"name": ref.Name, "kind": issuerKind(ref), "group": issuerGroup(ref)},
	}
	if len(req.DNSNames) > 0 {
		spec["dnsNames"] = anySlice(req.DNSNames)
	}
	return unstructured.SetNestedField(cert.Object, spec, "spec")
}

func anySlice(s []string) []any {
	out := make([]any, 0, len(s))
	for _, v := range s {
		out = append(out, v)
	}
	return out
}

func issuerKind(ref *raftv1.IssuerReference) string {
	if ref.Kind == "" {
		return "Issuer"
	}
	return ref.Kind
}

func issuerGroup(ref *raftv1.IssuerReference) string {
	if ref.Group == "" {
		return certificateGVK.Group
	}
	return ref.Group
}
