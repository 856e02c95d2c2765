package raft_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/raftkube/raftkube/raftnode/raft"
	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// simCrashPoint is where in the handling of its next Ready a member crashes.
// Between them they cover the Ready contract: LeaderMessages may leave before the
// Ready is persisted, Messages only after.
type simCrashPoint int

const (
	crashNone            simCrashPoint = iota
	crashBeforeReady                   // nothing of the Ready was done
	crashAfterLeaderMsgs               // LeaderMessages sent, nothing persisted
	crashAfterPersist                  // persisted, Messages not sent
	crashAfterMessages                 // persisted and sent, nothing applied
	crashMidApply                      // some of the committed entries applied
	crashBeforeAdvance                 // everything done but Advance
	numCrashPoints
)

var crashPointNames = [...]string{"none", "before Ready", "after LeaderMessages", "after persisting",
	"after Messages", "while applying", "before Advance"}

func (p simCrashPoint) String() string { return crashPointNames[p] }

// simStateMachine is a member's replicated state: the list of entries it applied.
// It is durable with every applied entry (a member with a volatile state machine
// rebuilds it from its latest snapshot on restart instead).
type simStateMachine struct {
	// applied is the index of the last entry applied (or of the snapshot).
	applied uint64
	// list holds every entry applied from index 2 on: index 1 is the snapshot a
	// cluster is bootstrapped from. list[i].Index == i+2.
	list []pb.Entry
	// conf is the configuration in force at applied.
	conf pb.ConfState
}

// encodeStateMachine encodes the applied list as the data of a snapshot.
func encodeStateMachine(list []pb.Entry) []byte {
	b := make([]byte, 0, 8+len(list)*24)
	b = binary.AppendUvarint(b, uint64(len(list)))
	for i := range list {
		e := &list[i]
		b = binary.AppendUvarint(b, e.Index)
		b = binary.AppendUvarint(b, e.Term)
		b = binary.AppendUvarint(b, uint64(e.Type))
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

// decodeStateMachine decodes snapshot data into the applied list.
func decodeStateMachine(b []byte) ([]pb.Entry, error) {
	errBad := errors.New("malformed state machine snapshot")
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errBad
		}
		b = b[n:]
		return v, nil
	}
	n, err := next()
	if err != nil || n > uint64(len(b)) {
		return nil, errBad
	}
	list := make([]pb.Entry, n)
	for i := range list {
		var v [4]uint64
		for j := range v {
			if v[j], err = next(); err != nil {
				return nil, err
			}
		}
		if v[3] > uint64(len(b)) {
			return nil, errBad
		}
		list[i] = pb.Entry{Index: v[0], Term: v[1], Type: pb.EntryType(v[2])}
		if v[3] > 0 {
			list[i].Data = b[:v[3]:v[3]]
		}
		b = b[v[3]:]
	}
	if len(b) != 0 {
		return nil, errBad
	}
	return list, nil
}

// simDisk is a member's disk as its restarted RawNode sees it. A member that
// applied configuration changes after its latest snapshot persisted the
// configuration with its state machine, so that is the configuration it starts
// from (see StateStorage.InitialState).
type simDisk struct {
	*raft.MemoryStorage
	conf pb.ConfState
}

// InitialState implements raft.Storage.
func (d simDisk) InitialState() (pb.HardState, pb.ConfState, error) {
	hs, _, err := d.MemoryStorage.InitialState()
	return hs, d.conf, err
}

