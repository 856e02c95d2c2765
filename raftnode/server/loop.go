package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raftpb"
)

// maxBatch bounds the proposals or reads taken from their queue at once.
const maxBatch = 512

// loop is the event loop: the only goroutine that touches the RawNode.
func (s *Server) loop(ctx context.Context) error {
	ticker := newTicker(s.cfg.TickInterval)
	defer ticker.Stop()
	s.syncPeers()
	if cs := s.confState; len(cs.Voters) == 1 && cs.Voters[0] == s.id && len(cs.VotersOutgoing) == 0 {
		_ = s.rn.Campaign() // alone: no need to wait an election timeout
	}
	for {
		if err := s.handleReady(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if s.outcast {
				continue
			}
			s.rn.Tick()
			s.retryReads()
			s.maybeProbeRemoval(ctx)
		case m := <-s.recvc:
			s.step(m)
			s.drain()
		case p := <-s.propc:
			s.propose(p)
			s.drain()
		case r := <-s.readc:
			s.readIndex(r)
			s.drain()
		case f := <-s.actc:
			f()
		case r := <-s.syncedc:
			if r.err != nil {
				return fmt.Errorf("sync the log: %w", r.err)
			}
			s.onSynced(r.seq)
			s.drain()
		case job := <-s.snapDone:
			if err := s.finishSnapshot(job); err != nil {
				return err
			}
		case <-s.reportc:
			for _, r := range s.takeReports() {
				if r.removedBy {
					s.learnRemoved(r.id)
					continue
				}
				if r.snapshot {
					s.rn.ReportSnapshot(r.id, r.status)
				} else {
					s.metrics.unreachable.Inc()
					s.rn.ReportUnreachable(r.id)
				}
			}
		}
	}
}

// maxDrain bounds the queued messages, proposals and reads drain takes in.
const maxDrain = 4096

// drain steps whatever else is already queued before the next Ready, so that
// one Ready (and one fsync) covers every message and proposal that arrived
// while the last one was being persisted: group commit across sources.
func (s *Server) drain() {
	for range maxDrain {
		select {
		case m := <-s.recvc:
			s.step(m)
		case p := <-s.propc:
			s.propose(p)
		case r := <-s.readc:
			s.readIndex(r)
		default:
			return
		}
	}
}

func (s *Server) step(m pb.Message) {
	if s.outcast {
		return
	}
	if m.Type != pb.MsgTimeoutNow && s.table.isRemoved(m.From) && !s.configIDs()[m.From] {
		// A removed member, left out of the configuration (after a
		// ForceNewCluster, one that came back with its old log): its
		// messages would drag this member back into the old configuration.
		// A leader that removed itself still hands over as it steps down.
		s.log.Debug("dropped a message from a removed member", "type", m.Type, "from", fmt.Sprintf("%x", m.From))
		return
	}
	s.noteLeaderContact(m)
	if err := s.rn.Step(m); err != nil {
		s.log.Debug("step", "type", m.Type, "from", m.From, "err", err)
	}
}

