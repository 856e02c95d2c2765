package server

import (
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// applyEntries applies committed entries in order.
func (m *memberCore) applyEntries(ents []pb.Entry) error {
	m.metrics.appliedEntries.Add(float64(len(ents)))
	for i := range ents {
		m.appliedBytes += uint64(len(ents[i].Data))
		var err error
		switch ents[i].Type {
		case pb.EntryNormal:
			err = m.applyNormal(ents[i])
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			err = m.applyConfChange(ents[i])
		}
		if err != nil {
			return fmt.Errorf("apply entry %d: %w", ents[i].Index, err)
		}
	}
	if len(ents) > 0 {
		m.applyIndex = ents[len(ents)-1].Index
		m.settleProposals(ents[len(ents)-1].Term)
	}
	return nil
}

// settleProposals answers the writes proposed in a term before applied, the
// term of the entry applied last, that still wait (see proposalTracker):
// the client learns now that the outcome is unknown, rather than after its
// deadline.
func (m *memberCore) settleProposals(applied uint64) {
	for _, p := range m.proposals.settle(applied, m.w.waiting) {
		m.metrics.proposalsDropped.Inc()
		m.w.trigger(p.id, status.Errorf(codes.Unavailable,
			"the leader changed before the write was applied (proposed in term %d, now %d); its outcome is unknown", p.term, applied))
	}
}

func (m *memberCore) applyNormal(e pb.Entry) error {
	store := m.store.Load()
	if e.Index <= store.AppliedIndex() {
		return nil // in the kv snapshot already (replay after restart)
	}
	if len(e.Data) == 0 {
		return store.ApplyNoop(e.Index)
	}
	proposer, reqID, cmd, err := decodeEnvelope(e.Data)
	if err != nil {
		m.log.Warn("applying malformed entry as a no-op", "index", e.Index, "err", err)
		return store.ApplyNoop(e.Index)
	}
	res, err := store.ApplyEncoded(e.Index, cmd)
	if err != nil {
		return err
	}
	if proposer == m.id {
		m.metrics.proposalsApplied.Inc()
		m.proposals.applied(reqID)
		m.w.trigger(reqID, res)
	}
	return nil
}

func (m *memberCore) applyConfChange(e pb.Entry) error {
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
		before = m.configIDs()
	}
	m.confState = m.rn.ApplyConfChange(cc)
	store := m.store.Load()
	if e.Index > store.AppliedIndex() {
		if err := store.ApplyNoop(e.Index); err != nil {
			return err
		}
	}
	cctx, err := decodeCCContext(cc.Context)
	if err != nil {
		m.log.Warn("conf change without readable metadata", "index", e.Index, "err", err)
	}
	for _, info := range cctx.Members {
		if info.ID != 0 {
			m.table.Members[info.ID] = info
		}
	}
	for _, c := range cc.Changes {
		if c.Type == pb.ConfChangeRemoveNode {
			m.table.markRemoved(c.NodeID)
		}
	}
	if cc.Forced() {
		m.applyForced(e.Index, before)
	}
	m.shell.configChanged()
	m.log.Info("applied configuration", "index", e.Index, "voters", m.confState.Voters,
		"outgoing", m.confState.VotersOutgoing, "learners", m.confState.Learners)
	if err := m.checkRemoved(); err != nil {
		return err
	}
	if cctx.Proposer == m.id && cctx.RequestID != 0 {
		m.w.trigger(cctx.RequestID, confApplied{index: e.Index, cs: m.confState})
	}
	return nil
}

// applyForced records the members a forced configuration dropped (every
// member of the configuration before it but the ones it keeps) as removed, so
// that they are refused and learn it when they come back.
func (m *memberCore) applyForced(index uint64, before map[uint64]bool) {
	kept := m.configIDs()
	var dropped []uint64
	for id := range before {
		if !kept[id] {
			m.table.markRemoved(id)
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	m.log.Warn("applied a forced configuration (ForceNewCluster): the other members are removed",
		"index", index, "voters", m.confState.Voters, "removed", dropped)
	if index == m.forceIndex {
		m.forceIndex = 0
		m.campaignNow = true
	}
}

// checkRemoved marks this member removed once a configuration it applied
// leaves it out after it had been in. A member only in the outgoing voters of a joint configuration
// is removed already: the joint configuration is committed, and the only way
// on is to leave it; it still takes part in Raft until then.
func (m *memberCore) checkRemoved() error {
	cs := m.confState
	in := slices.Contains(cs.Voters, m.id) || slices.Contains(cs.Learners, m.id) || slices.Contains(cs.LearnersNext, m.id)
	m.inConfig.Store(in)
	if in {
		m.wasMember = true
		return nil
	}
	// A new member applies the changes made before it was added, and restores
	// snapshots taken before that: those leave it out, but it was never in.
	if m.removed.Load() || !m.wasMember {
		return nil
	}
	m.log.Warn("this member was removed from the cluster", "member", fmt.Sprintf("%x", m.id))
	return m.markRemoved()
}

// learnRemoved marks this member removed on member by's word (ReportRefused).
func (m *memberCore) learnRemoved(by uint64) {
	if m.removed.Load() || !m.wasMember {
		return
	}
	m.log.Warn("this member was removed from the cluster; a member refused its messages as a removed member's",
		"member", fmt.Sprintf("%x", m.id), "told_by", fmt.Sprintf("%x", by))
	m.outcast = true
	if err := m.markRemoved(); err != nil {
		m.log.Error("record removal", "err", err)
	}
}

// markRemoved stops serving and records the removal in member.json, so a
// restart stays removed.
func (m *memberCore) markRemoved() error {
	m.removed.Store(true)
	m.inConfig.Store(false)
	return m.shell.persistRemoved()
}

func (m *memberCore) onReadStates(rss []raft.ReadState) {
	m.reads.readStates(rss)
	m.startReadRound()
}

// answerReads releases the reads whose read index is applied.
func (m *memberCore) answerReads() {
	ready := m.reads.applied(m.store.Load().AppliedIndex())
	for _, r := range ready {
		r.readDone(nil)
	}
	m.metrics.readsServed.Add(float64(len(ready)))
}

func (m *memberCore) configIDs() map[uint64]bool {
	ids := map[uint64]bool{}
	cs := m.confState
	for _, l := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		for _, id := range l {
			ids[id] = true
		}
	}
	return ids
}