// simMember is one member: a RawNode while it runs, its disk and state machine
// always.
type simMember struct {
	id uint64
	// cfg is the member's configuration; Storage and Applied are set at each start.
	cfg raft.Config
	// rn is nil while the member is down or stopped.
	rn *raft.RawNode
	// disk holds what the member persisted: hard state, entries, snapshot.
	disk *raft.MemoryStorage
	sm   simStateMachine
	// volatileSM makes the state machine live in memory only: a restart rebuilds
	// it from the latest snapshot and the log is applied again from there.
	volatileSM bool
	// incarnation counts starts; messages to an earlier incarnation are lost.
	incarnation uint64
	down        bool
	// stopped members were removed from the cluster and never run again.
	stopped     bool
	restartTick int64
	// crash is armed to crash the member in its next Ready; crashApplyAt is how
	// many committed entries it applies first at crashMidApply.
	crash        simCrashPoint
	crashApplyAt int
	// writing is the Ready whose write to disk is in flight, or nil. No other
	// Ready is taken until it is finished and advanced.
	writing *raft.Ready
	// readyLater says the member put off asking for its Ready (handleReady).
	readyLater bool
	// pipe is the persistence pipeline of a member with AsyncPersistence
	// (sim_async_test.go).
	pipe simPipeline

	// leaderTerm is the last term in which the member's log was checked for
	// Leader Completeness on taking office.
	leaderTerm uint64
	// commitTerm and commitBase: as leader of commitTerm, the member's commit
	// index up to commitBase was checked against its quorum.
	commitTerm, commitBase uint64
	// checkedTo is how far the disk's entries were recorded as committed.
	checkedTo uint64
	// lastSnap is the index of the last snapshot the member made itself.
	lastSnap uint64
	// everInConfig says whether the leader's configuration ever had the member;
	// removedAt is the tick it was seen removed, or -1 (see reapRemoved).
	everInConfig bool
	removedAt    int64
}

// start starts (or restarts) m from what it persisted: its disk, and its
// applied state machine, or its latest snapshot when that is newer or the state
// machine is volatile.
func (s *sim) start(m *simMember) {
	snap, err := m.disk.Snapshot()
	if err != nil {
		s.failf("member %d: read snapshot: %v", m.id, err)
	}
	var storage raft.Storage = m.disk
	switch {
	case snap.Metadata.Index > 0 && (m.volatileSM || snap.Metadata.Index >= m.sm.applied):
		list, err := decodeStateMachine(snap.Data)
		if err != nil {
			s.failf("member %d: snapshot at %d: %v", m.id, snap.Metadata.Index, err)
		}
		m.sm = simStateMachine{applied: snap.Metadata.Index, list: list, conf: snap.Metadata.ConfState}
	case m.sm.applied > 0:
		storage = simDisk{MemoryStorage: m.disk, conf: m.sm.conf}
	}
	cfg := m.cfg
	cfg.Storage = storage
	cfg.Applied = m.sm.applied
	rn, err := raft.NewRawNode(&cfg)
	if err != nil {
		s.failf("member %d: restart: %v", m.id, err)
	}
	m.rn = rn
	m.writing = nil
	m.readyLater = false
	m.down = false
	m.incarnation++
	m.crash = crashNone
	s.startPipeline(m)
	s.digest.Write([]byte{'s', byte(m.id)})
}

// crashNow stops m as a crash does: whatever it did not persist is lost, and so
// are the messages in flight to it. It restarts after a while.
func (s *sim) crashNow(m *simMember, at simCrashPoint) {
	s.tracef("member %d crashes %s", m.id, at)
	if m.async() {
		s.loseUnsynced(m)
	}
	m.rn = nil
	m.writing = nil
	m.readyLater = false
	m.down = true
	m.crash = crashNone
	m.restartTick = s.tick + 1 + int64(s.rng.IntN(s.params.downTicks))
	s.stats.crashes++
	s.digest.Write([]byte{'c', byte(m.id), byte(at)})
}

// stop stops a removed member for good.
func (s *sim) stop(m *simMember) {
	s.tracef("member %d is stopped (removed)", m.id)
	// A clean shutdown: an async member's writes are all synced (wal.Close).
	m.pipe = simPipeline{}
	m.rn = nil
	m.writing = nil
	m.readyLater = false
	m.down = true
	m.stopped = true
	s.stats.stops++
}

// crashesAt reports whether m is armed to crash at p, and crashes it if so.
func (s *sim) crashesAt(m *simMember, p simCrashPoint) bool {
	if m.crash != p {
		return false
	}
	s.crashNow(m, p)
	return true
}

