package raft_test

import (
	"errors"
	"math"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Members with Config.AsyncPersistence model raftnode/server's pipelined
// persistence (server/loop.go handleReady, server/persist.go):
//
//   - A Ready's hard state and entries are written at once: the member's disk
//     (what its Storage reads) has them, but they are not durable. Every write
//     gets the next sequence number, as wal.Write does; one that
//     raft.MustSync says must be synced is recorded for Persisted
//     (recordWrite) and wakes the syncer (requestSync).
//   - The syncer is one sync at a time: a sync covers every write made before
//     it started, completes after a random delay (sometimes a long stall), and
//     requests made meanwhile coalesce into the next one (group commit). On
//     completion (onSynced) the writes it covered become durable, the core is
//     told with one Persisted(index, term, hardStateTerm) for the recorded
//     writes it covers, in order, and the messages held for them go out.
//   - A Ready's Messages go out at once only if no recorded write is still to
//     be synced and none are held; otherwise they are held behind the newest
//     recorded write (holdOrSend). LeaderMessages go out at once.
//   - Committed entries are applied at once, before the write is durable.
//   - A Ready with a snapshot is persisted synchronously: the snapshot's save
//     syncs every earlier write, the Ready's write is synced at once, and
//     onSynced runs after Advance. A snapshot the member makes itself
//     (maybeSnapshot) is saved with a sync too (wal.SaveSnapshot), which makes
//     every earlier write durable without telling the core.
//   - A crash loses every write not yet durable, except that, as a file whose
//     tail was partly flushed by the kernel, a prefix of them may survive
//     (torn tail: the wal's checksums cut the log at the first bad record). The
//     member restarts from its durable disk only. Its state machine is then the
//     one of its latest snapshot (volatile) or, when durable, the one captured
//     when its last completed sync started: such a store is synced with the
//     log, so it never runs ahead of the durable commit index.
//   - A removed member that is stopped shuts down cleanly (wal.Close syncs).
//
// The Ready contract checks (sim_member_test.go) apply as for any member, and
// observe checks that a leader counts only its durable copy toward commit.

// simWrite is one write to a member's disk not yet durable.
type simWrite struct {
	seq  uint64
	hs   pb.HardState
	ents []pb.Entry
}

// simPipeline is an async member's persistence pipeline in one incarnation.
type simPipeline struct {
	// durable is the disk as it would be found after a crash.
	durable *raft.MemoryStorage
	// written is the sequence number of the last write; lastHS the last hard
	// state written (wal.Log's hs, for MustSync).
	written uint64
	lastHS  pb.HardState
	// pending are the writes made but not yet durable, in order.
	pending []simWrite
	// needSeq, synced, writes and held mirror the server's syncWait.
	needSeq, synced uint64
	writes          []simPendingWrite
	held            []simHeld
	// syncing says a sync is running, covering writes up to syncSeq; syncAgain
	// that another was requested meanwhile. syncSM is the state machine when
	// the running sync started; smDurable the state machine as of the last
	// completed one.
	syncing, syncAgain bool
	syncSeq            uint64
	syncSM, smDurable  simStateMachine
}

type simPendingWrite struct{ seq, index, term, hardStateTerm uint64 }

type simHeld struct {
	seq  uint64
	msgs []pb.Message
}

// async reports whether m runs with AsyncPersistence.
func (m *simMember) async() bool { return m.cfg.AsyncPersistence }

// startPipeline sets up m's pipeline at a start: everything on its disk is
// durable, and so is its state machine.
func (s *sim) startPipeline(m *simMember) {
	if !m.async() {
		return
	}
	hs, _, _ := m.disk.InitialState()
	m.pipe = simPipeline{durable: s.cloneStorage(m, m.disk), lastHS: hs, smDurable: m.sm}
}

// cloneStorage returns a copy of d: its snapshot, entries and hard state.
func (s *sim) cloneStorage(m *simMember, d *raft.MemoryStorage) *raft.MemoryStorage {
	c := raft.NewMemoryStorage()
	snap, _ := d.Snapshot()
	first, _ := d.FirstIndex()
	last, _ := d.LastIndex()
	base := first - 1
	if base > 0 {
		baseTerm, err := d.Term(base)
		if err != nil {
			s.failf("member %d: clone disk: term at %d: %v", m.id, base, err)
		}
		meta := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: base, Term: baseTerm}}
		if base == snap.Metadata.Index {
			meta = snap
		}
		if err := c.ApplySnapshot(meta); err != nil {
			s.failf("member %d: clone disk: %v", m.id, err)
		}
	}
	if first <= last {
		ents, err := d.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			s.failf("member %d: clone disk: entries: %v", m.id, err)
		}
		if err := c.Append(ents); err != nil {
			s.failf("member %d: clone disk: append: %v", m.id, err)
		}
	}
	if snap.Metadata.Index > base {
		conf := snap.Metadata.ConfState
		if _, err := c.CreateSnapshot(snap.Metadata.Index, &conf, snap.Data); err != nil {
			s.failf("member %d: clone disk: snapshot at %d: %v", m.id, snap.Metadata.Index, err)
		}
	}
	hs, _, _ := d.InitialState()
	_ = c.SetHardState(hs)
	return c
}

