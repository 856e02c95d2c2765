package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/raftkube/raftkube/raftnode/raft/confchange"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// StateType is a member's role.
type StateType uint64

// The roles of a member.
const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

func (st StateType) String() string {
	if int(st) < len(stateNames) {
		return stateNames[st]
	}
	return fmt.Sprintf("StateType(%d)", uint64(st))
}

// Errors returned by the core's proposal and step paths.
var (
	// ErrProposalDropped means a proposal was not appended: there is no leader,
	// forwarding is disabled, a leadership transfer is in progress, this member is
	// not in the configuration, or the uncommitted-bytes bound is reached. The
	// caller may retry.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrConfChangeRefused means a configuration change was refused before it was
	// appended; the wrapping error says why. Nothing was changed.
	ErrConfChangeRefused = errors.New("raft: configuration change refused")
	// ErrConfChangePending refines ErrConfChangeRefused: another change is
	// appended but not yet applied, or the configuration is joint and must be
	// left first. The change may be proposed again once that is done.
	ErrConfChangePending = fmt.Errorf("%w: another change is in progress", ErrConfChangeRefused)
	// ErrNotJoint refines ErrConfChangeRefused: leaving the joint
	// configuration was asked while there is none (an automatic leave may
	// have got there first).
	ErrNotJoint = fmt.Errorf("%w: not in a joint configuration", ErrConfChangeRefused)
	// ErrHasLeader means ForceNewConfiguration was refused because this member
	// knows a leader (it may be the leader): a quorum is there.
	ErrHasLeader = errors.New("raft: a leader is known")
	// ErrNotVoter means ForceNewConfiguration was refused because this member
	// is not a voter of its configuration's incoming half.
	ErrNotVoter = errors.New("raft: not a voter")
	// ErrStepLocalMsg means a local message (such as MsgHup) was passed to Step.
	ErrStepLocalMsg = errors.New("raft: cannot step raft local message")
	// ErrStepPeerNotFound means a response came from a member not in the
	// configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")
	// ErrInvalidMessage means a message from a peer was malformed and refused
	// before it could touch any state.
	ErrInvalidMessage = errors.New("raft: invalid message")
)

// campaignType says why a member campaigns; it travels in the Context of vote
// requests.
type campaignType string

const (
	// campaignPreElection is the first phase of a pre-vote election.
	campaignPreElection campaignType = "CampaignPreElection"
	// campaignElection is a normal election.
	campaignElection campaignType = "CampaignElection"
	// campaignTransfer is an election forced by a leadership transfer: voters
	// ignore their leader lease and priorities for it.
	campaignTransfer campaignType = "CampaignTransfer"
)

// stepFunc handles a message in one role.
type stepFunc func(r *raft, m pb.Message) error

