package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// healthPollInterval is how often a component's health endpoint is asked.
const healthPollInterval = 100 * time.Millisecond

// healthClient is an HTTPS client that trusts only the cluster CA. The caller
// closes its idle connections once done, so no transport goroutine outlives Start.
func healthClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA PEM")
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// waitHealthy polls url until it answers 200, p exits, ctx is done or timeout
// passes. token, if set, is sent as a bearer token. The error says why, with
// the last answer seen.
func waitHealthy(parent context.Context, p *process, client *http.Client, url, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	ticker := time.NewTicker(healthPollInterval)
	defer ticker.Stop()
	last := "no answer"
	for {
		if gone, err := p.exited(); gone {
			return fmt.Errorf("%w before %s answered", exitError(err), url)
		}
		ok, what := probe(ctx, client, url, token)
		if ok {
			return nil
		}
		if ctx.Err() == nil { // else what is only our own deadline
			last = what
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("gave up waiting for %s (last: %s): %w", url, last, err)
			}
			return fmt.Errorf("%s not healthy within %s (last: %s): %w", url, timeout, last, ctx.Err())
		case <-ticker.C:
		case <-p.done:
		}
	}
}

// probe asks url once; it reports success, or what it got instead.
func probe(ctx context.Context, client *http.Client, url, token string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
}
