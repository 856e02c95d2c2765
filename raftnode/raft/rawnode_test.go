package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// rawHarness drives one RawNode by hand, the way a correct caller does, so the
// tests can look at each Ready.
type rawHarness struct {
	t  *testing.T
	rn *RawNode
	ms *MemoryStorage
	// applied are the entries applied, in order.
	applied []pb.Entry
}

func newRawHarness(t *testing.T, id uint64, voters []uint64, configure ...func(*Config)) *rawHarness {
	t.Helper()
	ms := newBootstrapStorage(voters, nil)
	cfg := newTestConfig(id, 10, 1, ms)
	for _, f := range configure {
		f(cfg)
	}
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rawHarness{t: t, rn: rn, ms: ms}
}

// persist writes what rd asks to persist.
func (h *rawHarness) persist(rd Ready) {
	h.t.Helper()
	if !IsEmptyHardState(rd.HardState) {
		if err := h.ms.SetHardState(rd.HardState); err != nil {
			h.t.Fatal(err)
		}
	}
	if !IsEmptySnap(rd.Snapshot) {
		if err := h.ms.ApplySnapshot(rd.Snapshot); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := h.ms.Append(rd.Entries); err != nil {
		h.t.Fatal(err)
	}
}

// advance applies rd's committed entries and calls Advance. It returns rd with
// its messages copied, since Advance lets the core reuse them.
func (h *rawHarness) advance(rd Ready) Ready {
	h.t.Helper()
	h.applied = append(h.applied, rd.CommittedEntries...)
	for _, e := range rd.CommittedEntries {
		if e.Type == pb.EntryConfChangeV2 || e.Type == pb.EntryConfChange {
			cc, err := decodeConfChange(&e)
			if err != nil {
				h.t.Fatal(err)
			}
			h.rn.ApplyConfChange(cc)
		}
	}
	kept := rd
	kept.Messages = slices.Clone(rd.Messages)
	kept.LeaderMessages = slices.Clone(rd.LeaderMessages)
	h.rn.Advance(rd)
	return kept
}

// next takes one Ready, persists it and advances; it fails if there is none.
func (h *rawHarness) next() Ready {
	h.t.Helper()
	if !h.rn.HasReady() {
		h.t.Fatalf("no Ready")
	}
	rd := h.rn.Ready()
	h.persist(rd)
	return h.advance(rd)
}

// drain handles every pending Ready and returns them.
func (h *rawHarness) drain() []Ready {
	h.t.Helper()
	var out []Ready
	for h.rn.HasReady() {
		out = append(out, h.next())
	}
	return out
}

func appliedPayloads(es []pb.Entry) []string {
	var out []string
	for _, e := range es {
		if e.Type == pb.EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func msgTypes(ms []pb.Message) []pb.MessageType {
	out := make([]pb.MessageType, len(ms))
	for i, m := range ms {
		out[i] = m.Type
	}
	return out
}

// A single voter: the Ready/Advance contract step by step.
func TestRawNodeReadyAdvanceSingleVoter(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1})
	if h.rn.HasReady() {
		t.Fatalf("a new member has a Ready: %+v", h.rn.Ready())
	}
	if err := h.rn.Campaign(); err != nil {
		t.Fatal(err)
	}

	// 1: the election. Term and vote must be synced; the leader's empty entry is
	// to be persisted but is not committed yet: the leader's own copy counts only
	// once Advance says it is durable.
	rd := h.next()
	if rd.SoftState == nil || *rd.SoftState != (SoftState{Lead: 1, RaftState: StateLeader}) {
		t.Fatalf("Ready 1 SoftState = %+v, want leader 1", rd.SoftState)
	}
	if rd.HardState != (pb.HardState{Term: 1, Vote: 1, Commit: 1}) {
		t.Fatalf("Ready 1 HardState = %+v", rd.HardState)
	}
	if !slices.Equal(indexTermsOf(rd.Entries), [][2]uint64{{2, 1}}) || len(rd.CommittedEntries) != 0 || !rd.MustSync {
		t.Fatalf("Ready 1: entries %v committed %v mustSync %v", indexTermsOf(rd.Entries), indexTermsOf(rd.CommittedEntries), rd.MustSync)
	}
	if len(rd.Messages)+len(rd.LeaderMessages) != 0 {
		t.Fatalf("a single voter sent messages: %v %v", rd.Messages, rd.LeaderMessages)
	}

	// 2: after Advance the entry is committed. Only the commit index changed: no
	// sync needed, and the soft state is not repeated.
	rd = h.next()
	if rd.SoftState != nil {
		t.Fatalf("Ready 2 repeats SoftState %+v", *rd.SoftState)
	}
	if rd.HardState != (pb.HardState{Term: 1, Vote: 1, Commit: 2}) || rd.MustSync {
		t.Fatalf("Ready 2: HardState %+v MustSync %v", rd.HardState, rd.MustSync)
	}
	if len(rd.Entries) != 0 || !slices.Equal(indexTermsOf(rd.CommittedEntries), [][2]uint64{{2, 1}}) {
		t.Fatalf("Ready 2: entries %v committed %v", indexTermsOf(rd.Entries), indexTermsOf(rd.CommittedEntries))
	}
	if h.rn.HasReady() {
		t.Fatalf("a Ready after the election settled")
	}

	// A proposal: first persisted (HardState unchanged, so empty), then
	// committed in the next Ready.
	if err := h.rn.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	rd = h.next()
	if !rd.HardState.IsEmpty() || !rd.MustSync || len(rd.CommittedEntries) != 0 ||
		!slices.Equal(indexTermsOf(rd.Entries), [][2]uint64{{3, 1}}) {
		t.Fatalf("Ready 3: HardState %+v MustSync %v entries %v committed %v",
			rd.HardState, rd.MustSync, indexTermsOf(rd.Entries), indexTermsOf(rd.CommittedEntries))
	}
	rd = h.next()
	if rd.HardState.Commit != 3 || rd.MustSync || len(rd.Entries) != 0 || !slices.Equal(appliedPayloads(rd.CommittedEntries), []string{"a"}) {
		t.Fatalf("Ready 4: HardState %+v MustSync %v entries %v committed %v",
			rd.HardState, rd.MustSync, indexTermsOf(rd.Entries), indexTermsOf(rd.CommittedEntries))
	}
	if h.rn.HasReady() {
		t.Fatalf("a Ready after the proposal was applied")
	}
}

// Without Advance, a single voter never commits its own proposal.
func TestRawNodeLeaderCommitsOnlyAfterAdvance(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1})
	_ = h.rn.Campaign()
	h.drain()
	if err := h.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := h.rn.Ready()
	h.persist(rd)
	commit := h.rn.raft.raftLog.committed
	// Ticks and more proposals do not substitute for Advance.
	h.rn.Tick()
	_ = h.rn.Propose([]byte("y"))
	if got := h.rn.raft.raftLog.committed; got != commit {
		t.Fatalf("commit moved from %d to %d before Advance", commit, got)
	}
	h.advance(rd)
	if got := h.rn.raft.raftLog.committed; got != commit+1 {
		t.Fatalf("commit = %d after Advance, want %d", got, commit+1)
	}
	h.drain()
	if got := appliedPayloads(h.applied); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("applied %v, want [x y]", got)
	}
}

