package raft

import (
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// SoftState is volatile state worth telling the caller about: who leads and our
// role. It is not persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is the work the core hands to its caller: what to persist, what to send
// and what to apply. The caller handles a Ready in this order:
//
//  1. Send LeaderMessages (any time from now on: they may go out before or while
//     the rest is persisted, Raft thesis §10.2.1).
//  2. Persist HardState (if not empty), Snapshot (if not empty) and Entries,
//     syncing to stable storage when MustSync is set, and make them visible
//     through the Storage.
//  3. Send Messages.
//  4. Apply Snapshot and CommittedEntries to the state machine, calling
//     ApplyConfChange for configuration entries; answer ReadStates once applied
//     up to their index.
//  5. Call Advance.
//
// A Ready's slices are read-only: Entries and CommittedEntries share memory
// with the core's log (they end at their length, so appending copies). Its
// Messages and LeaderMessages are the caller's to keep, unless
// Config.ReuseReadyMessages, with which the core clears and refills them
// after Advance. Call Advance before the next Ready.
type Ready struct {
	// SoftState is set when the leader or role changed.
	*SoftState
	// HardState is set (non-empty) when term, vote or commit changed.
	HardState pb.HardState
	// ReadStates are answered ReadIndex requests.
	ReadStates []ReadState
	// Entries are to be persisted before Messages are sent.
	Entries []pb.Entry
	// Snapshot is to be persisted (when not empty).
	Snapshot pb.Snapshot
	// CommittedEntries are to be applied; they may include some of Entries, which
	// must be persisted first.
	CommittedEntries []pb.Entry
	// Messages go out after this Ready's state is persisted.
	Messages []pb.Message
	// LeaderMessages are a leader's appends, heartbeats and snapshots in a term it
	// has already made durable; they may go out before this Ready is persisted.
	LeaderMessages []pb.Message
	// MustSync says whether the writes must reach stable storage before step 3.
	MustSync bool
}

// IsEmptyHardState reports whether st is the zero HardState.
func IsEmptyHardState(st pb.HardState) bool { return st.IsEmpty() }

// IsEmptySnap reports whether sp holds no snapshot.
func IsEmptySnap(sp pb.Snapshot) bool { return sp.Metadata.Index == 0 }

// MustSync reports whether writing st and entsnum entries must be synced: term,
// vote and entries must be durable before anyone relies on them; a commit index
// alone can be recovered.
func MustSync(st, prevst pb.HardState, entsnum int) bool {
	return entsnum != 0 || st.Vote != prevst.Vote || st.Term != prevst.Term
}

// RawNode is a Raft member as a deterministic state machine: the caller ticks it,
// steps messages into it and drains its Ready. It is not safe for concurrent use;
// one goroutine owns it.
type RawNode struct {
	raft       *raft
	prevSoftSt SoftState
	prevHardSt pb.HardState
	// reuse is Config.ReuseReadyMessages.
	reuse bool
	// spare message buffers returned by Advance (reuse), reused to avoid
	// allocating.
	spareMsgs, spareEarly []pb.Message
	// block holds the messages handed out without reuse (see handOut).
	block []pb.Message
}

// NewRawNode creates a member from config. A new cluster's first member is given a
// Storage holding a snapshot whose ConfState lists the initial voters; a member that
// joins an existing cluster starts from an empty Storage and receives the
// configuration from the leader.
func NewRawNode(config *Config) (*RawNode, error) {
	r, err := newRaft(config)
	if err != nil {
		return nil, fmt.Errorf("new raft member %x: %w", config.ID, err)
	}
	rn := &RawNode{raft: r, reuse: config.ReuseReadyMessages}
	rn.prevSoftSt = r.softState()
	rn.prevHardSt = r.hardState()
	return rn, nil
}

// Tick advances the logical clock by one tick.
func (rn *RawNode) Tick() { rn.raft.tick() }

// TicksToElectionTimeout returns how many more Ticks make this member's
// election timeout elapse, at least 1. Then a follower or candidate
// campaigns, if it may (see Campaign); a leader runs its check-quorum round
// and abandons an unfinished leadership transfer. A follower's timeout is
// randomized and restarts whenever it hears from the leader, so a test that
// wants to tick a member exactly to its timeout (package rafttest's
// tick-election) cannot work it out from the Config.
func (rn *RawNode) TicksToElectionTimeout() int {
	r := rn.raft
	timeout := r.randomizedElectionTimeout
	if r.state == StateLeader {
		timeout = r.electionTimeout
	}
	return max(1, timeout-r.electionElapsed)
}

// Campaign starts an election now (a pre-vote first when PreVote is set).
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(pb.Message{Type: pb.MsgHup})
}

// Propose proposes data to be appended to the log. On a leader the entry is
// appended at once; a follower forwards it (unless forwarding is disabled). A nil
// error does not mean the entry will commit: watch CommittedEntries.
func (rn *RawNode) Propose(data []byte) error {
	r := rn.raft
	if r.state == StateLeader {
		// Fast path: no message, no allocation.
		e := [1]pb.Entry{{Data: data}}
		return r.propose(e[:])
	}
	return r.Step(pb.Message{Type: pb.MsgProp, From: r.id, Entries: []pb.Entry{{Data: data}}})
}

