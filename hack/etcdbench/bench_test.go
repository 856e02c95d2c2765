package etcdbench

// The etcd side of the consensus-core benchmarks: raftnode/raft/bench_test.go runs
// the same workloads, under the same names, on our library, and this file is a
// transliteration of it; keep the two in step. The few lines that differ between
// etcd v3.6.0 and v3.7.0 (value or pointer messages, entries and snapshots) are in
// compat_v360_test.go and compat_v370_test.go.
//
// Every workload runs in one process with no ticks, no network and no marshaling:
// a Ready is "persisted" into a MemoryStorage, its messages are stepped straight
// into the receiving RawNode, and it is advanced. Storages are compacted up to the
// applied index every compactEvery entries so a long run stays in a steady state
// instead of growing the log without bound.

import (
	"fmt"
	"io"
	"log"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/quorum"
)

var discardLogger = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

const (
	payloadSize   = 128     // bytes of every proposal
	batchSize     = 64      // proposals per iteration in the batched workloads
	compactEvery  = 4096    // compact a storage once this many entries were applied
	maxSizePerMsg = 1 << 20 // far above any message these workloads produce
	maxInflight   = 256
)

func payload() []byte {
	data := make([]byte, payloadSize)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}

// member is one RawNode with its storage and what the benchmark learned from
// its Readys.
type member struct {
	id        uint64
	rn        *raft.RawNode
	st        *raft.MemoryStorage
	soft      raft.SoftState // the last SoftState a Ready carried
	applied   uint64         // index of the last committed entry handed out
	compacted uint64
	replies   []message // queued by collectAcks
	ack       func(message)
}

// newMember makes member id of a cluster whose configuration has the given
// voters, its storage bootstrapped with a snapshot at index 1, term 1.
func newMember(tb testing.TB, id uint64, voters []uint64) *member {
	tb.Helper()
	st := raft.NewMemoryStorage()
	if err := st.ApplySnapshot(bootstrapSnapshot(voters)); err != nil {
		tb.Fatalf("bootstrap storage of %d: %v", id, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         st,
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflight,
		Logger:          discardLogger,
	})
	if err != nil {
		tb.Fatalf("NewRawNode(%d): %v", id, err)
	}
	m := &member{id: id, rn: rn, st: st, applied: 1, compacted: 1}
	m.ack = m.collectAcks // one method value, not one per Ready
	return m
}

// handleReady takes the next Ready, persists it, hands its messages to send, and
// advances. As on the raftkube side (whose core may reuse the Ready's slices after
// Advance), send must not keep a message, nor step it into this member (collect
// replies and step them after handleReady returns). A nil send means no message
// is expected.
func (m *member) handleReady(tb testing.TB, send func(message)) {
	rd := m.rn.Ready()
	if rd.SoftState != nil {
		m.soft = *rd.SoftState
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := m.st.ApplySnapshot(rd.Snapshot); err != nil {
			tb.Fatalf("member %d: ApplySnapshot: %v", m.id, err)
		}
	}
	if err := m.st.Append(rd.Entries); err != nil {
		tb.Fatalf("member %d: Append: %v", m.id, err)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := m.st.SetHardState(rd.HardState); err != nil {
			tb.Fatalf("member %d: SetHardState: %v", m.id, err)
		}
	}
	for _, msg := range rd.Messages {
		if send == nil {
			tb.Fatalf("member %d sent an unexpected message: %v", m.id, msg)
		}
		send(msg)
	}
	m.rn.Advance(rd)
	if n := len(rd.CommittedEntries); n > 0 {
		m.applied = entryIndex(rd.CommittedEntries[n-1])
		if m.applied-m.compacted >= compactEvery {
			if err := m.st.Compact(m.applied); err != nil {
				tb.Fatalf("member %d: Compact(%d): %v", m.id, m.applied, err)
			}
			m.compacted = m.applied
		}
	}
}

// collectAcks is a send for handleReady that queues a MsgAppResp acknowledging
// every MsgApp, and a vote grant for every MsgVote to member 2 or 3.
func (m *member) collectAcks(msg message) {
	switch msgType(msg) {
	case msgApp:
		m.replies = append(m.replies, appAck(msg))
	case msgVote:
		if to := msgTo(msg); to == 2 || to == 3 {
			m.replies = append(m.replies, voteGrant(msg))
		}
	}
}

// stepReplies steps the replies queued by collectAcks.
func (m *member) stepReplies(tb testing.TB) {
	for _, msg := range m.replies {
		if err := m.rn.Step(msg); err != nil {
			tb.Fatalf("member %d: Step(%v): %v", m.id, msg, err)
		}
	}
	m.replies = m.replies[:0]
}

// drain handles Readys, and steps back the replies send queued, until there is no
// Ready.
func (m *member) drain(tb testing.TB, send func(message)) {
	for m.rn.HasReady() {
		m.handleReady(tb, send)
		m.stepReplies(tb)
	}
}

func (m *member) mustBeLeader(tb testing.TB) {
	tb.Helper()
	if m.soft.RaftState != raft.StateLeader {
		tb.Fatalf("member %d is not leader: %+v", m.id, m.soft)
	}
}

func BenchmarkProposeSingleVoter(b *testing.B) {
	m := newMember(b, 1, []uint64{1})
	if err := m.rn.Campaign(); err != nil {
		b.Fatalf("Campaign: %v", err)
	}
	m.drain(b, nil)
	m.mustBeLeader(b)
	data := payload()
	start := m.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.rn.Propose(data); err != nil {
			b.Fatalf("Propose: %v", err)
		}
		m.handleReady(b, nil)
	}
	b.StopTimer()
	m.drain(b, nil)
	if want := start + uint64(b.N); m.applied != want {
		b.Fatalf("applied %d, want %d", m.applied, want)
	}
}

