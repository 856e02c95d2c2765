package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// memberInfo is one member's metadata in the replicated membership table.
type memberInfo struct {
	ID            uint64 `json:"id"`
	Name          string `json:"name,omitempty"`
	PeerAddress   string `json:"peer_address"`
	ClientAddress string `json:"client_address,omitempty"`
}

func (m memberInfo) proto() *serverpb.Member {
	return &serverpb.Member{Id: m.ID, Name: m.Name, PeerAddress: m.PeerAddress, ClientAddress: m.ClientAddress}
}

func memberFromProto(m *serverpb.Member) memberInfo {
	return memberInfo{ID: m.GetId(), Name: m.GetName(), PeerAddress: m.GetPeerAddress(), ClientAddress: m.GetClientAddress()}
}

// membership is the replicated membership table: the metadata of every member
// ever added, and the ids removed (never to be reused). It changes only when a
// conf change entry is applied or a snapshot is restored, so every member holds
// the same table at the same applied index.
type membership struct {
	Members map[uint64]memberInfo `json:"members"`
	Removed []uint64              `json:"removed,omitempty"`
}

func newMembership() *membership { return &membership{Members: map[uint64]memberInfo{}} }

func (t *membership) clone() *membership {
	c := &membership{Members: make(map[uint64]memberInfo, len(t.Members)), Removed: slices.Clone(t.Removed)}
	for k, v := range t.Members {
		c.Members[k] = v
	}
	return c
}

func (t *membership) isRemoved(id uint64) bool { return slices.Contains(t.Removed, id) }

func (t *membership) markRemoved(id uint64) {
	if !t.isRemoved(id) {
		t.Removed = append(t.Removed, id)
		slices.Sort(t.Removed)
	}
}

func (t *membership) encode() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode membership table: %w", err)
	}
	return b, nil
}

func decodeMembership(b []byte) (*membership, error) {
	t := newMembership()
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("decode membership table: %w", err)
	}
	if t.Members == nil {
		t.Members = map[uint64]memberInfo{}
	}
	return t, nil
}

// membersPath is the table file kept next to the kv snapshot at index.
func membersPath(dataDir string, index uint64) string {
	return filepath.Join(dataDir, "members", fmt.Sprintf("%016x.json", index))
}

func saveMembership(dataDir string, index uint64, t *membership) error {
	b, err := t.encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(membersPath(dataDir, index), b)
}

// loadMembership reads the table at index; index 0 is the empty table.
func loadMembership(dataDir string, index uint64) (*membership, error) {
	if index == 0 {
		return newMembership(), nil
	}
	b, err := os.ReadFile(membersPath(dataDir, index))
	if err != nil {
		return nil, fmt.Errorf("load membership table at %d: %w", index, err)
	}
	return decodeMembership(b)
}

// pruneMembership deletes table files below index.
func pruneMembership(dataDir string, below uint64) error {
	dir := filepath.Join(dataDir, "members")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune membership tables: %w", err)
	}
	for _, e := range ents {
		var idx uint64
		if n, _ := fmt.Sscanf(e.Name(), "%016x.json", &idx); n == 1 && idx < below {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("prune membership tables: %w", err)
			}
		}
	}
	return nil
}

// snapMagic starts the Data of a snapshot sent to a follower.
var snapMagic = []byte("RKSNAP1\x00")

// encodeSnapshotData frames a table and a kv snapshot stream as Snapshot.Data.
func encodeSnapshotData(table, kvSnap []byte) []byte {
	b := make([]byte, 0, len(snapMagic)+4+len(table)+len(kvSnap))
	b = append(b, snapMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(table)))
	b = append(b, table...)
	return append(b, kvSnap...)
}

// decodeSnapshotData splits Snapshot.Data into the table and the kv stream.
func decodeSnapshotData(data []byte) (*membership, []byte, error) {
	if !bytes.HasPrefix(data, snapMagic) || len(data) < len(snapMagic)+4 {
		return nil, nil, errors.New("snapshot data: bad magic")
	}
	rest := data[len(snapMagic):]
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, nil, errors.New("snapshot data: truncated membership table")
	}
	t, err := decodeMembership(rest[:n])
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot data: %w", err)
	}
	return t, rest[n:], nil
}
