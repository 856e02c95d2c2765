package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Feature tests for ReadIndex: safe (a heartbeat round confirms leadership) and
// lease-based (the check-quorum lease does).

// A safe read is answered only once a quorum acknowledged a heartbeat sent after
// the request, and then at the commit index of the time of the request.
func TestFeatureReadIndexSafeNeedsHeartbeatQuorum(t *testing.T) {
	x := newReadNet(newNetwork(t, threeVoters))
	x.campaign(1)
	commit := x.member(1).raft().raftLog.committed

	x.isolate(1)
	x.readIndex(1, "r1")
	x.tick(5)
	if len(x.reads(1)) != 0 {
		t.Fatalf("isolated leader answered a safe read: %+v", x.reads(1))
	}

	// One follower is enough for a quorum of three.
	x.heal()
	x.cutLink(1, 3)
	x.tick(1)
	if want := []ReadState{{Index: commit, RequestCtx: []byte("r1")}}; !equalReadStates(x.reads(1), want) {
		t.Fatalf("read states %+v, want %+v", x.reads(1), want)
	}
}

// Requests waiting for confirmation are answered together by one heartbeat
// round, in order, each at the commit index it arrived at.
func TestFeatureReadIndexSafeBatched(t *testing.T) {
	x := newReadNet(newNetwork(t, threeVoters))
	x.campaign(1)
	commit := x.member(1).raft().raftLog.committed

	x.ignored[pb.MsgHeartbeatResp] = true
	x.readIndex(1, "r1")
	if err := x.member(1).rn.Propose([]byte("w")); err != nil { // commits: appends are not dropped
		t.Fatal(err)
	}
	x.stabilize()
	x.readIndex(1, "r2")
	x.readIndex(1, "r3")
	if len(x.reads(1)) != 0 {
		t.Fatalf("answered without heartbeat responses: %+v", x.reads(1))
	}
	delete(x.ignored, pb.MsgHeartbeatResp)

	beforeResp := x.delivered[pb.MsgHeartbeatResp]
	x.tick(1)
	if got := x.readCtxs(1); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("answered %v, want [r1 r2 r3]", got)
	}
	if idx := []uint64{x.reads(1)[0].Index, x.reads(1)[1].Index, x.reads(1)[2].Index}; !slices.Equal(idx, []uint64{commit, commit + 1, commit + 1}) {
		t.Fatalf("read indexes %v, want [%d %d %d]", idx, commit, commit+1, commit+1)
	}
	if n := x.delivered[pb.MsgHeartbeatResp] - beforeResp; n != 2 {
		t.Fatalf("%d heartbeat responses to answer the batch, want one round (2)", n)
	}
}

// A follower forwards the request to the leader and receives the answer.
func TestFeatureReadIndexFollowerForwards(t *testing.T) {
	x := newReadNet(newNetwork(t, threeVoters))
	x.campaign(1)
	commit := x.member(1).raft().raftLog.committed
	x.readIndex(2, "f1")
	if x.delivered[pb.MsgReadIndex] != 1 || x.delivered[pb.MsgReadIndexResp] != 1 {
		t.Fatalf("delivered %d MsgReadIndex and %d MsgReadIndexResp, want 1 and 1",
			x.delivered[pb.MsgReadIndex], x.delivered[pb.MsgReadIndexResp])
	}
	if want := []ReadState{{Index: commit, RequestCtx: []byte("f1")}}; !equalReadStates(x.reads(2), want) {
		t.Fatalf("follower read states %+v, want %+v", x.reads(2), want)
	}
	if len(x.reads(1)) != 0 {
		t.Fatalf("the leader kept a read state for the follower's request: %+v", x.reads(1))
	}

	// Without a known leader the request is dropped.
	y := newReadNet(newNetwork(t, threeVoters))
	y.readIndex(2, "lost")
	if y.delivered[pb.MsgReadIndex] != 0 || len(y.reads(2)) != 0 {
		t.Fatalf("a follower without leader forwarded or answered a read")
	}
}

// A new leader answers no read until it committed an entry of its own term: its
// commit index could lag behind what the previous leader committed.
func TestFeatureReadIndexWaitsForCommitInTerm(t *testing.T) {
	x := newReadNet(newNetwork(t, threeVoters))
	x.campaign(1)
	if err := x.member(1).rn.Propose([]byte("w")); err != nil {
		t.Fatal(err)
	}
	x.stabilize()
	// 2 wins the next term but cannot commit its empty entry yet.
	x.ignored[pb.MsgAppResp] = true
	x.campaign(2)
	x.mustLeader(2)
	x.readIndex(2, "early")
	if len(x.reads(2)) != 0 {
		t.Fatalf("answered before the leader committed in its term: %+v", x.reads(2))
	}
	delete(x.ignored, pb.MsgAppResp)
	x.tick(2)
	lead := x.member(2).raft()
	if got := x.readCtxs(2); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("answered %v, want [early]", got)
	}
	term, _ := lead.raftLog.term(x.reads(2)[0].Index)
	if term != lead.Term || lead.Term != 2 {
		t.Fatalf("read index %d is of term %d, want the leader's term %d", x.reads(2)[0].Index, term, lead.Term)
	}
}

// Lease-based reads are answered at once, without a heartbeat round, even when
// the leader cannot reach anyone (that is the price of the lease).
func TestFeatureReadIndexLeaseBased(t *testing.T) {
	lease := func(c *Config) { c.ReadOnlyOption, c.CheckQuorum = ReadOnlyLeaseBased, true }
	x := newReadNet(newNetwork(t, threeVoters, lease))
	x.campaign(1)
	commit := x.member(1).raft().raftLog.committed

	heartbeats := x.delivered[pb.MsgHeartbeat]
	x.readIndex(1, "l1")
	if want := []ReadState{{Index: commit, RequestCtx: []byte("l1")}}; !equalReadStates(x.reads(1), want) {
		t.Fatalf("read states %+v, want %+v", x.reads(1), want)
	}
	if n := x.delivered[pb.MsgHeartbeat] - heartbeats; n != 0 {
		t.Fatalf("a lease read sent %d heartbeats", n)
	}

	// Forwarded from a follower: answered by the leader directly.
	x.readIndex(3, "l2")
	if got := x.readCtxs(3); !slices.Equal(got, []string{"l2"}) || x.delivered[pb.MsgHeartbeat] != heartbeats {
		t.Fatalf("follower read states %v, heartbeats %d", got, x.delivered[pb.MsgHeartbeat]-heartbeats)
	}

	x.isolate(1)
	x.readIndex(1, "l3")
	if got := x.readCtxs(1); !slices.Equal(got, []string{"l1", "l3"}) {
		t.Fatalf("isolated leader in lease: answered %v, want [l1 l3]", got)
	}

	// Lease reads rely on check-quorum.
	cfg := newTestConfig(1, 10, 1, newBootstrapStorage(threeVoters, nil))
	cfg.ReadOnlyOption = ReadOnlyLeaseBased
	if _, err := NewRawNode(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("lease reads without check-quorum: %v, want ErrInvalidConfig", err)
	}
}

func equalReadStates(a, b []ReadState) bool {
	return slices.EqualFunc(a, b, func(x, y ReadState) bool {
		return x.Index == y.Index && string(x.RequestCtx) == string(y.RequestCtx)
	})
}
