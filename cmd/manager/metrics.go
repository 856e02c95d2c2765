package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Files --metrics-cert-dir must hold: the names of a kubernetes.io/tls
// Secret's keys, so cert-manager's Secrets mount as they are.
const (
	metricsCertName = "tls.crt"
	metricsKeyName  = "tls.key"
)

// metricsOptions is how the manager serves /metrics. Secure (the default):
// HTTPS, and only to callers the API server authenticates (TokenReview) and
// authorizes for GET /metrics (SubjectAccessReview), with the certificate
// in --metrics-cert-dir (reloaded when it changes) or else a self-signed
// one. Otherwise plain HTTP to anyone who reaches the port.
func metricsOptions(c config) (metricsserver.Options, error) {
	o := metricsserver.Options{BindAddress: c.metricsAddr}
	if !c.metricsSecure || c.metricsAddr == "0" {
		return o, nil
	}
	o.SecureServing = true
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	o.TLSOpts = []func(*tls.Config){http1Only}
	if c.metricsCertDir != "" {
		// controller-runtime falls back to a self-signed certificate when
		// the files are missing: a mount gone wrong must not pass unseen.
		for _, name := range []string{metricsCertName, metricsKeyName} {
			if _, err := os.Stat(filepath.Join(c.metricsCertDir, name)); err != nil {
				return metricsserver.Options{}, fmt.Errorf("--metrics-cert-dir: %w", err)
			}
		}
		o.CertDir, o.CertName, o.KeyName = c.metricsCertDir, metricsCertName, metricsKeyName
	}
	return o, nil
}

// http1Only turns HTTP/2 off on the metrics port, as kubebuilder's scaffold
// does: its stream reset and cancellation floods (CVE-2023-44487,
// CVE-2023-39325) cost a server more than a scrape gains from it.
func http1Only(c *tls.Config) {
	c.NextProtos = []string{"http/1.1"}
}