// propose proposes p and whatever else is queued as one message.
func (s *Server) propose(first proposal) {
	batch := []proposal{first}
	for len(batch) < maxBatch {
		select {
		case p := <-s.propc:
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
	ents := make([]pb.Entry, len(batch))
	for i, p := range batch {
		ents[i] = pb.Entry{Data: p.data}
	}
	err := s.rn.Step(pb.Message{Type: pb.MsgProp, From: s.id, Entries: ents})
	if err == nil {
		term := s.term.Load()
		for _, p := range batch {
			s.proposals.proposed(p.reqID, term)
		}
		return
	}
	s.metrics.proposalsDropped.Add(float64(len(batch)))
	if errors.Is(err, raft.ErrProposalDropped) {
		err = notProposed("proposal dropped (no leader, or leadership is being transferred): %v", err)
	}
	for _, p := range batch {
		s.w.trigger(p.reqID, err)
	}
}

// readIndex queues r and every read waiting with it for the next ReadIndex
// round (see readTracker).
func (s *Server) readIndex(first chan error) {
	s.reads.add(first)
	for range maxBatch {
		select {
		case r := <-s.readc:
			s.reads.add(r)
			continue
		default:
		}
		break
	}
	s.startReadRound()
}

// startReadRound sends one ReadIndex request for every queued read, unless a
// round is in flight; without a leader the queued reads are refused.
func (s *Server) startReadRound() {
	ctx, refused, ok := s.reads.startRound(s.hasLeader)
	for _, r := range refused {
		r <- status.Error(codes.Unavailable, "no leader: cannot serve a linearizable read")
	}
	if ok {
		s.metrics.readIndexRequests.Inc()
		s.rn.ReadIndex(ctx)
	}
}

// hasLeader reports whether the core knows a leader for its term.
func (s *Server) hasLeader() bool { return s.rn.BasicStatus().Lead != raft.None }

// retryReads re-sends a ReadIndex request unanswered for an election timeout
// (lost with a leader change); a retry with the same context replaces the old.
func (s *Server) retryReads() {
	if ctx := s.reads.tick(); ctx != nil {
		s.rn.ReadIndex(ctx)
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
func (s *Server) handleReady() error {
	for s.rn.HasReady() {
		rd := s.rn.Ready()
		if rd.SoftState != nil {
			s.onSoftState(*rd.SoftState)
		}
		if !rd.HardState.IsEmpty() {
			s.term.Store(rd.HardState.Term)
			s.commit.Store(rd.HardState.Commit)
		}
		s.send(rd.LeaderMessages)
		snap := !raft.IsEmptySnap(rd.Snapshot)
		if snap {
			// Rare: a snapshot is persisted synchronously, behind every write.
			if err := s.persistSnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		seq, needSync, err := s.wal.Write(rd.HardState, rd.Entries)
		if err != nil {
			return fmt.Errorf("persist ready: %w", err)
		}
		s.sw.recordWrite(seq, needSync, rd)
		synced := uint64(0)
		if snap || s.syncNow {
			// A forced configuration (syncNow) commits entries on this
			// member's copy alone: it must be durable before they apply.
			s.syncNow = false
			if synced, err = s.wal.Sync(); err != nil {
				return fmt.Errorf("persist ready: %w", err)
			}
		} else if needSync {
			s.requestSync()
		}
		s.send(s.sw.holdOrSend(rd.Messages))
		if snap {
			if err := s.applySnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		if err := s.applyEntries(rd.CommittedEntries); err != nil {
			return err
		}
		s.onReadStates(rd.ReadStates)
		s.answerReads()
		s.rn.Advance(rd)
		if synced > 0 {
			s.onSynced(synced)
		}
		if s.campaignNow {
			// Alone in the forced configuration: no need to wait an
			// election timeout (the core refuses until it is applied).
			s.campaignNow = false
			_ = s.rn.Campaign()
		}
		if err := s.maybeSnapshot(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) onSoftState(ss raft.SoftState) {
	if prev := s.leader.Swap(ss.Lead); prev != ss.Lead {
		s.metrics.leaderChanges.Inc()
		s.log.Info("leader changed", "leader", fmt.Sprintf("%x", ss.Lead), "role", ss.RaftState.String())
		if ss.Lead == raft.None {
			// Cut off from any leader, this member may not apply anything
			// for a long time; its writes learn that now.
			s.failProposals("this member lost its leader before the write was applied; its outcome is unknown")
		}
	}
}

// failProposals answers every write still waiting with msg, as of unknown
// outcome: each may still be applied by the leader it reached.
func (s *Server) failProposals(msg string) {
	for _, id := range s.proposals.takeAll() {
		s.w.trigger(id, status.Error(codes.Unavailable, msg))
	}
}

// send hands msgs to the transport, filling in snapshot data first.
func (s *Server) send(msgs []pb.Message) {
	if len(msgs) == 0 {
		return
	}
	out := s.out.Load()
	if out == nil {
		for _, m := range msgs {
			s.rn.ReportUnreachable(m.To)
			if m.Type == pb.MsgSnap {
				s.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
			}
		}
		return
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Type != pb.MsgSnap || m.Snapshot == nil {
			continue
		}
		data, err := s.snapshotData(m.Snapshot.Metadata.Index)
		if err != nil {
			s.log.Warn("cannot send snapshot", "to", fmt.Sprintf("%x", m.To), "err", err)
			s.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
			m.To = 0 // dropped below
			continue
		}
		snap := *m.Snapshot
		snap.Data = data
		m.Snapshot = &snap
	}
	msgs = slices.DeleteFunc(slices.Clone(msgs), func(m pb.Message) bool { return m.To == 0 })
	out.Send(msgs)
}

// applyEntries applies committed entries in order.
func (s *Server) applyEntries(ents []pb.Entry) error {
	s.metrics.appliedEntries.Add(float64(len(ents)))
	for i := range ents {
		s.appliedBytes += uint64(len(ents[i].Data))
		var err error
		switch ents[i].Type {
		case pb.EntryNormal:
			err = s.applyNormal(ents[i])
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			err = s.applyConfChange(ents[i])
		}
		if err != nil {
			return fmt.Errorf("apply entry %d: %w", ents[i].Index, err)
		}
	}
	if len(ents) > 0 {
		s.settleProposals(ents[len(ents)-1].Term)
	}
	return nil
}

// settleProposals answers the writes proposed in a term before applied, the
// term of the entry applied last, that still wait (see proposalTracker):
// the client learns now that the outcome is unknown, rather than after its
// deadline.
func (s *Server) settleProposals(applied uint64) {
	for _, p := range s.proposals.settle(applied, s.w.waiting) {
		s.metrics.proposalsDropped.Inc()
		s.w.trigger(p.id, status.Errorf(codes.Unavailable,
			"the leader changed before the write was applied (proposed in term %d, now %d); its outcome is unknown", p.term, applied))
	}
}

func (s *Server) applyNormal(e pb.Entry) error {
	store := s.store.Load()
	if e.Index <= store.AppliedIndex() {
		return nil // in the kv snapshot already (replay after restart)
	}
	if len(e.Data) == 0 {
		return store.ApplyNoop(e.Index)
	}
	proposer, reqID, cmd, err := decodeEnvelope(e.Data)
	if err != nil {
		s.log.Warn("applying malformed entry as a no-op", "index", e.Index, "err", err)
		return store.ApplyNoop(e.Index)
	}
	res, err := store.ApplyEncoded(e.Index, cmd)
	if err != nil {
		return err
	}
	if proposer == s.id {
		s.metrics.proposalsApplied.Inc()
		s.proposals.applied(reqID)
		s.w.trigger(reqID, res)
	}
	return nil
}

// confApplied is what a membership request's waiter receives.
type confApplied struct {
	index uint64
	cs    pb.ConfState
}

func (s *Server) applyConfChange(e pb.Entry) error {
	var cc pb.ConfChangeV2
	if e.Type == pb.EntryConfChange {
		var v1 pb.ConfChange
		if err := v1.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("decode conf change: %w", err)
		}
		cc = v1.AsV2()
	} else if err := cc.Unmarshal(e.Data); err != nil {
		return fmt.Errorf("decode conf change: %w", err)
	}
	var before map[uint64]bool
	if cc.Forced() {
		before = s.configIDs()
	}
	s.confState = s.rn.ApplyConfChange(cc)
	store := s.store.Load()
	if e.Index > store.AppliedIndex() {
		if err := store.ApplyNoop(e.Index); err != nil {
			return err
		}
	}
	cctx, err := decodeCCContext(cc.Context)
	if err != nil {
		s.log.Warn("conf change without readable metadata", "index", e.Index, "err", err)
	}
	for _, m := range cctx.Members {
		if m.ID != 0 {
			s.table.Members[m.ID] = m
		}
	}
	for _, c := range cc.Changes {
		if c.Type == pb.ConfChangeRemoveNode {
			s.table.markRemoved(c.NodeID)
		}
	}
	if cc.Forced() {
		s.applyForced(e.Index, before)
	}
	s.publishView()
	s.syncPeers()
	s.log.Info("applied configuration", "index", e.Index, "voters", s.confState.Voters,
		"outgoing", s.confState.VotersOutgoing, "learners", s.confState.Learners)
	if err := s.checkRemoved(); err != nil {
		return err
	}
	if cctx.Proposer == s.id && cctx.RequestID != 0 {
		s.w.trigger(cctx.RequestID, confApplied{index: e.Index, cs: s.confState})
	}
	return nil
}

// applyForced records the members a forced configuration dropped (every
// member of the configuration before it but the ones it keeps) as removed, so
// that they are refused and learn it when they come back.
func (s *Server) applyForced(index uint64, before map[uint64]bool) {
	kept := s.configIDs()
	var dropped []uint64
	for id := range before {
		if !kept[id] {
			s.table.markRemoved(id)
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	s.log.Warn("applied a forced configuration (ForceNewCluster): the other members are removed",
		"index", index, "voters", s.confState.Voters, "removed", dropped)
	if index == s.forceIndex {
		s.forceIndex = 0
		s.campaignNow = true
	}
}

// checkRemoved marks this member removed once a configuration it applied
// leaves it out after it had been in. A member only in the outgoing voters of a joint configuration
// is removed already: the joint configuration is committed, and the only way
// on is to leave it; it still takes part in Raft until then.
func (s *Server) checkRemoved() error {
	cs := s.confState
	in := slices.Contains(cs.Voters, s.id) || slices.Contains(cs.Learners, s.id) || slices.Contains(cs.LearnersNext, s.id)
	s.inConfig.Store(in)
	if in {
		s.wasMember = true
		return nil
	}
	// A new member applies the changes made before it was added, and restores
	// snapshots taken before that: those leave it out, but it was never in.
	if s.removed.Load() || !s.wasMember {
		return nil
	}
	s.log.Warn("this member was removed from the cluster", "member", fmt.Sprintf("%x", s.id))
	return s.markRemoved()
}

// learnRemoved marks this member removed on member by's word (ReportRefused).
func (s *Server) learnRemoved(by uint64) {
	if s.removed.Load() || !s.wasMember {
		return
	}
	s.log.Warn("this member was removed from the cluster; a member refused its messages as a removed member's",
		"member", fmt.Sprintf("%x", s.id), "told_by", fmt.Sprintf("%x", by))
	s.outcast = true
	if err := s.markRemoved(); err != nil {
		s.log.Error("record removal", "err", err)
	}
}

// markRemoved stops serving and records the removal in member.json, so a
// restart stays removed.
func (s *Server) markRemoved() error {
	s.removed.Store(true)
	s.inConfig.Store(false)
	return s.setIdentity(func(id *identity) { id.Removed = true })
}

// syncPeers makes the sending transport's peers follow the configuration and
// the table.
func (s *Server) syncPeers() {
	out := s.out.Load()
	if out == nil {
		return
	}
	want := map[uint64]string{}
	cs := s.confState
	for _, ids := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		for _, id := range ids {
			if m, ok := s.table.Members[id]; ok && id != s.id && m.PeerAddress != "" {
				want[id] = m.PeerAddress
			}
		}
	}
	for id, addr := range want {
		if s.peers[id] != addr {
			out.UpdatePeer(id, addr)
		}
	}
	for id := range s.peers {
		if _, ok := want[id]; !ok {
			out.RemovePeer(id)
		}
	}
	s.peers = want
}

func (s *Server) onReadStates(rss []raft.ReadState) {
	s.reads.readStates(rss)
	s.startReadRound()
}

// answerReads releases the reads whose read index is applied.
func (s *Server) answerReads() {
	ready := s.reads.applied(s.store.Load().AppliedIndex())
	for _, c := range ready {
		c <- nil
	}
	s.metrics.readsServed.Add(float64(len(ready)))
}