// In a three-voter cluster the leader's own copy counts toward commit only after
// Advance: one follower's acknowledgement is not a quorum until then.
func TestRawNodeLeaderSelfAckAfterAdvanceThreeVoters(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	m1, m2 := nw.member(1), nw.member(2)
	if err := m1.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := m1.rn.Ready()
	last := rd.Entries[len(rd.Entries)-1].Index
	var toTwo []pb.Message
	for _, m := range rd.LeaderMessages {
		if m.To == 2 && m.Type == pb.MsgApp {
			toTwo = append(toTwo, m)
		}
	}
	if len(toTwo) == 0 {
		t.Fatalf("the leader did not send the proposal to 2 early: %v", rd.LeaderMessages)
	}
	for _, m := range toTwo {
		if err := m2.rn.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, resp := range m2.handleReady(t) {
		if resp.To == 1 {
			if err := m1.rn.Step(resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := m1.raft().trk.Progress[2].Match; got != last {
		t.Fatalf("follower 2's match = %d, want %d", got, last)
	}
	if got := m1.raft().raftLog.committed; got >= last {
		t.Fatalf("committed %d with only the follower's copy durable", got)
	}
	if err := m1.storage.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	m1.rn.Advance(rd)
	if got := m1.raft().raftLog.committed; got != last {
		t.Fatalf("committed = %d after Advance, want %d", got, last)
	}
}

// MsgVote goes out only after the candidate's term and vote are persisted; a
// leader whose term is durable sends appends and heartbeats early.
func TestRawNodeMessagesAndLeaderMessages(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3})
	_ = h.rn.Campaign()
	rd := h.next()
	if got := msgTypes(rd.Messages); !slices.Equal(got, []pb.MessageType{pb.MsgVote, pb.MsgVote}) {
		t.Fatalf("candidate Messages = %v, want two MsgVote", got)
	}
	if len(rd.LeaderMessages) != 0 || !rd.MustSync || rd.HardState.Term != 1 || rd.HardState.Vote != 1 {
		t.Fatalf("candidate Ready: LeaderMessages %v MustSync %v HardState %+v", rd.LeaderMessages, rd.MustSync, rd.HardState)
	}

	if err := h.rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	rd = h.next()
	if rd.SoftState == nil || rd.SoftState.RaftState != StateLeader {
		t.Fatalf("not leader after a quorum of votes: %+v", rd.SoftState)
	}
	if got := msgTypes(rd.LeaderMessages); !slices.Equal(got, []pb.MessageType{pb.MsgApp, pb.MsgApp}) {
		t.Fatalf("leader with a durable term: LeaderMessages = %v, want two MsgApp", got)
	}
	if len(rd.Messages) != 0 {
		t.Fatalf("leader with a durable term: Messages = %v, want none", msgTypes(rd.Messages))
	}
	// Heartbeats go early too.
	h.rn.Tick()
	rd = h.next()
	if got := msgTypes(rd.LeaderMessages); !slices.Equal(got, []pb.MessageType{pb.MsgHeartbeat, pb.MsgHeartbeat}) {
		t.Fatalf("heartbeats: LeaderMessages = %v", got)
	}
	if !rd.HardState.IsEmpty() {
		t.Fatalf("a heartbeat Ready carries HardState %+v though nothing changed", rd.HardState)
	}
}

// A leader elected before the Ready that raised its term was persisted must not
// send appends before it is: they would claim a term the leader could forget.
func TestRawNodeNewLeaderWithUndurableTermSendsAfterPersist(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3})
	_ = h.rn.Campaign()
	rd := h.rn.Ready() // the votes; term 1 not yet persisted
	if err := h.rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if h.rn.raft.state != StateLeader {
		t.Fatalf("state %s, want leader", h.rn.raft.state)
	}
	h.persist(rd)
	h.advance(rd)

	rd = h.next()
	var apps int
	for _, m := range rd.Messages {
		if m.Type == pb.MsgApp {
			apps++
		}
	}
	if apps != 2 || len(rd.LeaderMessages) != 0 {
		t.Fatalf("appends queued before the term was durable: Messages %v LeaderMessages %v, want two MsgApp in Messages",
			msgTypes(rd.Messages), msgTypes(rd.LeaderMessages))
	}
	// Now the term is durable: once the followers answered the probes, the
	// next appends go early.
	for _, id := range []uint64{2, 3} {
		if err := h.rn.Step(pb.Message{Type: pb.MsgAppResp, From: id, To: 1, Term: 1, Index: 2}); err != nil {
			t.Fatal(err)
		}
	}
	h.drain()
	if err := h.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd = h.next()
	if got := msgTypes(rd.LeaderMessages); !slices.Equal(got, []pb.MessageType{pb.MsgApp, pb.MsgApp}) || len(rd.Messages) != 0 {
		t.Fatalf("after persisting the term: LeaderMessages = %v, Messages = %v", got, msgTypes(rd.Messages))
	}
}

