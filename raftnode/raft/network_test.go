package raft

import (
	"fmt"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// This file holds the in-process test network used by the rule-by-rule and
// regression tests: real RawNodes over MemoryStorage, a synchronous message queue
// that delivers until the cluster is quiet, and faults (cut links, isolation,
// dropped message types, crash and restart). No clock: time is Tick.

// newTestStorage returns a MemoryStorage whose initial configuration has the given
// voters and learners, with an empty log.
func newTestStorage(voters, learners []uint64) *MemoryStorage {
	ms := NewMemoryStorage()
	ms.snapshot.Metadata.ConfState = pb.ConfState{Voters: voters, Learners: learners}
	return ms
}

// newBootstrapStorage returns a MemoryStorage holding the snapshot a new cluster
// starts from: index 1, term 1, the given configuration. Members added later start
// empty and receive it from the leader, as in a real cluster.
func newBootstrapStorage(voters, learners []uint64) *MemoryStorage {
	ms := NewMemoryStorage()
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters, Learners: learners},
	}}
	if err := ms.ApplySnapshot(snap); err != nil {
		panic(err)
	}
	return ms
}

// newTestConfig returns the configuration the tests use unless they change it.
func newTestConfig(id uint64, election, heartbeat int, storage Storage) *Config {
	return &Config{
		ID:              id,
		ElectionTick:    election,
		HeartbeatTick:   heartbeat,
		Storage:         storage,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
	}
}

// testMember is one member of a test network: its RawNode, what it persisted and
// what it applied.
type testMember struct {
	id      uint64
	cfg     Config
	rn      *RawNode
	storage *MemoryStorage
	// applied are the entries this member applied, in order (conf changes too).
	applied []pb.Entry
	// confStates are the configurations ApplyConfChange returned, in order.
	confStates []pb.ConfState
	// readStates are the ReadStates this member handed out, in order.
	readStates []ReadState
}

func (m *testMember) raft() *raft { return m.rn.raft }

// handleReady processes every pending Ready the way a correct caller does and
// returns the messages to send.
func (m *testMember) handleReady(t testing.TB) []pb.Message {
	var msgs []pb.Message
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		m.readStates = append(m.readStates, rd.ReadStates...)
		msgs = append(msgs, rd.LeaderMessages...)
		if !IsEmptyHardState(rd.HardState) {
			if err := m.storage.SetHardState(rd.HardState); err != nil {
				t.Fatalf("member %d: set hard state: %v", m.id, err)
			}
		}
		if !IsEmptySnap(rd.Snapshot) {
			if err := m.storage.ApplySnapshot(rd.Snapshot); err != nil {
				t.Fatalf("member %d: apply snapshot: %v", m.id, err)
			}
		}
		if err := m.storage.Append(rd.Entries); err != nil {
			t.Fatalf("member %d: append: %v", m.id, err)
		}
		msgs = append(msgs, rd.Messages...)
		for _, e := range rd.CommittedEntries {
			m.apply(t, e)
		}
		m.rn.Advance(rd)
	}
	return msgs
}

func (m *testMember) apply(t testing.TB, e pb.Entry) {
	m.applied = append(m.applied, e)
	switch e.Type {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			t.Fatalf("member %d: decode conf change at %d: %v", m.id, e.Index, err)
		}
		m.confStates = append(m.confStates, m.rn.ApplyConfChange(cc))
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			t.Fatalf("member %d: decode conf change v2 at %d: %v", m.id, e.Index, err)
		}
		m.confStates = append(m.confStates, m.rn.ApplyConfChange(cc))
	}
}

