package raft

import (
	"github.com/raftkube/raftkube/raftnode/raft/confchange"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// stepFollower handles messages as a follower.
func stepFollower(r *raft, m pb.Message) error {
	switch m.Type {
	case pb.MsgProp:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping proposal", r.id, r.Term)
			return ErrProposalDropped
		}
		if r.disableProposalForwarding {
			r.logger.Infof("%x not forwarding to leader %x at term %d; dropping proposal", r.id, r.lead, r.Term)
			return ErrProposalDropped
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case pb.MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case pb.MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case pb.MsgTransferLeader:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping leader transfer msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgTimeoutNow:
		// The leader hands over: campaign at once, without pre-vote (the leader
		// already agreed) and ignoring leases.
		r.logger.Infof("%x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership", r.id, r.Term, m.From)
		if r.promotable() && r.hasUnappliedConfChanges() {
			// The leader's last commit (often the change that removed the
			// leader) came in the same batch and is not applied yet. Campaigning
			// must wait for it, but the handover must not be lost.
			r.logger.Infof("%x defers the election until its committed configuration changes are applied", r.id)
			r.transferCampaignPending = true
			return nil
		}
		r.hup(campaignTransfer)
	case pb.MsgReadIndex:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping index reading msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

// campaignIfTransferPending starts the election a MsgTimeoutNow asked for once
// the configuration changes that were committed but unapplied when it arrived
// are applied. A change of term or role in between cancels it (reset).
func (r *raft) campaignIfTransferPending() {
	if !r.transferCampaignPending || r.hasUnappliedConfChanges() {
		return
	}
	r.transferCampaignPending = false
	if r.state == StateFollower {
		r.hup(campaignTransfer)
	}
}

// handleAppendEntries appends the leader's entries if our log matches at the
// entry before them (the Log Matching property), or rejects with a hint.
func (r *raft) handleAppendEntries(m pb.Message) {
	if m.Index < r.raftLog.committed {
		// Old or duplicated: everything up to committed is known to match.
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if mlastIndex, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: mlastIndex})
		return
	}
	r.logger.Debugf("%x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x",
		r.id, r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(m.Index)), m.Index, m.LogTerm, m.Index, m.From)
	// Point the leader at the last entry that may still match: at most our last
	// index, and of a term no greater than the one it probed with.
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.send(pb.Message{
		To:         m.From,
		Type:       pb.MsgAppResp,
		Index:      m.Index,
		Reject:     true,
		RejectHint: hintIndex,
		LogTerm:    hintTerm,
	})
}

func (r *raft) handleHeartbeat(m pb.Message) {
	r.raftLog.commitTo(m.Commit)
	r.send(pb.Message{To: m.From, Type: pb.MsgHeartbeatResp, Context: m.Context})
}

func (r *raft) handleSnapshot(m pb.Message) {
	if m.Snapshot == nil {
		r.logger.Warningf("%x ignored MsgSnap without a snapshot from %x", r.id, m.From)
		return
	}
	s := *m.Snapshot
	sindex, sterm := s.Metadata.Index, s.Metadata.Term
	if r.restore(s) {
		r.logger.Infof("%x [commit: %d] restored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.lastIndex()})
		return
	}
	r.logger.Infof("%x [commit: %d] ignored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
	r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.committed})
}

// restore installs snapshot s if it is newer than what we have committed and we
// are part of its configuration. It reports whether the log was replaced.
func (r *raft) restore(s pb.Snapshot) bool {
	if s.Metadata.Index <= r.raftLog.committed {
		return false
	}
	if r.state != StateFollower {
		// Only a leader of our term sends snapshots, and anyone receiving from it
		// has become its follower. Be defensive rather than corrupt the log.
		r.logger.Warningf("%x attempted to restore snapshot as leader; should never happen", r.id)
		r.becomeFollower(r.Term+1, None)
		return false
	}
	if !confStateHas(s.Metadata.ConfState, r.id) {
		// A member that is being added receives whatever snapshot the leader holds,
		// which may predate the change that adds it; that change follows in the log.
		// So this is expected, not an error.
		r.logger.Infof("%x restores snapshot [index: %d] whose configuration %+v does not include it yet", r.id, s.Metadata.Index, s.Metadata.ConfState)
	}
	if r.raftLog.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		// We already hold the snapshot's last entry: just move commit forward.
		r.logger.Infof("%x [commit: %d, lastindex: %d, lastterm: %d] fast-forwarded commit to snapshot [index: %d, term: %d]",
			r.id, r.raftLog.committed, r.raftLog.lastIndex(), r.raftLog.lastTerm(), s.Metadata.Index, s.Metadata.Term)
		r.raftLog.commitTo(s.Metadata.Index)
		return false
	}
	r.raftLog.restore(s)
	r.trk = tracker.MakeProgressTracker(r.trk.MaxInflight, r.trk.MaxInflightBytes)
	cfg, prs, err := confchange.Restore(confchange.Changer{Tracker: r.trk, LastIndex: r.raftLog.lastIndex()}, s.Metadata.ConfState)
	if err != nil {
		// The snapshot came from a leader that applied this configuration.
		r.logger.Panicf("unable to restore config %+v: %s", s.Metadata.ConfState, err)
	}
	r.switchToConfig(cfg, prs)
	return true
}

func confStateHas(cs pb.ConfState, id uint64) bool {
	for _, set := range [][]uint64{cs.Voters, cs.Learners, cs.VotersOutgoing} {
		for _, v := range set {
			if v == id {
				return true
			}
		}
	}
	return false
}