// A follower persists what it receives before it answers: its acknowledgement is
// in Messages, and entries committed by the same MsgApp come in the same Ready
// (to be applied after they are persisted).
func TestRawNodeFollowerReady(t *testing.T) {
	h := newRawHarness(t, 2, []uint64{1, 2, 3})
	app := pb.Message{
		Type: pb.MsgApp, From: 1, To: 2, Term: 1, Index: 1, LogTerm: 1, Commit: 3,
		Entries: []pb.Entry{{Term: 1, Index: 2}, {Term: 1, Index: 3, Data: []byte("a")}},
	}
	if err := h.rn.Step(app); err != nil {
		t.Fatal(err)
	}
	rd := h.next()
	if rd.SoftState == nil || *rd.SoftState != (SoftState{Lead: 1, RaftState: StateFollower}) {
		t.Fatalf("SoftState = %+v, want follower of 1", rd.SoftState)
	}
	if rd.HardState != (pb.HardState{Term: 1, Commit: 3}) || !rd.MustSync {
		t.Fatalf("HardState %+v MustSync %v", rd.HardState, rd.MustSync)
	}
	if !slices.Equal(indexTermsOf(rd.Entries), [][2]uint64{{2, 1}, {3, 1}}) ||
		!slices.Equal(indexTermsOf(rd.CommittedEntries), [][2]uint64{{2, 1}, {3, 1}}) {
		t.Fatalf("entries %v committed %v", indexTermsOf(rd.Entries), indexTermsOf(rd.CommittedEntries))
	}
	if len(rd.LeaderMessages) != 0 || len(rd.Messages) != 1 || rd.Messages[0].Type != pb.MsgAppResp || rd.Messages[0].Index != 3 {
		t.Fatalf("Messages %+v LeaderMessages %+v, want one MsgAppResp for 3", rd.Messages, rd.LeaderMessages)
	}
}

