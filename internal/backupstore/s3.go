package backupstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

const (
	// DefaultRegion is the region signed for when S3Options.Region is empty.
	DefaultRegion = "us-east-1"
	// PartSize is the size of a multipart upload's parts: large enough that
	// a 1 GiB snapshot takes 64 requests, small enough that the memory a
	// part may need stays bounded.
	PartSize = 16 << 20
	// defaultMaxRetries is how often a request is tried. minio-go's own
	// default (10, with backoff) would spend seconds on a failure that
	// retrying does not cure, such as a certificate the client does not
	// trust; a transient error still gets two more tries.
	defaultMaxRetries = 3
)

// S3Options configure an S3 store.
type S3Options struct {
	// Endpoint is the service's URL, "https://host:port" or
	// "http://host:port"; a bare "host:port" means https.
	Endpoint string
	// Bucket holds the backups; it must exist.
	Bucket string
	// Region is the region requests are signed for; "" means DefaultRegion.
	Region string
	// AccessKey and SecretKey are the credentials; SessionToken is optional
	// (temporary credentials).
	AccessKey, SecretKey, SessionToken string
	// CAFile is a PEM bundle of CAs trusted in addition to the system's
	// roots, for a service whose certificate a private CA signed. Adding
	// rather than replacing keeps a public endpoint working when a CA is
	// configured for every cluster alike.
	CAFile string
	// MaxRetries is how often each request is tried; 0 means 3.
	MaxRetries int
}

// S3 is a Store in a bucket of an S3-compatible service. Requests use
// path-style addressing (http://host/bucket/key), which MinIO and versitygw
// setups need and Amazon S3 still serves.
type S3 struct {
	client    *minio.Client
	transport *http.Transport
	bucket    string
}

var _ Store = (*S3)(nil)

// NewS3 checks opts and returns the store; it sends no request. Errors wrap
// ErrInvalidConfig.
func NewS3(opts S3Options) (*S3, error) {
	host, secure, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if opts.Bucket == "" {
		return nil, fmt.Errorf("%w: no bucket", ErrInvalidConfig)
	}
	if err := s3utils.CheckValidBucketName(opts.Bucket); err != nil {
		return nil, fmt.Errorf("%w: bucket %q: %w", ErrInvalidConfig, opts.Bucket, err)
	}
	if opts.AccessKey == "" || opts.SecretKey == "" {
		return nil, fmt.Errorf("%w: S3 credentials need both an access key and a secret key", ErrInvalidConfig)
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = defaultMaxRetries
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("S3 transport: %w", err)
	}
	if opts.CAFile != "" {
		if !secure {
			return nil, fmt.Errorf("%w: a CA file for the plain http endpoint %s", ErrInvalidConfig, opts.Endpoint)
		}
		pool, err := caPool(opts.CAFile)
		if err != nil {
			return nil, err
		}
		// minio-go sets TLSClientConfig up for a secure transport.
		transport.TLSClientConfig.RootCAs = pool
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken),
		Secure:       secure,
		Transport:    transport,
		Region:       opts.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   opts.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: S3 client of %s: %w", ErrInvalidConfig, opts.Endpoint, err)
	}
	return &S3{client: client, transport: transport, bucket: opts.Bucket}, nil
}

// parseEndpoint returns the host:port minio.New takes and whether to use TLS.
func parseEndpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "", false, fmt.Errorf("%w: no S3 endpoint", ErrInvalidConfig)
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("%w: S3 endpoint %q: %w", ErrInvalidConfig, endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("%w: S3 endpoint %q: scheme %q, want http or https", ErrInvalidConfig, endpoint, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", false, fmt.Errorf("%w: S3 endpoint %q has no host", ErrInvalidConfig, endpoint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		return "", false, fmt.Errorf("%w: S3 endpoint %q: want only scheme, host and port", ErrInvalidConfig, endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// caPool is the system's roots plus the CAs in file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: S3 CA file: %w", ErrInvalidConfig, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: S3 CA file %s holds no PEM certificate", ErrInvalidConfig, file)
	}
	return pool, nil
}

// Close closes idle connections; the store stays usable.
func (s *S3) Close() { s.transport.CloseIdleConnections() }

// Location is "s3://bucket/key".
func (s *S3) Location(key string) string { return "s3://" + s.bucket + "/" + key }

// Put uploads r in one request, or in parts of PartSize when larger. An
// upload that fails is aborted: S3 shows an object only once it is whole.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{
		PartSize:    PartSize,
		ContentType: "application/octet-stream",
	})
	return s3Error("put "+s.Location(key), err)
}

// Get opens key; its existence is checked before Get returns.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		// GetObject sends nothing until the first read or Stat.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			_ = obj.Close()
		}
		err = s3Error("get "+s.Location(key), err)
		if errors.Is(err, ErrObjectNotFound) {
			err = s.bucketMissing(ctx, err)
		}
		return nil, err
	}
	return s3Object{obj, s.Location(key)}, nil
}

// bucketMissing turns notFound into ErrStorageNotFound when the bucket is
// what is missing: a HEAD request's answer has no body to say which.
func (s *S3) bucketMissing(ctx context.Context, notFound error) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err == nil && !exists {
		return fmt.Errorf("%w: bucket %s: %w", ErrStorageNotFound, s.bucket, notFound)
	}
	return notFound
}

// s3Object maps a read's failures as Get's.
type s3Object struct {
	*minio.Object
	location string
}

func (o s3Object) Read(p []byte) (int, error) {
	n, err := o.Object.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = s3Error("read "+o.location, err)
	}
	return n, err
}

// List lists the keys under prefix at any depth.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	var objs []Object
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s3Error("list "+s.Location(prefix), o.Err)
		}
		objs = append(objs, Object{Key: o.Key, Size: o.Size, Modified: o.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, s3Error("list "+s.Location(prefix), err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key; S3 answers a missing key with success.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if errors.Is(s3Kind(err), ErrObjectNotFound) {
		return nil
	}
	return s3Error("delete "+s.Location(key), err)
}

// s3Error wraps a failure of op with the sentinel it matches; nil stays nil.
func s3Error(op string, err error) error {
	if err == nil {
		return nil
	}
	if kind := s3Kind(err); kind != nil {
		return fmt.Errorf("%s: %w: %w", op, kind, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// s3Kind is the sentinel err matches, nil when none does.
func s3Kind(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
			"AllAccessDisabled", "AccountProblem", "InvalidSecurity":
			return ErrAccessDenied
		case "NoSuchBucket":
			return ErrStorageNotFound
		case "NoSuchKey":
			return ErrObjectNotFound
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return ErrAccessDenied
		}
		return nil
	}
	if unreachable(err) {
		return ErrUnreachable
	}
	return nil
}

// unreachable reports whether err is a failure to reach the service: no
// connection, no name, no trusted TLS session, no answer in time.
func unreachable(err error) bool {
	var (
		netErr      net.Error
		opErr       *net.OpError
		dnsErr      *net.DNSError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.As(err, &unknownCA), errors.As(err, &hostnameErr), errors.As(err, &invalidErr):
		return true
	}
	return false
}