// appliedData returns the payloads of the non-empty normal entries applied.
func (m *testMember) appliedData() []string {
	var out []string
	for _, e := range m.applied {
		if e.Type == pb.EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// network connects test members.
type network struct {
	t       testing.TB
	members map[uint64]*testMember
	// cut holds the directed links that lose every message.
	cut map[[2]uint64]bool
	// ignored message types are dropped everywhere.
	ignored map[pb.MessageType]bool
	// hook, when set, sees every message and drops those it returns false for.
	hook func(pb.Message) bool
	// rewrite, when set, may change each deliverable message in flight; it drops
	// the message by returning false. heal leaves it in place.
	rewrite func(*pb.Message) bool
	// delivered counts the messages delivered, by type.
	delivered map[pb.MessageType]int
}

// newNetwork makes a network of voters with the given ids; configure may adjust
// each member's Config.
func newNetwork(t testing.TB, ids []uint64, configure ...func(*Config)) *network {
	return newNetworkWithLearners(t, ids, nil, configure...)
}

// newNetworkWithLearners makes a network of voters and learners.
func newNetworkWithLearners(t testing.TB, voters, learners []uint64, configure ...func(*Config)) *network {
	t.Helper()
	nw := &network{
		t:         t,
		members:   make(map[uint64]*testMember),
		cut:       make(map[[2]uint64]bool),
		ignored:   make(map[pb.MessageType]bool),
		delivered: make(map[pb.MessageType]int),
	}
	for _, id := range append(append([]uint64(nil), voters...), learners...) {
		cfg := newTestConfig(id, 10, 1, newBootstrapStorage(voters, learners))
		for _, f := range configure {
			f(cfg)
		}
		nw.addMember(cfg)
	}
	return nw
}

// addMember starts a member from cfg (whose Storage must be a *MemoryStorage).
func (nw *network) addMember(cfg *Config) *testMember {
	nw.t.Helper()
	rn, err := NewRawNode(cfg)
	if err != nil {
		nw.t.Fatalf("new member %d: %v", cfg.ID, err)
	}
	m := &testMember{id: cfg.ID, cfg: *cfg, rn: rn, storage: cfg.Storage.(*MemoryStorage)}
	nw.members[cfg.ID] = m
	return m
}

// addEmptyMember starts a member with an empty log and no configuration, as a
// member that is about to be added by a conf change.
func (nw *network) addEmptyMember(id uint64, configure ...func(*Config)) *testMember {
	cfg := newTestConfig(id, 10, 1, NewMemoryStorage())
	for _, f := range configure {
		f(cfg)
	}
	return nw.addMember(cfg)
}

// restart replaces a member by one recovered from its persisted state only, as
// after a crash: unpersisted state and pending messages are lost.
func (nw *network) restart(id uint64) *testMember {
	nw.t.Helper()
	old := nw.members[id]
	cfg := old.cfg
	cfg.Storage = old.storage
	// The state machine in these tests is the applied list; it survives as if it
	// were persisted with each applied entry.
	if n := len(old.applied); n > 0 {
		cfg.Applied = old.applied[n-1].Index
	}
	m := nw.addMember(&cfg)
	m.applied = old.applied
	m.confStates = old.confStates
	return m
}

func (nw *network) member(id uint64) *testMember {
	m, ok := nw.members[id]
	if !ok {
		nw.t.Fatalf("no member %d", id)
	}
	return m
}

// send delivers msgs and everything they cause until the network is quiet.
func (nw *network) send(msgs ...pb.Message) {
	nw.t.Helper()
	for len(msgs) > 0 {
		m := msgs[0]
		msgs = msgs[1:]
		if !nw.deliverable(m) || (nw.rewrite != nil && !nw.rewrite(&m)) {
			continue
		}
		p, ok := nw.members[m.To]
		if !ok {
			continue
		}
		nw.delivered[m.Type]++
		_ = p.rn.Step(m)
		msgs = append(msgs, p.handleReady(nw.t)...)
	}
}

func (nw *network) deliverable(m pb.Message) bool {
	if nw.cut[[2]uint64{m.From, m.To}] || nw.ignored[m.Type] {
		return false
	}
	return nw.hook == nil || nw.hook(m)
}

// stabilize drains every member's Ready and delivers until quiet.
func (nw *network) stabilize() {
	nw.t.Helper()
	for {
		var msgs []pb.Message
		for _, id := range nw.ids() {
			msgs = append(msgs, nw.members[id].handleReady(nw.t)...)
		}
		if len(msgs) == 0 {
			return
		}
		nw.send(msgs...)
	}
}

func (nw *network) ids() []uint64 {
	ids := make([]uint64, 0, len(nw.members))
	for id := range nw.members {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// campaign makes id campaign and runs the election to completion.
func (nw *network) campaign(id uint64) {
	nw.t.Helper()
	if err := nw.member(id).rn.Campaign(); err != nil {
		nw.t.Fatalf("campaign %d: %v", id, err)
	}
	nw.stabilize()
}

// propose proposes data on id and delivers until quiet.
func (nw *network) propose(id uint64, data string) error {
	nw.t.Helper()
	err := nw.member(id).rn.Propose([]byte(data))
	nw.stabilize()
	return err
}

// proposeConfChange proposes cc on id and delivers until quiet.
func (nw *network) proposeConfChange(id uint64, cc pb.ConfChangeI) error {
	nw.t.Helper()
	err := nw.member(id).rn.ProposeConfChange(cc)
	nw.stabilize()
	return err
}

// tick ticks every member n times, delivering after each tick.
func (nw *network) tick(n int) {
	for range n {
		for _, id := range nw.ids() {
			nw.members[id].rn.Tick()
		}
		nw.stabilize()
	}
}

// isolate cuts id off from everyone, both ways.
func (nw *network) isolate(id uint64) {
	for other := range nw.members {
		if other != id {
			nw.cut[[2]uint64{id, other}] = true
			nw.cut[[2]uint64{other, id}] = true
		}
	}
}

// cutLink cuts the link between a and b, both ways.
func (nw *network) cutLink(a, b uint64) {
	nw.cut[[2]uint64{a, b}] = true
	nw.cut[[2]uint64{b, a}] = true
}

// heal restores every link and stops ignoring message types.
func (nw *network) heal() {
	nw.cut = make(map[[2]uint64]bool)
	nw.ignored = make(map[pb.MessageType]bool)
	nw.hook = nil
}

// leader returns the id of the member that believes it leads in the highest term,
// or None.
func (nw *network) leader() uint64 {
	var lead, term uint64
	for id, m := range nw.members {
		r := m.raft()
		if r.state == StateLeader && r.Term >= term {
			lead, term = id, r.Term
		}
	}
	return lead
}

// mustLeader fails unless id leads.
func (nw *network) mustLeader(id uint64) {
	nw.t.Helper()
	if st := nw.member(id).raft().state; st != StateLeader {
		nw.t.Fatalf("member %d is %s, want leader", id, st)
	}
}

// checkAppliedAgree fails unless all members applied the same entry at every
// index any two of them applied (State Machine Safety), and each applied in
// strictly increasing index order.
func (nw *network) checkAppliedAgree() {
	nw.t.Helper()
	seen := make(map[uint64]pb.Entry)
	for _, id := range nw.ids() {
		var last uint64
		for _, e := range nw.members[id].applied {
			if e.Index <= last {
				nw.t.Fatalf("member %d applied index %d after %d", id, e.Index, last)
			}
			last = e.Index
			if prev, ok := seen[e.Index]; ok && (prev.Term != e.Term || string(prev.Data) != string(e.Data) || prev.Type != e.Type) {
				nw.t.Fatalf("member %d applied %s, another member applied %s", id, describeEntry(e), describeEntry(prev))
			}
			seen[e.Index] = e
		}
	}
}

func describeEntry(e pb.Entry) string {
	return fmt.Sprintf("%d/%d %s %q", e.Term, e.Index, e.Type, e.Data)
}