func TestRawNodeMustSync(t *testing.T) {
	prev := pb.HardState{Term: 1, Vote: 2, Commit: 3}
	tests := []struct {
		name    string
		st      pb.HardState
		entries int
		want    bool
	}{
		{"nothing changed", prev, 0, false},
		{"commit only", pb.HardState{Term: 1, Vote: 2, Commit: 4}, 0, false},
		{"entries", prev, 1, true},
		{"vote", pb.HardState{Term: 1, Vote: 3, Commit: 3}, 0, true},
		{"term", pb.HardState{Term: 2, Vote: 2, Commit: 3}, 0, true},
	}
	for _, tt := range tests {
		if got := MustSync(tt.st, prev, tt.entries); got != tt.want {
			t.Errorf("%s: MustSync = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A Ready that carries a snapshot must be synced even when term, vote and
// entries did not change: the snapshot replaces the log.
func TestRawNodeSnapshotMustSync(t *testing.T) {
	rn, err := NewRawNode(newTestConfig(2, 10, 1, newBootstrapStorage([]uint64{1, 2}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 10, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}}
	// Same term as the follower already holds after this first message.
	if err := rn.Step(pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 1}); err != nil {
		t.Fatal(err)
	}
	rn.Advance(rn.Ready())
	if err := rn.Step(pb.Message{Type: pb.MsgSnap, From: 1, To: 2, Term: 1, Snapshot: &snap}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if IsEmptySnap(rd.Snapshot) || len(rd.Entries) != 0 {
		t.Fatalf("Ready snapshot %+v entries %d, want the snapshot and no entries", rd.Snapshot.Metadata, len(rd.Entries))
	}
	if !rd.MustSync {
		t.Fatalf("Ready with a snapshot has MustSync=false")
	}
}

// A restarted member resumes from its storage: the hard state it persisted,
// and no entry it had applied (Config.Applied) is handed out again.
func TestRawNodeRestartFromStorage(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1})
	_ = h.rn.Campaign()
	h.drain()
	for _, d := range []string{"a", "b", "c"} {
		if err := h.rn.Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
		h.drain()
	}
	before := h.rn.BasicStatus()
	var appliedB uint64
	for _, e := range h.applied {
		if string(e.Data) == "b" {
			appliedB = e.Index
		}
	}

	// Crash after applying b but before applying c (c is committed and persisted).
	cfg := newTestConfig(1, 10, 1, h.ms)
	cfg.Applied = appliedB
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rn.BasicStatus()
	if st.HardState != before.HardState || st.Applied != appliedB {
		t.Fatalf("restarted: HardState %+v applied %d, want %+v applied %d", st.HardState, st.Applied, before.HardState, appliedB)
	}
	if st.RaftState != StateFollower || st.Lead != None {
		t.Fatalf("restarted as %s with leader %d, want a follower without leader", st.RaftState, st.Lead)
	}
	h2 := &rawHarness{t: t, rn: rn, ms: h.ms}
	readies := h2.drain()
	if got := appliedPayloads(h2.applied); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("after restart applied %v, want only [c]", got)
	}
	for _, rd := range readies {
		if len(rd.Entries) != 0 {
			t.Fatalf("restart asked to persist again entries %v", indexTermsOf(rd.Entries))
		}
	}
	// It can lead again in a later term.
	_ = rn.Campaign()
	h2.drain()
	if st := rn.BasicStatus(); st.RaftState != StateLeader || st.Term != before.Term+1 {
		t.Fatalf("after restart and campaign: %s at term %d, want leader at %d", st.RaftState, st.Term, before.Term+1)
	}
	if err := rn.Propose([]byte("d")); err != nil {
		t.Fatal(err)
	}
	h2.drain()
	if got := appliedPayloads(h2.applied); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("applied %v, want [c d]", got)
	}
}

func TestRawNodeStepLocalMessage(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3})
	for _, typ := range []pb.MessageType{pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum} {
		if err := h.rn.Step(pb.Message{Type: typ, From: 2}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("Step(%s) = %v, want ErrStepLocalMsg", typ, err)
		}
	}
	if st := h.rn.BasicStatus(); st.RaftState != StateFollower || st.Term != 0 {
		t.Fatalf("a stepped local MsgHup had an effect: %s term %d", st.RaftState, st.Term)
	}
}

