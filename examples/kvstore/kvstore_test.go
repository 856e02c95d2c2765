package main

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Three member processes on loopback: writes through every member are read
// back from every member; a fourth member joins (by snapshot: members
// snapshot every 8 entries) and one of the original three, the first
// leader, is removed and exits; a member killed mid-way catches up after its
// restart; and after all members are killed at once and restarted, every
// acknowledged write is still there.
func TestThreeProcesses(t *testing.T) {
	c := newCluster(t, buildBinary(t), 4)
	acked := map[string]string{}
	write := func(through uint64, n int) {
		for range n {
			k, v := fmt.Sprintf("k%02d", len(acked)), fmt.Sprintf("v%02d", len(acked))
			c.put(through, k, v)
			acked[k] = v
		}
	}

	for _, id := range []uint64{1, 2, 3} {
		c.start(id, false, 1, 2, 3)
	}
	c.waitConfig(1, 2, 3)
	for _, id := range []uint64{1, 2, 3} {
		write(id, 4)
	}
	for _, id := range []uint64{1, 2, 3} {
		c.waitHas(id, acked)
	}

	// Add member 4: first the conf change, then the process, which learns
	// the cluster's state from the leader.
	c.eventually("add member 4", func() error {
		return c.expect(2, http.MethodPost, "/members/4", c.peerURL(4), http.StatusNoContent)
	})
	c.start(4, true, 1, 2, 3, 4)
	c.waitConfig(1, 2, 3, 4)
	c.waitHas(4, acked)
	write(4, 3)

	// Remove member 1. It applies its own removal and exits cleanly.
	c.eventually("remove member 1", func() error {
		return c.expect(2, http.MethodDelete, "/members/1", "", http.StatusNoContent)
	})
	if err := c.waitExit(1); err != nil {
		t.Fatalf("removed member 1 exited with %v, want success", err)
	}
	c.waitConfig(2, 3, 4)
	write(3, 3)

	// Crash member 3; the other two are a quorum of {2, 3, 4}.
	c.kill(3)
	write(2, 5)
	c.start(3, false, 2, 3, 4)
	c.waitHas(3, acked)
	st, err := c.status(3)
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotIndex <= 1 {
		t.Fatalf("member 3 has snapshot index %d after %d writes; snapshots every 8 entries were expected", st.SnapshotIndex, len(acked))
	}

	// Crash everyone: acknowledged writes are on the disks of a quorum.
	for _, id := range []uint64{2, 3, 4} {
		c.kill(id)
	}
	for _, id := range []uint64{2, 3, 4} {
		c.start(id, false, 2, 3, 4)
	}
	c.waitConfig(2, 3, 4)
	for _, id := range []uint64{2, 3, 4} {
		c.waitHas(id, acked)
	}
	t.Logf("%d acknowledged writes read back from every member", len(acked))
}
