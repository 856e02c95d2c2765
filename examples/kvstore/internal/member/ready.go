package member

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/raftkube/raftkube/examples/kvstore/internal/statemachine"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// handleReadys handles every Ready the core has, in the order the Ready
// contract asks for. Persistence is synchronous: Save returns once the
// writes are durable (when MustSync), so Messages go out right after it.
func (m *Member) handleReadys() error {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		if rd.SoftState != nil {
			m.onSoftState(*rd.SoftState)
		}
		// 1. A leader's appends and heartbeats may leave before its own
		// write (Raft thesis §10.2.1). The transport copies them.
		dropped := m.net.Send(rd.LeaderMessages)
		// 2. Persist: a snapshot replaces the log; entries go before the
		// hard state that may commit them.
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := m.storage.SaveSnapshot(rd.Snapshot); err != nil {
				return fmt.Errorf("persist snapshot: %w", err)
			}
		}
		if err := m.storage.Save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
			return fmt.Errorf("persist: %w", err)
		}
		// 3. Votes and acknowledgements promise what is now durable.
		dropped = append(dropped, m.net.Send(rd.Messages)...)
		// 4. Apply: the snapshot, then the committed entries, then answer
		// the reads whose index is applied.
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := m.restore(rd.Snapshot); err != nil {
				return err
			}
		}
		for i := range rd.CommittedEntries {
			if err := m.apply(rd.CommittedEntries[i]); err != nil {
				return err
			}
		}
		m.readIndexes(rd.ReadStates)
		m.answerReads()
		// 5. Advance: the Ready is handled.
		m.rn.Advance(rd)
		for _, r := range dropped {
			m.report(r)
		}
		if err := m.maybeSnapshot(); err != nil {
			return err
		}
	}
	return nil
}

func (m *Member) onSoftState(ss raft.SoftState) {
	if ss.Lead == m.lead {
		return
	}
	m.log.Info("leader changed", "leader", ss.Lead, "role", ss.RaftState.String())
	if m.lead != raft.None {
		m.requests.leaderChanged()
	}
	m.lead = ss.Lead
}

// restore replaces the state machine with a snapshot from the leader.
func (m *Member) restore(snap pb.Snapshot) error {
	state, err := statemachine.Unmarshal(snap.Data)
	if err != nil {
		return fmt.Errorf("restore snapshot %d: %w", snap.Metadata.Index, err)
	}
	m.state = state
	m.confState = snap.Metadata.ConfState
	m.applied, m.snapIndex = snap.Metadata.Index, snap.Metadata.Index
	m.net.SetPeers(m.peerURLs())
	m.log.Info("restored snapshot", "index", snap.Metadata.Index, "voters", m.confState.Voters)
	return nil
}

// apply applies one committed entry.
func (m *Member) apply(e pb.Entry) error {
	switch e.Type {
	case pb.EntryNormal:
		m.applyWrite(e)
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		if err := m.applyConfChange(e); err != nil {
			return fmt.Errorf("apply entry %d: %w", e.Index, err)
		}
	}
	m.applied = e.Index
	return nil
}

func (m *Member) applyWrite(e pb.Entry) {
	if len(e.Data) == 0 {
		return // a new leader's empty entry
	}
	var p proposal
	if err := json.Unmarshal(e.Data, &p); err != nil {
		// Every member skips it alike: the states stay equal.
		m.log.Warn("skipped an undecodable entry", "index", e.Index, "err", err)
		return
	}
	m.state.Put(p.Key, p.Value)
	m.requests.applied(p.Member, p.Req, nil)
}

// applyConfChange makes a committed conf change the configuration in force
// (every member does so at the same index), records an added member's URL
// and answers the request that proposed it.
func (m *Member) applyConfChange(e pb.Entry) error {
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
	m.confState = m.rn.ApplyConfChange(cc)
	var cctx changeContext
	if len(cc.Context) > 0 {
		if err := json.Unmarshal(cc.Context, &cctx); err != nil {
			m.log.Warn("conf change with an undecodable context", "index", e.Index, "err", err)
		}
	}
	var outcome error
	for _, c := range cc.Changes {
		// The core skips a change it refuses (the same on every member):
		// what counts is whether the configuration now says what was asked.
		in := inConfig(m.confState, c.NodeID)
		switch {
		case c.Type == pb.ConfChangeAddNode && in:
			if cctx.URL != "" {
				m.state.SetPeer(c.NodeID, cctx.URL)
			}
		case c.Type == pb.ConfChangeRemoveNode && !in:
			m.state.RemovePeer(c.NodeID)
			m.removed = m.removed || c.NodeID == m.id
		default:
			outcome = fmt.Errorf("%w: %s of %d was skipped", ErrRefused, c.Type, c.NodeID)
		}
	}
	m.log.Info("applied conf change", "index", e.Index, "config", pb.DescribeConfState(m.confState))
	m.net.SetPeers(m.peerURLs())
	m.requests.applied(cctx.Member, cctx.Req, outcome)
	return nil
}

// inConfig reports whether id is a member of cs, voter or learner.
func inConfig(cs pb.ConfState, id uint64) bool {
	for _, ids := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

// maybeSnapshot snapshots the state machine and compacts the log once
// SnapshotEntries entries were applied since the last snapshot.
func (m *Member) maybeSnapshot() error {
	if m.applied < m.snapIndex+m.cfg.SnapshotEntries {
		return nil
	}
	data, err := m.state.Marshal()
	if err != nil {
		return err
	}
	if err := m.storage.CreateSnapshot(m.applied, m.confState, data); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	m.log.Info("took a snapshot", "index", m.applied)
	m.snapIndex = m.applied
	return nil
}
