package archive

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Descriptor returns the descriptor of the image index in the tarball
// file, with its name annotations, reading only index.json.
func Descriptor(file string) (v1.Descriptor, error) {
	f, err := os.Open(file)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return v1.Descriptor{}, fmt.Errorf("archive: %s has no index.json", file)
		}
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("archive: reading %s: %w", file, err)
		}
		if path.Clean(hdr.Name) != "index.json" {
			continue
		}
		var top v1.IndexManifest
		if err := json.NewDecoder(tr).Decode(&top); err != nil {
			return v1.Descriptor{}, fmt.Errorf("archive: %s: index.json: %w", file, err)
		}
		return single(top, file)
	}
}

// single is the one image index a tarball of Write names.
func single(top v1.IndexManifest, file string) (v1.Descriptor, error) {
	if len(top.Manifests) != 1 || !top.Manifests[0].MediaType.IsIndex() {
		return v1.Descriptor{}, fmt.Errorf("archive: %s: index.json should name one image index, it names %d entries", file, len(top.Manifests))
	}
	return top.Manifests[0], nil
}

// Open unpacks the tarball at file into a new folder under dir (the system's
// temporary folder when empty) and returns its image index, read from there,
// and a function that removes the folder: call it when done with the index.
func Open(file, dir string) (idx v1.ImageIndex, desc v1.Descriptor, cleanup func() error, err error) {
	tmp, err := os.MkdirTemp(dir, "imagetool-")
	if err != nil {
		return nil, v1.Descriptor{}, nil, fmt.Errorf("archive: %w", err)
	}
	remove := func() error { return os.RemoveAll(tmp) }
	defer func() {
		if err != nil {
			// The open's error is the one to report; a folder left behind
			// in the temporary directory is the lesser harm.
			_ = remove()
		}
	}()
	if err := untar(file, tmp); err != nil {
		return nil, v1.Descriptor{}, nil, err
	}
	top, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return nil, v1.Descriptor{}, nil, fmt.Errorf("archive: %s: %w", file, err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, nil, fmt.Errorf("archive: %s: %w", file, err)
	}
	desc, err = single(*im, file)
	if err != nil {
		return nil, v1.Descriptor{}, nil, err
	}
	idx, err = top.ImageIndex(desc.Digest)
	if err != nil {
		return nil, v1.Descriptor{}, nil, fmt.Errorf("archive: %s: %w", file, err)
	}
	return idx, desc, remove, nil
}

// untar extracts the regular files and directories of the tarball into dir,
// refusing names that would land outside it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: reading %s: %w", file, err)
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive: %s: entry %q leaves the archive", file, hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("archive: %w", err)
			}
		case tar.TypeReg:
			if err := extractFile(tr, target); err != nil {
				return fmt.Errorf("archive: %s: %w", file, err)
			}
		default:
			return fmt.Errorf("archive: %s: entry %q is neither a file nor a directory", file, hdr.Name)
		}
	}
}

func extractFile(r io.Reader, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