// raft is one member's protocol state. It is driven by RawNode.
type raft struct {
	id uint64

	// Term and Vote are persisted through HardState.
	Term uint64
	Vote uint64

	raftLog *raftLog
	trk     tracker.ProgressTracker
	state   StateType
	// isLearner is set when this member is a learner in the current configuration.
	isLearner bool

	// msgs go out once the Ready that carries them is persisted.
	msgs []pb.Message
	// msgsEarly are a leader's replication messages in a term whose hard state is
	// already durable; they may go out before the Ready is persisted (Raft thesis
	// §10.2.1).
	msgsEarly []pb.Message
	// durableTerm is the term of the newest hard state known to be persisted.
	durableTerm uint64
	// asyncPersistence: see Config. durableIndex and durableIndexTerm are then
	// the last entry reported durable by RawNode.Persisted.
	asyncPersistence               bool
	durableIndex, durableIndexTerm uint64

	// readStates are answered ReadIndex requests waiting to be handed out.
	readStates []ReadState
	readOnly   *readOnly
	// pendingReadIndexMessages wait until the leader commits an entry of its term:
	// before that its commit index may lag behind what earlier leaders committed.
	pendingReadIndexMessages []pb.Message

	// lead is the current leader's id, or None.
	lead uint64
	// leadTransferee is the member leadership is being transferred to, or None.
	leadTransferee uint64
	// pendingConfIndex is the index of the last configuration change appended by
	// this leader; no new change may be proposed until it is applied.
	pendingConfIndex uint64
	// entriesBcastPending is set when the leader appended entries that followers
	// are still to be sent, and commitBcastPending when the commit index advanced
	// and followers are still to be told; see flushAppends.
	entriesBcastPending bool
	commitBcastPending  bool
	// transferCampaignPending is set when a MsgTimeoutNow arrived while
	// committed configuration changes were still unapplied; the member campaigns
	// once they are applied (see campaignIfTransferPending).
	transferCampaignPending bool
	// uncommittedSize is the payload bytes of this leader's uncommitted entries.
	// Invariant: only a leader's is non-zero.
	uncommittedSize uint64

	maxMsgSize         uint64
	maxUncommittedSize uint64

	// electionElapsed counts ticks since the last election timeout (leaders and
	// candidates) or since the last valid message from the leader (followers).
	electionElapsed  int
	heartbeatElapsed int

	checkQuorum               bool
	preVote                   bool
	disableProposalForwarding bool
	priority                  int64

	heartbeatTimeout int
	electionTimeout  int
	// randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout), drawn
	// anew whenever the member changes term or role.
	randomizedElectionTimeout int
	rand                      *rand.Rand

	tick   func()
	step   stepFunc
	logger Logger
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	logger := c.Logger
	if logger == nil {
		logger = DiscardLogger{}
	}
	maxApplying := c.MaxCommittedSizePerReady
	if maxApplying == 0 {
		maxApplying = c.MaxSizePerMsg
	}
	raftlog, err := newLog(c.Storage, logger, maxApplying)
	if err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("read initial state: %w", err)
	}
	maxUncommitted := c.MaxUncommittedEntriesSize
	if maxUncommitted == 0 {
		maxUncommitted = noLimit
	}
	r := &raft{
		id:                        c.ID,
		lead:                      None,
		isLearner:                 false,
		raftLog:                   raftlog,
		maxMsgSize:                c.MaxSizePerMsg,
		maxUncommittedSize:        maxUncommitted,
		trk:                       tracker.MakeProgressTracker(c.MaxInflightMsgs, c.MaxInflightBytes),
		electionTimeout:           c.ElectionTick,
		heartbeatTimeout:          c.HeartbeatTick,
		logger:                    logger,
		checkQuorum:               c.CheckQuorum,
		preVote:                   c.PreVote,
		readOnly:                  newReadOnly(c.ReadOnlyOption),
		disableProposalForwarding: c.DisableProposalForwarding,
		priority:                  c.Priority,
		rand:                      rand.New(rand.NewPCG(c.ID, c.ID^0x9e3779b97f4a7c15)),
		asyncPersistence:          c.AsyncPersistence,
	}
	// Everything in Storage at start is durable.
	r.durableIndex, r.durableIndexTerm = raftlog.lastIndex(), raftlog.lastTerm()
	cfg, prs, err := confchange.Restore(confchange.Changer{Tracker: r.trk, LastIndex: raftlog.lastIndex()}, cs)
	if err != nil {
		return nil, fmt.Errorf("restore configuration %+v: %w", cs, err)
	}
	r.switchToConfig(cfg, prs)
	if !hs.IsEmpty() {
		if err := r.loadState(hs); err != nil {
			return nil, err
		}
		r.durableTerm = hs.Term
	}
	if c.Applied > 0 {
		if c.Applied > r.raftLog.committed {
			return nil, fmt.Errorf("%w: Applied (%d) is past the committed index (%d)", ErrInvalidConfig, c.Applied, r.raftLog.committed)
		}
		r.raftLog.appliedTo(c.Applied)
	}
	r.becomeFollower(r.Term, None)
	r.logger.Infof("newRaft %x [peers: %s, term: %d, commit: %d, applied: %d, lastindex: %d, lastterm: %d]",
		r.id, r.trk.Config.String(), r.Term, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.raftLog.lastTerm())
	return r, nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

func (r *raft) hardState() pb.HardState {
	return pb.HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
}

// send queues m. Vote messages carry their own term; proposals and read requests
// forwarded to the leader carry none (they are local to the leader); every other
// message is stamped with the current term.
func (r *raft) send(m pb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case pb.MsgVote, pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp:
		if m.Term == 0 {
			// Pre-vote responses carry the term of the request, which may be ahead
			// of ours; a zero term is a bug.
			r.logger.Panicf("term should be set when sending %s", m.Type)
		}
	default:
		if m.Term != 0 {
			r.logger.Panicf("term should not be set when sending %s (was %d)", m.Type, m.Term)
		}
		if m.Type != pb.MsgProp && m.Type != pb.MsgReadIndex {
			m.Term = r.Term
		}
	}
	if r.canSendEarly(m.Type) {
		r.msgsEarly = append(r.msgsEarly, m)
		return
	}
	r.msgs = append(r.msgs, m)
}

