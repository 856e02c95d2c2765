package raft_test

// Benchmarks of the consensus core. hack/etcdbench/bench_test.go runs the same
// workloads, under the same names, on etcd's raft (v3.6.0 and v3.7.0), and
// hack/bench.sh prints the three side by side with benchstat; keep the two files in
// step.
//
// This is an external test package so that it uses only the exported API, as the
// etcd side does, and cannot collide with the core's own identifiers.
//
// Every workload runs in one process with no ticks, no network and no marshaling:
// a Ready is "persisted" into a MemoryStorage, its messages are stepped straight
// into the receiving RawNode, and it is advanced. Storages are compacted up to the
// applied index every benchCompactEvery entries so a long run stays in a steady
// state instead of growing the log without bound.

import (
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

const (
	benchPayloadSize   = 128     // bytes of every proposal
	benchBatchSize     = 64      // proposals per iteration in the batched workloads
	benchCompactEvery  = 4096    // compact a storage once this many entries were applied
	benchMaxSizePerMsg = 1 << 20 // far above any message these workloads produce
	benchMaxInflight   = 256
)

func benchPayload() []byte {
	data := make([]byte, benchPayloadSize)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}

// benchMember is one RawNode with its storage and what the benchmark learned from
// its Readys.
type benchMember struct {
	id        uint64
	rn        *raft.RawNode
	st        *raft.MemoryStorage
	soft      raft.SoftState // the last SoftState a Ready carried
	applied   uint64         // index of the last committed entry handed out
	compacted uint64
	replies   []pb.Message // queued by collectAcks
	ack       func(pb.Message)
}

// newBenchMember makes member id of a cluster whose configuration has the given
// voters, its storage bootstrapped with a snapshot at index 1, term 1.
func newBenchMember(tb testing.TB, id uint64, voters []uint64) *benchMember {
	tb.Helper()
	st := raft.NewMemoryStorage()
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		ConfState: pb.ConfState{Voters: voters},
		Index:     1,
		Term:      1,
	}}
	if err := st.ApplySnapshot(snap); err != nil {
		tb.Fatalf("bootstrap storage of %d: %v", id, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         st,
		MaxSizePerMsg:   benchMaxSizePerMsg,
		MaxInflightMsgs: benchMaxInflight,
		Logger:          raft.DiscardLogger{},
	})
	if err != nil {
		tb.Fatalf("NewRawNode(%d): %v", id, err)
	}
	m := &benchMember{id: id, rn: rn, st: st, applied: 1, compacted: 1}
	m.ack = m.collectAcks // one method value, not one per Ready
	return m
}

// handleReady takes the next Ready, persists it, hands its messages (the
// LeaderMessages, then the Messages) to send, and advances. send must not step
// a message into this member (collect replies and step them after
// handleReady returns). A nil send means no message is expected.
func (m *benchMember) handleReady(tb testing.TB, send func(pb.Message)) {
	rd := m.rn.Ready()
	if rd.SoftState != nil {
		m.soft = *rd.SoftState
	}
	if !rd.Snapshot.IsEmpty() {
		if err := m.st.ApplySnapshot(rd.Snapshot); err != nil {
			tb.Fatalf("member %d: ApplySnapshot: %v", m.id, err)
		}
	}
	if err := m.st.Append(rd.Entries); err != nil {
		tb.Fatalf("member %d: Append: %v", m.id, err)
	}
	if !rd.HardState.IsEmpty() {
		if err := m.st.SetHardState(rd.HardState); err != nil {
			tb.Fatalf("member %d: SetHardState: %v", m.id, err)
		}
	}
	for _, msgs := range [2][]pb.Message{rd.LeaderMessages, rd.Messages} {
		for _, msg := range msgs {
			if send == nil {
				tb.Fatalf("member %d sent an unexpected message: %+v", m.id, msg)
			}
			send(msg)
		}
	}
	m.rn.Advance(rd)
	if n := len(rd.CommittedEntries); n > 0 {
		m.applied = rd.CommittedEntries[n-1].Index
		if m.applied-m.compacted >= benchCompactEvery {
			if err := m.st.Compact(m.applied); err != nil {
				tb.Fatalf("member %d: Compact(%d): %v", m.id, m.applied, err)
			}
			m.compacted = m.applied
		}
	}
}

// collectAcks is a send for handleReady that queues a MsgAppResp acknowledging
// every MsgApp, and a vote grant for every MsgVote to member 2 or 3.
func (m *benchMember) collectAcks(msg pb.Message) {
	switch msg.Type {
	case pb.MsgApp:
		m.replies = append(m.replies, benchAppAck(msg))
	case pb.MsgVote:
		if msg.To == 2 || msg.To == 3 {
			m.replies = append(m.replies, benchVoteGrant(msg))
		}
	}
}

