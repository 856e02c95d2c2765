package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// managerMetricsPort is the chart's metrics.port.
const managerMetricsPort = "8443"

// checkMetricsAuth scrapes the installed manager's /metrics the way
// Prometheus would: over HTTPS (the certificate is self-signed) with a
// ServiceAccount's token. No token is 401, a token whose ServiceAccount
// lacks the chart's metrics-reader ClusterRole 403, and once it is bound
// the scrape gets the operator's metrics.
func (e *env) checkMetricsAuth(ctx context.Context, t *testing.T) {
	t.Helper()
	pod, err := e.client.CoreV1().Pods(operatorNS).Get(ctx, managerPod(ctx, t, e), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + net.JoinHostPort(pod.Status.PodIP, managerMetricsPort) + "/metrics"
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	token := func(name string) string {
		t.Helper()
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := e.client.CoreV1().ServiceAccounts(operatorNS).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := e.client.CoreV1().ServiceAccounts(operatorNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	scraper := token("e2e-metrics-scraper")

	for _, tc := range []struct {
		name, token string
		want        int
	}{{"no token", "", http.StatusUnauthorized}, {"no metrics-reader binding", scraper, http.StatusForbidden}} {
		if code, body, err := scrapeMetrics(ctx, client, url, tc.token); err != nil || code != tc.want {
			t.Errorf("scrape with %s: %d %.200q %v, want %d", tc.name, code, body, err, tc.want)
		}
	}

	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-metrics-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "raftkube-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "e2e-metrics-scraper", Namespace: operatorNS}},
	}
	if _, err := e.client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	// The manager caches a denial for 30 s (controller-runtime's filter).
	start := time.Now()
	waitFor(ctx, t, "the manager's metrics for a token bound to metrics-reader", func(ctx context.Context) (bool, error) {
		code, body, err := scrapeMetrics(ctx, client, url, scraper)
		if err != nil {
			return false, err
		}
		if code != http.StatusOK {
			return false, fmt.Errorf("%d %.200q", code, body)
		}
		if !strings.Contains(body, "raftkube_operator_steps_total") {
			return false, fmt.Errorf("no raftkube_operator_steps_total in %.200q", body)
		}
		return true, nil
	})
	t.Logf("manager metrics over HTTPS: 401 without a token, 403 without metrics-reader, 200 %v after binding it",
		time.Since(start).Round(100*time.Millisecond))
}

// scrapeMetrics GETs url with the bearer token, if any.
func scrapeMetrics(ctx context.Context, client *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}
