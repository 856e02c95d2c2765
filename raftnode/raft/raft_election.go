package raft

import (
	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// hup starts an election of kind t if this member may stand.
func (r *raft) hup(t campaignType) {
	if r.state == StateLeader {
		r.logger.Debugf("%x ignoring MsgHup because already leader", r.id)
		return
	}
	if !r.promotable() {
		r.logger.Warningf("%x is unpromotable and can not campaign", r.id)
		return
	}
	if r.hasUnappliedConfChanges() {
		r.logger.Warningf("%x cannot campaign at term %d since there are still pending configuration changes to apply", r.id, r.Term)
		return
	}
	r.logger.Infof("%x is starting a new election at term %d", r.id, r.Term)
	r.campaign(t)
}

// campaign asks every voter for its (pre-)vote. Our own vote counts at once: it
// becomes durable with the Ready that carries the requests, before they are sent.
func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg pb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = pb.MsgPreVote
		// Pre-votes are requested for the term we would campaign in.
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = pb.MsgVote
		term = r.Term
	}
	if _, _, res := r.poll(r.id, voteRespMsgType(voteMsg), true); res == quorum.VoteWon {
		// A single voter wins at once.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransfer {
		ctx = []byte(t)
	}
	lastIndex, lastTerm := r.raftLog.lastIndex(), r.raftLog.lastTerm()
	for _, id := range r.trk.VoterNodes() {
		if id == r.id {
			continue
		}
		r.logger.Infof("%x [logterm: %d, index: %d] sent %s request to %x at term %d", r.id, lastTerm, lastIndex, voteMsg, id, r.Term)
		r.send(pb.Message{To: id, Term: term, Type: voteMsg, Index: lastIndex, LogTerm: lastTerm, Context: ctx, Priority: r.priority})
	}
}

// poll records a vote and returns the tally.
func (r *raft) poll(id uint64, t pb.MessageType, v bool) (granted int, rejected int, result quorum.VoteResult) {
	if v {
		r.logger.Infof("%x received %s from %x at term %d", r.id, t, id, r.Term)
	} else {
		r.logger.Infof("%x received %s rejection from %x at term %d", r.id, t, id, r.Term)
	}
	r.trk.RecordVote(id, v)
	return r.trk.TallyVotes()
}

// handleVoteRequest answers MsgVote and MsgPreVote. Learners answer too: a learner
// may already be a voter in a configuration it has not applied yet, and the
// candidate counts only the votes its own configuration allows.
func (r *raft) handleVoteRequest(m pb.Message) {
	canVote := r.Vote == m.From ||
		// We have not voted and do not know of a leader in this term.
		(r.Vote == None && r.lead == None) ||
		// A pre-vote for a future term.
		(m.Type == pb.MsgPreVote && m.Term > r.Term)
	if canVote && r.raftLog.isUpToDate(m.Index, m.LogTerm) && r.priorityAllows(m) {
		// The response carries the term of the request, not ours: for a pre-vote
		// our term is not raised, and the candidate must recognise the answer.
		r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] at term %d",
			r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
		r.send(pb.Message{To: m.From, Term: m.Term, Type: voteRespMsgType(m.Type)})
		if m.Type == pb.MsgVote {
			r.electionElapsed = 0
			r.Vote = m.From
		}
		return
	}
	r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d",
		r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
	if r.Term == 0 {
		// Only a pre-vote is refused at term 0 (a vote would have raised our term),
		// by priority. We have no term to refuse with, and a pre-candidate ignores
		// refusals from older terms anyway, so stay silent.
		return
	}
	resp := pb.Message{To: m.From, Term: r.Term, Type: voteRespMsgType(m.Type), Reject: true}
	if !r.promotable() {
		// We cannot stand, so the candidate counts our vote only because it has not
		// applied the change that took us out of the voters, and may not know that
		// it committed: it could wait for our vote for ever (we refuse it when our
		// log is longer, as the leader that proposed that change). Tell it our
		// commit index and its term; see learnCommitFromVoteResp.
		resp.Index = r.raftLog.committed
		resp.LogTerm = r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(resp.Index))
	}
	r.send(resp)
}

// learnCommitFromVoteResp commits up to the commit index a refusing voter sent
// (handleVoteRequest) if our log holds that entry with the same term: by Log
// Matching our log then equals the voter's up to it, and a commit index is true
// whoever reports it, in any term.
func (r *raft) learnCommitFromVoteResp(m pb.Message) {
	if !m.Reject || m.Index <= r.raftLog.committed || r.state == StateLeader {
		return
	}
	if (m.Type == pb.MsgVoteResp || m.Type == pb.MsgPreVoteResp) && r.raftLog.matchTerm(m.Index, m.LogTerm) {
		r.logger.Infof("%x learned from %x that index %d is committed", r.id, m.From, m.Index)
		r.raftLog.commitTo(m.Index)
		if r.state != StateFollower && r.hasUnappliedConfChanges() {
			// As in hup: we cannot stand before we know the configuration we
			// would lead.
			r.becomeFollower(r.Term, None)
		}
	}
}

// priorityAllows applies election priorities: when the candidate's log is exactly
// as up to date as ours, only a candidate of at least our priority gets the vote.
// A strictly more up-to-date log always wins, and a leadership transfer overrides
// priorities, so the highest-priority live member can always be elected. A
// member that cannot stand itself (a learner, or removed) holds out for nobody:
// a candidate asks it only because their configurations differ (it has not
// applied its own promotion, or the candidate its removal), and may need its
// vote.
func (r *raft) priorityAllows(m pb.Message) bool {
	if m.Priority >= r.priority || string(m.Context) == string(campaignTransfer) || !r.promotable() {
		return true
	}
	return m.LogTerm != r.raftLog.lastTerm() || m.Index != r.raftLog.lastIndex()
}

// stepCandidate handles messages as a candidate or pre-candidate.
func stepCandidate(r *raft, m pb.Message) error {
	myVoteRespType := pb.MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteRespType = pb.MsgPreVoteResp
	}
	switch m.Type {
	case pb.MsgProp:
		r.logger.Infof("%x no leader at term %d; dropping proposal", r.id, r.Term)
		return ErrProposalDropped
	case pb.MsgApp:
		r.becomeFollower(m.Term, m.From) // always m.Term == r.Term
		r.handleAppendEntries(m)
	case pb.MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case pb.MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteRespType:
		gr, rj, res := r.poll(m.From, m.Type, !m.Reject)
		r.logger.Infof("%x has received %d %s votes and %d vote rejections", r.id, gr, m.Type, rj)
		switch res {
		case quorum.VoteWon:
			if r.state == StatePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case quorum.VoteLost:
			// Pre-candidates and candidates go back to following in the current
			// term (a rejection of a higher term already made us follow that).
			r.becomeFollower(r.Term, None)
		}
	case pb.MsgTimeoutNow:
		r.logger.Debugf("%x [term %d state %v] ignored MsgTimeoutNow from %x", r.id, r.Term, r.state, m.From)
	}
	return nil
}