func TestRawNodeStepResponseFromUnknownPeer(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3})
	_ = h.rn.Campaign()
	h.drain()
	for _, typ := range []pb.MessageType{pb.MsgAppResp, pb.MsgVoteResp, pb.MsgHeartbeatResp, pb.MsgPreVoteResp} {
		err := h.rn.Step(pb.Message{Type: typ, From: 9, To: 1, Term: 1})
		if !errors.Is(err, ErrStepPeerNotFound) {
			t.Errorf("Step(%s from 9) = %v, want ErrStepPeerNotFound", typ, err)
		}
	}
	// A request from an unknown member is not refused by Step: the member may be
	// in a configuration this one has not applied yet.
	if err := h.rn.Step(pb.Message{Type: pb.MsgHeartbeat, From: 9, To: 1, Term: 1}); errors.Is(err, ErrStepPeerNotFound) {
		t.Errorf("Step(MsgHeartbeat from 9) = %v", err)
	}
	// A known member's response is accepted.
	if err := h.rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 2, To: 1, Term: 1}); err != nil {
		t.Errorf("Step(MsgVoteResp from 2) = %v", err)
	}
}

func TestRawNodeStatus(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2, 3}, []uint64{4})
	nw.campaign(1)
	if err := nw.propose(1, "a"); err != nil {
		t.Fatal(err)
	}
	lead := nw.member(1).rn
	st := lead.Status()
	if st.ID != 1 || st.RaftState != StateLeader || st.Lead != 1 || st.Term != 1 || st.Vote != 1 {
		t.Fatalf("leader status %s", st)
	}
	last := lead.raft.raftLog.lastIndex()
	if st.Commit != last || st.Applied != last {
		t.Fatalf("leader commit/applied = %d/%d, want %d", st.Commit, st.Applied, last)
	}
	if len(st.Progress) != 4 {
		t.Fatalf("leader Progress has %d members, want 4", len(st.Progress))
	}
	for id, pr := range st.Progress {
		if pr.Match != last || pr.State != tracker.StateReplicate {
			t.Errorf("progress of %d: %s, want replicate with match %d", id, &pr, last)
		}
		if pr.IsLearner != (id == 4) {
			t.Errorf("progress of %d: learner %v", id, pr.IsLearner)
		}
	}
	if !slices.Equal(st.Config.Voters[0].Slice(), []uint64{1, 2, 3}) || len(st.Config.Learners) != 1 {
		t.Fatalf("status config %s", st.Config.String())
	}
	// The status is a copy.
	pr := st.Progress[2]
	pr.Match = 0
	st.Progress[2] = pr
	delete(st.Config.Voters[0], 3)
	if lead.raft.trk.Progress[2].Match != last || len(lead.raft.trk.Config.Voters[0]) != 3 {
		t.Fatalf("changing a Status changed the leader")
	}
	if b := lead.BasicStatus(); b != lead.Status().BasicStatus {
		t.Fatalf("BasicStatus %+v differs from Status().BasicStatus %+v", b, lead.Status().BasicStatus)
	}

	// Followers and learners know the leader but report no progress.
	for _, id := range []uint64{2, 4} {
		fst := nw.member(id).rn.Status()
		if fst.Progress != nil {
			t.Errorf("member %d (not leader) reports progress", id)
		}
		if fst.Lead != 1 || fst.RaftState != StateFollower || fst.Commit != last {
			t.Errorf("member %d status %s", id, fst)
		}
	}
}