// canSendEarly reports whether a message of type t may leave before the Ready
// carrying it is persisted: replication traffic of a leader whose term and vote
// are already durable. Followers still persist before they acknowledge, so an
// entry counts toward commit only once it is durable where it is counted.
func (r *raft) canSendEarly(t pb.MessageType) bool {
	if r.state != StateLeader || r.durableTerm != r.Term {
		return false
	}
	return t == pb.MsgApp || t == pb.MsgHeartbeat || t == pb.MsgSnap
}

// persistedIndex returns the last index known to be durable in this member's log.
func (r *raft) persistedIndex() uint64 {
	if r.raftLog.hasNextUnstableSnapshot() {
		return 0
	}
	stable := r.raftLog.unstable.offset - 1
	if !r.asyncPersistence {
		return stable
	}
	// The entry reported durable must still be the one in the log: entries
	// replaced since (a new leader's) are not durable, whatever their index.
	// A log cut back below the reported index holds, up to stable, entries
	// written since the cut and not yet reported: none counts until a sync
	// reports them.
	if r.durableIndex > stable {
		return 0
	}
	idx := r.durableIndex
	switch t, err := r.raftLog.term(idx); {
	case errors.Is(err, ErrCompacted):
		return idx // inside a snapshot, which is durable
	case err != nil || t != r.durableIndexTerm:
		return 0
	}
	return idx
}

// persisted records a background sync reported by RawNode.Persisted.
func (r *raft) persisted(index, term, hardStateTerm uint64) {
	r.durableTerm = max(r.durableTerm, hardStateTerm)
	if index > 0 {
		r.durableIndex, r.durableIndexTerm = index, term
	}
	if r.state == StateLeader {
		r.selfAck()
	}
}

func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.ResetVotes()
	lastIndex, persisted := r.raftLog.lastIndex(), r.persistedIndex()
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		inflights := pr.Inflights
		inflights.Reset()
		*pr = tracker.Progress{
			Next:      lastIndex + 1,
			Inflights: inflights,
			IsLearner: pr.IsLearner,
		}
		if id == r.id {
			pr.Match = persisted
		}
	})
	r.pendingConfIndex = 0
	r.transferCampaignPending = false
	r.entriesBcastPending, r.commitBcastPending = false, false
	r.uncommittedSize = 0
	r.readOnly = r.readOnly.reset()
	r.pendingReadIndexMessages = nil
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Infof("%x became follower at term %d", r.id, r.Term)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.logger.Infof("%x became candidate at term %d", r.id, r.Term)
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("invalid transition [leader -> pre-candidate]")
	}
	// A pre-candidate changes neither its term nor its vote.
	r.step = stepCandidate
	r.trk.ResetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Infof("%x became pre-candidate at term %d", r.id, r.Term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		r.logger.Panicf("invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	pr := r.trk.Progress[r.id]
	pr.BecomeReplicate()
	pr.RecentActive = true

	var empty [1]pb.Entry
	if !r.appendEntry(empty[:]) {
		r.logger.Panicf("empty entry was dropped")
	}
	// Entries of earlier terms may hold a configuration change this member has not
	// applied yet. Refusing new changes until everything up to and including the
	// empty entry is applied also makes a new leader commit an entry of its own
	// term before it changes the configuration (the single-server change bug of
	// 2015). Set after the append: before it, a leader that had applied its whole
	// log could change the configuration at once.
	r.pendingConfIndex = r.raftLog.lastIndex()
	r.logger.Infof("%x became leader at term %d", r.id, r.Term)
}

// appendEntry assigns terms and indexes to es and appends them to the leader's
// log. It reports false when the uncommitted-bytes bound refuses them.
func (r *raft) appendEntry(es []pb.Entry) bool {
	li := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	if !r.increaseUncommittedSize(es) {
		return false
	}
	// The leader counts its own copy toward commit only once it is durable,
	// in Advance; see selfAck.
	r.raftLog.append(es...)
	return true
}

// increaseUncommittedSize accounts for es, unless that would cross the bound. An
// empty log of uncommitted entries always accepts, so one large entry cannot block
// a leader forever.
func (r *raft) increaseUncommittedSize(es []pb.Entry) bool {
	s := payloadsSize(es)
	if r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += s
	return true
}

func (r *raft) reduceUncommittedSize(s uint64) {
	if s > r.uncommittedSize {
		r.uncommittedSize = 0
	} else {
		r.uncommittedSize -= s
	}
}

func (r *raft) loadState(hs pb.HardState) error {
	if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
		return fmt.Errorf("raft: %x state.commit %d is out of range [%d, %d]", r.id, hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
	}
	r.raftLog.committed = hs.Commit
	r.Term = hs.Term
	r.Vote = hs.Vote
	return nil
}

// promotable reports whether this member may become leader: it is a voter and is
// not in the middle of restoring a snapshot.
func (r *raft) promotable() bool {
	pr := r.trk.Progress[r.id]
	return pr != nil && !pr.IsLearner && !r.raftLog.hasNextUnstableSnapshot()
}

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		if err := r.Step(pb.Message{From: r.id, Type: pb.MsgHup}); err != nil {
			r.logger.Debugf("error occurred during election: %v", err)
		}
	}
}