// observe checks what a member's status reveals after every call into it:
// Election Safety, and that a leader commits only what a majority of each half
// of its configuration has.
func (s *sim) observe(m *simMember) {
	if m.rn == nil {
		return
	}
	st := m.rn.BasicStatus()
	s.chk.status(st.Term, st.Commit)
	if st.RaftState != raft.StateLeader {
		return
	}
	if err := s.chk.leader(st.Term, m.id); err != nil {
		s.fail(err)
	}
	if m.commitTerm != st.Term {
		// Newly leader: what it committed before was checked by whoever committed it.
		m.commitTerm, m.commitBase = st.Term, st.Commit
		s.stats.leaders++
		s.tracef("member %d leads term %d (commit %d)", m.id, st.Term, st.Commit)
		return
	}
	if st.Commit <= m.commitBase {
		return
	}
	full := m.rn.Status()
	s.checkDurableSelf(m, full.Progress[m.id].Match)
	acks := make(quorum.MapAckIndexer, len(full.Progress))
	for id, pr := range full.Progress {
		acks[id] = quorum.Index(pr.Match)
	}
	if err := s.chk.jointQuorum(m.id, st.Term, full.Config.Voters, acks, st.Commit); err != nil {
		s.fail(err)
	}
	m.commitBase = st.Commit
}

// handleReady handles m's Readys as a correct caller does, in the order of the
// Ready contract, crashing at the armed point, and checks what each reveals. A
// member with an asynchronous disk sends LeaderMessages at once and finishes the
// rest when its write completes (finishReady), stepping messages and ticks in
// the meantime: that is when a leader's appends race its own write (Raft thesis
// §10.2.1).
//
// A member may also put off asking for its Ready (readyLater): an event loop
// steps whatever messages are waiting before it asks, so one Ready carries the
// work of several steps.
func (s *sim) handleReady(m *simMember) {
	if m.rn == nil || m.readyLater || m.writing != nil || !m.rn.HasReady() {
		return
	}
	if p := s.params.deferReadyP; p > 0 && s.rng.Float64() < p {
		m.readyLater = true
		s.net.seq++
		s.net.queue.push(simMsg{
			at: s.now + 1 + s.rng.Int64N(s.params.deferDelay), seq: int64(s.net.seq),
			to: m.id, toInc: m.incarnation, local: localReady,
		})
		return
	}
	s.drainReady(m)
}

// readyNow handles the Readys a member put off.
func (s *sim) readyNow(ev *simMsg) {
	m := s.member(ev.to)
	if m.rn == nil || m.incarnation != ev.toInc || !m.readyLater {
		return
	}
	m.readyLater = false
	s.drainReady(m)
}

// drainReady handles m's Readys until it has none or one is being written.
func (s *sim) drainReady(m *simMember) {
	for m.rn != nil && m.writing == nil && m.rn.HasReady() {
		if s.crashesAt(m, crashBeforeReady) {
			return
		}
		rd := m.rn.Ready()
		s.checkNewLeader(m, &rd)
		s.send(m, rd.LeaderMessages)
		if s.crashesAt(m, crashAfterLeaderMsgs) {
			return
		}
		// An async member never waits for its disk: the pipeline does.
		if !m.async() && s.params.asyncDiskP > 0 && s.rng.Float64() < s.params.asyncDiskP {
			m.writing = &rd
			s.net.seq++
			s.net.queue.push(simMsg{
				at: s.now + 1 + s.rng.Int64N(s.params.diskDelay), seq: int64(s.net.seq),
				to: m.id, toInc: m.incarnation, local: localWriteDone,
			})
			return
		}
		s.finishReady(m, &rd)
	}
}

// writeDone finishes the Ready whose write was in flight, if the member that
// started it is still running.
func (s *sim) writeDone(ev *simMsg) {
	m := s.member(ev.to)
	if m.rn == nil || m.incarnation != ev.toInc || m.writing == nil {
		return
	}
	rd := m.writing
	m.writing = nil
	s.finishReady(m, rd)
	if m.rn != nil {
		s.handleReady(m)
	}
}

// finishReady persists rd, sends its Messages, applies it and advances.
func (s *sim) finishReady(m *simMember, rd *raft.Ready) {
	// Entries rewritten at or below the commit index would change committed
	// entries.
	commit := max(m.checkedTo, rd.HardState.Commit)
	for i := range rd.Entries {
		if e := &rd.Entries[i]; e.Index <= commit {
			s.committed(m, e, "persisted")
		}
	}
	s.persist(m, rd)
	var synced uint64
	if m.async() {
		synced = s.writeAsync(m, rd)
	}
	if s.crashesAt(m, crashAfterPersist) {
		return
	}
	if m.async() {
		s.holdOrSend(m, rd.Messages)
	} else {
		s.send(m, rd.Messages)
	}
	if s.crashesAt(m, crashAfterMessages) {
		return
	}
	if !s.apply(m, rd) {
		return
	}
	for _, rs := range rd.ReadStates {
		s.stats.readsAnswered++
		if err := s.chk.readAnswered(m.id, string(rs.RequestCtx), rs.Index); err != nil {
			s.fail(err)
		}
	}
	if s.crashesAt(m, crashBeforeAdvance) {
		return
	}
	m.rn.Advance(*rd)
	if synced > 0 {
		s.onSynced(m, synced)
	}
	s.observe(m)
	s.maybeSnapshot(m)
}

