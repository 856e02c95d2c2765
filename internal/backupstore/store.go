package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store keeps backup files under keys ("a/b/c.snap", slash-separated, no
// leading slash). Implementations are safe for concurrent use.
type Store interface {
	// Put stores the whole content of r (size bytes) under key, replacing
	// what was there; the object becomes visible only whole. A failed Put
	// leaves no partial object.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key for reading; ErrObjectNotFound when absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key (absent: no error).
	Delete(ctx context.Context, key string) error
	// Location names key for humans and status fields: "s3://bucket/key" or
	// "volume://<claim or dir>/key".
	Location(key string) string
}

// Object is one stored backup.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Errors a Store returns, wrapped with what was being done and the original
// failure (for its message); tell them apart with errors.Is.
var (
	// ErrAccessDenied: the storage refused the credentials (unknown key,
	// signature mismatch, forbidden) or the file permissions.
	ErrAccessDenied = errors.New("storage access denied")
	// ErrStorageNotFound: the bucket, or the volume's root directory, does not
	// exist.
	ErrStorageNotFound = errors.New("storage not found")
	// ErrUnreachable: the storage could not be reached: dial, DNS, TLS
	// handshake or certificate verification failures, timeouts.
	ErrUnreachable = errors.New("storage unreachable")
	// ErrObjectNotFound: no object under the key.
	ErrObjectNotFound = errors.New("backup object not found")
	// ErrInvalidKey: the key is empty, absolute, too long, or has an empty,
	// "." or ".." segment.
	ErrInvalidKey = errors.New("invalid backup key")
	// ErrInvalidConfig: the storage's configuration cannot work (no bucket, a
	// malformed endpoint, missing credentials, an unreadable CA file).
	ErrInvalidConfig = errors.New("invalid storage configuration")
)

// MaxKeyBytes is S3's limit on a key's length; Dir keeps it too, so a key
// valid for one store is valid for the other.
const MaxKeyBytes = 1024

// ValidateKey returns an error wrapping ErrInvalidKey unless key is a
// relative, slash-separated path of non-empty segments other than "." and
// "..", at most MaxKeyBytes long.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: %d bytes, over %d", ErrInvalidKey, len(key), MaxKeyBytes)
	case strings.ContainsAny(key, "\\\x00"):
		return fmt.Errorf("%w: %q holds a backslash or NUL", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment (a leading, trailing or double slash)", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, key, seg)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Errorf("%w: %q has a segment starting %q, kept for files being written", ErrInvalidKey, key, tempPrefix)
		}
	}
	return nil
}

// validatePrefix checks a List prefix: "" or the start of a valid key.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix ending in "/" (a folder) is a key with one more segment.
	if err := ValidateKey(strings.TrimSuffix(prefix, "/") + "/x"); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}
