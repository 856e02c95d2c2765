package server

import (
	"os"
	"path/filepath"
	"testing"
)

// A data dir is in use once its member founded or joined a cluster, or was
// removed from one; an unreadable member.json is an error, not "free".
func TestDataDirInUse(t *testing.T) {
	for _, tc := range []struct {
		name, file string // file "" writes no member.json
		inUse, err bool
	}{
		{name: "empty", file: ""},
		{name: "waiting to be added", file: `{"member_id":1,"cluster_id":0}`},
		{name: "joined", file: `{"member_id":1,"cluster_id":2}`, inUse: true},
		{name: "removed before it knew its cluster", file: `{"member_id":1,"removed":true}`, inUse: true},
		{name: "founded from a snapshot", file: `{"member_id":1,"restored_from":"ab"}`, inUse: true},
		{name: "corrupt", file: `{"member_id":`, err: true},
		{name: "member id 0", file: `{"member_id":0,"cluster_id":2}`, err: true},
	} {
		dir := t.TempDir()
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, memberFile), []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		inUse, err := DataDirInUse(dir)
		if inUse != tc.inUse || (err != nil) != tc.err {
			t.Errorf("%s: DataDirInUse = %v, %v; want %v, error %v", tc.name, inUse, err, tc.inUse, tc.err)
		}
	}
}