// persist writes rd's hard state, snapshot and entries to m's disk, as one
// atomic write, and records the entries now known committed.
func (s *sim) persist(m *simMember, rd *raft.Ready) {
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := m.disk.SetHardState(rd.HardState); err != nil {
			s.failf("member %d: persist hard state: %v", m.id, err)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := m.disk.ApplySnapshot(rd.Snapshot); err != nil {
			s.failf("member %d: persist snapshot at %d: %v", m.id, rd.Snapshot.Metadata.Index, err)
		}
		m.checkedTo = max(m.checkedTo, rd.Snapshot.Metadata.Index)
	}
	if err := m.disk.Append(rd.Entries); err != nil {
		s.failf("member %d: persist entries: %v", m.id, err)
	}
	hs, _, err := m.disk.InitialState()
	if err != nil {
		s.failf("member %d: read hard state: %v", m.id, err)
	}
	if hs.Commit <= m.checkedTo {
		return
	}
	first, _ := m.disk.FirstIndex()
	last, _ := m.disk.LastIndex()
	lo, hi := max(m.checkedTo+1, first), min(hs.Commit, last)
	if hs.Commit > last {
		s.failf("member %d: persisted commit index %d is past its last entry %d", m.id, hs.Commit, last)
	}
	if lo <= hi {
		ents, err := m.disk.Entries(lo, hi+1, math.MaxUint64)
		if err != nil {
			s.failf("member %d: read entries [%d, %d]: %v", m.id, lo, hi, err)
		}
		for i := range ents {
			s.committed(m, &ents[i], "holds committed")
		}
	}
	m.checkedTo = hs.Commit
}

// apply applies rd's snapshot and committed entries to m's state machine. It
// reports false if m crashed on the way.
func (s *sim) apply(m *simMember, rd *raft.Ready) bool {
	if snap := &rd.Snapshot; !raft.IsEmptySnap(*snap) {
		idx := snap.Metadata.Index
		if idx <= m.sm.applied {
			s.failf("state machine safety: member %d was handed a snapshot at %d after applying %d", m.id, idx, m.sm.applied)
		}
		list, err := decodeStateMachine(snap.Data)
		if err != nil {
			s.failf("member %d: snapshot at %d: %v", m.id, idx, err)
		}
		if uint64(len(list))+1 != idx {
			s.failf("member %d: snapshot at %d holds %d applied entries", m.id, idx, len(list))
		}
		for i := range list {
			if list[i].Index != uint64(i)+2 {
				s.failf("member %d: snapshot at %d has index %d at position %d", m.id, idx, list[i].Index, i)
			}
			s.committed(m, &list[i], "installed a snapshot with")
		}
		m.sm = simStateMachine{applied: idx, list: list, conf: snap.Metadata.ConfState}
		s.stats.snapsApplied++
		s.tracef("member %d installs snapshot %d/%d", m.id, snap.Metadata.Term, idx)
	}
	for i := range rd.CommittedEntries {
		if m.crash == crashMidApply && i == m.crashApplyAt {
			s.crashNow(m, crashMidApply)
			return false
		}
		e := rd.CommittedEntries[i]
		if err := applyOrder(m.id, m.sm.applied, e.Index); err != nil {
			s.fail(err)
		}
		s.committed(m, &e, "applied")
		m.sm.list = append(m.sm.list, e)
		m.sm.applied = e.Index
		if s.final != nil && s.finalIndex == 0 && string(e.Data) == string(s.final) {
			s.finalIndex = e.Index
		}
		var cc pb.ConfChangeI
		switch e.Type {
		case pb.EntryConfChange:
			var c pb.ConfChange
			if err := c.Unmarshal(e.Data); err != nil {
				s.failf("member %d: decode conf change at %d: %v", m.id, e.Index, err)
			}
			cc = c
		case pb.EntryConfChangeV2:
			var c pb.ConfChangeV2
			if err := c.Unmarshal(e.Data); err != nil {
				s.failf("member %d: decode conf change v2 at %d: %v", m.id, e.Index, err)
			}
			cc = c
		default:
			continue
		}
		m.sm.conf = m.rn.ApplyConfChange(cc)
		s.stats.confChangesApplied++
		s.tracef("member %d applies conf change %d: %+v -> %+v", m.id, e.Index, cc.AsV2(), m.sm.conf)
		s.observe(m)
	}
	if m.crash == crashMidApply {
		s.crashNow(m, crashMidApply)
		return false
	}
	return true
}