func TestRawNodeWithProgress(t *testing.T) {
	nw := newNetworkWithLearners(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	type seen struct {
		id  uint64
		typ ProgressType
	}
	var got []seen
	nw.member(1).rn.WithProgress(func(id uint64, typ ProgressType, pr tracker.Progress) {
		got = append(got, seen{id, typ})
		if pr.Inflights != nil {
			t.Errorf("WithProgress exposes the Inflights of %d", id)
		}
	})
	want := []seen{{1, ProgressTypePeer}, {2, ProgressTypePeer}, {3, ProgressTypeLearner}}
	if !slices.Equal(got, want) {
		t.Fatalf("WithProgress visited %v, want %v", got, want)
	}
}

func TestRawNodeReportUnreachable(t *testing.T) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	lead := nw.member(1).rn
	if st := lead.raft.trk.Progress[2].State; st != tracker.StateReplicate {
		t.Fatalf("follower 2 is %s, want replicate", st)
	}
	lead.ReportUnreachable(2)
	if st := lead.raft.trk.Progress[2].State; st != tracker.StateProbe {
		t.Fatalf("after ReportUnreachable(2): %s, want probe", st)
	}
	if st := lead.raft.trk.Progress[3].State; st != tracker.StateReplicate {
		t.Fatalf("ReportUnreachable(2) changed 3 to %s", st)
	}
	// The next heartbeat round finds 2 again and replication resumes.
	nw.tick(1)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if st := lead.raft.trk.Progress[2].State; st != tracker.StateReplicate {
		t.Fatalf("2 did not return to replicate: %s", st)
	}
	if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("2 applied %v", got)
	}
}