// ProposeConfChange proposes a configuration change. At most one change may be
// pending at a time; a refused change returns an error wrapping
// ErrConfChangeRefused and changes nothing.
func (rn *RawNode) ProposeConfChange(cc pb.ConfChangeI) error {
	e, err := confChangeToEntry(cc)
	if err != nil {
		return err
	}
	return rn.raft.Step(pb.Message{Type: pb.MsgProp, From: rn.raft.id, Entries: []pb.Entry{e}})
}

func confChangeToEntry(c pb.ConfChangeI) (pb.Entry, error) {
	if ccv1, ok := c.AsV1(); ok {
		data, err := ccv1.Marshal()
		if err != nil {
			return pb.Entry{}, fmt.Errorf("marshal ConfChange: %w", err)
		}
		return pb.Entry{Type: pb.EntryConfChange, Data: data}, nil
	}
	ccv2 := c.AsV2()
	data, err := ccv2.Marshal()
	if err != nil {
		return pb.Entry{}, fmt.Errorf("marshal ConfChangeV2: %w", err)
	}
	return pb.Entry{Type: pb.EntryConfChangeV2, Data: data}, nil
}

// ApplyConfChange applies a committed configuration change and returns the
// configuration now in force. The caller calls it when it applies the entry.
func (rn *RawNode) ApplyConfChange(cc pb.ConfChangeI) pb.ConfState {
	return rn.raft.applyConfChange(cc.AsV2())
}

// Step feeds a message from another member into the core.
func (rn *RawNode) Step(m pb.Message) error {
	if isLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	if err := validateMessage(&m); err != nil {
		return err
	}
	if pr := rn.raft.trk.Progress[m.From]; pr != nil || !isResponseMsg(m.Type) {
		return rn.raft.Step(m)
	}
	return ErrStepPeerNotFound
}

// TransferLeader asks the leader to hand leadership to transferee. It is
// forwarded when called on a follower.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgTransferLeader, From: transferee})
}

// ReadIndex requests a linearizable read point; the answer arrives as a
// ReadState carrying rctx. rctx must be unique among pending requests; a retry
// with the same rctx replaces the earlier request.
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgReadIndex, Context: rctx})
}

// ReportUnreachable tells the core that a message to id could not be delivered.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgUnreachable, From: id})
}

// SnapshotStatus is the outcome of sending a snapshot.
type SnapshotStatus int

// The outcomes of sending a snapshot.
const (
	SnapshotFinish  SnapshotStatus = 1
	SnapshotFailure SnapshotStatus = 2
)

// ReportSnapshot tells the core whether the snapshot sent to id was delivered.
// The caller must report every MsgSnap it sends, delivered or not: while a
// follower waits for its snapshot the leader sends it nothing else, and a lost
// snapshot that is never reported leaves it waiting until it answers otherwise.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}

// SetPriority changes this member's election priority.
func (rn *RawNode) SetPriority(p int64) { rn.raft.priority = p }

// HasReady reports whether Ready would return anything to do.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != rn.prevHardSt {
		return true
	}
	return r.raftLog.hasNextUnstableSnapshot() || r.entriesBcastPending || r.commitBcastPending ||
		len(r.msgs) > 0 || len(r.msgsEarly) > 0 ||
		r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts() ||
		len(r.readStates) > 0
}