// committed records e as committed on m's word.
func (s *sim) committed(m *simMember, e *pb.Entry, how string) {
	s.chk.status(m.rn.BasicStatus().Term, 0)
	if err := s.chk.committed(e, m.id, s.chk.maxTerm, how); err != nil {
		s.fail(err)
	}
}

// checkNewLeader checks Leader Completeness when m handles its first Ready as
// leader of a term: its log then is its disk plus the Ready's entries.
func (s *sim) checkNewLeader(m *simMember, rd *raft.Ready) {
	st := m.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || m.leaderTerm == st.Term {
		return
	}
	m.leaderTerm = st.Term
	first, _ := m.disk.FirstIndex()
	last, _ := m.disk.LastIndex()
	snapTerm, err := m.disk.Term(first - 1)
	if err != nil {
		s.failf("member %d: term of snapshot at %d: %v", m.id, first-1, err)
	}
	v := simLogView{snapIndex: first - 1, snapTerm: snapTerm, last: last}
	diskLast := last
	var rdFirst uint64 = math.MaxUint64
	if n := len(rd.Entries); n > 0 {
		rdFirst = rd.Entries[0].Index
		v.last = rd.Entries[n-1].Index
		diskLast = min(last, rdFirst-1)
		if rdFirst <= v.snapIndex {
			s.failf("member %d: leader's new entries start at %d, inside its snapshot at %d", m.id, rdFirst, v.snapIndex)
		}
	}
	var diskEnts []pb.Entry
	if first <= diskLast {
		if diskEnts, err = m.disk.Entries(first, diskLast+1, math.MaxUint64); err != nil {
			s.failf("member %d: read log: %v", m.id, err)
		}
	}
	v.entry = func(i uint64) pb.Entry {
		if i >= rdFirst {
			return rd.Entries[i-rdFirst]
		}
		return diskEnts[i-first]
	}
	if err := s.chk.leaderLog(m.id, st.Term, v); err != nil {
		s.fail(err)
	}
}

// maybeSnapshot makes m snapshot its state machine at its applied index and
// compact its log, every so often.
func (s *sim) maybeSnapshot(m *simMember) {
	if m.sm.applied < m.lastSnap+s.params.snapEvery {
		return
	}
	snap, _ := m.disk.Snapshot()
	if m.sm.applied <= snap.Metadata.Index {
		return
	}
	conf := m.sm.conf
	made, err := m.disk.CreateSnapshot(m.sm.applied, &conf, encodeStateMachine(m.sm.list))
	if err != nil {
		s.failf("member %d: create snapshot at %d: %v", m.id, m.sm.applied, err)
	}
	m.lastSnap = m.sm.applied
	s.stats.snapsMade++
	compact := m.sm.applied - min(m.sm.applied-1, uint64(s.rng.IntN(s.params.snapKeep+1)))
	if first, _ := m.disk.FirstIndex(); compact >= first {
		if err := m.disk.Compact(compact); err != nil {
			s.failf("member %d: compact to %d: %v", m.id, compact, err)
		}
	} else {
		compact = 0
	}
	if m.async() {
		s.snapshotDurable(m, made, compact)
	}
}

func (m *simMember) String() string {
	state := "running"
	switch {
	case m.stopped:
		state = "stopped"
	case m.down:
		state = "down"
	}
	return fmt.Sprintf("member %d (%s, applied %d)", m.id, state, m.sm.applied)
}
