package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// TestKillLeaderUnderWrites kills the leader with SIGKILL while a client
// writes: the others elect a leader and go on acknowledging writes, none of
// the acknowledged ones is lost, and the killed member catches up after its
// restart.
func TestKillLeaderUnderWrites(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	cl := c.Client(t)
	w := startWriter(ctx, t, cl, "kill")
	if err := w.waitAcks(ctx, 30); err != nil {
		t.Fatal(err)
	}

	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldStatus, err := old.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := w.acks()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetHeader().GetTerm() <= oldStatus.GetHeader().GetTerm() {
		t.Errorf("new leader %s at term %d, the killed one led at term %d", leader.Name(), st.GetHeader().GetTerm(), oldStatus.GetHeader().GetTerm())
	}
	t.Logf("%s killed, %s leads", old.Name(), leader.Name())
	if err := w.waitAcks(ctx, killedAt+50); err != nil {
		t.Fatalf("writes after the leader was killed: %v", err)
	}
	acked := w.stop()
	t.Logf("%d writes acknowledged, %d failed", len(acked), w.failures())
	rng, err := rangePrefix(ctx, cl, "kill")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "cluster after the kill", rng, "kill", acked)

	// The killed member comes back with its data dir and catches up.
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	latest := strconv.Itoa(len(acked))
	if _, err := cl.Put(ctx, []byte("latest"), []byte(latest)); err != nil {
		t.Fatal(err)
	}
	lst, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.WaitApplied(ctx, lst.GetCommitIndex()); err != nil {
		t.Fatal(err)
	}
	get, err := old.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("latest"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	if err != nil {
		t.Fatal(err)
	}
	if string(get.GetKv().GetValue()) != latest {
		t.Errorf("serializable read on the restarted %s: latest=%q, want %q", old.Name(), get.GetKv().GetValue(), latest)
	}
	rng, err = serializableRange(ctx, old, "kill")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "restarted "+old.Name(), rng, "kill", acked)
	ost, err := old.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ost.GetRole() == serverpb.Role_ROLE_LEADER && ost.GetHeader().GetTerm() == lst.GetHeader().GetTerm() {
		t.Errorf("restarted %s leads at the term of %s", old.Name(), leader.Name())
	}
	if ost.GetHeader().GetLeaderId() == 0 {
		t.Errorf("restarted %s knows no leader", old.Name())
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWholeClusterCrash kills every member with SIGKILL at once while a
// client writes, restarts them all from their data dirs, and checks that
// every acknowledged write survived (the wal is fsynced before a write is
// acknowledged).
func TestWholeClusterCrash(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	w := startWriter(ctx, t, c.Client(t), "crash")
	if err := w.waitAcks(ctx, 50); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Members() {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	acked := w.stop()
	for _, n := range c.Members() {
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t)
	rng, err := rangePrefix(ctx, cl, "crash")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "after the restart", rng, "crash", acked)
	if _, err := cl.Put(ctx, []byte("after"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Members() {
		rng, err := serializableRange(ctx, n, "crash")
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, n.Name()+" after the restart", rng, "crash", acked)
	}
}

// TestPausedLeaderServesNoStaleRead freezes the leader with SIGSTOP until
// the others elect a new one and acknowledge a newer value, then thaws it: a
// linearizable read sent to the old leader must not return the old value.
func TestPausedLeaderServesNoStaleRead(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	cl := c.Client(t)
	if _, err := cl.Put(ctx, []byte("k"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	var rest []*harness.Node
	for _, n := range c.Members() {
		if n != old {
			rest = append(rest, n)
		}
	}
	if err := harness.WaitFor(ctx, "a new leader", func(ctx context.Context) error {
		st, err := rest[0].Status(ctx)
		if err != nil {
			return err
		}
		if l := st.GetHeader().GetLeaderId(); l == 0 || l == old.ID() {
			return fmt.Errorf("%s follows %x", rest[0].Name(), l)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	others := c.ClientOf(t, rest...)
	if _, err := others.Put(ctx, []byte("k"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	get, err := old.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("k")})
	if err != nil {
		t.Logf("linearizable read on the thawed leader refused: %v", err)
	} else if v := string(get.GetKv().GetValue()); v != "new" {
		t.Errorf("linearizable read on the thawed former leader %s returned %q after %q was acknowledged", old.Name(), v, "new")
	}
	// It rejoins as a follower and catches up.
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulStopOfLeaderUnderWrites stops the leader with SIGTERM while a
// client writes: it exits with status 0, the others go on, nothing
// acknowledged is lost, and it rejoins after a restart.
func TestGracefulStopOfLeaderUnderWrites(t *testing.T) {
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	cl := c.Client(t)
	w := startWriter(ctx, t, cl, "stop")
	if err := w.waitAcks(ctx, 30); err != nil {
		t.Fatal(err)
	}
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.waitAcks(ctx, w.acks()+30); err != nil {
		t.Fatal(err)
	}
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.waitAcks(ctx, w.acks()+10); err != nil {
		t.Fatal(err)
	}
	acked := w.stop()
	rng, err := rangePrefix(ctx, cl, "stop")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "the cluster", rng, "stop", acked)
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	rng, err = serializableRange(ctx, old, "stop")
	if err != nil {
		t.Fatal(err)
	}
	checkWrites(t, "the restarted "+old.Name(), rng, "stop", acked)
}
