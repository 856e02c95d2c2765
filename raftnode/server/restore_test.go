package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// savedFile writes a snapshot of a one-member cluster holding keys k00..
// k(n-1) to a file and returns its path.
func savedFile(t *testing.T, n int) string {
	t.Helper()
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	for i := range n {
		a.put(fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	file, _ := saveTo(t, a)
	a.close()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("s%d.snap", n))
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A member founded from a file that lived in a pod's emptyDir restarts with
// the same setting after the pod was re-created without the file: it is the
// same member, with its data. A different file at that path is still
// refused: it asks for a cluster this data dir does not hold.
func TestRestoredMemberRestartsWithoutItsFile(t *testing.T) {
	path := savedFile(t, 5)
	dir := t.TempDir()
	b := startMember(t, dir, false, func(c *Config) { c.RestoreFrom = path })
	b.waitLeader()
	b.put("after", "x")
	id, cid := b.srv.ID(), b.srv.ClusterID()
	b.close()

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c := startMember(t, dir, false, func(c *Config) { c.RestoreFrom = path })
	if c.srv.ID() != id || c.srv.ClusterID() != cid {
		t.Fatalf("restart without the file: member %x of %x, was %x of %x", c.srv.ID(), c.srv.ClusterID(), id, cid)
	}
	c.waitLeader()
	for _, k := range []string{"k00", "k04", "after"} {
		if kv := c.get(k, serverpb.Consistency_CONSISTENCY_LINEARIZABLE); len(kv.GetValue()) == 0 {
			t.Errorf("%s lost across the restart", k)
		}
	}
	c.close()

	other := savedFile(t, 3)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{DataDir: dir, RestoreFrom: path, PeerListener: listen(t), ClientListener: listen(t)})
	if !errors.Is(err, ErrDataDirNotEmpty) {
		t.Fatalf("restart with another file at the path: %v, want ErrDataDirNotEmpty", err)
	}
}

// A data dir holding a member that was not founded from a snapshot refuses
// a restore whether or not the file exists: only a restored member may
// have outlived its file.
func TestRestoreRefusesBootstrappedMember(t *testing.T) {
	dir := t.TempDir()
	a := startMember(t, dir, true)
	a.waitLeader()
	a.close()
	for _, path := range []string{savedFile(t, 2), filepath.Join(t.TempDir(), "missing.snap")} {
		_, err := New(Config{DataDir: dir, RestoreFrom: path, PeerListener: listen(t), ClientListener: listen(t)})
		if !errors.Is(err, ErrDataDirNotEmpty) {
			t.Errorf("restore %s over a bootstrapped member: %v, want ErrDataDirNotEmpty", filepath.Base(path), err)
		}
	}
}

// A member that started without bootstrap and was never added to a cluster
// (the claims of a cluster deleted before it formed, adopted by a new one)
// holds nothing but its identity: told to bootstrap, or to found the
// cluster from a snapshot, it does, instead of waiting for ever.
func TestWaitingMemberBootstraps(t *testing.T) {
	for _, restore := range []bool{false, true} {
		t.Run(fmt.Sprintf("restore=%v", restore), func(t *testing.T) {
			dir := t.TempDir()
			w := startMember(t, dir, false)
			waiting := w.srv.ID()
			w.close()

			tweak := func(*Config) {}
			if restore {
				path := savedFile(t, 3)
				tweak = func(c *Config) { c.RestoreFrom = path }
			}
			b := startMember(t, dir, !restore, tweak)
			if b.srv.ClusterID() == 0 {
				t.Fatalf("member %x (waiting as %x) told to found a cluster has none", b.srv.ID(), waiting)
			}
			b.waitLeader()
			b.put("founded", "yes")
			if restore {
				if kv := b.get("k02", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kv.GetValue()) != "v2" {
					t.Errorf("k02 = %q after founding from the snapshot, want v2", kv.GetValue())
				}
			}
			b.close()
		})
	}
}
