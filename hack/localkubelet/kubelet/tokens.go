package kubelet

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// tokenRequests issues pod-bound service-account tokens through the
// TokenRequest API, as the kubelet does for projected token volumes.
// Tokens are issued when the container starts and not refreshed.
type tokenRequests struct{ client kubernetes.Interface }

func (t tokenRequests) Token(ctx context.Context, ns, sa, podName, podUID, audience string, expirationSeconds int64) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: podName, UID: types.UID(podUID)},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	resp, err := t.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	return resp.Status.Token, nil
}
