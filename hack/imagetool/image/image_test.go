package image

import (
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/raftkube/raftkube/hack/imagetool/layer"
)

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func spec(t *testing.T) Spec {
	t.Helper()
	var plats []Platform
	for _, arch := range []string{"amd64", "arm64"} {
		l, err := layer.Build("", append(AccountFiles(), layer.File{Path: "usr/local/bin/app", Mode: 0o755, Data: []byte("app for " + arch)}), created)
		if err != nil {
			t.Fatal(err)
		}
		plats = append(plats, Platform{OS: "linux", Architecture: arch, Layer: l})
	}
	return Spec{
		Created:    created,
		Entrypoint: []string{"/usr/local/bin/app"},
		User:       NonRootUser,
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin"},
		Labels:     map[string]string{"org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.title": "app"},
		CreatedBy:  "test",
		Platforms:  plats,
	}
}

// TestIndexIsDeterministic builds the same index twice from the same inputs
// and wants the same digest: the property the images' reproducibility rests on.
func TestIndexIsDeterministic(t *testing.T) {
	a, err := Index(spec(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Index(spec(t))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("digests differ: %s and %s", da, db)
	}
	s := spec(t)
	s.Labels["org.opencontainers.image.version"] = "1.2.4"
	c, err := Index(s)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Error("another label gave the same digest")
	}
}

func TestIndexContents(t *testing.T) {
	s := spec(t)
	idx, err := Index(s)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index: media type %s, %d manifests; want an OCI index of 2", im.MediaType, len(im.Manifests))
	}
	if !reflect.DeepEqual(im.Annotations, s.Labels) {
		t.Errorf("index annotations %v, want %v", im.Annotations, s.Labels)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch {
			t.Errorf("manifest %d: platform %v, want linux/%s", i, d.Platform, arch)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON ||
			len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
			t.Errorf("manifest %d: not an OCI image of one layer: %+v", i, m)
		}
		if !reflect.DeepEqual(m.Annotations, s.Labels) {
			t.Errorf("manifest %d annotations %v, want %v", i, m.Annotations, s.Labels)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		want := v1.Config{Entrypoint: s.Entrypoint, User: "65532:65532", WorkingDir: "/", Env: s.Env, Labels: s.Labels}
		if !reflect.DeepEqual(cfg.Config, want) {
			t.Errorf("config %d: %+v, want %+v", i, cfg.Config, want)
		}
		if !cfg.Created.Equal(created) || cfg.Architecture != arch || cfg.OS != "linux" {
			t.Errorf("config %d: created %v, %s/%s", i, cfg.Created, cfg.OS, cfg.Architecture)
		}
		if len(cfg.History) != 1 || !cfg.History[0].Created.Equal(created) || len(cfg.RootFS.DiffIDs) != 1 {
			t.Errorf("config %d: history %+v, diff IDs %v", i, cfg.History, cfg.RootFS.DiffIDs)
		}
	}
}

func TestIndexRejects(t *testing.T) {
	s := spec(t)
	s.Platforms = append(s.Platforms, s.Platforms[0])
	if _, err := Index(s); err == nil {
		t.Error("a platform twice: no error")
	}
	s.Platforms = nil
	if _, err := Index(s); err == nil {
		t.Error("no platforms: no error")
	}
}
