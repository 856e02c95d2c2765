package s3server

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	// partSize is S3's smallest part but the last: an object of objectSize
	// goes up in three parts.
	partSize   = 5 << 20
	objectSize = 2*partSize + 1<<20
	parts      = 3
)

// TestObjectLifecycle is what a backup does to its bucket: upload a
// snapshot of a few MiB in parts, read it back, list by prefix, delete.
func TestObjectLifecycle(t *testing.T) {
	begin := time.Now()
	s := Start(t, Options{})
	t.Logf("versitygw answered on %s in %s", s.Endpoint, time.Since(begin).Round(time.Millisecond))
	if s.CAPEM != nil || !strings.HasPrefix(s.URL(), "http://") {
		t.Errorf("a server without TLS has CAPEM %d bytes, URL %s; want none, http", len(s.CAPEM), s.URL())
	}
	const bucket = "backups"
	s.CreateBucket(t, bucket)
	c := s.Client(t)
	ctx := t.Context()

	data := randomBytes(t, objectSize)
	const key = "cluster-a/snapshot-0001"
	upload := time.Now()
	info, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{PartSize: partSize})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	t.Logf("put %d MiB in %s", objectSize>>20, time.Since(upload).Round(time.Millisecond))
	// A multipart upload's ETag ends in the number of its parts.
	if want := "-" + strconv.Itoa(parts); !strings.HasSuffix(info.ETag, want) {
		t.Errorf("ETag of %s is %q; want a multipart ETag ending %q", key, info.ETag, want)
	}

	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	got, err := io.ReadAll(obj)
	if closeErr := obj.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %s back: %d bytes differ from the %d put", key, len(got), len(data))
	}
	// The POSIX backend keeps an object as a file under its bucket's
	// directory: a plain copy of the root is a copy of the store.
	onDisk, err := os.ReadFile(filepath.Join(s.RootDir, bucket, filepath.FromSlash(key)))
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Errorf("the object's file under the root: %d bytes, %v; want the %d put", len(onDisk), err, len(data))
	}

	for _, k := range []string{"cluster-a/snapshot-0002", "cluster-b/snapshot-0001", "cluster-ab/snapshot-0001"} {
		if _, err := c.PutObject(ctx, bucket, k, strings.NewReader(k), int64(len(k)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	wantA := []string{"cluster-a/snapshot-0001", "cluster-a/snapshot-0002"}
	if got := list(t, c, bucket, "cluster-a/"); !slices.Equal(got, wantA) {
		t.Errorf("list cluster-a/: %q; want %q", got, wantA)
	}

	if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	_, err = c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if code := minio.ToErrorResponse(err).Code; code != minio.NoSuchKey {
		t.Errorf("stat %s after its delete: code %q (%v); want %s", key, code, err, minio.NoSuchKey)
	}
	if got, want := list(t, c, bucket, "cluster-a/"), wantA[1:]; !slices.Equal(got, want) {
		t.Errorf("list cluster-a/ after the delete: %q; want %q", got, want)
	}
}

// TestWrongCredentials: a request signed with a secret or an access key the
// server does not know is refused with S3's own error codes, which a caller
// tells apart from a network failure.
func TestWrongCredentials(t *testing.T) {
	s := Start(t, Options{})
	s.CreateBucket(t, "backups")
	unknownKey := "A" + s.AccessKey[1:]
	if unknownKey == s.AccessKey {
		unknownKey = "B" + s.AccessKey[1:]
	}
	for _, tc := range []struct {
		name              string
		accessKey, secret string
		wantCode          string
	}{
		{name: "wrong secret", accessKey: s.AccessKey, secret: s.SecretKey + "X", wantCode: "SignatureDoesNotMatch"},
		{name: "unknown access key", accessKey: unknownKey, secret: s.SecretKey, wantCode: "InvalidAccessKeyId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			transport, err := s.Transport()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(transport.CloseIdleConnections)
			c, err := minio.New(s.Endpoint, &minio.Options{
				Creds:        credentials.NewStaticV4(tc.accessKey, tc.secret, ""),
				Transport:    transport,
				Region:       s.Region,
				BucketLookup: minio.BucketLookupPath,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.PutObject(t.Context(), "backups", "x", strings.NewReader("x"), 1, minio.PutObjectOptions{})
			if code := minio.ToErrorResponse(err).Code; code != tc.wantCode {
				t.Errorf("put with %s: code %q (%v); want %s", tc.name, code, err, tc.wantCode)
			}
		})
	}
}

// TestTLS: a client that trusts the server's CA works; one that trusts only
// the system's roots fails the handshake with an x509 error.
func TestTLS(t *testing.T) {
	s := Start(t, Options{TLS: true})
	if len(s.CAPEM) == 0 || !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("a server with TLS has CAPEM %d bytes, URL %s; want a CA, https", len(s.CAPEM), s.URL())
	}
	s.CreateBucket(t, "backups")
	c := s.Client(t)
	if _, err := c.PutObject(t.Context(), "backups", "x", strings.NewReader("over TLS"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put over TLS with the CA trusted: %v", err)
	}

	transport, err := minio.DefaultTransport(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(transport.CloseIdleConnections)
	untrusting, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       true,
		Transport:    transport,
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		// minio-go retries a certificate verification error (it looks for an
		// unwrapped x509 error, which Go now wraps): ten times over about
		// five seconds by default.
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = untrusting.BucketExists(t.Context(), "backups")
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("a client without the CA: %v; want an x509.UnknownAuthorityError", err)
	}
	var verification *tls.CertificateVerificationError
	if !errors.As(err, &verification) {
		t.Errorf("a client without the CA: %v; want a tls.CertificateVerificationError", err)
	}
}

// TestStopAndUnreachable: the test's cleanup ends the process, and a client
// of an endpoint where nothing listens any more gets a connection error, not
// an S3 error code.
func TestStopAndUnreachable(t *testing.T) {
	var s *Server
	t.Run("running", func(t *testing.T) {
		s = Start(t, Options{})
		s.CreateBucket(t, "backups")
	})
	select {
	case <-s.proc.Exited():
	default:
		t.Fatalf("versitygw (pid %d) still runs after its test ended", s.proc.Pid())
	}
	if err := s.proc.Err(); err != nil {
		t.Errorf("versitygw exited with %v on SIGTERM; want a clean exit", err)
	}

	transport, err := s.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(transport.CloseIdleConnections)
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Transport:    transport,
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		// minio-go retries 10 times with backoff by default.
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BucketExists(t.Context(), "backups")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a client of a stopped server: %v; want ECONNREFUSED", err)
	}
	if code := minio.ToErrorResponse(err).Code; code != "" {
		t.Errorf("a client of a stopped server: S3 code %q; want none", code)
	}
}

// list returns the keys under prefix, at any depth, in order.
func list(t *testing.T, c *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for obj := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
