package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/raftkube/raftkube/test/kubeenv"
)

const (
	// metricsNS holds the test's ServiceAccounts.
	metricsNS = "raftkube-system"
	// metricLine is in every scrape that reached the metrics.
	metricLine = "raftkube_metrics_test_up 1"
)

// TestSecureMetrics runs the manager's metrics server, as metricsOptions
// configures it, against a real kube-apiserver (envtest), itself
// authenticated as a ServiceAccount bound to config/rbac's metrics-auth-role
// only. A scrape without a token gets 401, one whose ServiceAccount lacks
// metrics-reader 403, one with it 200 and the metrics; plain HTTP is not
// served. With --metrics-cert-dir the server presents that certificate; with
// --metrics-secure=false it serves plain HTTP to anyone.
func TestSecureMetrics(t *testing.T) {
	assets, err := kubeenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	admin, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metricsNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	authRole := readClusterRole(t, "metrics_auth_role.yaml")
	readerRole := readClusterRole(t, "metrics_reader_role.yaml")
	for _, role := range []*rbacv1.ClusterRole{authRole, readerRole} {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	managerToken := serviceAccountToken(ctx, t, cs, "manager", authRole.Name)
	scraperToken := serviceAccountToken(ctx, t, cs, "prometheus", readerRole.Name)
	strangerToken := serviceAccountToken(ctx, t, cs, "stranger", "")
	// A metric in the manager's registry, for the scrapes to find.
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftkube_metrics_test_up", Help: "Set by TestSecureMetrics."})
	up.Set(1)
	if err := ctrlmetrics.Registry.Register(up); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrlmetrics.Registry.Unregister(up) })

	// The manager's credentials: its token alone, no admin certificate.
	manager := rest.AnonymousClientConfig(admin)
	manager.BearerToken = managerToken

	t.Run("self-signed", func(t *testing.T) {
		addr := startMetrics(ctx, t, config{metricsAddr: "127.0.0.1:0", metricsSecure: true}, manager)
		client := httpsClient(t, nil)
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusUnauthorized},
			// The API server's TokenReview answers with an error, which
			// controller-runtime's filter reports as a 500: a refusal all
			// the same.
			{"a forged token", "not-a-token", http.StatusInternalServerError},
			{"without metrics-reader", strangerToken, http.StatusForbidden},
			{"with metrics-reader", scraperToken, http.StatusOK},
		} {
			code, body := scrape(ctx, t, client, "https://"+addr+"/metrics", tc.token)
			if code != tc.want {
				t.Errorf("%s: %d %q, want %d", tc.name, code, short(body), tc.want)
			}
			if tc.want == http.StatusOK && !strings.Contains(body, metricLine) {
				t.Errorf("%s: body %q is no Prometheus text", tc.name, body)
			}
			if tc.want != http.StatusOK && strings.Contains(body, metricLine) {
				t.Errorf("%s: metrics served: %q", tc.name, short(body))
			}
		}
		// Plain HTTP reaches no metrics.
		if code, body, err := tryScrape(ctx, &http.Client{}, "http://"+addr+"/metrics", scraperToken); err == nil && code != http.StatusBadRequest {
			t.Errorf("plain HTTP: %d %q, want a refusal", code, short(body))
		}
	})

	t.Run("cert dir", func(t *testing.T) {
		dir := t.TempDir()
		ca := writeServingCert(t, dir)
		addr := startMetrics(ctx, t, config{metricsAddr: "127.0.0.1:0", metricsSecure: true, metricsCertDir: dir}, manager)
		// Verified against the CA: the server presents the mounted
		// certificate, not a self-signed one.
		code, body := scrape(ctx, t, httpsClient(t, ca), "https://"+addr+"/metrics", scraperToken)
		if code != http.StatusOK || !strings.Contains(body, metricLine) {
			t.Errorf("scrape with the CA: %d %q, want 200 and metrics", code, short(body))
		}
		if code, _ := scrape(ctx, t, httpsClient(t, ca), "https://"+addr+"/metrics", strangerToken); code != http.StatusForbidden {
			t.Errorf("without metrics-reader: %d, want 403", code)
		}
	})

	t.Run("insecure opt-out", func(t *testing.T) {
		addr := startMetrics(ctx, t, config{metricsAddr: "127.0.0.1:0"}, manager)
		code, body := scrape(ctx, t, &http.Client{}, "http://"+addr+"/metrics", "")
		if code != http.StatusOK || !strings.Contains(body, metricLine) {
			t.Errorf("--metrics-secure=false without a token: %d %q, want 200 and metrics", code, short(body))
		}
	})
}