// stepReplies steps the replies queued by collectAcks.
func (m *benchMember) stepReplies(tb testing.TB) {
	for _, msg := range m.replies {
		if err := m.rn.Step(msg); err != nil {
			tb.Fatalf("member %d: Step(%+v): %v", m.id, msg, err)
		}
	}
	m.replies = m.replies[:0]
}

// drain handles Readys, and steps back the replies send queued, until there is no
// Ready.
func (m *benchMember) drain(tb testing.TB, send func(pb.Message)) {
	for m.rn.HasReady() {
		m.handleReady(tb, send)
		m.stepReplies(tb)
	}
}

func (m *benchMember) mustBeLeader(tb testing.TB) {
	tb.Helper()
	if m.soft.RaftState != raft.StateLeader {
		tb.Fatalf("member %d is not leader: %+v", m.id, m.soft)
	}
}

// benchAppAck is the MsgAppResp acknowledging every entry of the MsgApp m.
func benchAppAck(m pb.Message) pb.Message {
	return pb.Message{
		Type:  pb.MsgAppResp,
		To:    m.From,
		From:  m.To,
		Term:  m.Term,
		Index: m.Index + uint64(len(m.Entries)),
	}
}

// benchVoteGrant is the MsgVoteResp granting the vote that m asked for.
func benchVoteGrant(m pb.Message) pb.Message {
	return pb.Message{Type: pb.MsgVoteResp, To: m.From, From: m.To, Term: m.Term}
}

func BenchmarkProposeSingleVoter(b *testing.B) {
	m := newBenchMember(b, 1, []uint64{1})
	if err := m.rn.Campaign(); err != nil {
		b.Fatalf("Campaign: %v", err)
	}
	m.drain(b, nil)
	m.mustBeLeader(b)
	data := benchPayload()
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

// benchCluster is a set of members that talk through an in-process pump.
type benchCluster struct {
	tb      testing.TB
	members []*benchMember // members[i].id == i+1
	deliver func(pb.Message)
}

func newBenchCluster(tb testing.TB, n int) *benchCluster {
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	c := &benchCluster{tb: tb}
	c.deliver = c.step // one method value, not one per Ready
	for _, id := range voters {
		c.members = append(c.members, newBenchMember(tb, id, voters))
	}
	if err := c.members[0].rn.Campaign(); err != nil {
		tb.Fatalf("Campaign: %v", err)
	}
	c.pump()
	// One proposal brings every follower into replicate state with the leader's
	// commit index: the state the timed loop runs in.
	if err := c.members[0].rn.Propose(benchPayload()); err != nil {
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
func (c *benchCluster) step(msg pb.Message) {
	to := msg.To
	if to == 0 || to > uint64(len(c.members)) {
		c.tb.Fatalf("message to unknown member %d: %+v", to, msg)
	}
	if err := c.members[to-1].rn.Step(msg); err != nil {
		c.tb.Fatalf("member %d: Step: %v", to, err)
	}
}

// pump handles the Readys of every member, delivering their messages, until no
// member has a Ready. A message reaches its recipient before the sender's
// Advance, but the recipient's reply is handled only once the sender's Ready
// is done.
func (c *benchCluster) pump() {
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
func (c *benchCluster) mustAgree(want uint64) {
	c.tb.Helper()
	for _, m := range c.members {
		if m.applied != want {
			c.tb.Fatalf("member %d applied %d, want %d", m.id, m.applied, want)
		}
	}
}

func BenchmarkCommitThreeMembers(b *testing.B) {
	c := newBenchCluster(b, 3)
	leader := c.members[0]
	data := benchPayload()
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
	c := newBenchCluster(b, 3)
	leader := c.members[0]
	data := benchPayload()
	start := leader.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < benchBatchSize; j++ {
			if err := leader.rn.Propose(data); err != nil {
				b.Fatalf("Propose: %v", err)
			}
		}
		c.pump()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatchSize), "ns/proposal")
	c.mustAgree(start + uint64(b.N*benchBatchSize))
}

func BenchmarkReadyManyEntries(b *testing.B) {
	// Member 1 of a five-voter configuration; members 2..5 exist only as the
	// replies stepped back into it: votes from 2 and 3, acks from all.
	m := newBenchMember(b, 1, []uint64{1, 2, 3, 4, 5})
	if err := m.rn.Campaign(); err != nil {
		b.Fatalf("Campaign: %v", err)
	}
	m.drain(b, m.ack)
	m.mustBeLeader(b)
	data := benchPayload()
	start := m.applied
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < benchBatchSize; j++ {
			if err := m.rn.Propose(data); err != nil {
				b.Fatalf("Propose: %v", err)
			}
		}
		m.handleReady(b, m.ack) // 64 entries; MsgApps to 4 followers, acked below
		m.stepReplies(b)
	}
	b.StopTimer()
	m.drain(b, m.ack)
	if want := start + uint64(b.N*benchBatchSize); m.applied != want {
		b.Fatalf("applied %d, want %d", m.applied, want)
	}
}
