// Package archive writes an image index to one tarball that the usual
// loaders take: an OCI image layout (oci-layout, index.json, blobs/sha256/…),
// which `ctr images import` and `kind load image-archive` read, plus Docker's
// manifest.json naming one platform's image, which `docker load` reads (Docker
// 25 and later write both the same way in `docker save`). It also reads such
// a tarball back.
package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of the layout's index.json entry, as `ctr images export`
// writes them: containerd takes the image's name from the first, OCI tools
// the tag from the second.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// dockerManifest is one entry of Docker's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteFile writes the tarball to path through a temporary file in the same
// folder, so a failed run leaves no half-written tarball under the name.
func WriteFile(path string, ref name.Tag, idx v1.ImageIndex, docker v1.Platform, modTime time.Time) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := Write(tmp, ref, idx, docker, modTime); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// Write writes idx, named ref, as the tarball. docker picks the platform whose
// image manifest.json names (Docker's loader takes one image per tag). Every
// tar entry gets modTime and root ownership, and entries are sorted by name,
// so the tarball's bytes depend only on its contents.
func Write(w io.Writer, ref name.Tag, idx v1.ImageIndex, docker v1.Platform, modTime time.Time) error {
	blobs := map[string]blob{}
	idxDesc, err := addIndex(blobs, idx)
	if err != nil {
		return err
	}
	idxDesc.Annotations = map[string]string{
		AnnotationImageName: ref.Name(),
		AnnotationRefName:   ref.TagStr(),
	}
	dockerImg, err := platformImage(idx, docker)
	if err != nil {
		return err
	}
	dm, err := dockerEntry(dockerImg, ref)
	if err != nil {
		return err
	}

	layout, err := json.Marshal(map[string]string{"imageLayoutVersion": "1.0.0"})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	top, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{*idxDesc},
	})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	manifestJSON, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	files := map[string]blob{
		"oci-layout":    bytesBlob(layout),
		"index.json":    bytesBlob(top),
		"manifest.json": bytesBlob(manifestJSON),
	}
	for n, b := range blobs {
		files[n] = b
	}
	return writeTar(w, files, modTime.UTC().Truncate(time.Second))
}

// blob is a file of the tarball: its size, needed before its bytes in the
// tar header, and how to read it.
type blob struct {
	size int64
	open func() (io.ReadCloser, error)
}

func bytesBlob(b []byte) blob {
	return blob{
		size: int64(len(b)),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// addIndex adds the blobs of idx, its manifests, configs and layers, and
// returns its descriptor.
func addIndex(blobs map[string]blob, idx v1.ImageIndex) (*v1.Descriptor, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("archive: index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, fmt.Errorf("archive: index: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("archive: index: %w", err)
	}
	blobs[blobPath(d)] = bytesBlob(raw)
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("archive: index: %w", err)
	}
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() {
			return nil, fmt.Errorf("archive: index entry %s is a %s, not an image", m.Digest, m.MediaType)
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, fmt.Errorf("archive: image %s: %w", m.Digest, err)
		}
		if err := addImage(blobs, img); err != nil {
			return nil, fmt.Errorf("archive: image %s: %w", m.Digest, err)
		}
	}
	return &v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, nil
}

func addImage(blobs map[string]blob, img v1.Image) error {
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	blobs[blobPath(d)] = bytesBlob(raw)
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cd, err := img.ConfigName()
	if err != nil {
		return err
	}
	blobs[blobPath(cd)] = bytesBlob(cfg)
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		blobs[blobPath(ld)] = blob{size: size, open: l.Compressed}
	}
	return nil
}

// platformImage finds the image of platform p in idx.
func platformImage(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Equals(p) {
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("archive: %w", err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("archive: the index has no image for %s (for manifest.json)", p.String())
}

func dockerEntry(img v1.Image, ref name.Tag) (dockerManifest, error) {
	cd, err := img.ConfigName()
	if err != nil {
		return dockerManifest{}, fmt.Errorf("archive: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return dockerManifest{}, fmt.Errorf("archive: %w", err)
	}
	dm := dockerManifest{Config: blobPath(cd), RepoTags: []string{ref.String()}, Layers: []string{}}
	for _, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return dockerManifest{}, fmt.Errorf("archive: %w", err)
		}
		dm.Layers = append(dm.Layers, blobPath(ld))
	}
	return dm, nil
}

// writeTar writes the files, and the directories above them, in name order.
func writeTar(w io.Writer, files map[string]blob, modTime time.Time) error {
	names := make([]string, 0, len(files))
	dirs := map[string]bool{}
	for n := range files {
		names = append(names, n)
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		hdr := &tar.Header{Name: n, ModTime: modTime, Format: tar.FormatUSTAR}
		if dirs[n] {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("archive: %s: %w", n, err)
			}
			continue
		}
		if err := writeFile(tw, hdr, files[n]); err != nil {
			return fmt.Errorf("archive: %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// writeFile writes one file entry.
func writeFile(tw *tar.Writer, hdr *tar.Header, b blob) error {
	hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, b.size
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	rc, err := b.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(tw, rc)
	if err != nil {
		return err
	}
	if n != b.size {
		return fmt.Errorf("read %d bytes, the descriptor says %d", n, b.size)
	}
	return nil
}
