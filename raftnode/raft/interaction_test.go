package raft_test

import (
	"path/filepath"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/rafttest"
)

// TestInteraction runs the scenario scripts in testdata/*.txt through package
// rafttest, the harness users script their own scenarios with. Each script is
// a story told in commands (add-nodes, campaign, propose, stabilize, crash,
// ...) with the output each command must produce: the Readies the members
// handle, the messages they exchange, their logs and their state. The
// rafttest package doc lists the commands.
//
// After a change that alters the output on purpose, regenerate the expected
// output with
//
//	cd raftnode/raft && go test . -run TestInteraction -rewrite
//
// and read the diff: every changed line is a change of protocol behaviour.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Ext(path) != ".txt" {
			return
		}
		env := rafttest.NewInteractionEnv()
		datadriven.RunTest(t, path, env.Handle)
	})
}

// newVoter returns member id of a new cluster of voters 1..n, before any
// election.
func newVoter(t *testing.T, id, n uint64) *raft.RawNode {
	t.Helper()
	st := raft.NewMemoryStorage()
	var voters []uint64
	for v := uint64(1); v <= n; v++ {
		voters = append(voters, v)
	}
	if err := st.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1,
		ConfState: pb.ConfState{Voters: voters}}}); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// TicksToElectionTimeout, on which rafttest's tick-election relies, counts
// the Ticks until a follower campaigns exactly: one fewer leaves it a
// follower. A leader's count is its unrandomized election timeout, counting
// down with each Tick.
func TestTicksToElectionTimeout(t *testing.T) {
	seen := map[int]bool{}
	for id := uint64(1); id <= 3; id++ {
		rn := newVoter(t, id, 3)
		n := rn.TicksToElectionTimeout()
		if n < 10 || n >= 20 {
			t.Fatalf("member %d: %d ticks to the timeout, want [10, 20)", id, n)
		}
		seen[n] = true
		for range n - 1 {
			rn.Tick()
		}
		if st := rn.BasicStatus(); st.RaftState != raft.StateFollower || rn.TicksToElectionTimeout() != 1 {
			t.Fatalf("member %d after %d ticks: %s, %d ticks to go; want a follower 1 tick away",
				id, n-1, st.RaftState, rn.TicksToElectionTimeout())
		}
		term := rn.BasicStatus().Term
		rn.Tick()
		if st := rn.BasicStatus(); st.RaftState != raft.StateCandidate || st.Term != term+1 {
			t.Fatalf("member %d after %d ticks: %s at term %d, want a candidate at term %d", id, n, st.RaftState, st.Term, term+1)
		}
	}
	if len(seen) < 2 {
		t.Errorf("members 1..3 all drew a timeout of %v ticks: the timeout is not randomized per member", seen)
	}

	leader := newVoter(t, 1, 1)
	if err := leader.Campaign(); err != nil {
		t.Fatal(err)
	}
	if st := leader.BasicStatus(); st.RaftState != raft.StateLeader {
		t.Fatalf("a single voter that campaigned is %s, want the leader", st.RaftState)
	}
	for i := range 3 {
		if got := leader.TicksToElectionTimeout(); got != 10-i {
			t.Fatalf("leader after %d ticks: %d ticks to the timeout, want %d", i, got, 10-i)
		}
		leader.Tick()
	}
}
