package raft

import (
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// Helpers for the feature tests (features_*_test.go), on top of the test network.

var threeVoters = []uint64{1, 2, 3}

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }

// withPriorityByID gives each member its id as election priority.
func withPriorityByID(c *Config) { c.Priority = int64(c.ID) }

// msgRecorder records the messages a network delivers, through its hook.
type msgRecorder struct {
	msgs []pb.Message
}

// recordMsgs installs a hook on nw that records every delivered message and
// drops those drop returns true for (drop may be nil). nw.heal removes it.
func recordMsgs(nw *network, drop func(pb.Message) bool) *msgRecorder {
	rec := &msgRecorder{}
	nw.hook = func(m pb.Message) bool {
		if drop != nil && drop(m) {
			return false
		}
		rec.msgs = append(rec.msgs, m)
		return true
	}
	return rec
}

// count returns how many recorded messages match.
func (rec *msgRecorder) count(match func(pb.Message) bool) int {
	n := 0
	for _, m := range rec.msgs {
		if match(m) {
			n++
		}
	}
	return n
}

// first returns the position of the first recorded message that matches, or -1.
func (rec *msgRecorder) first(match func(pb.Message) bool) int {
	for i, m := range rec.msgs {
		if match(m) {
			return i
		}
	}
	return -1
}

func msgOfType(typ pb.MessageType) func(pb.Message) bool {
	return func(m pb.Message) bool { return m.Type == typ }
}

// appsWithEntriesTo matches MsgApps to id that carry entries.
func appsWithEntriesTo(id uint64) func(pb.Message) bool {
	return func(m pb.Message) bool { return m.Type == pb.MsgApp && m.To == id && len(m.Entries) > 0 }
}

// progressOf returns the leader's progress of id.
func progressOf(nw *network, leader, id uint64) *tracker.Progress {
	return nw.member(leader).raft().trk.Progress[id]
}

func filledPayload(n int, fill byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = fill
	}
	return b
}

// readNet is the network with helpers for ReadIndex tests.
type readNet struct {
	*network
}

func newReadNet(nw *network) *readNet { return &readNet{network: nw} }

// reads returns the ReadStates member id handed out, in order.
func (x *readNet) reads(id uint64) []ReadState { return x.member(id).readStates }

// readIndex asks member id for a read point and delivers until quiet.
func (x *readNet) readIndex(id uint64, ctx string) {
	x.member(id).rn.ReadIndex([]byte(ctx))
	x.stabilize()
}

// readCtxs returns the request contexts of member id's read states, in order.
func (x *readNet) readCtxs(id uint64) []string {
	var out []string
	for _, rs := range x.reads(id) {
		out = append(out, string(rs.RequestCtx))
	}
	return out
}

// snapshotUnavailableStorage answers Snapshot with
// ErrSnapshotTemporarilyUnavailable for its first failures calls.
type snapshotUnavailableStorage struct {
	*MemoryStorage
	failures int
	calls    int
}

func (s *snapshotUnavailableStorage) Snapshot() (pb.Snapshot, error) {
	s.calls++
	if s.failures > 0 {
		s.failures--
		return pb.Snapshot{}, ErrSnapshotTemporarilyUnavailable
	}
	return s.MemoryStorage.Snapshot()
}

// replaceStorage restarts member id (before anything happened) over storage,
// which must wrap the member's MemoryStorage.
func replaceStorage(t *testing.T, nw *network, id uint64, storage Storage, ms *MemoryStorage) {
	t.Helper()
	cfg := nw.member(id).cfg
	cfg.Storage = storage
	rn, err := NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	nw.members[id] = &testMember{id: id, cfg: cfg, rn: rn, storage: ms}
}
