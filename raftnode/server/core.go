package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// memberCore is the member's state machine around the Raft core: it takes
// ticks, peer messages, client writes and reads, sync reports, delivery
// reports and finished snapshot files; it writes to its log, applies committed
// entries to the kv store, answers the requests waiting on it, and asks its
// shell to send messages, sync the log and write snapshot files. It starts no
// goroutine and reads no clock, socket or file of its own, and is only ever
// called from one goroutine (the Server's event loop), so a test harness can
// drive it step by step: crash it at any persistence point, reorder its sync
// reports and its network (see core_harness_test.go).
//
// The Server embeds it: the shell's code on the loop reads the core's state
// directly; code off the loop reads only the atomics below, or goes through
// inLoop.
type memberCore struct {
	// id is this member's id; never 0.
	id      uint64
	log     *slog.Logger
	metrics *metrics
	params  coreParams
	// disk is the member's log (the wal); shell is the rest of the world.
	disk  memberLog
	shell memberShell
	// w holds the requests waiting for an outcome from the core.
	w *waiters
	// store is replaced when a snapshot is restored; read by RPC goroutines.
	store atomic.Pointer[kv.Store]

	rn        *raft.RawNode
	table     *membership
	confState pb.ConfState
	// wasMember is set once a configuration in force included this member.
	wasMember bool
	// outcast is set once this member learned from another member (a removal
	// probe, a refused stream) that it was removed, while its own
	// configuration still holds it: it then stops taking part in Raft, so
	// that it neither leads nor votes for members that still believe in the
	// old configuration (see removal.go).
	outcast bool
	// pending is a received snapshot persisted but not yet applied.
	pending *restored
	// snapIndex is the index of the last snapshot saved to the log.
	snapIndex uint64
	// applyIndex is the last entry the Raft core handed out to apply. The
	// store's applied index is the same, but after a restart, when it can
	// be ahead (see errCatchingUp).
	applyIndex uint64
	// appliedBytes is the entry data applied since the last snapshot
	// started (Config.SnapshotBytes).
	appliedBytes uint64
	// snapJob is the snapshot whose files are being written, if any.
	snapJob *snapshotJob
	// sw holds what waits for the log to be synced (see persist.go).
	sw syncWait
	// reads are the linearizable reads on their way through ReadIndex
	// rounds, each answered on its channel.
	reads *readTracker[readSink]
	// proposals are the writes this member handed to the core, until they
	// are applied or settled.
	proposals *proposalTracker
	// silentTicks counts ticks since a leader's last message (removal.go).
	silentTicks int
	// forceIndex is the index of the forced configuration this process
	// appended (ForceNewCluster), until it is applied; syncNow makes the next
	// Ready's write synchronous, and campaignNow makes the member campaign
	// after the next Advance (see forceNewCluster).
	forceIndex  uint64
	syncNow     bool
	campaignNow bool

	// Published for goroutines off the loop.
	removed atomic.Bool
	// inConfig is set while the configuration applied includes this member.
	inConfig atomic.Bool
	leader   atomic.Uint64
	term     atomic.Uint64
	commit   atomic.Uint64
}

// coreParams are the parts of Config the core uses.
type coreParams struct {
	electionTicks, heartbeatTicks int
	// snapshotEntries and snapshotBytes start a snapshot once that many
	// entries, or entries holding that much data, were applied since the last.
	snapshotEntries, snapshotBytes uint64
}

// memberLog is the member's durable Raft log: the wal, or an in-memory log in
// the harness.
type memberLog interface {
	raft.Storage
	// Write appends a Ready's entries and hard state without syncing; seq
	// numbers the write for Sync, and needSync says whether it must be
	// durable before the messages that follow it go out.
	Write(hs pb.HardState, ents []pb.Entry) (seq uint64, needSync bool, err error)
	// Sync makes every write before it durable and returns the last one's seq.
	Sync() (seq uint64, err error)
	// SaveSnapshot durably records a snapshot's metadata (and every write
	// before it); Compact drops what it covers.
	SaveSnapshot(snap pb.Snapshot) error
	Compact(index uint64) error
}

// memberShell is what the core asks of the process around it. Its methods
// run on the loop and must not block on the network or the disk's fsync.
type memberShell interface {
	// send hands messages to the transport.
	send(msgs []pb.Message)
	// requestSync asks for the log to be synced off the loop; the outcome
	// comes back through onSynced.
	requestSync()
	// saveReceivedSnapshot durably writes the table and kv files of a
	// snapshot received from the leader, and returns its decoded state.
	saveReceivedSnapshot(snap pb.Snapshot) (*restored, error)
	// writeSnapshot writes job's table and kv files off the loop; the job
	// comes back through finishSnapshot.
	writeSnapshot(job *snapshotJob, store *kv.Store, table *membership)
	// snapshotRecorded runs once a snapshot is in the log and the log
	// compacted: older files may go.
	snapshotRecorded(job *snapshotJob, prevIndex uint64)
	// configChanged follows a new membership table or configuration.
	configChanged()
	// persistRemoved records for good that this member was removed.
	persistRemoved() error
}

