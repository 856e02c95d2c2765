package raft

import (
	"errors"
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// stepLeader handles messages as leader: local events first, then responses from
// members, each in a handler of its own.
func stepLeader(r *raft, m pb.Message) error {
	switch m.Type {
	case pb.MsgBeat:
		r.bcastHeartbeat()
		return nil
	case pb.MsgCheckQuorum:
		r.checkQuorumActive()
		return nil
	case pb.MsgProp:
		if len(m.Entries) == 0 {
			return fmt.Errorf("%w: proposal from %x has no entries", ErrProposalDropped, m.From)
		}
		return r.propose(m.Entries)
	case pb.MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.Progress[m.From]
	if pr == nil {
		r.logger.Debugf("%x no progress available for %x", r.id, m.From)
		return nil
	}
	switch m.Type {
	case pb.MsgAppResp:
		r.handleAppendResponse(m, pr)
	case pb.MsgHeartbeatResp:
		r.handleHeartbeatResponse(m, pr)
	case pb.MsgSnapStatus:
		r.handleSnapStatus(m, pr)
	case pb.MsgUnreachable:
		// An unreachable follower in replicate state has probably lost messages;
		// probe again once it answers.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.logger.Debugf("%x failed to send message to %x because it is unreachable [%s]", r.id, m.From, pr)
	case pb.MsgTransferLeader:
		r.handleTransferLeader(m, pr)
	}
	return nil
}

// checkQuorumActive steps down unless a quorum was heard from during the last
// election timeout, then starts a new observation round.
func (r *raft) checkQuorumActive() {
	if !r.trk.QuorumActive() {
		r.logger.Warningf("%x stepped down to follower since quorum is not active", r.id)
		r.becomeFollower(r.Term, None)
	}
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if id != r.id {
			pr.RecentActive = false
		}
	})
}

// propose appends proposed entries. Configuration changes are validated here, so
// a refused change never reaches the log.
func (r *raft) propose(ents []pb.Entry) error {
	if r.trk.Progress[r.id] == nil {
		// Removed from the configuration; a proposal here would never commit.
		return ErrProposalDropped
	}
	if r.leadTransferee != None {
		r.logger.Debugf("%x [term %d] transfer leadership to %x is in progress; dropping proposal", r.id, r.Term, r.leadTransferee)
		return ErrProposalDropped
	}
	confIndex := uint64(0)
	for i := range ents {
		if ents[i].Type == pb.EntryNormal {
			continue
		}
		if confIndex != 0 {
			return fmt.Errorf("%w: only one configuration change per proposal", ErrConfChangeRefused)
		}
		if err := r.checkConfChange(&ents[i]); err != nil {
			return err
		}
		confIndex = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(ents) {
		return ErrProposalDropped
	}
	if confIndex != 0 {
		r.pendingConfIndex = confIndex
	}
	// The appends go out when the caller asks for the next Ready (flushAppends),
	// so that a burst of proposals leaves in one message per follower.
	r.entriesBcastPending = true
	return nil
}

// checkConfChange decides whether the configuration change in e may be appended
// now: one change at a time (it must be applied before the next), a joint
// configuration must be left before anything else changes, and the change must be
// valid against the current configuration.
func (r *raft) checkConfChange(e *pb.Entry) error {
	cc, err := decodeConfChange(e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfChangeRefused, err)
	}
	if cc.Forced() {
		return fmt.Errorf("%w: a forced configuration cannot be proposed (see RawNode.ForceNewConfiguration)", ErrConfChangeRefused)
	}
	alreadyPending := r.pendingConfIndex > r.raftLog.applied && !acceptConfChangeWhilePending
	alreadyJoint := len(r.trk.Config.Voters[1]) > 0
	wantsLeaveJoint := len(cc.Changes) == 0
	switch {
	case alreadyPending:
		return fmt.Errorf("%w: possible unapplied configuration change at index %d (applied to %d)", ErrConfChangePending, r.pendingConfIndex, r.raftLog.applied)
	case alreadyJoint && !wantsLeaveJoint:
		return fmt.Errorf("%w: must leave the joint configuration first", ErrConfChangePending)
	case !alreadyJoint && wantsLeaveJoint:
		return ErrNotJoint
	}
	if _, _, err := r.changeConfig(cc); err != nil {
		return fmt.Errorf("%w: %w", ErrConfChangeRefused, err)
	}
	return nil
}