// tickHeartbeat is the tick of leaders.
func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			if err := r.Step(pb.Message{From: r.id, Type: pb.MsgCheckQuorum}); err != nil {
				r.logger.Debugf("error occurred during checking sending heartbeat: %v", err)
			}
		}
		// A transfer that did not finish within an election timeout is abandoned.
		if r.state == StateLeader && r.leadTransferee != None {
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	r.maybeAutoLeave()
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		if err := r.Step(pb.Message{From: r.id, Type: pb.MsgBeat}); err != nil {
			r.logger.Debugf("error occurred during checking sending heartbeat: %v", err)
		}
	}
}

// Step is the entry point of every message.
func (r *raft) Step(m pb.Message) error {
	r.learnCommitFromVoteResp(m)
	switch {
	case m.Term == 0:
		// Local message.
	case m.Term > r.Term:
		if !r.stepHigherTerm(m) {
			return nil
		}
	case m.Term < r.Term:
		r.stepLowerTerm(m)
		return nil
	}

	switch m.Type {
	case pb.MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case pb.MsgVote, pb.MsgPreVote:
		r.handleVoteRequest(m)
	default:
		return r.step(r, m)
	}
	return nil
}

// stepHigherTerm handles a message from a newer term; it reports whether the
// message should be processed further.
func (r *raft) stepHigherTerm(m pb.Message) bool {
	if m.Type == pb.MsgVote || m.Type == pb.MsgPreVote {
		force := string(m.Context) == string(campaignTransfer)
		inLease := r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
		if !force && inLease {
			// We heard from a leader within the minimum election timeout: a member
			// that was partitioned away must not depose it (Raft thesis §4.2.3).
			r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] ignored %s from %x [logterm: %d, index: %d] at term %d: lease is not expired (remaining ticks: %d)",
				r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term, r.electionTimeout-r.electionElapsed)
			return false
		}
	}
	switch {
	case m.Type == pb.MsgPreVote:
		// A pre-vote never changes our term.
	case m.Type == pb.MsgPreVoteResp && !m.Reject:
		// The term is raised once a quorum grants the pre-vote.
	default:
		r.logger.Infof("%x [term: %d] received a %s message with higher term from %x [term: %d]", r.id, r.Term, m.Type, m.From, m.Term)
		if m.Type == pb.MsgApp || m.Type == pb.MsgHeartbeat || m.Type == pb.MsgSnap {
			r.becomeFollower(m.Term, m.From)
		} else {
			r.becomeFollower(m.Term, None)
		}
	}
	return true
}

// stepLowerTerm handles a message from an older term.
func (r *raft) stepLowerTerm(m pb.Message) {
	switch {
	case (r.checkQuorum || r.preVote || !r.campaignReaches(m.From)) && (m.Type == pb.MsgHeartbeat || m.Type == pb.MsgApp):
		// A stale leader, or a member whose term was raised while partitioned: with
		// check-quorum or pre-vote it would otherwise never learn of the new term
		// (its pre-votes are refused), so answer and let it step down. Without
		// them our own campaign tells it, unless our campaign never asks it: we
		// cannot stand (a learner that raised its term as a voter, say), or our
		// configuration is older than the leader's and does not have it. We would
		// then never hear from the leader again.
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp})
	case m.Type == pb.MsgPreVote:
		// Answer with our term so a pre-candidate in an old term learns it and
		// does not wait forever.
		r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d",
			r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
		r.send(pb.Message{To: m.From, Term: r.Term, Type: pb.MsgPreVoteResp, Reject: true})
	default:
		r.logger.Infof("%x [term: %d] ignored a %s message with lower term from %x [term: %d]", r.id, r.Term, m.Type, m.From, m.Term)
	}
}

