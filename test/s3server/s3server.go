// Package s3server runs a real S3-compatible server for tests: the versitygw
// gateway with its POSIX backend, the binary `make bin/versitygw` builds from
// hack/s3server at the version that module pins.
//
// Start runs one gateway per call as a process on 127.0.0.1 or Options.Host (a free port, its
// buckets as directories under t.TempDir()), with a root access key and
// secret made for it and, on request, TLS with a certificate signed by a CA
// made for it. It waits until the gateway answers and stops it when the test
// ends.
//
// The gateway addresses buckets by path (http://HOST:PORT/BUCKET/KEY), not
// by virtual host: clients must use path-style requests (minio-go's
// BucketLookupPath, as Client does). Where it differs from Amazon S3, since
// keys are paths on a file system: a key cannot be both an object and the
// prefix of other keys (ExistingObjectIsDirectory, ObjectParentIsFile), each
// "/"-separated part of a key is at most 255 bytes (KeyTooLongError), bucket
// lifecycle rules are NotImplemented, and versioning is off
// (VersioningNotConfigured).
package s3server

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/raftkube/raftkube/test/testproc"
)

const (
	// DefaultRegion is the region the gateway serves when Options.Region is
	// empty, as its own default.
	DefaultRegion = "us-east-1"
	// healthPath answers 200 without credentials once the gateway serves.
	// No bucket can be named "_health", so it never shadows one.
	healthPath = "/_health"
	// startTimeout bounds the wait for the gateway to answer. It is
	// generous: other builds share the machine.
	startTimeout = time.Minute
	// startAttempts is how many ports Start tries: a port found free can be
	// taken by another process before the gateway binds it.
	startAttempts = 3
	// stopTimeout is how long the gateway gets to exit after SIGTERM before
	// it is killed.
	stopTimeout = 15 * time.Second
	// logTail is how much of the gateway's log a failed test prints.
	logTail = 32 << 10
)

// Binary is the gateway's path: bin/versitygw.
func Binary() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bin", "versitygw")
}

// Options configure one server.
type Options struct {
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost signed
	// by a CA made for this server; Server.CAPEM is that CA.
	TLS bool
	// Region is the region the server accepts signatures for; empty means
	// DefaultRegion.
	Region string
	// Host is the IP address to listen on; empty means 127.0.0.1. A test
	// whose clients run in pods names an address of this machine that they
	// can reach (a real node's bridge address); with TLS the certificate
	// names it too.
	Host string
}

// Server is a running gateway.
type Server struct {
	// Endpoint is the server's host:port, without a scheme, as minio.New
	// takes it.
	Endpoint string
	// Secure is whether the server speaks TLS (Options.TLS).
	Secure bool
	// AccessKey and SecretKey are the root account's credentials, which may
	// do everything.
	AccessKey, SecretKey string
	// Region is the region the server accepts signatures for.
	Region string
	// CAPEM is the PEM certificate of the CA that signed the server's
	// certificate; nil without TLS.
	CAPEM []byte
	// RootDir is the POSIX backend's root: a directory per bucket, a file per
	// object.
	RootDir string
	// LogPath is the file the process writes its output to.
	LogPath string

	host string // the address to listen on (Options.Host)
	proc *testproc.Process
}

