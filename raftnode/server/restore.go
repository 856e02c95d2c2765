package server

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// ErrDataDirNotEmpty refuses Config.RestoreFrom on a data dir that holds a
// member (or files of something else): a restore never overwrites.
var ErrDataDirNotEmpty = errors.New("data dir is not empty")

// restoreDataDir founds a new cluster from the snapshot file RestoreFrom on
// an empty data dir (see Config.RestoreFrom). Nothing is written before the
// whole file has been read and its checksum matched, and member.json is
// written last, so a failure leaves a data dir that is empty again.
func (s *Server) restoreDataDir() (identity, error) {
	dir, path := s.cfg.DataDir, s.cfg.RestoreFrom
	if err := checkEmptyDataDir(dir); err != nil {
		return identity{}, err
	}
	store, meta, sum, err := s.readSnapshotFile(path)
	if err != nil {
		return identity{}, err
	}
	// Leftovers of an interrupted start, as initDataDir removes them.
	if err := cleanDataDir(dir); err != nil {
		return identity{}, err
	}
	id, err := randomID()
	if err != nil {
		return identity{}, err
	}
	cid, err := randomID()
	if err != nil {
		return identity{}, err
	}
	s.id = id
	if err := s.writeFounding(store); err != nil {
		return identity{}, fmt.Errorf("restore from %s: %w", path, err)
	}
	ident := identity{MemberID: id, ClusterID: cid, Name: s.cfg.Name, RestoredFrom: hex.EncodeToString(sum[:])}
	if err := saveIdentity(dir, ident); err != nil {
		return identity{}, err
	}
	s.log.Info("founded a new cluster from a snapshot", "file", path, "sha256", ident.RestoredFrom,
		"member", fmt.Sprintf("%x", id), "cluster", fmt.Sprintf("%x", cid),
		"index", meta.Index, "keys", store.Len(), "source_cluster", fmt.Sprintf("%x", meta.ClusterID))
	return ident, nil
}

// checkEmptyDataDir refuses a data dir holding anything but what an
// interrupted start leaves (wal/, snap/, members/, temp files), the
// lost+found of a fresh file system, and the identity of a member that
// never joined a cluster.
func checkEmptyDataDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: read data dir: %w", err)
	}
	for _, e := range ents {
		switch n := e.Name(); {
		case n == "wal", n == "snap", n == "members", n == "lost+found", strings.HasPrefix(n, ".tmp-"):
		case n == memberFile:
			// open() gets here with one only for a member that never
			// joined a cluster (identity.waiting); any other goes to
			// checkRestoredFrom instead.
		default:
			return fmt.Errorf("%w: %s holds %s; restoring a snapshot needs an empty data dir and never overwrites one",
				ErrDataDirNotEmpty, dir, n)
		}
	}
	return nil
}

// readSnapshotFile reads and verifies a snapshot file whole, and returns the
// store it holds, its metadata and its checksum.
func (s *Server) readSnapshotFile(path string) (*kv.Store, snapfile.Metadata, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return nil, snapfile.Metadata{}, sum, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	sr, err := snapfile.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, snapfile.Metadata{}, sum, fmt.Errorf("restore from %s: %w", path, err)
	}
	store, err := kv.Restore(sr, s.kvOpts...)
	if err != nil {
		// A damaged file usually trips the kv stream's own checks first;
		// the file's checksum names the cause, so read on to it.
		if _, ferr := io.Copy(io.Discard, sr); ferr != nil {
			err = ferr
		}
		return nil, snapfile.Metadata{}, sum, fmt.Errorf("restore from %s: %w", path, err)
	}
	// kv.Restore read up to the end of the data; the trailer is checked
	// when the reader meets it, and must have been.
	if n, err := io.Copy(io.Discard, sr); err != nil || n > 0 {
		return nil, snapfile.Metadata{}, sum, fmt.Errorf("restore from %s: %d bytes after the kv stream: %w", path, n, err)
	}
	meta := sr.Metadata()
	if meta.Index == 0 || store.AppliedIndex() != meta.Index {
		return nil, snapfile.Metadata{}, sum, fmt.Errorf("restore from %s: %w: metadata says index %d, the data holds a store at %d",
			path, snapfile.ErrCorrupt, meta.Index, store.AppliedIndex())
	}
	return store, meta, sr.Sum(), nil
}

// checkRestoredFrom lets a member founded from RestoreFrom restart with the
// flag still set (a pod's arguments do not change), and refuses any other.
// A founder whose file is gone restarts too: the file was fetched into a
// pod's emptyDir, which a re-created pod no longer has. Another file at the
// path asks for a cluster this data dir does not hold.
func (s *Server) checkRestoredFrom(ident identity) error {
	if ident.RestoredFrom != "" {
		sum, err := snapfile.ReadTrailer(s.cfg.RestoreFrom)
		switch {
		case err == nil && hex.EncodeToString(sum[:]) == ident.RestoredFrom:
			s.log.Info("data dir was founded from this snapshot already: ignoring the restore", "file", s.cfg.RestoreFrom)
			return nil
		case errors.Is(err, fs.ErrNotExist):
			s.log.Info("data dir was founded from a snapshot whose file is gone: ignoring the restore",
				"file", s.cfg.RestoreFrom, "sha256", ident.RestoredFrom)
			return nil
		}
	}
	return fmt.Errorf("%w: %s holds member %x of cluster %x; restoring a snapshot needs an empty data dir and never overwrites one",
		ErrDataDirNotEmpty, s.cfg.DataDir, ident.MemberID, ident.ClusterID)
}
