package backupstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/raftkube/raftkube/test/s3server"
)

const bucket = "backups"

// s3Options are the options of a client of srv with its root credentials,
// its CA written to a file when it has one.
func s3Options(t *testing.T, srv *s3server.Server) S3Options {
	t.Helper()
	opts := S3Options{Endpoint: srv.URL(), Bucket: bucket, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	if srv.CAPEM != nil {
		opts.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(opts.CAFile, srv.CAPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return opts
}

func newS3(t *testing.T, opts S3Options) *S3 {
	t.Helper()
	s, err := NewS3(opts)
	if err != nil {
		t.Fatalf("NewS3(%+v): %v", opts, err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestS3RoundTrip(t *testing.T) {
	srv := s3server.Start(t, s3server.Options{TLS: true})
	srv.CreateBucket(t, bucket)
	opts := s3Options(t, srv)
	// A bare host:port means https.
	opts.Endpoint = srv.Endpoint
	s := newS3(t, opts)
	if got, want := s.Location("c/1.snap"), "s3://backups/c/1.snap"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	for _, k := range []string{"c/2.snap", "c/1.snap", "cd/1.snap", "c/sub/1.snap"} {
		put(t, s, k, "data of "+k)
	}
	put(t, s, "c/1.snap", "replaced")
	if got := get(t, s, "c/1.snap"); got != "replaced" {
		t.Errorf("get after a second put = %q", got)
	}
	objs, err := s.List(t.Context(), "c/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(objs), []string{"c/1.snap", "c/2.snap", "c/sub/1.snap"}; !slices.Equal(got, want) {
		t.Errorf("list c/ = %q, want %q", got, want)
	}
	if objs[0].Size != int64(len("replaced")) || time.Since(objs[0].Modified) > time.Hour {
		t.Errorf("list c/ = %+v", objs)
	}
	if err := s.Delete(t.Context(), "c/2.snap"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), "c/2.snap"); err != nil {
		t.Errorf("delete of an absent key: %v, want nil", err)
	}
	if _, err := s.Get(t.Context(), "c/2.snap"); !errors.Is(err, ErrObjectNotFound) || Reason(err) != ReasonStorageNotFound {
		t.Errorf("get after delete: %v, want ErrObjectNotFound", err)
	}
	if err := s.Put(t.Context(), "/abs", strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("put of an absolute key: %v, want ErrInvalidKey", err)
	}
}

// A 20 MiB object goes up in parts of PartSize and comes back whole; an
// upload that fails half way leaves no object.
func TestS3Multipart(t *testing.T) {
	srv := s3server.Start(t, s3server.Options{TLS: true})
	srv.CreateBucket(t, bucket)
	s := newS3(t, s3Options(t, srv))
	data := make([]byte, 20<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := s.Put(t.Context(), "big.snap", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	t.Logf("put 20 MiB in %s", time.Since(begin).Round(time.Millisecond))
	info, err := srv.Client(t).StatObject(t.Context(), bucket, "big.snap", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart upload's ETag ends in the number of its parts.
	if !strings.HasSuffix(info.ETag, "-2") {
		t.Errorf("ETag %q; want a two-part upload's", info.ETag)
	}
	r, err := s.Get(t.Context(), "big.snap")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v); want the %d put", len(got), err, len(data))
	}

	// A reader that breaks in the second part, not seekable: minio-go
	// buffers each part, then aborts the upload.
	err = s.Put(t.Context(), "broken.snap", &failingReader{n: PartSize + 1<<20}, 20<<20)
	if err == nil {
		t.Fatal("put from a broken reader succeeded")
	}
	if _, err := s.Get(t.Context(), "broken.snap"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("get of a failed upload: %v, want ErrObjectNotFound", err)
	}
	objs, err := s.List(t.Context(), "")
	if err != nil || !slices.Equal(keys(objs), []string{"big.snap"}) {
		t.Errorf("list after a failed upload: %q, %v", keys(objs), err)
	}
}

// The failures a backup's status reports are told apart by sentinel.
func TestS3Errors(t *testing.T) {
	srv := s3server.Start(t, s3server.Options{TLS: true})
	srv.CreateBucket(t, bucket)
	good := s3Options(t, srv)

	wrongSecret := good
	wrongSecret.SecretKey = "not" + good.SecretKey
	unknownKey := good
	unknownKey.AccessKey = "AKIANOSUCHKEY0000000"
	noBucket := good
	noBucket.Bucket = "no-such-bucket"
	noCA := good
	noCA.CAFile = ""
	closed := good
	closed.Endpoint = "https://" + closedAddr(t)
	for _, tc := range []struct {
		name   string
		opts   S3Options
		want   error
		reason string
	}{
		{"wrong secret", wrongSecret, ErrAccessDenied, ReasonStorageAccessDenied},
		{"unknown access key", unknownKey, ErrAccessDenied, ReasonStorageAccessDenied},
		{"missing bucket", noBucket, ErrStorageNotFound, ReasonStorageNotFound},
		{"TLS without the CA", noCA, ErrUnreachable, ReasonStorageUnreachable},
		{"closed port", closed, ErrUnreachable, ReasonStorageUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newS3(t, tc.opts)
			ctx := t.Context()
			errs := map[string]error{
				"put":    s.Put(ctx, "c/1.snap", strings.NewReader("x"), 1),
				"delete": s.Delete(ctx, "c/1.snap"),
			}
			_, errs["get"] = s.Get(ctx, "c/1.snap")
			_, errs["list"] = s.List(ctx, "c/")
			for op, err := range errs {
				if !errors.Is(err, tc.want) || Reason(err) != tc.reason {
					t.Errorf("%s: %v (reason %q); want %v, %s", op, err, Reason(err), tc.want, tc.reason)
				}
			}
		})
	}

	// With the CA, the same server works: the failure above was trust.
	s := newS3(t, good)
	put(t, s, "c/1.snap", "x")
}

func TestS3InvalidConfig(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := S3Options{Endpoint: "https://s3.example:9000", Bucket: "backups", AccessKey: "a", SecretKey: "s"}
	for _, tc := range []struct {
		name   string
		change func(*S3Options)
	}{
		{"no endpoint", func(o *S3Options) { o.Endpoint = "" }},
		{"ftp", func(o *S3Options) { o.Endpoint = "ftp://s3.example" }},
		{"a path", func(o *S3Options) { o.Endpoint = "https://s3.example/bucket" }},
		{"no host", func(o *S3Options) { o.Endpoint = "https://:9000" }},
		{"no bucket", func(o *S3Options) { o.Bucket = "" }},
		{"a bucket name S3 refuses", func(o *S3Options) { o.Bucket = "B_" }},
		{"no access key", func(o *S3Options) { o.AccessKey = "" }},
		{"no secret", func(o *S3Options) { o.SecretKey = "" }},
		{"missing CA file", func(o *S3Options) { o.CAFile = caFile + ".gone" }},
		{"CA file without a certificate", func(o *S3Options) { o.CAFile = caFile }},
		{"CA for plain http", func(o *S3Options) { o.Endpoint = "http://s3.example"; o.CAFile = caFile }},
	} {
		opts := ok
		tc.change(&opts)
		if _, err := NewS3(opts); !errors.Is(err, ErrInvalidConfig) || Reason(err) != ReasonInvalidConfig {
			t.Errorf("%s: %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	for _, ep := range []string{"s3.example:9000", "http://10.0.0.1:9000", "https://s3.example/"} {
		opts := ok
		opts.Endpoint = ep
		s, err := NewS3(opts)
		if err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
			continue
		}
		s.Close()
	}
}

// Retention over a real bucket: its times are the server's, so the clock
// is moved instead.
func TestS3Prune(t *testing.T) {
	srv := s3server.Start(t, s3server.Options{TLS: true})
	srv.CreateBucket(t, bucket)
	s := newS3(t, s3Options(t, srv))
	all := []string{"c/0001.snap", "c/0002.snap", "c/0003.snap", "c/0004.snap", "c/0005.snap"}
	for _, k := range all {
		put(t, s, k, k)
	}
	put(t, s, "c/index.json", "{}")
	deleted, err := Prune(t.Context(), s, "c/", 3, 0, time.Now(), "c/0005.snap")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c/0002.snap", "c/0001.snap"}; !slices.Equal(deleted, want) {
		t.Errorf("keep 3 deleted %q, want %q", deleted, want)
	}
	deleted, err = Prune(t.Context(), s, "c/", 0, time.Hour, time.Now().Add(2*time.Hour), "c/0004.snap")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c/0003.snap"}; !slices.Equal(deleted, want) {
		t.Errorf("max age deleted %q, want %q", deleted, want)
	}
	objs, err := s.List(t.Context(), "c/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(objs), []string{"c/0004.snap", "c/0005.snap", "c/index.json"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

// closedAddr is a local address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// BenchmarkS3Put uploads a 64 MiB file from disk (as a backup's spool file)
// to a local versitygw over TLS, in parts of PartSize.
func BenchmarkS3Put(b *testing.B) {
	srv := s3server.Start(b, s3server.Options{TLS: true})
	srv.CreateBucket(b, bucket)
	opts := S3Options{Endpoint: srv.URL(), Bucket: bucket, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		CAFile: filepath.Join(b.TempDir(), "ca.pem")}
	if err := os.WriteFile(opts.CAFile, srv.CAPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := NewS3(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	const size = 64 << 20
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	spool := filepath.Join(b.TempDir(), "spool.snap")
	if err := os.WriteFile(spool, data, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(spool)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(size)
	for b.Loop() {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if err := s.Put(b.Context(), "bench.snap", f, size); err != nil {
			b.Fatal(err)
		}
	}
}