// Start starts a gateway configured by opts and waits until it answers; the
// test's cleanup stops it. Any failure fails t.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make bin/versitygw` (make test builds it): %v", bin, err)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		t.Fatalf("s3server: Host %q is not an IP address", host)
	}
	dir := t.TempDir()
	s := &Server{
		Secure:  opts.TLS,
		Region:  opts.Region,
		RootDir: filepath.Join(dir, "root"),
		host:    host,
		LogPath: filepath.Join(dir, "versitygw.log"),
	}
	if s.Region == "" {
		s.Region = DefaultRegion
	}
	if err := os.Mkdir(s.RootDir, 0o700); err != nil {
		t.Fatalf("create the gateway's root: %v", err)
	}
	// Upper-case letters and digits (base32): valid as an access key and as
	// a secret, and safe in any header or URL.
	s.AccessKey = rand.Text()[:20]
	s.SecretKey = rand.Text() + rand.Text()
	// An IAM store of its own, although only the root account is used:
	// without one the gateway answers an unknown access key with its own
	// XAdminUserNotFound, not S3's InvalidAccessKeyId.
	iamDir := filepath.Join(dir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		t.Fatalf("create the gateway's IAM directory: %v", err)
	}
	args := []string{"--health", healthPath, "--region", s.Region, "--iam-dir", iamDir}
	if opts.TLS {
		certPEM, keyPEM, caPEM, err := newServerCertificate(time.Now(), host)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
			t.Fatalf("write the gateway's certificate: %v", err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatalf("write the gateway's key: %v", err)
		}
		s.CAPEM = caPEM
		args = append(args, "--cert", certFile, "--key", keyFile)
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the gateway's log (%s), last %d bytes:\n%s", s.LogPath, logTail, s.logTail())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var failures []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		err := s.start(ctx, bin, args)
		if err == nil {
			t.Cleanup(func() {
				if err := s.proc.Stop(stopTimeout); err != nil {
					t.Error(err)
				}
			})
			return s
		}
		failures = append(failures, fmt.Errorf("attempt %d: %w", attempt, err))
		if ctx.Err() != nil {
			break
		}
	}
	t.Fatalf("start versitygw: %v; its log:\n%s", errors.Join(failures...), s.logTail())
	return nil
}

// start runs the gateway on a port free a moment ago and waits until it
// answers. When it does not, the process is gone when start returns.
func (s *Server) start(ctx context.Context, bin string, args []string) error {
	port, err := freePort(s.host)
	if err != nil {
		return err
	}
	s.Endpoint = net.JoinHostPort(s.host, strconv.Itoa(port))
	cmd := exec.Command(bin, append([]string{"--port", s.Endpoint}, append(args, "posix", s.RootDir)...)...)
	// The credentials go through the environment, not argv, where any user
	// of the machine could read them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	if s.proc, err = testproc.Start("versitygw", cmd, s.LogPath); err != nil {
		return err
	}
	if err := s.waitReady(ctx); err != nil {
		return errors.Join(err, s.proc.Kill())
	}
	return nil
}

// waitReady polls the health path until it answers 200, failing early when
// the process exits.
func (s *Server) waitReady(ctx context.Context) error {
	transport, err := s.Transport()
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("exited before it answered on %s: %w", s.Endpoint, s.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s after %s: %w", s.Endpoint, startTimeout, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
		if last = health(ctx, client, s.URL()+healthPath); last == nil {
			return nil
		}
	}
}

func health(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	// Drained, so the connection can be reused and then closed cleanly.
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// URL is the server's base URL, with the scheme its TLS setting implies.
func (s *Server) URL() string {
	if s.Secure {
		return "https://" + s.Endpoint
	}
	return "http://" + s.Endpoint
}

// RootCAs is a pool holding the server's CA, for clients that verify it; nil
// without TLS.
func (s *Server) RootCAs() *x509.CertPool {
	if s.CAPEM == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return pool
}

// Transport is an HTTP transport that trusts the server's CA, as minio-go
// sets its own up. The caller closes its idle connections when done.
func (s *Server) Transport() (*http.Transport, error) {
	transport, err := minio.DefaultTransport(s.Secure)
	if err != nil {
		return nil, fmt.Errorf("S3 client transport: %w", err)
	}
	if s.Secure {
		// minio-go sets TLSClientConfig up for a secure transport.
		transport.TLSClientConfig.RootCAs = s.RootCAs()
	}
	return transport, nil
}

// Client is a minio-go client of the server with the root credentials,
// path-style addressing and the server's CA trusted. Its connections are
// closed when the test ends.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	transport, err := s.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(transport.CloseIdleConnections)
	client, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       s.Secure,
		Transport:    transport,
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("S3 client of %s: %v", s.Endpoint, err)
	}
	return client
}

// CreateBucket creates a bucket named name with the root credentials.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.Client(t).MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", name, s.Endpoint, err)
	}
}

// logTail returns the end of the gateway's log.
func (s *Server) logTail() string {
	if s.proc == nil {
		return "(not started)"
	}
	return s.proc.LogTail(logTail)
}

// freePort returns a TCP port of host that was free a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}
