package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// snapshotName is the file name of the snapshot meta describes.
func snapshotName(meta pb.SnapshotMetadata) string {
	return fmt.Sprintf("snap-%016x-%016x%s", meta.Term, meta.Index, snapSuffix)
}

// writeSnapshotFile makes snap durable under its name: written aside,
// synced, renamed into place, and the directory synced.
func writeSnapshotFile(dir string, snap pb.Snapshot) error {
	path := filepath.Join(dir, snapshotName(snap.Metadata))
	data := appendRecord(nil, kindSnapshot, snap.MarshalAppend(nil))
	if err := writeFileSynced(path+tmpSuffix, data); err != nil {
		return fmt.Errorf("write snapshot %d: %w", snap.Metadata.Index, err)
	}
	if err := os.Rename(path+tmpSuffix, path); err != nil {
		return fmt.Errorf("write snapshot %d: %w", snap.Metadata.Index, err)
	}
	return syncDir(dir)
}

// readSnapshotFile reads a snapshot file: exactly one whole snapshot record.
// A snapshot file is renamed into place only once synced, so any damage,
// a short file included, is corruption.
func readSnapshotFile(path string) (pb.Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pb.Snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	kind, body, n, err := decodeRecord(data)
	switch {
	case errors.Is(err, errTornTail):
		return pb.Snapshot{}, fmt.Errorf("snapshot %s: %w: file cut short", path, ErrCorrupt)
	case err != nil:
		return pb.Snapshot{}, fmt.Errorf("snapshot %s: %w", path, err)
	case kind != kindSnapshot || n != len(data):
		return pb.Snapshot{}, fmt.Errorf("snapshot %s: %w: not one snapshot record", path, ErrCorrupt)
	}
	var snap pb.Snapshot
	if err := snap.Unmarshal(body); err != nil {
		return pb.Snapshot{}, fmt.Errorf("snapshot %s: %w: %w", path, ErrCorrupt, err)
	}
	return snap, nil
}

// removeSnapshotsBut removes every snapshot file except keep's.
func removeSnapshotsBut(dir string, keep pb.SnapshotMetadata) error {
	names, err := filepath.Glob(filepath.Join(dir, "snap-*"+snapSuffix))
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	for _, name := range names {
		if filepath.Base(name) == snapshotName(keep) {
			continue
		}
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("remove old snapshot: %w", err)
		}
	}
	return nil
}

// removeTemporaries removes the files a crash left half written.
func removeTemporaries(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read data dir: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove temporary file: %w", err)
			}
		}
	}
	return nil
}

// writeFileSynced writes data to a new file at path and syncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes the directory's entries (created, renamed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open data dir: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync data dir: %w", err)
	}
	return d.Close()
}
