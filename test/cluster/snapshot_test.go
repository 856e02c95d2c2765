package cluster

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raftkube/raftkube/test/harness"
)

// TestFollowerCatchesUpBySnapshot stops a follower, writes several times the
// snapshot threshold (the leader compacts its log each time), restarts the
// follower and checks that it caught up from a snapshot with the right data.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	const threshold = 20
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3, SnapshotEntries: threshold})
	cl := c.Client(t)
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := other(c.Members(), leader)
	acked := map[string]string{}
	put := func(i int) {
		t.Helper()
		key, value := fmt.Sprintf("snap/%06d", i), fmt.Sprintf("value-%d", i)
		if _, err := cl.Put(ctx, []byte(key), []byte(value)); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		acked[key] = value
	}
	for i := range 10 {
		put(i)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := f.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 10+6*threshold; i++ {
		put(i)
	}
	lst, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lst.GetAppliedIndex() < before.GetAppliedIndex()+5*threshold {
		t.Fatalf("leader applied %d, the follower stopped at %d: too few entries to need a snapshot", lst.GetAppliedIndex(), before.GetAppliedIndex())
	}

	if err := f.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitApplied(ctx, lst.GetCommitIndex()); err != nil {
		t.Fatal(err)
	}
	log, err := f.LastLog()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`msg="restored snapshot"`)) {
		t.Errorf("%s caught up without restoring a snapshot; its log since the restart:\n%s", f.Name(), log)
	}
	rng, err := serializableRange(ctx, f, "snap")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, f.Name()+" after catching up", rng, "snap", acked)
	if int(rng.GetCount()) != len(acked) {
		t.Errorf("%s holds %d keys, want %d", f.Name(), rng.GetCount(), len(acked))
	}

	// It replicates as usual afterwards: with the third member down, the
	// leader needs it to commit.
	for _, n := range c.Members() {
		if n != leader && n != f {
			if err := n.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(10 + 6*threshold)
	lst, err = leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WaitApplied(ctx, lst.GetCommitIndex()); err != nil {
		t.Fatal(err)
	}
	rng, err = serializableRange(ctx, f, "snap")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, f.Name()+" after a write it had to acknowledge", rng, "snap", acked)
}

// TestNewMemberJoinsBySnapshot adds a member after the leader compacted its
// log: the new member, which does not know its cluster yet, must adopt it from
// the leader's snapshot and then catch up.
func TestNewMemberJoinsBySnapshot(t *testing.T) {
	const threshold = 20
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3, SnapshotEntries: threshold})
	cl := c.Client(t)
	acked := map[string]string{}
	for i := range 5 * threshold {
		key, value := fmt.Sprintf("join/%06d", i), fmt.Sprintf("value-%d", i)
		if _, err := cl.Put(ctx, []byte(key), []byte(value)); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		acked[key] = value
	}
	added, err := c.Grow(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := added[0]
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := n.LastLog()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`msg="restored snapshot"`)) {
		t.Errorf("%s joined without restoring a snapshot; its log:\n%s", n.Name(), log)
	}
	rng, err := serializableRange(ctx, n, "join")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "the new "+n.Name(), rng, "join", acked)
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetConfiguration().GetVoters()) != 4 || len(st.GetConfiguration().GetMembers()) != 4 {
		t.Errorf("the new member sees voters %x and %d members' metadata, want 4 of each", st.GetConfiguration().GetVoters(), len(st.GetConfiguration().GetMembers()))
	}
}
