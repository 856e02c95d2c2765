package raft_test

// Regression tests for the core bugs the simulation found, each replayed as a
// short scripted run through the exported API: a few members, a hand-driven
// network that can drop messages, and a correct Ready loop.

import (
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// regressMember is one member of a scripted run.
type regressMember struct {
	id   uint64
	cfg  raft.Config
	rn   *raft.RawNode
	disk *raft.MemoryStorage
	// conf is the configuration this member applied last.
	conf pb.ConfState
}

// regressNet is a scripted cluster. drop, when set, loses the messages it
// returns true for.
type regressNet struct {
	t       *testing.T
	members map[uint64]*regressMember
	queue   []pb.Message
	drop    func(pb.Message) bool
}

// newRegressNet bootstraps voters and learners from a snapshot at index 1, term 1
// (so every member starts at term 0), with the given priorities (by id).
func newRegressNet(t *testing.T, voters, learners []uint64, priority map[uint64]int64) *regressNet {
	nw := &regressNet{t: t, members: make(map[uint64]*regressMember)}
	cs := pb.ConfState{Voters: voters, Learners: learners}
	for _, id := range append(append([]uint64(nil), voters...), learners...) {
		disk := raft.NewMemoryStorage()
		snap := pb.Snapshot{Data: encodeStateMachine(nil), Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}
		if err := disk.ApplySnapshot(snap); err != nil {
			t.Fatal(err)
		}
		m := &regressMember{id: id, disk: disk, conf: cs, cfg: raft.Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16,
			PreVote: true, Priority: priority[id],
		}}
		nw.members[id] = m
		nw.start(m)
	}
	return nw
}

// start (re)starts m from its disk, with the configuration it applied last.
func (nw *regressNet) start(m *regressMember) {
	cfg := m.cfg
	cfg.Storage = simDisk{MemoryStorage: m.disk, conf: m.conf}
	// The scripted state machine applies everything committed before it stops.
	hs, _, _ := m.disk.InitialState()
	cfg.Applied = hs.Commit
	rn, err := raft.NewRawNode(&cfg)
	if err != nil {
		nw.t.Fatalf("start member %d: %v", m.id, err)
	}
	m.rn = rn
}

// addEmpty starts a member with an empty disk, to be added by a change.
func (nw *regressNet) addEmpty(id uint64, like *regressMember) *regressMember {
	m := &regressMember{id: id, disk: raft.NewMemoryStorage(), cfg: like.cfg}
	m.cfg.ID = id
	nw.members[id] = m
	nw.start(m)
	return m
}

// ready handles every Ready of m, queueing its messages.
func (nw *regressNet) ready(m *regressMember) {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		nw.queue = append(nw.queue, rd.LeaderMessages...)
		if !raft.IsEmptyHardState(rd.HardState) {
			_ = m.disk.SetHardState(rd.HardState)
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := m.disk.ApplySnapshot(rd.Snapshot); err != nil {
				nw.t.Fatal(err)
			}
			m.conf = rd.Snapshot.Metadata.ConfState
		}
		if err := m.disk.Append(rd.Entries); err != nil {
			nw.t.Fatal(err)
		}
		nw.queue = append(nw.queue, rd.Messages...)
		for _, e := range rd.CommittedEntries {
			switch e.Type {
			case pb.EntryConfChange:
				var cc pb.ConfChange
				if err := cc.Unmarshal(e.Data); err != nil {
					nw.t.Fatal(err)
				}
				m.conf = m.rn.ApplyConfChange(cc)
			case pb.EntryConfChangeV2:
				var cc pb.ConfChangeV2
				if err := cc.Unmarshal(e.Data); err != nil {
					nw.t.Fatal(err)
				}
				m.conf = m.rn.ApplyConfChange(cc)
			}
		}
		m.rn.Advance(rd)
	}
}

// deliver delivers (or drops) queued messages until the network is quiet.
func (nw *regressNet) deliver() {
	for _, m := range nw.members {
		nw.ready(m)
	}
	for len(nw.queue) > 0 {
		msg := nw.queue[0]
		nw.queue = nw.queue[1:]
		if nw.drop != nil && nw.drop(msg) {
			continue
		}
		to := nw.members[msg.To]
		if to == nil {
			continue
		}
		_ = to.rn.Step(msg)
		nw.ready(to)
	}
}

// tickUntilLeader ticks every member until one leads, for at most n ticks.
func (nw *regressNet) tickUntilLeader(n int) uint64 {
	for range n {
		for id := uint64(1); id <= uint64(len(nw.members)); id++ {
			if m := nw.members[id]; m != nil {
				m.rn.Tick()
			}
		}
		nw.deliver()
		for id, m := range nw.members {
			if m.rn.BasicStatus().RaftState == raft.StateLeader {
				return id
			}
		}
	}
	return 0
}

