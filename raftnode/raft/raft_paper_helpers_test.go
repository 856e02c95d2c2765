package raft

// Builders and a delivery harness for the rule-by-rule tests of the Raft paper
// (raft_paper_test.go) and the regression tests (raft_bugs_test.go). They are
// prefixed "paper" so they do not collide with other test files of the package.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ---------------------------------------------------------------------------
// Builders.

// paperEnts returns entries at consecutive indexes from first, one per term given.
func paperEnts(first uint64, terms ...uint64) []pb.Entry {
	ents := make([]pb.Entry, len(terms))
	for i, term := range terms {
		ents[i] = pb.Entry{Term: term, Index: first + uint64(i)}
	}
	return ents
}

// paperSpec describes a member started from persisted state: a configuration, a
// log of entries 1..n and a hard state. The zero spec is member 1 of a fresh
// cluster of voters 1, 2 and 3.
type paperSpec struct {
	id       uint64
	voters   []uint64
	learners []uint64
	// ents is the persisted log; it starts at index 1.
	ents []pb.Entry
	// term, vote and commit are the persisted hard state.
	term, vote, commit uint64
	// applied is Config.Applied.
	applied uint64
	// configure adjusts the Config last.
	configure func(*Config)
}

// withLog returns s with a persisted log of one entry per term given.
func (s paperSpec) withLog(terms ...uint64) paperSpec {
	s.ents = paperEnts(1, terms...)
	return s
}

func (s paperSpec) config(t testing.TB) *Config {
	t.Helper()
	if s.id == None {
		s.id = 1
	}
	if s.voters == nil {
		s.voters = []uint64{1, 2, 3}
	}
	ms := newTestStorage(s.voters, s.learners)
	if err := ms.Append(s.ents); err != nil {
		t.Fatalf("append %v: %v", s.ents, err)
	}
	if hs := (pb.HardState{Term: s.term, Vote: s.vote, Commit: s.commit}); !hs.IsEmpty() {
		if err := ms.SetHardState(hs); err != nil {
			t.Fatal(err)
		}
	}
	cfg := newTestConfig(s.id, 10, 1, ms)
	cfg.Applied = s.applied
	if s.configure != nil {
		s.configure(cfg)
	}
	return cfg
}

// build starts the member. It is not part of any network: paperStep drives it.
func (s paperSpec) build(t testing.TB) *testMember {
	t.Helper()
	cfg := s.config(t)
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatalf("new member: %v", err)
	}
	return &testMember{id: cfg.ID, cfg: *cfg, rn: rn, storage: cfg.Storage.(*MemoryStorage)}
}

// paperStep steps msgs into m (no filtering: local messages too), then handles
// its Ready as a correct caller does and returns what it sends.
func paperStep(t testing.TB, m *testMember, msgs ...pb.Message) []pb.Message {
	t.Helper()
	for _, msg := range msgs {
		if msg.To == None {
			msg.To = m.id
		}
		_ = m.raft().Step(msg)
	}
	return m.handleReady(t)
}

// paperTick ticks m n times and returns everything it sent meanwhile.
func paperTick(t testing.TB, m *testMember, n int) []pb.Message {
	t.Helper()
	var out []pb.Message
	for range n {
		m.rn.Tick()
		out = append(out, m.handleReady(t)...)
	}
	return out
}

// paperBecome drives a member from follower into role: a pre-candidate or a
// candidate by campaigning, a leader by campaigning and collecting every vote.
func paperBecome(t testing.TB, m *testMember, role StateType) {
	t.Helper()
	r := m.raft()
	r.preVote = role == StatePreCandidate
	if role != StateFollower {
		if err := m.rn.Campaign(); err != nil {
			t.Fatal(err)
		}
	}
	m.handleReady(t)
	if role == StateLeader {
		for _, id := range r.trk.VoterNodes() {
			if id != r.id && r.state == StateCandidate {
				paperStep(t, m, pb.Message{Type: pb.MsgVoteResp, From: id, Term: r.Term})
			}
		}
	}
	if r.state != role {
		t.Fatalf("member %d is %s, want %s", m.id, r.state, role)
	}
}

// paperEstablish makes every follower of leader m acknowledge its whole log, so
// its entries commit and its followers replicate (no longer probe).
func paperEstablish(t testing.TB, m *testMember) {
	t.Helper()
	r := m.raft()
	for _, id := range r.trk.VoterNodes() {
		if id != r.id {
			paperStep(t, m, pb.Message{Type: pb.MsgAppResp, From: id, Term: r.Term, Index: r.raftLog.lastIndex()})
		}
	}
	if r.raftLog.committed != r.raftLog.lastIndex() {
		t.Fatalf("leader commit %d, want %d", r.raftLog.committed, r.raftLog.lastIndex())
	}
}

