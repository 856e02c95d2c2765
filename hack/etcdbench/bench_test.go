package etcdbench

// The etcd side of the consensus-core benchmarks. raftnode/raft/bench_test.go runs
// the same workloads, under the same names, on our library; keep the two in step.
//
// Every workload runs in one process with no ticks, no network and no marshaling:
// a Ready is "persisted" into a MemoryStorage, advanced, and its messages are
// stepped straight into the receiving RawNode. Storages are compacted up to the
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

const (
	payloadSize   = 128     // bytes of every proposal
	batchSize     = 64      // proposals per iteration in the batched workloads
	compactEvery  = 4096    // compact a storage once this many entries were applied
	maxSizePerMsg = 1 << 20 // far above any message these workloads produce
	maxInflight   = 256
)

var discardLogger = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

func payload() []byte {
	data := make([]byte, payloadSize)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}

// member is one RawNode with its storage and what the benchmark learned from its
// Readys.
type member struct {
	id        uint64
	rn        *raft.RawNode
	st        *raft.MemoryStorage
	soft      raft.SoftState // the last SoftState a Ready carried
	applied   uint64         // index of the last committed entry handed out
	compacted uint64
}

// newMember makes member id of a cluster whose configuration has the given voters,
// its storage bootstrapped with a snapshot at index 1, term 1.
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
	return &member{id: id, rn: rn, st: st, applied: 1, compacted: 1}
}

// handleReady takes the next Ready, persists it, advances and returns it.
func (m *member) handleReady(tb testing.TB) raft.Ready {
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
	return rd
}

// drain handles Readys until there are none, calling onMsg for every message.
func (m *member) drain(tb testing.TB, onMsg func(message)) {
	for m.rn.HasReady() {
		rd := m.handleReady(tb)
		for _, msg := range rd.Messages {
			onMsg(msg)
		}
	}
}

func (m *member) mustBeLeader(tb testing.TB) {
	tb.Helper()
	if m.soft.RaftState != raft.StateLeader || m.soft.Lead != m.id {
		tb.Fatalf("member %d is not leader: %+v", m.id, m.soft)
	}
}

// newSingleVoter returns the leader of a one-voter cluster, quiet.
func newSingleVoter(tb testing.TB) *member {
	m := newMember(tb, 1, []uint64{1})
	if err := m.rn.Campaign(); err != nil {
		tb.Fatalf("Campaign: %v", err)
	}
	m.drain(tb, func(msg message) { tb.Fatalf("single voter sent a message: %v", msg) })
	m.mustBeLeader(tb)
	return m
}

func BenchmarkProposeSingleVoter(b *testing.B) {
	m := newSingleVoter(b)
	data := payload()
	start := m.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.rn.Propose(data); err != nil {
			b.Fatalf("Propose: %v", err)
		}
		m.handleReady(b)
	}
	b.StopTimer()
	m.drain(b, func(message) {})
	if want := start + uint64(b.N); m.applied != want {
		b.Fatalf("applied %d, want %d", m.applied, want)
	}
}

// cluster is a set of members that talk through an in-process pump.
type cluster struct {
	members []*member // members[i].id == i+1
}

func newCluster(tb testing.TB, n int) *cluster {
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	c := &cluster{}
	for _, id := range voters {
		c.members = append(c.members, newMember(tb, id, voters))
	}
	if err := c.members[0].rn.Campaign(); err != nil {
		tb.Fatalf("Campaign: %v", err)
	}
	c.pump(tb)
	// One proposal brings every follower into replicate state with the leader's
	// commit index: the state the timed loop runs in.
	if err := c.members[0].rn.Propose(payload()); err != nil {
		tb.Fatalf("Propose: %v", err)
	}
	c.pump(tb)
	c.members[0].mustBeLeader(tb)
	for _, m := range c.members[1:] {
		if m.soft.RaftState != raft.StateFollower || m.soft.Lead != 1 {
			tb.Fatalf("member %d: %+v, want a follower of 1", m.id, m.soft)
		}
	}
	c.mustAgree(tb, c.members[0].applied)
	return c
}

// pump handles the Readys of every member and delivers their messages until no
// member has a Ready.
func (c *cluster) pump(tb testing.TB) {
	for {
		quiet := true
		for _, m := range c.members {
			if !m.rn.HasReady() {
				continue
			}
			quiet = false
			rd := m.handleReady(tb)
			for _, msg := range rd.Messages {
				to := msgTo(msg)
				if to == 0 || to > uint64(len(c.members)) {
					tb.Fatalf("message to unknown member %d", to)
				}
				if err := c.members[to-1].rn.Step(msg); err != nil {
					tb.Fatalf("member %d: Step: %v", to, err)
				}
			}
		}
		if quiet {
			return
		}
	}
}

// mustAgree checks that every member applied up to want.
func (c *cluster) mustAgree(tb testing.TB, want uint64) {
	tb.Helper()
	for _, m := range c.members {
		if m.applied != want {
			tb.Fatalf("member %d applied %d, want %d", m.id, m.applied, want)
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
		c.pump(b)
	}
	b.StopTimer()
	c.mustAgree(b, start+uint64(b.N))
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
		c.pump(b)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/proposal")
	c.mustAgree(b, start+uint64(b.N*batchSize))
}

func BenchmarkReadyManyEntries(b *testing.B) {
	// Member 1 of a five-voter configuration; members 2..5 exist only as the
	// responses stepped back into it.
	m := newMember(b, 1, []uint64{1, 2, 3, 4, 5})
	if err := m.rn.Campaign(); err != nil {
		b.Fatalf("Campaign: %v", err)
	}
	respond := func(msg message) {
		var resp message
		switch msgType(msg) {
		case msgVote:
			if to := msgTo(msg); to != 2 && to != 3 {
				return
			}
			resp = voteGrant(msg)
		case msgApp:
			resp = appAck(msg)
		default:
			return
		}
		if err := m.rn.Step(resp); err != nil {
			b.Fatalf("Step(%v): %v", resp, err)
		}
	}
	m.drain(b, respond)
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
		rd := m.handleReady(b)
		for _, msg := range rd.Messages {
			if msgType(msg) == msgApp {
				if err := m.rn.Step(appAck(msg)); err != nil {
					b.Fatalf("Step(MsgAppResp): %v", err)
				}
			}
		}
	}
	b.StopTimer()
	m.drain(b, respond)
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