// applyDurable applies w to m's durable disk.
func (s *sim) applyDurable(m *simMember, w *simWrite) {
	if !raft.IsEmptyHardState(w.hs) {
		_ = m.pipe.durable.SetHardState(w.hs)
	}
	if err := m.pipe.durable.Append(w.ents); err != nil {
		s.failf("member %d: durable write %d: %v", m.id, w.seq, err)
	}
}

// flushTo makes the pending writes up to seq durable.
func (s *sim) flushTo(m *simMember, seq uint64) {
	n := 0
	for ; n < len(m.pipe.pending) && m.pipe.pending[n].seq <= seq; n++ {
		s.applyDurable(m, &m.pipe.pending[n])
	}
	m.pipe.pending = slices.Delete(m.pipe.pending, 0, n)
}

// writeAsync records rd's write, which persist made visible on m's disk, as
// the server's handleReady does. It returns the sequence number that a
// synchronous sync made durable (a Ready with a snapshot), for onSynced after
// Advance, or 0.
func (s *sim) writeAsync(m *simMember, rd *raft.Ready) uint64 {
	p := &m.pipe
	snap := !raft.IsEmptySnap(rd.Snapshot)
	if snap {
		// wal.SaveSnapshot syncs everything written before it.
		s.flushTo(m, p.written)
		if err := p.durable.ApplySnapshot(rd.Snapshot); err != nil {
			s.failf("member %d: durable snapshot at %d: %v", m.id, rd.Snapshot.Metadata.Index, err)
		}
	}
	if !raft.IsEmptyHardState(rd.HardState) || len(rd.Entries) > 0 {
		needSync := raft.MustSync(rd.HardState, p.lastHS, len(rd.Entries))
		p.written++
		w := simWrite{seq: p.written, hs: rd.HardState, ents: slices.Clone(rd.Entries)}
		if !raft.IsEmptyHardState(rd.HardState) {
			p.lastHS = rd.HardState
		}
		p.pending = append(p.pending, w)
		s.stats.asyncWrites++
		if needSync {
			p.needSeq = p.written
			pw := simPendingWrite{seq: p.written, hardStateTerm: rd.HardState.Term}
			if n := len(rd.Entries); n > 0 {
				pw.index, pw.term = rd.Entries[n-1].Index, rd.Entries[n-1].Term
			}
			p.writes = append(p.writes, pw)
			if !snap {
				s.requestSync(m)
			}
		}
	}
	if snap {
		s.flushTo(m, p.written)
		return p.written
	}
	return 0
}

// holdOrSend sends msgs now if every recorded write is durable and nothing is
// held, and holds them behind the newest recorded write otherwise.
func (s *sim) holdOrSend(m *simMember, msgs []pb.Message) {
	if len(msgs) == 0 {
		return
	}
	p := &m.pipe
	if p.needSeq <= p.synced && len(p.held) == 0 {
		s.send(m, msgs)
		return
	}
	s.stats.heldMsgs += len(msgs)
	p.held = append(p.held, simHeld{seq: p.needSeq, msgs: slices.Clone(msgs)})
}

// requestSync starts a sync, or asks for another after the running one.
func (s *sim) requestSync(m *simMember) {
	if m.pipe.syncing {
		m.pipe.syncAgain = true
		return
	}
	s.startSync(m)
}

// startSync starts a sync of every write made so far.
func (s *sim) startSync(m *simMember) {
	p := &m.pipe
	p.syncing, p.syncAgain = true, false
	p.syncSeq, p.syncSM = p.written, m.sm
	delay := 1 + s.arng.Int64N(s.params.syncDelay)
	// A stall is a fault: none once the faults stop (converge).
	if s.params.syncStallP > 0 && s.step <= s.steps && s.arng.Float64() < s.params.syncStallP {
		delay += s.arng.Int64N(int64(s.params.electionTick) * simTickUnits * 10)
	}
	s.stats.syncs++
	s.net.seq++
	s.net.queue.push(simMsg{
		at: s.now + delay, seq: int64(s.net.seq),
		to: m.id, toInc: m.incarnation, local: localSyncDone,
	})
}