// TestMetricsOptions: the flags' defaults are the secure server; a cert
// dir without its files fails at start instead of falling back to a
// self-signed certificate; a cert dir with plain HTTP is refused.
func TestMetricsOptions(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := metricsOptions(c)
	if err != nil || !o.SecureServing || o.FilterProvider == nil || o.BindAddress != ":8443" || len(o.TLSOpts) != 1 {
		t.Errorf("defaults: %+v, %v; want HTTPS on :8443 with authentication and authorization", o, err)
	}
	var tc tls.Config
	o.TLSOpts[0](&tc)
	if strings.Join(tc.NextProtos, ",") != "http/1.1" {
		t.Errorf("ALPN %q, want http/1.1 only", tc.NextProtos)
	}
	if _, err := metricsOptions(config{metricsAddr: ":8443", metricsSecure: true, metricsCertDir: t.TempDir()}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty cert dir: %v, want a missing file", err)
	}
	if o, err := metricsOptions(config{metricsAddr: "0", metricsSecure: true}); err != nil || o.SecureServing {
		t.Errorf("metrics off: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"--metrics-secure=false", "--metrics-cert-dir=/certs"}); err == nil {
		t.Error("--metrics-cert-dir with --metrics-secure=false parsed")
	}
}

// readClusterRole reads one of config/rbac's ClusterRoles.
func readClusterRole(t *testing.T, file string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubeenv.RepoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("parse config/rbac/%s: %v", file, err)
	}
	return &role
}

// serviceAccountToken creates the ServiceAccount name, binds it to the
// ClusterRole role (none if empty) and returns a token for it.
func serviceAccountToken(ctx context.Context, t *testing.T, cs kubernetes.Interface, name, role string) string {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts(metricsNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: metricsNS}},
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(metricsNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s: %v", name, err)
	}
	return tr.Status.Token
}

// startMetrics starts the metrics server metricsOptions makes of c, as the
// manager does, and returns its address once it listens. Cleanup stops it.
func startMetrics(ctx context.Context, t *testing.T, c config, cfg *rest.Config) string {
	t.Helper()
	opts, err := metricsOptions(c)
	if err != nil {
		t.Fatal(err)
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts, cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
		httpClient.CloseIdleConnections()
	})
	bound, ok := srv.(interface{ GetBindAddr() string })
	if !ok {
		t.Fatalf("%T does not tell its address", srv)
	}
	for {
		if addr := bound.GetBindAddr(); addr != "" {
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("metrics server exited: %v", err)
		case <-ctx.Done():
			t.Fatalf("metrics server not listening: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// httpsClient trusts ca, or with none skips verification (the self-signed
// certificate is trusted by nobody).
func httpsClient(t *testing.T, ca *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, InsecureSkipVerify: ca == nil, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func scrape(ctx context.Context, t *testing.T, client *http.Client, url, token string) (int, string) {
	t.Helper()
	code, body, err := tryScrape(ctx, client, url, token)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

func tryScrape(ctx context.Context, client *http.Client, url, token string) (int, string, error) {
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

// short is the start of a response body, for messages.
func short(body string) string {
	if len(body) > 200 {
		return body[:200] + "..."
	}
	return body
}

// writeServingCert writes a CA-signed certificate for 127.0.0.1 as tls.crt
// and tls.key in dir, the layout of a kubernetes.io/tls Secret, and returns
// the CA.
func writeServingCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("raftkube-metrics.test", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// GenerateSelfSignedCertKey returns the leaf and, after it, its CA.
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil || len(certs) < 2 {
		t.Fatalf("generated chain: %d certificates, %v", len(certs), err)
	}
	if _, err := keyutil.ParsePrivateKeyPEM(keyPEM); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{metricsCertName: certPEM, metricsKeyName: keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(certs[len(certs)-1])
	return pool
}
