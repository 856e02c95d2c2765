// Package push uploads an image index, every platform of it, to a registry.
package push

import (
	"context"
	"fmt"
	"net"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ParseRef parses an image reference NAME:TAG. A registry on a loopback
// address (localhost, 127.0.0.0/8, ::1) is spoken to in plain HTTP, as the
// test registry of `imagetool registry` serves; any other in HTTPS.
func ParseRef(ref string) (name.Tag, error) {
	t, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("push: %w", err)
	}
	if Loopback(t.RegistryStr()) {
		t, err = name.NewTag(ref, name.StrictValidation, name.Insecure)
		if err != nil {
			return name.Tag{}, fmt.Errorf("push: %w", err)
		}
	}
	return t, nil
}

// Loopback reports whether host[:port] names this machine's loopback.
func Loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Index pushes idx, its images and their blobs, and tags it ref. Credentials
// come from the Docker config (~/.docker/config.json) as `docker login`
// leaves them; a loopback registry needs none.
func Index(ctx context.Context, idx v1.ImageIndex, ref name.Tag) (v1.Hash, error) {
	if err := remote.WriteIndex(ref, idx,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
	); err != nil {
		return v1.Hash{}, fmt.Errorf("push: %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push: %w", err)
	}
	return d, nil
}