// decodeConfChange reads the configuration change carried by e.
func decodeConfChange(e *pb.Entry) (pb.ConfChangeV2, error) {
	switch e.Type {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return pb.ConfChangeV2{}, fmt.Errorf("decode ConfChange: %w", err)
		}
		return cc.AsV2(), nil
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			return pb.ConfChangeV2{}, fmt.Errorf("decode ConfChangeV2: %w", err)
		}
		return cc, nil
	default:
		return pb.ConfChangeV2{}, fmt.Errorf("entry type %s is not a configuration change", e.Type)
	}
}

// maybeAutoLeave proposes leaving a joint configuration entered with automatic
// leave, once the change that entered it is applied. It runs on every Advance and
// on every tick, so a leader elected while the cluster was joint finishes the
// change even if its first attempt was dropped.
func (r *raft) maybeAutoLeave() {
	if r.state != StateLeader || !r.trk.Config.AutoLeave || r.pendingConfIndex > r.raftLog.applied {
		return
	}
	ent := [1]pb.Entry{{Type: pb.EntryConfChangeV2}}
	if err := r.propose(ent[:]); err != nil {
		r.logger.Debugf("%x could not propose leaving joint configuration %s yet: %v", r.id, r.trk.Config.String(), err)
		return
	}
	r.logger.Infof("%x initiating automatic transition out of joint configuration %s", r.id, r.trk.Config.String())
}

// handleAppendResponse updates a follower's progress from its answer to MsgApp.
func (r *raft) handleAppendResponse(m pb.Message, pr *tracker.Progress) {
	pr.RecentActive = true
	if m.Reject {
		r.handleAppendRejection(m, pr)
		return
	}
	if !pr.MaybeUpdate(m.Index) && (pr.Match != m.Index || pr.State != tracker.StateProbe) {
		return
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The follower caught up past the snapshot by other means, or the snapshot
		// arrived: entries can flow again.
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == tracker.StateReplicate:
		pr.Inflights.FreeLE(m.Index)
	}
	if r.maybeCommit() {
		r.onCommitAdvanced()
	} else if pr.CanBumpCommit(r.raftLog.committed) {
		// This follower acknowledged late: the commit index moved on without it
		// and it has not been told.
		r.commitBcastPending = true
	}
	// Freed flow control may allow several size-limited appends at once.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("%x sent MsgTimeoutNow to %x after received MsgAppResp", r.id, m.From)
		r.sendTimeoutNow(m.From)
	}
}

// handleAppendRejection moves a follower's next index back after a rejected
// append, using the follower's hint to skip a whole term at a time.
func (r *raft) handleAppendRejection(m pb.Message, pr *tracker.Progress) {
	r.logger.Debugf("%x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d",
		r.id, m.RejectHint, m.LogTerm, m.From, m.Index)
	nextProbeIdx := m.RejectHint
	if m.LogTerm > 0 {
		nextProbeIdx, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
	}
	if pr.MaybeDecrTo(m.Index, nextProbeIdx) {
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.sendAppend(m.From)
	}
}

// handleHeartbeatResponse resumes replication to the follower and counts the
// acknowledgement toward pending safe read requests.
func (r *raft) handleHeartbeatResponse(m pb.Message, pr *tracker.Progress) {
	pr.RecentActive = true
	pr.MsgAppFlowPaused = false
	if pr.Match < r.raftLog.lastIndex() || pr.State == tracker.StateProbe {
		r.sendAppend(m.From)
	}
	if r.readOnly.option != ReadOnlySafe || len(m.Context) == 0 {
		return
	}
	if r.trk.Voters.VoteResult(r.readOnly.recvAck(m.From, m.Context)) != quorum.VoteWon {
		return
	}
	for _, rs := range r.readOnly.advance(m) {
		if resp := r.responseToReadIndexReq(rs.req, rs.index); resp.To != None {
			r.send(resp)
		}
	}
}

