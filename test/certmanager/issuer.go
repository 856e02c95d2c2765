package certmanager

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The cert-manager kinds tests create, as unstructured objects: the product
// does not depend on cert-manager's Go module.
var (
	IssuerKind        = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}
	ClusterIssuerKind = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}
	CertificateKind   = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
)

// Object is a cert-manager object of kind gvk with spec.
func Object(gvk schema.GroupVersionKind, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// CAIssuer creates a CA Issuer of the name in namespace whose CA is a
// self-signed ECDSA certificate (Secret of the same name), signed by a
// SelfSigned Issuer NAME-selfsigned: the usual bootstrap of a private CA.
// It does not wait for cert-manager to issue anything.
func CAIssuer(ctx context.Context, t testing.TB, c client.Client, namespace, name string) {
	t.Helper()
	for _, obj := range []*unstructured.Unstructured{
		Object(IssuerKind, namespace, name+"-selfsigned", map[string]any{"selfSigned": map[string]any{}}),
		Object(CertificateKind, namespace, name, map[string]any{
			"isCA": true, "commonName": name, "secretName": name,
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": name + "-selfsigned", "kind": "Issuer", "group": "cert-manager.io"},
		}),
		Object(IssuerKind, namespace, name, map[string]any{"ca": map[string]any{"secretName": name}}),
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %s %s/%s: %v", obj.GetKind(), namespace, obj.GetName(), err)
		}
	}
}