// recover sets the core up from what a start finds: the kv store and the
// table of the newest kv snapshot, and the log. The member's removal comes
// from member.json first.
func (m *memberCore) recover(disk memberLog, store *kv.Store, table *membership) error {
	m.disk, m.table = disk, table
	m.store.Store(store)
	_, cs, err := disk.InitialState()
	if err != nil {
		return fmt.Errorf("read the log's state: %w", err)
	}
	snap, err := disk.Snapshot()
	if err != nil {
		return fmt.Errorf("read the log's snapshot: %w", err)
	}
	// The Raft core hands out committed entries from its snapshot on.
	m.confState, m.snapIndex, m.applyIndex = cs, snap.Metadata.Index, snap.Metadata.Index
	m.shell.configChanged()
	_ = m.checkRemoved() // sets wasMember; cannot mark removed yet
	m.outcast = m.removed.Load() && m.inConfig.Load()
	if m.snapIndex > store.AppliedIndex() {
		return fmt.Errorf("the log starts after its snapshot at index %d, but the newest readable kv snapshot is at %d "+
			"(newer ones are missing or corrupt, see the warnings above): this member cannot recover its state locally; "+
			"remove it from the cluster and add a member with an empty data dir", m.snapIndex, store.AppliedIndex())
	}
	return m.openRaft()
}

// openRaft makes the Raft core over the log.
func (m *memberCore) openRaft() error {
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        m.id,
		ElectionTick:              m.params.electionTicks,
		HeartbeatTick:             m.params.heartbeatTicks,
		Storage:                   m.disk,
		MaxSizePerMsg:             1 << 20,
		MaxUncommittedEntriesSize: 1 << 30,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		AsyncPersistence:          true,
		// The shell is done with a Ready's message slices by Advance: the
		// transport queues the Message values, and held Messages are copied
		// (syncWait).
		ReuseReadyMessages: true,
		Logger:             raft.SlogLogger{L: m.log},
	})
	if err != nil {
		return err
	}
	m.rn = rn
	return nil
}

// start runs once, before the first event.
func (m *memberCore) start() {
	m.shell.configChanged()
	if cs := m.confState; len(cs.Voters) == 1 && cs.Voters[0] == m.id && len(cs.VotersOutgoing) == 0 {
		_ = m.rn.Campaign() // alone: no need to wait an election timeout
	}
}

// tick advances the core's clock by one tick.
func (m *memberCore) tick() {
	if m.outcast {
		return
	}
	m.rn.Tick()
	m.retryReads()
}

// report takes a delivery report from the transport.
func (m *memberCore) report(r report) {
	switch {
	case r.removedBy:
		m.learnRemoved(r.id)
	case r.snapshot:
		m.rn.ReportSnapshot(r.id, r.status)
	default:
		m.metrics.unreachable.Inc()
		m.rn.ReportUnreachable(r.id)
	}
}

func (m *memberCore) step(msg pb.Message) {
	if m.outcast {
		return
	}
	if msg.Type != pb.MsgTimeoutNow && m.table.isRemoved(msg.From) && !m.configIDs()[msg.From] {
		// A removed member, left out of the configuration (after a
		// ForceNewCluster, one that came back with its old log): its
		// messages would drag this member back into the old configuration.
		// A leader that removed itself still hands over as it steps down.
		m.log.Debug("dropped a message from a removed member", "type", msg.Type, "from", fmt.Sprintf("%x", msg.From))
		return
	}
	m.noteLeaderContact(msg)
	if err := m.rn.Step(msg); err != nil {
		m.log.Debug("step", "type", msg.Type, "from", msg.From, "err", err)
	}
}

// propose proposes a batch of writes as one message.
func (m *memberCore) propose(batch []proposal) {
	ents := make([]pb.Entry, len(batch))
	for i, p := range batch {
		ents[i] = pb.Entry{Data: p.data}
	}
	err := m.rn.Step(pb.Message{Type: pb.MsgProp, From: m.id, Entries: ents})
	if err == nil {
		term := m.term.Load()
		for _, p := range batch {
			m.proposals.proposed(p.reqID, term)
		}
		return
	}
	m.metrics.proposalsDropped.Add(float64(len(batch)))
	if errors.Is(err, raft.ErrProposalDropped) {
		err = notProposed("proposal dropped (no leader, or leadership is being transferred): %v", err)
	}
	for _, p := range batch {
		m.w.trigger(p.reqID, err)
	}
}

// readIndex queues linearizable reads for the next ReadIndex round (see
// readTracker).
func (m *memberCore) readIndex(reads []readSink) {
	for _, r := range reads {
		m.reads.add(r)
	}
	m.startReadRound()
}