// handleSnapStatus learns whether a snapshot reached the follower. Either way the
// follower is probed next, after its next heartbeat response.
func (r *raft) handleSnapStatus(m pb.Message, pr *tracker.Progress) {
	if pr.State != tracker.StateSnapshot {
		return
	}
	if m.Reject {
		pr.PendingSnapshot = 0
		r.logger.Debugf("%x snapshot failed, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
	} else {
		r.logger.Debugf("%x snapshot succeeded, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
	}
	pr.BecomeProbe()
	pr.MsgAppFlowPaused = true
}

// handleTransferLeader starts handing leadership to m.From once it has caught up.
func (r *raft) handleTransferLeader(m pb.Message, pr *tracker.Progress) {
	if pr.IsLearner {
		r.logger.Debugf("%x is learner. Ignored transferring leadership", r.id)
		return
	}
	transferee := m.From
	if last := r.leadTransferee; last != None {
		if last == transferee {
			r.logger.Infof("%x [term %d] transfer leadership to %x is in progress, ignores request to same node %x", r.id, r.Term, transferee, transferee)
			return
		}
		r.abortLeaderTransfer()
		r.logger.Infof("%x [term %d] abort previous transferring leadership to %x", r.id, r.Term, last)
	}
	if transferee == r.id {
		r.logger.Debugf("%x is already leader. Ignored transferring leadership to self", r.id)
		return
	}
	r.logger.Infof("%x [term %d] starts to transfer leadership to %x", r.id, r.Term, transferee)
	// The transfer must finish within one election timeout.
	r.electionElapsed = 0
	r.leadTransferee = transferee
	if pr.Match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(transferee)
		r.logger.Infof("%x sends MsgTimeoutNow to %x immediately as %x already has up-to-date log", r.id, transferee, transferee)
	} else {
		r.sendAppend(transferee)
	}
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.send(pb.Message{To: to, Type: pb.MsgTimeoutNow})
}

// selfAck counts the leader's own durable log toward commit. It runs when the
// caller reports, through Advance, that the leader's entries are persisted.
func (r *raft) selfAck() {
	pr := r.trk.Progress[r.id]
	if pr == nil || !pr.MaybeUpdate(r.persistedIndex()) {
		return
	}
	if r.maybeCommit() {
		r.onCommitAdvanced()
	}
}

// maybeCommit advances the commit index to what a quorum has durably stored.
func (r *raft) maybeCommit() bool {
	return r.raftLog.maybeCommit(r.trk.Committed(), r.Term)
}

// onCommitAdvanced answers read requests that waited for the first commit of
// this term and schedules telling followers the new commit index. The commit-only
// appends go out once per Ready (flushAppends), not once per acknowledgement: a
// leader that commits after each of many acknowledgements in one batch would
// otherwise send a message per follower for each of them.
func (r *raft) onCommitAdvanced() {
	r.releasePendingReadIndexMessages()
	r.commitBcastPending = true
}

// flushAppends sends what proposals and commits since the last Ready left for
// the followers: new entries, as far as flow control allows, and the commit
// index to followers that hold entries beyond the one they were last told.
// Deferring this to Ready time batches a burst of proposals into one append per
// follower instead of one per proposal.
func (r *raft) flushAppends() {
	entries, commit := r.entriesBcastPending, r.commitBcastPending
	if !entries && !commit {
		return
	}
	r.entriesBcastPending, r.commitBcastPending = false, false
	if r.state != StateLeader {
		return
	}
	committed := r.raftLog.committed
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if id == r.id {
			return
		}
		sent := false
		if entries {
			for r.maybeSendAppend(id, false) {
				sent = true
			}
		}
		if !sent && commit && pr.CanBumpCommit(committed) {
			r.sendAppend(id)
		}
	})
}

// sendAppend sends entries (or just the commit index) to a follower.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends the next append message to a follower, or a snapshot
// when the entries it needs are compacted. With sendIfEmpty it sends even without
// entries, to carry the commit index. It reports whether it sent anything.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.Progress[to]
	if pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	var ents []pb.Entry
	var erre error
	// In replicate state with a full window, only the commit index is sent.
	if pr.State != tracker.StateReplicate || !pr.Inflights.Full() {
		ents, erre = r.raftLog.entries(pr.Next, r.maxMsgSize)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		return r.maybeSendSnapshot(to, pr)
	}
	r.send(pb.Message{
		To:      to,
		Type:    pb.MsgApp,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: ents,
		Commit:  r.raftLog.committed,
	})
	pr.UpdateOnEntriesSend(len(ents), payloadsSize(ents))
	pr.SentCommit(r.raftLog.committed)
	return true
}