// A member still at term 0 (bootstrapped, never in an election) that refused a
// pre-vote on priority panicked: the refusal carried its term, 0, which send
// rejects. Found by the simulation, seed 54.
func TestRegressPreVoteRefusedAtTermZero(t *testing.T) {
	nw := newRegressNet(t, []uint64{1, 2, 3}, nil, map[uint64]int64{2: 5, 3: 5})
	if err := nw.members[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.deliver() // 2 and 3 refuse member 1's pre-vote on priority
	if lead := nw.tickUntilLeader(100); lead != 2 && lead != 3 {
		t.Fatalf("leader %d, want one of the higher-priority members", lead)
	}
}

// A leader that removes itself (here: demotes itself to learner) steps down as
// soon as it applies the change. If the other voter has not learned that the
// change committed, its configuration still counts the old leader's vote, which
// the old leader refuses while its log is longer (it appended after the
// change). The old leader can no longer stand, so nobody could ever be elected.
// Found by the simulation, seeds 197 and 1003. The fix: a member that cannot
// stand tells a candidate it refuses its commit index, which the candidate adopts
// if its log holds that entry.
func TestRegressRemovedLeaderRefusesStaleVoter(t *testing.T) {
	nw := newRegressNet(t, []uint64{1, 2}, nil, nil)
	l, f := nw.members[1], nw.members[2]
	if err := l.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	if st := l.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		t.Fatalf("member 1 is %s", st.RaftState)
	}
	// The leader demotes itself; member 2 acknowledges the change.
	if err := l.rn.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	nw.ready(l)
	changeMsgs := nw.queue
	nw.queue = nil
	// An entry after the change reaches nobody but the leader.
	if err := l.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.ready(l)
	// Member 2 gets the change, but never hears from member 1 again as leader: it
	// does not learn that the change committed, nor gets the entry after it.
	nw.queue = changeMsgs
	nw.drop = func(m pb.Message) bool {
		isChange := len(m.Entries) == 1 && m.Entries[0].Type == pb.EntryConfChange
		return m.From == 1 && (m.Type == pb.MsgApp || m.Type == pb.MsgHeartbeat || m.Type == pb.MsgTimeoutNow) && !isChange
	}
	nw.deliver()
	if st := l.rn.BasicStatus(); st.RaftState == raft.StateLeader {
		t.Fatalf("member 1 still leads after demoting itself")
	}
	if got := f.rn.BasicStatus().Commit; got >= 3 {
		t.Fatalf("member 2 learned the commit of the change too early (commit %d); the test is broken", got)
	}
	nw.drop = nil
	if lead := nw.tickUntilLeader(200); lead != 2 {
		t.Fatalf("no leader elected (member 2: %s)", f.rn.Status())
	}
}

// A learner refused, on priority, a candidate whose log equalled its own. But a
// learner that has not applied its own promotion may be a voter the candidate
// needs, and it cannot stand itself: with its higher priority nobody could be
// elected. A member that cannot stand no longer holds out on priority.
func TestRegressLearnerHoldsOutOnPriority(t *testing.T) {
	nw := newRegressNet(t, []uint64{1}, []uint64{2}, map[uint64]int64{2: 5})
	l, learner := nw.members[1], nw.members[2]
	if err := l.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	// Member 1, the only voter, promotes member 2: it commits the change alone.
	// Member 2 gets the entry but never the news that it committed.
	nw.drop = func(m pb.Message) bool { return m.From == 1 && m.Type == pb.MsgApp && len(m.Entries) == 0 }
	if err := l.rn.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	if got := l.conf.Voters; len(got) != 2 {
		t.Fatalf("member 1 applied %+v, want voters 1 and 2", l.conf)
	}
	if last, _ := learner.disk.LastIndex(); last != l.rn.BasicStatus().Commit || learner.rn.BasicStatus().Commit == last {
		t.Fatalf("member 2 should hold the change uncommitted (last %d, commit %d)", last, learner.rn.BasicStatus().Commit)
	}
	// Member 1 restarts: it needs member 2's vote now.
	nw.drop = nil
	nw.start(l)
	if lead := nw.tickUntilLeader(200); lead != 1 {
		t.Fatalf("no leader elected (member 1: %s; member 2: %s)", l.rn.Status(), learner.rn.Status())
	}
}

