package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// apiClient talks to the apiserver as the admin: the module uses only the
// standard library, so no client-go.
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(base string, caPEM []byte, token string) (*apiClient, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA PEM")
	}
	return &apiClient{base: base, token: token, http: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
	}}, nil
}

// close ends the client's idle connections, so no transport goroutine outlives its user.
func (a *apiClient) close() { a.http.CloseIdleConnections() }

// statusError is a non-2xx answer.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func isStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == code
}

func (a *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(data))})
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (a *apiClient) get(ctx context.Context, path string, out any) error {
	return a.do(ctx, http.MethodGet, path, nil, out)
}

// object is one manifest and the collection it is created in.
type object struct {
	Path string         // e.g. /api/v1/namespaces/kube-system/services
	Body map[string]any // the manifest
}

// createObjects creates each object; one that already exists (a Start after
// an interrupted one on the same control plane) is left as it is.
func createObjects(ctx context.Context, api *apiClient, objs []object) error {
	for _, o := range objs {
		if err := api.do(ctx, http.MethodPost, o.Path, o.Body, nil); err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("create %s: %w", o.Path, err)
		}
	}
	return nil
}

// poll calls cond every interval until it reports done, returns an error,
// one of procs exits, or timeout passes; what describes the awaited state
// for the error.
func poll(parent context.Context, timeout, interval time.Duration, procs []*controlplane.Process,
	cond func(ctx context.Context) (bool, error), what func() string) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		for _, p := range procs {
			select {
			case <-p.Done():
				return componentError(p, fmt.Errorf("%w while waiting for %s", p.Err(), what()))
			default:
			}
		}
		done, err := cond(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("gave up waiting for %s: %w", what(), err)
			}
			return fmt.Errorf("no %s within %s", what(), timeout)
		case <-ticker.C:
		}
	}
}