// maybeSendSnapshot sends the current snapshot to a follower whose next entries
// are compacted away.
func (r *raft) maybeSendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		r.logger.Debugf("ignore sending snapshot to %x since it is not recently active", to)
		return false
	}
	snapshot, err := r.raftLog.snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			r.logger.Debugf("%x failed to send snapshot to %x because snapshot is temporarily unavailable", r.id, to)
			return false
		}
		r.logger.Panicf("%x failed to read snapshot: %v", r.id, err)
	}
	if snapshot.IsEmpty() {
		r.logger.Panicf("%x needs a non-empty snapshot to send to %x", r.id, to)
	}
	sindex, sterm := snapshot.Metadata.Index, snapshot.Metadata.Term
	r.logger.Debugf("%x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%s]",
		r.id, r.raftLog.firstIndex(), r.raftLog.committed, sindex, sterm, to, pr)
	pr.BecomeSnapshot(sindex)
	r.send(pb.Message{To: to, Type: pb.MsgSnap, Snapshot: &snapshot})
	return true
}

// bcastAppend sends appends to every member but this one.
func (r *raft) bcastAppend() {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendAppend(id)
		}
	})
}

// bcastHeartbeat sends heartbeats, carrying the newest pending read request so
// its acknowledgements confirm leadership for it and everything queued before.
func (r *raft) bcastHeartbeat() {
	r.bcastHeartbeatWithCtx(r.readOnly.lastPendingToken())
}

func (r *raft) bcastHeartbeatWithCtx(ctx []byte) {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	})
}

// sendHeartbeat sends a heartbeat. The commit index it carries is capped at what
// the follower is known to hold, since it may not have the entries beyond.
func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	pr := r.trk.Progress[to]
	commit := min(pr.Match, r.raftLog.committed)
	r.send(pb.Message{To: to, Type: pb.MsgHeartbeat, Commit: commit, Context: ctx})
	pr.SentCommit(commit)
}

// committedEntryInCurrentTerm reports whether this leader has committed an entry
// of its own term, which proves its commit index covers everything earlier leaders
// committed.
func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

// handleReadIndex answers a read request, or queues it until this leader has
// committed an entry of its term.
func (r *raft) handleReadIndex(m pb.Message) {
	if !r.committedEntryInCurrentTerm() {
		r.pendingReadIndexMessages = append(r.pendingReadIndexMessages, m)
		return
	}
	r.answerReadIndex(m)
}

func (r *raft) answerReadIndex(m pb.Message) {
	if r.trk.IsSingleton() {
		// Nobody else can have committed anything this leader does not know.
		if resp := r.responseToReadIndexReq(m, r.raftLog.committed); resp.To != None {
			r.send(resp)
		}
		return
	}
	switch r.readOnly.option {
	case ReadOnlySafe:
		// Confirm with a quorum round of heartbeats that we are still leader.
		token := []byte(r.readOnly.addRequest(r.raftLog.committed, m))
		r.readOnly.recvAck(r.id, token)
		r.bcastHeartbeatWithCtx(token)
	case ReadOnlyLeaseBased:
		if resp := r.responseToReadIndexReq(m, r.raftLog.committed); resp.To != None {
			r.send(resp)
		}
	}
}

func (r *raft) releasePendingReadIndexMessages() {
	if len(r.pendingReadIndexMessages) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	msgs := r.pendingReadIndexMessages
	r.pendingReadIndexMessages = nil
	for _, m := range msgs {
		r.answerReadIndex(m)
	}
}

// responseToReadIndexReq records a local read state, or builds the response to a
// follower's request.
func (r *raft) responseToReadIndexReq(req pb.Message, readIndex uint64) pb.Message {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: readIndex, RequestCtx: req.Context})
		return pb.Message{}
	}
	return pb.Message{Type: pb.MsgReadIndexResp, To: req.From, Index: readIndex, Context: req.Context}
}
