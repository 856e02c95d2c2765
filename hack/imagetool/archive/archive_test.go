package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/raftkube/raftkube/hack/imagetool/image"
	"github.com/raftkube/raftkube/hack/imagetool/layer"
)

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
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
	return idx
}

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

func TestWriteIsDeterministicAndReadable(t *testing.T) {
	ref, err := name.NewTag("ghcr.io/raftkube/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := Write(&a, ref, testIndex(t), amd64, created); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, ref, testIndex(t), amd64, created); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of the same index differ")
	}

	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(a.Bytes()))
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Uid != 0 || !hdr.ModTime.Equal(created) {
			t.Errorf("%s: uid %d, mtime %v", hdr.Name, hdr.Uid, hdr.ModTime)
		}
		files[hdr.Name], _ = io.ReadAll(tr)
	}
	// 2 configs, 2 layers, 2 manifests, the index; 2 folders; 3 files.
	if len(names) != 12 {
		t.Errorf("entries %v, want 12", names)
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %s", files["oci-layout"])
	}
	var dm []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil {
		t.Fatal(err)
	}
	if len(dm) != 1 || !reflect.DeepEqual(dm[0].RepoTags, []string{"ghcr.io/raftkube/app:1.0"}) || len(dm[0].Layers) != 1 {
		t.Fatalf("manifest.json %s", files["manifest.json"])
	}
	for _, p := range append([]string{dm[0].Config}, dm[0].Layers...) {
		if _, ok := files[p]; !ok {
			t.Errorf("manifest.json names %s, which is not in the tarball", p)
		}
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(files[dm[0].Config], &cfg); err != nil || cfg.Architecture != "amd64" {
		t.Errorf("manifest.json's config is for %q (%v), want amd64", cfg.Architecture, err)
	}

	path := filepath.Join(t.TempDir(), "app.tar")
	if err := os.WriteFile(path, a.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := testIndex(t).Digest()
	desc, err := Descriptor(path)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want || desc.Annotations[AnnotationImageName] != "ghcr.io/raftkube/app:1.0" || desc.Annotations[AnnotationRefName] != "1.0" {
		t.Errorf("descriptor %+v, want digest %s and the name annotations", desc, want)
	}
	idx, _, cleanup, err := Open(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cleanup(); err != nil {
			t.Error(err)
		}
	}()
	if got, _ := idx.Digest(); got != want {
		t.Errorf("read back digest %s, want %s", got, want)
	}
	// Every blob is there and matches its digest.
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := v1.SHA256(rc)
			rc.Close()
			if d, _ := l.Digest(); err != nil || h != d {
				t.Errorf("layer %s reads back as %s (%v)", d, h, err)
			}
		}
	}
}

func TestWriteFileNeedsPlatform(t *testing.T) {
	ref, _ := name.NewTag("example.com/app:1")
	path := filepath.Join(t.TempDir(), "app.tar")
	err := WriteFile(path, ref, testIndex(t), v1.Platform{OS: "linux", Architecture: "s390x"}, created)
	if err == nil {
		t.Fatal("a manifest.json platform the index lacks: no error")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("a failed write left %v", entries)
	}
}

func TestOpenRejectsEscapes(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "evil.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Open(path, dir); err == nil {
		t.Fatal("an entry outside the archive: no error")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
		t.Error("the entry was written outside")
	}
}
