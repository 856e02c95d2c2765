package backupstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// tempPrefix starts the names of files being written; List skips them and
// no key segment may start with it.
const tempPrefix = ".tmp-"

// Dir is a Store in a directory, typically a mounted volume: a key is a file
// under the root, its slashes subdirectories.
type Dir struct {
	root string
	name string
}

var _ Store = (*Dir)(nil)

// NewDir returns the Store rooted at root. name is what Location shows for
// root (the operator passes the claim's name; "" means root itself). The
// root must exist when the Store is used: a missing root is
// ErrStorageNotFound, since creating it would write to the container's own
// file system instead of the volume that failed to mount.
func NewDir(root, name string) *Dir {
	if name == "" {
		name = root
	}
	return &Dir{root: root, name: name}
}

// Location is "volume://NAME/key".
func (d *Dir) Location(key string) string {
	return "volume://" + strings.TrimSuffix(d.name, "/") + "/" + key
}

// checkRoot returns ErrStorageNotFound when the root is not a directory.
func (d *Dir) checkRoot() error {
	st, err := os.Stat(d.root)
	if err != nil {
		return dirError("open volume root", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("open volume root: %w: %s is not a directory", ErrStorageNotFound, d.root)
	}
	return nil
}

// path is key's file, once the key is valid.
func (d *Dir) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// PendingFile is a file being written into a Dir: it appears under its key
// only on Commit, whole and synced. Write to File, then Commit or Abort.
type PendingFile struct {
	// File is the temporary file, in the key's directory.
	File *os.File
	key  string
	dest string
}

// resolve is key's path, once the key is valid, ctx not done and the root
// there: what every call on one key checks first.
func (d *Dir) resolve(ctx context.Context, key string) (string, error) {
	p, err := d.path(key)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := d.checkRoot(); err != nil {
		return "", err
	}
	return p, nil
}

// Create starts a file for key: a temporary file in the key's directory
// (created as needed). Writing the data there and renaming it into place
// costs no second copy.
func (d *Dir) Create(ctx context.Context, key string) (*PendingFile, error) {
	dest, err := d.resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(dest)
	if err := d.mkdirs(dir); err != nil {
		return nil, dirError("create "+d.Location(key), err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(dest)+"-*")
	if err != nil {
		return nil, dirError("create "+d.Location(key), err)
	}
	return &PendingFile{File: f, key: key, dest: dest}, nil
}

// mkdirs creates dir and the directories above it up to the root, syncing
// each parent so the new entries survive a crash.
func (d *Dir) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir == filepath.Clean(d.root) {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := d.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return SyncDir(parent)
}

// Commit syncs the file, renames it to its key and syncs the directory.
// After a failed Commit nothing is left under the key that was not there.
func (p *PendingFile) Commit() error {
	name := p.File.Name()
	err := p.File.Sync()
	if cerr := p.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, p.dest)
	}
	if err != nil {
		_ = os.Remove(name)
		return dirError("write "+p.key, err)
	}
	if err := SyncDir(filepath.Dir(p.dest)); err != nil {
		return dirError("write "+p.key, err)
	}
	return nil
}

// Abort discards the file; it is safe after Commit (then a no-op).
func (p *PendingFile) Abort() {
	_ = p.File.Close()
	_ = os.Remove(p.File.Name())
}

// Put writes r to a temporary file beside key's, then commits it.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.Create(ctx, key)
	if err != nil {
		return err
	}
	defer p.Abort()
	bw := bufio.NewWriterSize(p.File, 1<<20)
	n, err := io.Copy(bw, ctxReader{ctx, r})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return dirError("write "+d.Location(key), err)
	}
	if n != size {
		return fmt.Errorf("write %s: %d bytes read, %d expected", d.Location(key), n, size)
	}
	return p.Commit()
}

// Get opens key's file.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w: %w", d.Location(key), ErrObjectNotFound, err)
	}
	if err != nil {
		return nil, dirError("open "+d.Location(key), err)
	}
	return f, nil
}

// List walks the directory that holds prefix's keys.
func (d *Dir) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := d.checkRoot(); err != nil {
		return nil, err
	}
	// WalkDir does not follow a symbolic link at its start: walk where the
	// root leads.
	root, err := filepath.EvalSymlinks(d.root)
	if err != nil {
		return nil, dirError("list "+d.Location(prefix), err)
	}
	// Only the directory up to the prefix's last slash can hold its keys.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	start := filepath.Join(root, filepath.FromSlash(base))
	var objs []Object
	err = filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			// Skip a directory none of whose keys can match.
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		objs = append(objs, Object{Key: key, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, dirError("list "+d.Location(prefix), err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key's file and syncs its directory.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.resolve(ctx, key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return dirError("delete "+d.Location(key), err)
	}
	if err := SyncDir(filepath.Dir(p)); err != nil {
		return dirError("delete "+d.Location(key), err)
	}
	return nil
}

// dirError wraps a file system failure with the sentinel it matches.
func dirError(op string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w: %w", op, ErrAccessDenied, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: %w", op, ErrStorageNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// SyncDir makes the creation, renaming or removal of files in dir
// durable.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