// Without pre-vote and check-quorum, a member ignores appends from a leader of an
// older term: it will campaign, and its higher term will depose that leader. A
// learner never campaigns. One whose term a stale candidate raised (here a voter
// cut off from the cluster) ignored the leader for good and never caught up. A
// member that cannot stand now answers such appends, as with pre-vote. Found by
// the simulation, seed 5266.
func TestRegressLearnerAheadOfLeaderTerm(t *testing.T) {
	nw := newRegressNet(t, []uint64{1, 2, 3, 4}, nil, nil)
	for _, m := range nw.members {
		m.cfg.PreVote = false
		nw.start(m)
	}
	l, learner, cut := nw.members[1], nw.members[2], nw.members[3]
	isolated := func(m pb.Message) bool { return m.From == 3 || m.To == 3 }
	nw.drop = isolated
	if err := l.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	if err := l.rn.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	if len(learner.conf.Learners) != 1 {
		t.Fatalf("member 2 applied %+v, want it a learner", learner.conf)
	}
	// Member 3, cut off, campaigns until its term passes the leader's; one of its
	// vote requests reaches the learner.
	for cut.rn.BasicStatus().Term <= l.rn.BasicStatus().Term {
		cut.rn.Tick()
		nw.deliver()
	}
	nw.drop = func(m pb.Message) bool { return isolated(m) && !(m.From == 3 && m.To == 2 && m.Type == pb.MsgVote) }
	cut.rn.Tick()
	for cut.rn.BasicStatus().RaftState != raft.StateCandidate || !nw.queuedTo(2) {
		cut.rn.Tick()
		nw.ready(cut)
	}
	nw.deliver()
	nw.drop = isolated
	if lt, ft := l.rn.BasicStatus().Term, learner.rn.BasicStatus().Term; ft <= lt {
		t.Fatalf("learner at term %d, leader at %d: the test is broken", ft, lt)
	}
	if err := l.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	for range 300 {
		for _, id := range []uint64{1, 2, 4} {
			nw.members[id].rn.Tick()
		}
		nw.deliver()
	}
	want := nw.members[4].rn.BasicStatus().Commit
	if got := learner.rn.BasicStatus().Commit; got < want || want < 4 {
		t.Fatalf("learner commit %d, member 4 commit %d (learner: %s)", got, want, learner.rn.Status())
	}
}

// queuedTo reports whether a message to id is queued.
func (nw *regressNet) queuedTo(id uint64) bool {
	for _, m := range nw.queue {
		if m.To == id {
			return true
		}
	}
	return false
}

// The same rule failed a voter whose configuration is older than the leader's:
// cut off while two members were replaced, it campaigned its term past the
// leader's, and its vote requests went only to the members it knew, which had
// been removed and stopped. The leader's appends, of an older term, it ignored;
// nothing told the leader of its term. It answers them now, since its campaign
// does not reach the leader. Found by the simulation, seed 10754.
func TestRegressStaleVoterAheadOfLeaderTerm(t *testing.T) {
	nw := newRegressNet(t, []uint64{1, 2, 3}, nil, nil)
	for _, m := range nw.members {
		m.cfg.PreVote = false
		nw.start(m)
	}
	stale := nw.members[1]
	isolated := map[uint64]bool{1: true}
	nw.drop = func(m pb.Message) bool { return isolated[m.From] || isolated[m.To] }
	if err := nw.members[2].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.deliver()
	nw.addEmpty(4, stale)
	nw.addEmpty(5, stale)
	cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{
		{Type: pb.ConfChangeAddNode, NodeID: 4}, {Type: pb.ConfChangeAddNode, NodeID: 5},
		{Type: pb.ConfChangeRemoveNode, NodeID: 2}, {Type: pb.ConfChangeRemoveNode, NodeID: 3},
	}}
	if err := nw.members[2].rn.ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	lead := uint64(0)
	for range 100 {
		for _, id := range []uint64{2, 3, 4, 5} {
			nw.members[id].rn.Tick()
		}
		nw.deliver()
		if st := nw.members[4].rn.Status(); len(st.Config.Voters[1]) == 0 && len(st.Config.Voters[0]) == 3 {
			if l := st.Lead; l == 4 || l == 5 {
				lead = l
				break
			}
		}
	}
	if lead == 0 {
		t.Fatalf("the replacement did not complete: %s", nw.members[4].rn.Status())
	}
	// Member 1 campaigns while cut off, then 2 and 3 are stopped and 1 is back.
	for stale.rn.BasicStatus().Term <= nw.members[lead].rn.BasicStatus().Term+2 {
		stale.rn.Tick()
		nw.deliver()
	}
	isolated = map[uint64]bool{2: true, 3: true}
	if err := nw.members[lead].rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	for range 300 {
		for _, id := range []uint64{1, 4, 5} {
			nw.members[id].rn.Tick()
		}
		nw.deliver()
	}
	want := nw.members[4].rn.BasicStatus().Commit
	if got := stale.rn.BasicStatus().Commit; got < want {
		t.Fatalf("member 1 commit %d, member 4 commit %d (member 1: %s)", got, want, stale.rn.Status())
	}
}