// paperOfType returns the messages of msgs whose type is one of types.
func paperOfType(msgs []pb.Message, types ...pb.MessageType) []pb.Message {
	var out []pb.Message
	for _, m := range msgs {
		if slices.Contains(types, m.Type) {
			out = append(out, m)
		}
	}
	return out
}

// paperMsgString is the part of a message the rules constrain, for comparisons.
func paperMsgString(m pb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d->%d term=%d logterm=%d index=%d commit=%d", m.Type, m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit)
	if m.Reject {
		fmt.Fprintf(&b, " reject hint=%d", m.RejectHint)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" ents=")
		b.WriteString(paperEntsString(m.Entries))
	}
	return b.String()
}

func paperMsgsString(msgs []pb.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = paperMsgString(m)
	}
	return out
}

// paperCheckMsgs fails unless got and want agree on paperMsgString, in order.
func paperCheckMsgs(t testing.TB, got, want []pb.Message) {
	t.Helper()
	g, w := paperMsgsString(got), paperMsgsString(want)
	if !slices.Equal(g, w) {
		t.Fatalf("messages:\n got %q\nwant %q", g, w)
	}
}

func paperEntsString(ents []pb.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = fmt.Sprintf("%d/%d", e.Term, e.Index)
		if e.Type != pb.EntryNormal {
			parts[i] += ":" + e.Type.String()
		}
		if len(e.Data) > 0 {
			parts[i] += ":" + string(e.Data)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// paperLog returns a member's whole log as a string.
func paperLog(m *testMember) string { return paperEntsString(m.raft().raftLog.allEntries()) }

// ---------------------------------------------------------------------------
// A harness over the shared network, for the few tests that rewrite messages in
// flight (network.rewrite) or inject messages past the network's cuts.

type paperHarness struct {
	*network
}

func newPaperHarness(nw *network) *paperHarness { return &paperHarness{network: nw} }

// ready handles m's pending Readies and returns the messages to send.
func (h *paperHarness) ready(m *testMember) []pb.Message { return m.handleReady(h.t) }

// deliver delivers msgs and everything they cause until quiet, honouring the
// network's cuts, ignored types, hook and rewrite.
func (h *paperHarness) deliver(msgs ...pb.Message) {
	h.t.Helper()
	h.send(msgs...)
}

// inject steps msgs into their recipients regardless of cuts, as messages that
// were already in flight, and delivers what follows.
func (h *paperHarness) inject(msgs ...pb.Message) {
	h.t.Helper()
	for _, m := range msgs {
		p := h.member(m.To)
		_ = p.rn.Step(m)
		h.deliver(h.ready(p)...)
	}
}

// settle drains every member and delivers until quiet.
func (h *paperHarness) settle() {
	h.t.Helper()
	h.stabilize()
}

// tickAll ticks every member n times, settling after each tick.
func (h *paperHarness) tickAll(n int) {
	for range n {
		for _, id := range h.ids() {
			h.members[id].rn.Tick()
		}
		h.settle()
	}
}

// campaign makes id campaign and settles.
func (h *paperHarness) campaign(id uint64) {
	h.t.Helper()
	if err := h.member(id).rn.Campaign(); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

// paperCheckLogMatching fails unless any two members' logs that hold an entry of
// the same index and term agree on every entry up to it.
func paperCheckLogMatching(t testing.TB, nw *network) {
	t.Helper()
	logs := make(map[uint64][]pb.Entry)
	for _, id := range nw.ids() {
		logs[id] = nw.member(id).raft().raftLog.allEntries()
	}
	termAt := func(log []pb.Entry, i uint64) (uint64, bool) {
		if len(log) == 0 || i < log[0].Index || i > log[len(log)-1].Index {
			return 0, false
		}
		return log[i-log[0].Index].Term, true
	}
	ids := nw.ids()
	for x, a := range ids {
		for _, b := range ids[x+1:] {
			la, lb := logs[a], logs[b]
			if len(la) == 0 || len(lb) == 0 {
				continue
			}
			matched := false
			for i := uint64(len(la)) + la[0].Index; i > 0; i-- {
				ta, oka := termAt(la, i)
				tb, okb := termAt(lb, i)
				if !oka || !okb {
					if matched {
						break // before the start of a log: nothing left to compare
					}
					continue
				}
				if ta == tb {
					matched = true
				} else if matched {
					t.Fatalf("logs of %d and %d match at a later index but differ at %d: %s vs %s",
						a, b, i, paperEntsString(la), paperEntsString(lb))
				}
			}
		}
	}
}
