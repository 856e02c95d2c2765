// Package layer builds one image layer, byte for byte the same from the same
// inputs: a directory tree (the binaries, staged by hack/images.sh) plus a few
// generated files (/etc/passwd, /etc/group). Entries are sorted, owned by
// root, with normalized modes and one fixed modification time, and the gzip
// stream carries no name or time, so the layer's digest depends only on the
// files' contents and paths.
package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is a file to put into the layer besides the directory's.
type File struct {
	// Path inside the image, relative to its root ("etc/passwd").
	Path string
	// Mode holds the permission bits.
	Mode fs.FileMode
	Data []byte
}

// entry is one tar entry: a directory (dir true) or a regular file whose
// content is data or, when src is set, the file at src.
type entry struct {
	dir  bool
	mode fs.FileMode
	src  string
	data []byte
}

// Build writes the tree under root (it may be "" for none) and the extra
// files into a gzip-compressed tar layer. Every entry gets modTime, uid and
// gid 0; files that are executable by their owner on disk get mode 0755,
// other files 0644, directories 0755. Only regular files and directories may
// appear under root: a symlink or device would need its own rules for
// reproducibility, and the images need none.
func Build(root string, extra []File, modTime time.Time) (v1.Layer, error) {
	entries := map[string]*entry{}
	if root != "" {
		if err := addTree(entries, root); err != nil {
			return nil, err
		}
	}
	for _, f := range extra {
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("layer: %s is both in %s and an extra file", p, root)
		}
		entries[p] = &entry{mode: f.Mode.Perm(), data: f.Data}
		addParents(entries, p)
	}
	if len(entries) == 0 {
		return nil, errors.New("layer: no files")
	}
	return write(entries, modTime.UTC().Truncate(time.Second))
}

// cleanPath turns an image path into a tar entry name: relative, slash
// separated, inside the root.
func cleanPath(p string) (string, error) {
	c := path.Clean("/" + filepath.ToSlash(p))
	if c == "/" {
		return "", fmt.Errorf("layer: bad path %q", p)
	}
	return strings.TrimPrefix(c, "/"), nil
}

func addParents(entries map[string]*entry, p string) {
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if _, ok := entries[d]; !ok {
			entries[d] = &entry{dir: true, mode: 0o755}
		}
	}
}

func addTree(entries map[string]*entry, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("layer: reading %s: %w", p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			entries[name] = &entry{dir: true, mode: 0o755}
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("layer: %w", err)
			}
			mode := fs.FileMode(0o644)
			if info.Mode().Perm()&0o100 != 0 {
				mode = 0o755
			}
			entries[name] = &entry{mode: mode, src: p}
		default:
			return fmt.Errorf("layer: %s is neither a regular file nor a directory", p)
		}
		return nil
	})
}

func write(entries map[string]*entry, modTime time.Time) (v1.Layer, error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)

	var compressed bytes.Buffer
	digest, diffID := sha256.New(), sha256.New()
	// gzip.Writer's zero Header has no name, comment or time: deterministic.
	// The default level: on these binaries BestCompression saves under 1% of
	// the size for nearly three times the time. (The compressed bytes, hence
	// the digests, may change with the Go release that builds imagetool; the
	// DiffIDs, of the uncompressed tar, do not.)
	gz, err := gzip.NewWriterLevel(io.MultiWriter(&compressed, digest), gzip.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	tw := tar.NewWriter(io.MultiWriter(gz, diffID))
	for _, n := range names {
		if err := writeEntry(tw, n, entries[n], modTime); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: closing tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("layer: closing gzip: %w", err)
	}
	return &memLayer{
		compressed: compressed.Bytes(),
		digest:     sum(digest),
		diffID:     sum(diffID),
	}, nil
}

func writeEntry(tw *tar.Writer, name string, e *entry, modTime time.Time) error {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(e.mode),
		ModTime: modTime,
		// USTAR: no PAX records (access or change times) to vary.
		Format: tar.FormatUSTAR,
	}
	if e.dir {
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("layer: %s: %w", name, err)
		}
		return nil
	}
	hdr.Typeflag = tar.TypeReg
	var r io.Reader = bytes.NewReader(e.data)
	hdr.Size = int64(len(e.data))
	if e.src != "" {
		f, err := os.Open(e.src)
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		r, hdr.Size = f, info.Size()
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer: %s: %w", name, err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("layer: writing %s: %w", name, err)
	}
	return nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// memLayer is a layer held compressed in memory, with its digests computed
// once while it was written.
type memLayer struct {
	compressed     []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*memLayer)(nil)

func (l *memLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *memLayer) Size() (int64, error)     { return int64(len(l.compressed)), nil }
func (l *memLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.compressed))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return zr, nil
}
