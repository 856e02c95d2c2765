package kv

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// Snapshot file names: the applied index as 16 lowercase hex digits, so that
// names sort like indexes. Save writes through a temp file whose name never
// matches snapFileRE.
var snapFileRE = regexp.MustCompile(`^([0-9a-f]{16})\.snap$`)

const (
	snapSuffix = ".snap"
	// tempPattern names Save's temp files (os.CreateTemp pattern and Prune glob).
	tempPattern   = ".snap-tmp-*"
	snapDirCreate = 0o755
)

// SnapshotDir keeps a store's snapshot files in one directory. Saves of
// different stores may run concurrently (each writes its own temp file), but
// Prune, which also removes stray temp files, must not run during a Save.
type SnapshotDir struct {
	// Dir is the directory; Save creates it if needed.
	Dir string
	// Options configure the stores LoadNewest returns.
	Options []Option
}

// SkippedSnapshot is a snapshot file LoadNewest passed over, and why.
type SkippedSnapshot struct {
	// Path of the file.
	Path string
	// Err wraps ErrCorruptSnapshot.
	Err error
}

// LoadInfo reports what LoadNewest did, for the caller to log.
type LoadInfo struct {
	// Path of the snapshot loaded; empty when the directory held none.
	Path string
	// Skipped lists newer snapshot files that were corrupt, newest first. The
	// caller should log them as a warning: the member recovers from an older
	// state, which is safe only if its log still holds every entry after it
	// (replay fails with ErrGap if it does not).
	Skipped []SkippedSnapshot
}

// snapFile is one snapshot file found in the directory.
type snapFile struct {
	path  string
	index uint64
}

// SnapshotPath returns the file name Save uses for a store at applied index.
func (d SnapshotDir) SnapshotPath(index uint64) string {
	return filepath.Join(d.Dir, fmt.Sprintf("%016x%s", index, snapSuffix))
}

// Save writes s as a snapshot file named after its applied index and returns its
// path. The file appears complete or not at all: it is written to a temp file,
// fsynced, renamed into place, and the directory is fsynced so the rename
// survives a crash. An existing file for the same index is replaced.
func (d SnapshotDir) Save(s *Store) (path string, err error) {
	if err := os.MkdirAll(d.Dir, snapDirCreate); err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(d.Dir, tempPattern)
	if err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	tree, index := s.frozen()
	if err := writeSnapshot(tmp, tree, index); err != nil {
		return "", fmt.Errorf("save snapshot at index %d to %s: %w", index, tmp.Name(), err)
	}
	return d.commit(tmp, index)
}

// commit syncs and renames a fully written temp file into place.
func (d SnapshotDir) commit(tmp *os.File, index uint64) (string, error) {
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	path := d.SnapshotPath(index)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("rename snapshot into place: %w", err)
	}
	if err := syncDir(d.Dir); err != nil {
		return "", err
	}
	return path, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// list returns the directory's snapshot files, newest (highest index) first. A
// missing directory holds none.
func (d SnapshotDir) list() ([]snapFile, error) {
	entries, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var files []snapFile
	for _, e := range entries {
		m := snapFileRE.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		index, err := strconv.ParseUint(m[1], 16, 64)
		if err != nil {
			continue // unreachable: the pattern admits only 16 hex digits
		}
		files = append(files, snapFile{path: filepath.Join(d.Dir, e.Name()), index: index})
	}
	slices.SortFunc(files, func(a, b snapFile) int { return cmp.Compare(b.index, a.index) })
	return files, nil
}

// LoadNewest restores the newest valid snapshot of the directory.
//
// Policy: files are tried newest first. A corrupt one (ErrCorruptSnapshot,
// including a file whose content's applied index differs from its name) is
// skipped and listed in LoadInfo.Skipped, so an older valid snapshot is used;
// if none is valid, LoadNewest fails with ErrCorruptSnapshot rather than start
// empty, because the log before the newest snapshot is probably compacted away.
// Any other error (I/O, ErrSnapshotVersion) stops the search and is returned.
// A directory with no snapshot files (or none at all) yields an empty store at
// applied index 0 and an empty LoadInfo.Path.
func (d SnapshotDir) LoadNewest() (*Store, LoadInfo, error) {
	files, err := d.list()
	if err != nil {
		return nil, LoadInfo{}, err
	}
	var info LoadInfo
	for _, f := range files {
		s, err := loadFile(f, d.Options)
		if errors.Is(err, ErrCorruptSnapshot) {
			info.Skipped = append(info.Skipped, SkippedSnapshot{Path: f.path, Err: err})
			continue
		}
		if err != nil {
			return nil, info, err
		}
		info.Path = f.path
		return s, info, nil
	}
	if len(info.Skipped) > 0 {
		return nil, info, fmt.Errorf("load snapshot from %s: all %d snapshot files are corrupt, newest: %w",
			d.Dir, len(info.Skipped), info.Skipped[0].Err)
	}
	return New(d.Options...), info, nil
}

func loadFile(f snapFile, opts []Option) (*Store, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	defer file.Close()
	s, err := Restore(file, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", f.path, err)
	}
	if s.AppliedIndex() != f.index {
		return nil, fmt.Errorf("load %s: %w: holds applied index %d", f.path, ErrCorruptSnapshot, s.AppliedIndex())
	}
	return s, nil
}

// Prune deletes all but the keep newest snapshot files (by index, whatever
// their validity) and any temp file left by an interrupted Save, and returns
// the paths it deleted. keep must be at least 1: the newest snapshot is never
// deleted.
func (d SnapshotDir) Prune(keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("prune snapshots: %w: keep %d, must be at least 1", ErrInvalid, keep)
	}
	files, err := d.list()
	if err != nil {
		return nil, err
	}
	var doomed []string
	for _, f := range files[min(keep, len(files)):] {
		doomed = append(doomed, f.path)
	}
	temps, err := filepath.Glob(filepath.Join(d.Dir, tempPattern))
	if err != nil {
		return nil, fmt.Errorf("prune snapshots: %w", err)
	}
	doomed = append(doomed, temps...)
	var removed []string
	for _, p := range doomed {
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("prune snapshots: %w", err)
		}
		removed = append(removed, p)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, syncDir(d.Dir)
}
