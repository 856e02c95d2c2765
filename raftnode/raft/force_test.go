package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// loseLeader ticks h's member past any election timeout, so that it becomes a
// pre-candidate that knows no leader (its pre-votes go nowhere).
func loseLeader(h *rawHarness) {
	for range 2 * 10 {
		h.rn.Tick()
		h.drain()
	}
}

// A follower of a cluster whose majority is gone forces itself the only voter:
// its whole log is committed and applied (an entry it never saw committed
// too), the configuration is itself alone, durably (a restart from its
// storage gets there again), and it leads and commits on its own.
func TestForceNewConfiguration(t *testing.T) {
	h := newRawHarness(t, 2, []uint64{1, 2, 3})
	app := pb.Message{
		Type: pb.MsgApp, From: 1, To: 2, Term: 1, Index: 1, LogTerm: 1, Commit: 2,
		Entries: []pb.Entry{{Term: 1, Index: 2, Data: []byte("a")}, {Term: 1, Index: 3, Data: []byte("b")}},
	}
	if err := h.rn.Step(app); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if _, err := h.rn.ForceNewConfiguration(nil); !errors.Is(err, ErrHasLeader) {
		t.Fatalf("forcing while following leader 1: %v, want ErrHasLeader", err)
	}
	loseLeader(h)
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("applied before forcing %v, want [a]", got)
	}

	index, err := h.rn.ForceNewConfiguration([]byte("ctx"))
	if err != nil {
		t.Fatalf("ForceNewConfiguration: %v", err)
	}
	if index != 4 {
		t.Fatalf("forced change at index %d, want 4 (after the log)", index)
	}
	h.drain()
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("applied after forcing %v, want [a b]: the uncommitted tail is kept", got)
	}
	if cs := h.rn.raft.trk.ConfState(); !slices.Equal(cs.Voters, []uint64{2}) || len(cs.Learners)+len(cs.VotersOutgoing) != 0 {
		t.Fatalf("configuration after forcing %+v, want voters [2]", cs)
	}
	if hs, _, _ := h.ms.InitialState(); hs.Commit != 4 {
		t.Fatalf("persisted commit %d, want 4", hs.Commit)
	}
	last := h.applied[len(h.applied)-1]
	cc, err := decodeConfChange(&last)
	if err != nil || !cc.Forced() || string(cc.Context) != "ctx" {
		t.Fatalf("last applied entry %+v decodes to %+v, %v; want the forced change with its context", last, cc, err)
	}

	if err := h.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if st := h.rn.BasicStatus(); st.RaftState != StateLeader {
		t.Fatalf("after campaigning: %s, want leader", st.RaftState)
	}
	if err := h.rn.Propose([]byte("c")); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("applied %v, want [a b c]", got)
	}
	if _, err := h.rn.ForceNewConfiguration(nil); !errors.Is(err, ErrHasLeader) {
		t.Fatalf("forcing on a leader: %v, want ErrHasLeader", err)
	}

	// A restart replays the log from the old configuration to the forced one.
	rn, err := NewRawNode(newTestConfig(2, 10, 1, h.ms))
	if err != nil {
		t.Fatal(err)
	}
	h2 := &rawHarness{t: t, rn: rn, ms: h.ms}
	h2.drain()
	if cs := rn.raft.trk.ConfState(); !slices.Equal(cs.Voters, []uint64{2}) {
		t.Fatalf("configuration after restart %+v, want voters [2]", cs)
	}
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	h2.drain()
	if st := rn.BasicStatus(); st.RaftState != StateLeader {
		t.Fatalf("after restart and campaign: %s, want leader", st.RaftState)
	}
}

// Only a voter of the incoming half may force: a learner may lack committed
// entries.
func TestForceNewConfigurationRefusesLearner(t *testing.T) {
	ms := newBootstrapStorage([]uint64{1, 2, 3}, []uint64{4})
	rn, err := NewRawNode(newTestConfig(4, 10, 1, ms))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rn.ForceNewConfiguration(nil); !errors.Is(err, ErrNotVoter) {
		t.Fatalf("forcing on a learner: %v, want ErrNotVoter", err)
	}
	if rn.HasReady() && len(rn.Ready().Entries) != 0 {
		t.Fatal("a refused force appended entries")
	}
}

// A forced configuration is never proposed: a leader refuses it.
func TestForcedConfChangeCannotBeProposed(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1})
	_ = h.rn.Campaign()
	h.drain()
	err := h.rn.ProposeConfChange(pb.ConfChangeV2{Transition: pb.ConfChangeTransitionForce,
		Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeAddNode, NodeID: 1}}})
	if !errors.Is(err, ErrConfChangeRefused) {
		t.Fatalf("proposing a forced change: %v, want ErrConfChangeRefused", err)
	}
}