// campaignReaches reports whether our campaigns ask id for its vote, which
// tells it our term.
func (r *raft) campaignReaches(id uint64) bool {
	_, in := r.trk.Voters[0][id]
	_, out := r.trk.Voters[1][id]
	return r.promotable() && (in || out)
}

// switchToConfig installs a configuration produced by the changer and returns its
// ConfState.
func (r *raft) switchToConfig(cfg tracker.Config, prs tracker.ProgressMap) pb.ConfState {
	r.trk.Install(cfg, prs)
	r.logger.Infof("%x switched to configuration %s", r.id, r.trk.Config.String())
	cs := r.trk.ConfState()
	pr, ok := r.trk.Progress[r.id]
	r.isLearner = ok && pr.IsLearner

	if (!ok || r.isLearner) && r.state == StateLeader {
		// The configuration without this leader is committed and in force.
		r.stepDownAfterRemoval()
		return cs
	}
	if r.state != StateLeader || len(cs.Voters) == 0 {
		return cs
	}
	if r.maybeCommit() {
		// The new configuration may commit more (fewer voters to wait for).
		r.onCommitAdvanced()
	} else {
		// Members added by the change need their first appends.
		r.trk.Visit(func(id uint64, _ *tracker.Progress) {
			if id != r.id {
				r.maybeSendAppend(id, false)
			}
		})
	}
	if _, ok := r.trk.Config.Voters.IDs()[r.leadTransferee]; !ok && r.leadTransferee != None {
		r.abortLeaderTransfer()
	}
	return cs
}

// stepDownAfterRemoval makes a leader that is no longer a voter hand over: it
// tells everyone the commit index, asks the most up-to-date voter to campaign at
// once, and becomes a follower, so the cluster does not wait an election timeout.
func (r *raft) stepDownAfterRemoval() {
	r.bcastAppend()
	var best uint64
	var bestMatch uint64
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if id == r.id || pr.IsLearner {
			return
		}
		if _, voter := r.trk.Config.Voters.IDs()[id]; voter && pr.Match > bestMatch {
			best, bestMatch = id, pr.Match
		}
	})
	if best != None && bestMatch == r.raftLog.lastIndex() {
		r.sendTimeoutNow(best)
	}
	r.logger.Infof("%x is no longer a voter and steps down as leader at term %d", r.id, r.Term)
	r.becomeFollower(r.Term, None)
}

// applyConfChange applies a committed configuration change. A change the changer
// refuses is refused identically on every member (they all hold the same
// configuration at this index), so it is logged and skipped rather than fatal.
func (r *raft) applyConfChange(cc pb.ConfChangeV2) pb.ConfState {
	cfg, prs, err := r.changeConfig(cc)
	if err != nil {
		r.logger.Errorf("%x ignores configuration change %+v: %v", r.id, cc, err)
		return r.trk.ConfState()
	}
	return r.switchToConfig(cfg, prs)
}

// changeConfig computes the configuration cc leads to, without installing it.
func (r *raft) changeConfig(cc pb.ConfChangeV2) (tracker.Config, tracker.ProgressMap, error) {
	changer := confchange.Changer{Tracker: r.trk, LastIndex: r.raftLog.lastIndex()}
	if cc.Forced() {
		return confchange.Restore(changer, forcedConfState(cc))
	}
	if cc.LeaveJoint() {
		return changer.LeaveJoint()
	}
	if autoLeave, ok := cc.EnterJoint(); ok {
		return changer.EnterJoint(autoLeave, cc.Changes...)
	}
	return changer.Simple(cc.Changes...)
}

// hasUnappliedConfChanges reports whether a committed but unapplied entry changes
// the configuration. Such a member must not campaign: it does not yet know the
// configuration it would be elected under.
func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	lo, hi := r.raftLog.applied+1, r.raftLog.committed+1
	for lo < hi {
		ents, err := r.raftLog.slice(lo, hi, r.maxMsgSize)
		if err != nil {
			r.logger.Panicf("error scanning unapplied entries [%d, %d): %v", lo, hi, err)
		}
		for i := range ents {
			if ents[i].Type == pb.EntryConfChange || ents[i].Type == pb.EntryConfChangeV2 {
				return true
			}
		}
		lo += uint64(len(ents))
	}
	return false
}
