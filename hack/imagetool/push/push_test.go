package push_test

import (
	"context"
	"net"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/hack/imagetool/image"
	"github.com/raftkube/raftkube/hack/imagetool/layer"
	"github.com/raftkube/raftkube/hack/imagetool/push"
	"github.com/raftkube/raftkube/hack/imagetool/regserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:80": true, "127.1.2.3": true, "localhost": true,
		"ghcr.io": false, "10.0.0.1:5000": false, "example.com:5000": false,
	} {
		if got := push.Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
	ref, err := push.ParseRef("127.0.0.1:5000/raftkube/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if s := ref.Scheme(); s != "http" {
		t.Errorf("loopback scheme %s, want http", s)
	}
	if ref, _ := push.ParseRef("ghcr.io/raftkube/app:1"); ref.Scheme() != "https" {
		t.Errorf("ghcr.io scheme %s, want https", ref.Scheme())
	}
	if _, err := push.ParseRef("ghcr.io/raftkube/app"); err == nil {
		t.Error("a reference without a tag: no error")
	}
}

// TestPushPull pushes a two-platform index to the registry of regserver, in
// process, pulls it back and wants the same digests, index and images.
func TestPushPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- regserver.Serve(srvCtx, ln, regserver.Handler(t.TempDir(), t.Output())) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var plats []image.Platform
	for _, arch := range []string{"amd64", "arm64"} {
		l, err := layer.Build("", []layer.File{{Path: "app", Mode: 0o755, Data: []byte(arch)}}, created)
		if err != nil {
			t.Fatal(err)
		}
		plats = append(plats, image.Platform{OS: "linux", Architecture: arch, Layer: l})
	}
	idx, err := image.Index(image.Spec{Created: created, Entrypoint: []string{"/app"}, Platforms: plats})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := push.ParseRef(ln.Addr().String() + "/raftkube/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := push.Index(ctx, idx, ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pulled.Digest(); got != d {
		t.Errorf("pulled index %s, pushed %s", got, d)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		img, err := pulled.Image(m.Digest)
		if err != nil {
			t.Fatalf("%s: %v", m.Platform, err)
		}
		ls, err := img.Layers()
		if err != nil || len(ls) != 1 {
			t.Fatalf("%s: layers %v, %v", m.Platform, ls, err)
		}
		rc, err := ls[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := ls[0].Digest(); h != want {
			t.Errorf("%s: layer reads back as %s, want %s", m.Platform, h, want)
		}
	}
}