// Ready returns the work to do. Call Advance once it is done.
func (rn *RawNode) Ready() Ready {
	r := rn.raft
	r.flushAppends()
	rd := Ready{
		Entries:          r.raftLog.nextUnstableEnts(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		Messages:         r.msgs,
		LeaderMessages:   r.msgsEarly,
		ReadStates:       r.readStates,
	}
	if ss := r.softState(); ss != rn.prevSoftSt {
		// Allocate only on change: taking &ss would move ss to the heap on
		// every call.
		rd.SoftState = new(SoftState)
		*rd.SoftState = ss
		rn.prevSoftSt = ss
	}
	if hs := r.hardState(); hs != rn.prevHardSt {
		rd.HardState = hs
	}
	if r.raftLog.hasNextUnstableSnapshot() {
		rd.Snapshot = *r.raftLog.unstable.snapshot
	}
	// A snapshot replaces the log: it must be durable before anyone relies on it.
	rd.MustSync = MustSync(r.hardState(), rn.prevHardSt, len(rd.Entries)) || !IsEmptySnap(rd.Snapshot)
	if !rd.HardState.IsEmpty() {
		rn.prevHardSt = rd.HardState
	}
	if rn.reuse {
		r.msgs, rn.spareMsgs = rn.spareMsgs, nil
		r.msgsEarly, rn.spareEarly = rn.spareEarly, nil
	} else {
		rd.LeaderMessages, rd.Messages = rn.handOut(r.msgsEarly, r.msgs)
		r.msgs, r.msgsEarly = recycle(r.msgs), recycle(r.msgsEarly)
	}
	r.readStates = nil
	return rd
}

// handOutBlock is how many messages one allocation of handed-out messages
// holds: few allocations, and a bounded number of messages (and their
// entries) kept alive by one the caller still holds.
const handOutBlock = 16

// handOut copies a Ready's messages into the unused tail of a block the core
// never writes into again, so they are the caller's to keep: about one
// allocation per handOutBlock messages, while the core keeps its buffers.
// The slices' capacity ends at their length, so a caller's append copies
// instead of writing over the next Ready's messages.
func (rn *RawNode) handOut(early, msgs []pb.Message) (leaderMessages, messages []pb.Message) {
	n := len(early) + len(msgs)
	if n == 0 {
		return nil, nil
	}
	if cap(rn.block)-len(rn.block) < n {
		rn.block = make([]pb.Message, 0, max(n, handOutBlock))
	}
	start := len(rn.block)
	rn.block = append(rn.block, early...)
	mid := len(rn.block)
	rn.block = append(rn.block, msgs...)
	end := len(rn.block)
	if mid > start {
		leaderMessages = rn.block[start:mid:mid]
	}
	if end > mid {
		messages = rn.block[mid:end:end]
	}
	return leaderMessages, messages
}

// Advance tells the core that rd was handled: its state persisted, its messages
// sent and its committed entries applied.
func (rn *RawNode) Advance(rd Ready) {
	r := rn.raft
	if !IsEmptySnap(rd.Snapshot) {
		r.raftLog.stableSnapTo(rd.Snapshot.Metadata.Index)
	}
	if n := len(rd.Entries); n > 0 {
		last := &rd.Entries[n-1]
		r.raftLog.stableTo(last.Index, last.Term)
	}
	if !r.asyncPersistence {
		if !rd.HardState.IsEmpty() {
			r.durableTerm = rd.HardState.Term
		}
		if r.state == StateLeader {
			r.selfAck()
		}
	}
	if !IsEmptySnap(rd.Snapshot) && rd.Snapshot.Metadata.Index > r.raftLog.applied {
		r.raftLog.appliedTo(rd.Snapshot.Metadata.Index)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		r.reduceUncommittedSize(payloadsSize(rd.CommittedEntries))
		r.maybeAutoLeave()
		r.campaignIfTransferPending()
	}
	if rn.reuse {
		rn.spareMsgs = recycle(rd.Messages)
		rn.spareEarly = recycle(rd.LeaderMessages)
	}
}

// Persisted reports, with Config.AsyncPersistence, that the writes of every
// Ready advanced so far up to and including the one whose last entry is
// (index, term) are durable, with a hard state of hardStateTerm. index is 0 when
// those Readys held no entries. Reports must come in the order of the writes.
func (rn *RawNode) Persisted(index, term, hardStateTerm uint64) {
	rn.raft.persisted(index, term, hardStateTerm)
}

// recycle clears msgs so the messages can be collected and returns the buffer.
func recycle(msgs []pb.Message) []pb.Message {
	clear(msgs)
	return msgs[:0]
}

// Status returns the member's status, with per-member progress when leader.
func (rn *RawNode) Status() Status { return getStatus(rn.raft) }

// BasicStatus returns the status without progress, without allocating.
func (rn *RawNode) BasicStatus() BasicStatus { return getBasicStatus(rn.raft) }

// WithProgress calls visitor for each member's progress, without copying.
func (rn *RawNode) WithProgress(visitor func(id uint64, typ ProgressType, pr tracker.Progress)) {
	rn.raft.trk.Visit(func(id uint64, pr *tracker.Progress) {
		typ := ProgressTypePeer
		if pr.IsLearner {
			typ = ProgressTypeLearner
		}
		p := *pr
		p.Inflights = nil
		visitor(id, typ, p)
	})
}

// ProgressType says whether a member is a voter or a learner.
type ProgressType byte

// The kinds of members in WithProgress.
const (
	ProgressTypePeer ProgressType = iota
	ProgressTypeLearner
)

// validateMessage refuses a message from a peer that would break the log's
// invariants if stepped: appended entries must follow the entry they are
// appended after, one index at a time, with terms that never decrease and never
// exceed the message's term; a MsgSnap must carry a snapshot. Raft does not
// defend against malicious peers, but a corrupted or buggy one must not corrupt
// this member's log.
func validateMessage(m *pb.Message) error {
	switch m.Type {
	case pb.MsgApp:
		prevIndex, prevTerm := m.Index, m.LogTerm
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != prevIndex+1 || e.Term < prevTerm || e.Term > m.Term {
				return fmt.Errorf("%w: MsgApp from %x: entry %d/%d does not follow %d/%d in term %d",
					ErrInvalidMessage, m.From, e.Term, e.Index, prevTerm, prevIndex, m.Term)
			}
			prevIndex, prevTerm = e.Index, e.Term
		}
	case pb.MsgSnap:
		if m.Snapshot == nil || IsEmptySnap(*m.Snapshot) {
			return fmt.Errorf("%w: MsgSnap from %x carries no snapshot", ErrInvalidMessage, m.From)
		}
	}
	return nil
}