// startReadRound sends one ReadIndex request for every queued read, unless a
// round is in flight; without a leader the queued reads are refused.
func (m *memberCore) startReadRound() {
	ctx, refused, ok := m.reads.startRound(m.hasLeader)
	for _, r := range refused {
		r.readDone(status.Error(codes.Unavailable, "no leader: cannot serve a linearizable read"))
	}
	if ok {
		m.metrics.readIndexRequests.Inc()
		m.rn.ReadIndex(ctx)
	}
}

// hasLeader reports whether the core knows a leader for its term.
func (m *memberCore) hasLeader() bool { return m.rn.BasicStatus().Lead != raft.None }

// retryReads re-sends a ReadIndex request unanswered for an election timeout
// (lost with a leader change); a retry with the same context replaces the old.
func (m *memberCore) retryReads() {
	if ctx := m.reads.tick(); ctx != nil {
		m.rn.ReadIndex(ctx)
	}
}

// handleReady handles every Ready. Persistence is pipelined (the core's
// AsyncPersistence): a Ready's writes go to the wal's file at once and the
// syncer goroutine fsyncs them in the background, one fsync covering every
// write made while the previous one ran, so the loop never waits for the disk.
// What must wait, waits in syncWait: the Ready's Messages (acknowledgements,
// votes) go out, and the core counts the leader's own copy, only once the
// writes before them are durable. The leader's appends (LeaderMessages) go out
// at once (§10.2.1). Committed entries are applied at once: committed means
// durable on a quorum, whether or not this member's copy is synced yet.
func (m *memberCore) handleReady() error {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		if rd.SoftState != nil {
			m.onSoftState(*rd.SoftState)
		}
		if !rd.HardState.IsEmpty() {
			m.term.Store(rd.HardState.Term)
			m.commit.Store(rd.HardState.Commit)
		}
		m.shell.send(rd.LeaderMessages)
		snap := !raft.IsEmptySnap(rd.Snapshot)
		if snap {
			// Rare: a snapshot is persisted synchronously, behind every write.
			if err := m.persistSnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		seq, needSync, err := m.disk.Write(rd.HardState, rd.Entries)
		if err != nil {
			return fmt.Errorf("persist ready: %w", err)
		}
		m.sw.recordWrite(seq, needSync, rd)
		synced := uint64(0)
		if snap || m.syncNow {
			// A forced configuration (syncNow) commits entries on this
			// member's copy alone: it must be durable before they apply.
			m.syncNow = false
			if synced, err = m.disk.Sync(); err != nil {
				return fmt.Errorf("persist ready: %w", err)
			}
		} else if needSync {
			m.shell.requestSync()
		}
		m.shell.send(m.sw.holdOrSend(rd.Messages))
		if snap {
			if err := m.applySnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		if err := m.applyEntries(rd.CommittedEntries); err != nil {
			return err
		}
		m.onReadStates(rd.ReadStates)
		m.answerReads()
		m.rn.Advance(rd)
		if synced > 0 {
			m.onSynced(synced)
		}
		if m.campaignNow {
			// Alone in the forced configuration: no need to wait an
			// election timeout (the core refuses until it is applied).
			m.campaignNow = false
			_ = m.rn.Campaign()
		}
		if err := m.maybeSnapshot(); err != nil {
			return err
		}
	}
	return nil
}

func (m *memberCore) onSoftState(ss raft.SoftState) {
	if prev := m.leader.Swap(ss.Lead); prev != ss.Lead {
		m.metrics.leaderChanges.Inc()
		m.log.Info("leader changed", "leader", fmt.Sprintf("%x", ss.Lead), "role", ss.RaftState.String())
		if ss.Lead == raft.None {
			// Cut off from any leader, this member may not apply anything
			// for a long time; its writes learn that now.
			m.failProposals("this member lost its leader before the write was applied; its outcome is unknown")
		}
	}
}

// failProposals answers every write still waiting with msg, as of unknown
// outcome: each may still be applied by the leader it reached.
func (m *memberCore) failProposals(msg string) {
	for _, id := range m.proposals.takeAll() {
		m.w.trigger(id, status.Error(codes.Unavailable, msg))
	}
}

// onSynced runs on the loop when the writes up to seq are durable: it tells
// the core, and sends the messages that waited for them.
func (m *memberCore) onSynced(seq uint64) {
	p, send := m.sw.onSynced(seq)
	if p != nil {
		m.rn.Persisted(p.index, p.term, p.hardStateTerm)
	}
	for _, msgs := range send {
		m.shell.send(msgs)
	}
}

// noteLeaderContact resets the silence count on a message only a leader sends.
func (m *memberCore) noteLeaderContact(msg pb.Message) {
	switch msg.Type {
	case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap:
		m.silentTicks = 0
	}
}