// cluster is a set of members that talk through an in-process pump.
type cluster struct {
	tb      testing.TB
	members []*member // members[i].id == i+1
	deliver func(message)
}

func newCluster(tb testing.TB, n int) *cluster {
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	c := &cluster{tb: tb}
	c.deliver = c.step // one method value, not one per Ready
	for _, id := range voters {
		c.members = append(c.members, newMember(tb, id, voters))
	}
	if err := c.members[0].rn.Campaign(); err != nil {
		tb.Fatalf("Campaign: %v", err)
	}
	c.pump()
	// One proposal brings every follower into replicate state with the leader's
	// commit index: the state the timed loop runs in.
	if err := c.members[0].rn.Propose(payload()); err != nil {
		tb.Fatalf("Propose: %v", err)
	}
	c.pump()
	c.members[0].mustBeLeader(tb)
	for _, m := range c.members[1:] {
		if m.soft.RaftState == raft.StateLeader {
			tb.Fatalf("member %d is leader too: %+v", m.id, m.soft)
		}
	}
	c.mustAgree(c.members[0].applied)
	return c
}

// step delivers msg to its recipient.
func (c *cluster) step(msg message) {
	to := msgTo(msg)
	if to == 0 || to > uint64(len(c.members)) {
		c.tb.Fatalf("message to unknown member %d: %v", to, msg)
	}
	if err := c.members[to-1].rn.Step(msg); err != nil {
		c.tb.Fatalf("member %d: Step: %v", to, err)
	}
}

// pump handles the Readys of every member, delivering their messages, until no
// member has a Ready. A message reaches its recipient before the sender's Advance
// (the core may reuse the Ready's slices after it), but the recipient's reply is
// handled only once the sender's Ready is done.
func (c *cluster) pump() {
	for {
		quiet := true
		for _, m := range c.members {
			if m.rn.HasReady() {
				quiet = false
				m.handleReady(c.tb, c.deliver)
			}
		}
		if quiet {
			return
		}
	}
}

// mustAgree checks that every member applied up to want.
func (c *cluster) mustAgree(want uint64) {
	c.tb.Helper()
	for _, m := range c.members {
		if m.applied != want {
			c.tb.Fatalf("member %d applied %d, want %d", m.id, m.applied, want)
		}
	}
}

func BenchmarkCommitThreeMembers(b *testing.B) {
	c := newCluster(b, 3)
	leader := c.members[0]
	data := payload()
	start := leader.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := leader.rn.Propose(data); err != nil {
			b.Fatalf("Propose: %v", err)
		}
		c.pump()
	}
	b.StopTimer()
	c.mustAgree(start + uint64(b.N))
}

func BenchmarkCommitThreeMembersBatch64(b *testing.B) {
	c := newCluster(b, 3)
	leader := c.members[0]
	data := payload()
	start := leader.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < batchSize; j++ {
			if err := leader.rn.Propose(data); err != nil {
				b.Fatalf("Propose: %v", err)
			}
		}
		c.pump()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/proposal")
	c.mustAgree(start + uint64(b.N*batchSize))
}

func BenchmarkReadyManyEntries(b *testing.B) {
	// Member 1 of a five-voter configuration; members 2..5 exist only as the
	// replies stepped back into it: votes from 2 and 3, acks from all.
	m := newMember(b, 1, []uint64{1, 2, 3, 4, 5})
	if err := m.rn.Campaign(); err != nil {
		b.Fatalf("Campaign: %v", err)
	}
	m.drain(b, m.ack)
	m.mustBeLeader(b)
	data := payload()
	start := m.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < batchSize; j++ {
			if err := m.rn.Propose(data); err != nil {
				b.Fatalf("Propose: %v", err)
			}
		}
		m.handleReady(b, m.ack) // 64 entries; MsgApps to 4 followers, acked below
		m.stepReplies(b)
	}
	b.StopTimer()
	m.drain(b, m.ack)
	if want := start + uint64(b.N*batchSize); m.applied != want {
		b.Fatalf("applied %d, want %d", m.applied, want)
	}
}

// mapAckIndexer is a quorum.AckedIndexer over a map.
type mapAckIndexer map[uint64]quorum.Index

func (l mapAckIndexer) AckedIndex(id uint64) (quorum.Index, bool) {
	idx, ok := l[id]
	return idx, ok
}

// benchConfig builds a config of voters 1..n, voter i having acked 1000 + i*7%n:
// the same as benchConfig in raftnode/raft/quorum/majority_test.go.
func benchConfig(n int) (quorum.MajorityConfig, mapAckIndexer) {
	c, l := quorum.MajorityConfig{}, mapAckIndexer{}
	for i := 1; i <= n; i++ {
		c[uint64(i)] = struct{}{}
		l[uint64(i)] = quorum.Index(1000 + i*7%n)
	}
	return c, l
}

func BenchmarkMajorityCommittedIndex(b *testing.B) {
	for _, n := range []int{1, 3, 5, 7, 9} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, l := benchConfig(n)
			b.ReportAllocs()
			for b.Loop() {
				_ = c.CommittedIndex(l)
			}
		})
	}
}

func BenchmarkJointCommittedIndex(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, l := benchConfig(n)
			out, _ := benchConfig(n - 1)
			j := quorum.JointConfig{c, out}
			b.ReportAllocs()
			for b.Loop() {
				_ = j.CommittedIndex(l)
			}
		})
	}
}
