package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const memberFile = "member.json"

// identity is what member.json holds.
type identity struct {
	// MemberID is made at random on the first start; never 0.
	MemberID uint64 `json:"member_id"`
	// ClusterID is 0 until the member bootstraps or adopts its cluster.
	ClusterID uint64 `json:"cluster_id"`
	Name      string `json:"name"`
	// Removed is set once the member applied a configuration without itself.
	Removed bool `json:"removed,omitempty"`
	// RestoredFrom is the SHA-256 (hex) of the snapshot file this member
	// founded its cluster from (Config.RestoreFrom), if any.
	RestoredFrom string `json:"restored_from,omitempty"`
}

// waiting reports whether the member has never joined a cluster: it
// started without founding one and has accepted no message from any.
func (i identity) waiting() bool {
	return i.ClusterID == 0 && !i.Removed && i.RestoredFrom == ""
}

// randomID returns a random non-zero uint64.
func randomID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("random id: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// loadIdentity reads member.json; ok is false when there is none.
func loadIdentity(dir string) (id identity, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, memberFile))
	if errors.Is(err, fs.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("read %s: %w", memberFile, err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, false, fmt.Errorf("decode %s: %w", memberFile, err)
	}
	if id.MemberID == 0 {
		return id, false, fmt.Errorf("decode %s: member id 0", memberFile)
	}
	return id, true, nil
}

// saveIdentity writes member.json atomically.
func saveIdentity(dir string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", memberFile, err)
	}
	return writeFileAtomic(filepath.Join(dir, memberFile), b)
}

// writeFileAtomic writes data to a temp file, syncs it and renames it over path,
// then syncs the directory, so path holds the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// DataDirInUse reports whether dataDir holds a member that founded or joined
// a cluster (or was removed from one): a start keeps it, ignoring Bootstrap
// and refusing RestoreFrom. A data dir without a member, or with one still
// waiting to be added, is not in use: Bootstrap or RestoreFrom found a
// cluster over it.
func DataDirInUse(dataDir string) (bool, error) {
	id, ok, err := loadIdentity(dataDir)
	if err != nil {
		return false, err
	}
	return ok && !id.waiting(), nil
}