// syncDone completes the running sync of the member's incarnation that
// started it: its writes are durable now.
func (s *sim) syncDone(ev *simMsg) {
	m := s.member(ev.to)
	if m.rn == nil || m.incarnation != ev.toInc || !m.pipe.syncing {
		return
	}
	p := &m.pipe
	p.syncing = false
	s.flushTo(m, p.syncSeq)
	if p.syncSM.applied >= p.smDurable.applied {
		p.smDurable = p.syncSM
	}
	s.digest.Write([]byte{'y', byte(m.id)})
	s.tracef("member %d synced writes up to %d", m.id, p.syncSeq)
	s.onSynced(m, p.syncSeq)
	if m.rn != nil && p.syncAgain {
		s.startSync(m)
	}
	s.settle(m)
}

// onSynced tells m's core that the writes up to seq are durable and sends the
// messages that waited for them.
func (s *sim) onSynced(m *simMember, seq uint64) {
	p := &m.pipe
	if seq <= p.synced {
		return
	}
	p.synced = seq
	var index, term, hsTerm uint64
	n := 0
	for ; n < len(p.writes) && p.writes[n].seq <= seq; n++ {
		w := p.writes[n]
		if w.index > 0 {
			index, term = w.index, w.term
		}
		hsTerm = max(hsTerm, w.hardStateTerm)
	}
	if n > 0 {
		p.writes = slices.Delete(p.writes, 0, n)
		s.tracef("member %d: Persisted(%d, %d, %d)", m.id, index, term, hsTerm)
		m.rn.Persisted(index, term, hsTerm)
		s.observe(m)
	}
	n = 0
	for ; n < len(p.held) && p.held[n].seq <= seq; n++ {
		s.send(m, p.held[n].msgs)
	}
	p.held = slices.Delete(p.held, 0, n)
}

// loseUnsynced is the disk's side of a crash of an async member: the writes
// not yet durable are lost but for a torn prefix, the member's disk is its
// durable disk from now on, and a durable state machine goes back to what its
// last sync covered.
func (s *sim) loseUnsynced(m *simMember) {
	p := &m.pipe
	if n := len(p.pending); n > 0 {
		keep := 0
		if s.params.tornP > 0 && s.arng.Float64() < s.params.tornP {
			keep = s.arng.IntN(n + 1)
		}
		if keep > 0 {
			s.flushTo(m, p.pending[keep-1].seq)
		}
		s.stats.lostWrites += len(p.pending)
		s.tracef("member %d loses %d writes not yet durable (a torn tail kept %d more)", m.id, len(p.pending), keep)
	}
	m.disk = p.durable
	if !m.volatileSM {
		m.sm = p.smDurable
	}
	m.pipe = simPipeline{}
}

// snapshotDurable mirrors on m's durable disk a snapshot m made itself (and
// the compaction after it): saving it syncs every earlier write.
func (s *sim) snapshotDurable(m *simMember, snap pb.Snapshot, compact uint64) {
	p := &m.pipe
	s.flushTo(m, p.written)
	conf := snap.Metadata.ConfState
	if _, err := p.durable.CreateSnapshot(snap.Metadata.Index, &conf, snap.Data); err != nil {
		s.failf("member %d: durable snapshot at %d: %v", m.id, snap.Metadata.Index, err)
	}
	if m.sm.applied >= p.smDurable.applied {
		p.smDurable = m.sm
	}
	if compact > 0 {
		if err := p.durable.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			s.failf("member %d: durable compact to %d: %v", m.id, compact, err)
		}
	}
}

// checkDurableSelf checks, at an async leader, that the match index it counts
// for itself toward commit is durable: its durable disk holds that entry, or
// compacted it into a snapshot.
func (s *sim) checkDurableSelf(m *simMember, match uint64) {
	if !m.async() || match == 0 {
		return
	}
	want, err := m.disk.Term(match)
	if errors.Is(err, raft.ErrCompacted) {
		return
	}
	if err != nil {
		// Not yet on the disk: the Ready that carries it is being handled.
		s.failf("async persistence: leader %d counts its own copy up to %d, which it has not even written: %v", m.id, match, err)
	}
	got, err := m.pipe.durable.Term(match)
	if errors.Is(err, raft.ErrCompacted) {
		return
	}
	if err != nil || got != want {
		dl, _ := m.pipe.durable.LastIndex()
		s.failf("async persistence: leader %d counts its own copy up to %d (term %d) toward commit, but its durable log "+
			"has term %d there (err %v, durable last index %d, %d writes pending)", m.id, match, want, got, err, dl, len(m.pipe.pending))
	}
}