// leaderWithSnapshotInFlight returns a network whose leader 1 has follower 3 in
// StateSnapshot: 3 fell behind the leader's compacted log and the snapshot sent
// to it was lost.
func leaderWithSnapshotInFlight(t *testing.T) (*network, uint64) {
	nw := newNetwork(t, []uint64{1, 2, 3})
	nw.campaign(1)
	nw.isolate(3)
	for _, d := range []string{"a", "b", "c"} {
		if err := nw.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	snapIndex := compactMember(t, nw.member(1))
	nw.heal()
	nw.hook = func(m pb.Message) bool { return m.Type != pb.MsgSnap }
	nw.tick(1)
	pr := nw.member(1).raft().trk.Progress[3]
	if pr.State != tracker.StateSnapshot || pr.PendingSnapshot != snapIndex {
		t.Fatalf("follower 3 is %s, want a snapshot at %d pending", pr, snapIndex)
	}
	return nw, snapIndex
}

// compactMember snapshots m's storage at its applied index and compacts the log
// up to it; it returns the snapshot's index.
func compactMember(t *testing.T, m *testMember) uint64 {
	t.Helper()
	applied := m.raft().raftLog.applied
	if _, err := m.storage.CreateSnapshot(applied, nil, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := m.storage.Compact(applied); err != nil {
		t.Fatal(err)
	}
	return applied
}

func TestRawNodeReportSnapshotSuccess(t *testing.T) {
	nw, snapIndex := leaderWithSnapshotInFlight(t)
	lead := nw.member(1).rn
	lead.ReportSnapshot(3, SnapshotFinish)
	pr := lead.raft.trk.Progress[3]
	if pr.State != tracker.StateProbe || pr.Next != snapIndex+1 || pr.PendingSnapshot != 0 || !pr.MsgAppFlowPaused {
		t.Fatalf("after a delivered snapshot: %s next %d paused %v, want probe from %d, paused until the next heartbeat",
			pr, pr.Next, pr.MsgAppFlowPaused, snapIndex+1)
	}
	// A second report is ignored: 3 is no longer receiving a snapshot.
	lead.ReportSnapshot(3, SnapshotFailure)
	if got := lead.raft.trk.Progress[3]; got.State != tracker.StateProbe || got.Next != snapIndex+1 {
		t.Fatalf("a stale report changed progress to %s", got)
	}
}

func TestRawNodeReportSnapshotFailure(t *testing.T) {
	nw, _ := leaderWithSnapshotInFlight(t)
	lead := nw.member(1).rn
	match := lead.raft.trk.Progress[3].Match
	lead.ReportSnapshot(3, SnapshotFailure)
	pr := lead.raft.trk.Progress[3]
	if pr.State != tracker.StateProbe || pr.Next != match+1 || pr.PendingSnapshot != 0 {
		t.Fatalf("after a failed snapshot: %s next %d, want probe from %d", pr, pr.Next, match+1)
	}
	// Once the snapshot can get through, the follower catches up.
	nw.heal()
	nw.tick(2)
	if st := lead.raft.trk.Progress[3].State; st != tracker.StateReplicate {
		t.Fatalf("3 is %s after the retry, want replicate", st)
	}
	if err := nw.propose(1, "after"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(3).appliedData(); !slices.Contains(got, "after") {
		t.Fatalf("3 applied %v, want it to include 'after'", got)
	}
	nw.checkAppliedAgree()
}

func TestRawNodeSetPriority(t *testing.T) {
	h := newRawHarness(t, 1, []uint64{1, 2, 3})
	h.rn.SetPriority(7)
	_ = h.rn.Campaign()
	rd := h.next()
	if len(rd.Messages) != 2 {
		t.Fatalf("got %d vote requests, want 2", len(rd.Messages))
	}
	for _, m := range rd.Messages {
		if m.Type != pb.MsgVote || m.Priority != 7 {
			t.Fatalf("vote request %+v, want priority 7", m)
		}
	}
}

// Malformed messages from a peer are refused before they touch the log.
func TestRawNodeStepRefusesMalformedMessages(t *testing.T) {
	ents := func(it ...[2]uint64) []pb.Entry {
		var out []pb.Entry
		for _, x := range it {
			out = append(out, pb.Entry{Term: x[0], Index: x[1]})
		}
		return out
	}
	tests := []struct {
		name string
		m    pb.Message
	}{
		{"gap", pb.Message{Type: pb.MsgApp, From: 1, To: 2, Term: 2, Index: 1, LogTerm: 1, Entries: ents([2]uint64{2, 2}, [2]uint64{2, 4})}},
		{"not after prev", pb.Message{Type: pb.MsgApp, From: 1, To: 2, Term: 2, Index: 1, LogTerm: 1, Entries: ents([2]uint64{2, 3})}},
		{"decreasing term", pb.Message{Type: pb.MsgApp, From: 1, To: 2, Term: 3, Index: 1, LogTerm: 2, Entries: ents([2]uint64{1, 2})}},
		{"term past message", pb.Message{Type: pb.MsgApp, From: 1, To: 2, Term: 2, Index: 1, LogTerm: 1, Entries: ents([2]uint64{3, 2})}},
		{"snapshot missing", pb.Message{Type: pb.MsgSnap, From: 1, To: 2, Term: 2}},
		{"snapshot empty", pb.Message{Type: pb.MsgSnap, From: 1, To: 2, Term: 2, Snapshot: &pb.Snapshot{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rn, err := NewRawNode(newTestConfig(2, 10, 1, newBootstrapStorage([]uint64{1, 2}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			before := rn.BasicStatus()
			if err := rn.Step(tt.m); !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Step = %v, want ErrInvalidMessage", err)
			}
			if after := rn.BasicStatus(); after != before || rn.HasReady() {
				t.Fatalf("state changed: %+v -> %+v (has ready %v)", before, after, rn.HasReady())
			}
		})
	}
}
