// Package confchange changes membership configurations: it is the pure
// function from a configuration and a list of single changes to the next
// configuration, or to an error.
//
// Raft changes membership safely in one of two ways (Raft thesis §4.3). A
// simple change adds or removes at most one voter: any majority of the old
// voters then overlaps any majority of the new ones, so the two can never
// decide differently. Anything larger goes through joint consensus: the
// leader first enters a joint configuration in which the old voters (the
// outgoing half) and the new ones (the incoming half) must both agree to every
// decision, and once that is committed it leaves the joint configuration for
// the new voters alone.
//
// Changer implements the three steps — Simple, EnterJoint and LeaveJoint — and
// Restore rebuilds any configuration, joint or not, from a ConfState. Each
// works on copies: it checks the configuration it starts from, applies the
// changes to a copy of the configuration and of the Progress map, checks the
// result, and returns it. The Changer's tracker is never modified, so a
// refused change leaves nothing to undo.
//
// The semantics are those of etcd raft's confchange package.
package confchange

import (
	"errors"
	"fmt"
	"maps"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// The errors a change can be refused with. Callers tell them apart with
// errors.Is; the returned errors wrap them with details.
var (
	// ErrAlreadyJoint refuses EnterJoint or Simple on a joint configuration.
	ErrAlreadyJoint = errors.New("configuration is already joint")
	// ErrNotJoint refuses LeaveJoint on a configuration that is not joint.
	ErrNotJoint = errors.New("configuration is not joint")
	// ErrZeroVoterJoint refuses EnterJoint from a configuration without voters.
	ErrZeroVoterJoint = errors.New("cannot make a configuration without voters joint")
	// ErrRemovedAllVoters refuses changes that leave the incoming
	// configuration without voters.
	ErrRemovedAllVoters = errors.New("removed all voters")
	// ErrTooManyVoterChanges refuses a Simple change of more than one voter.
	ErrTooManyVoterChanges = errors.New("more than one voter changed without entering joint config")
	// ErrUnknownChangeType refuses a change of a type this package does not
	// know.
	ErrUnknownChangeType = errors.New("unknown conf change type")
	// ErrInvalidConfig refuses a configuration (the one started from, the
	// result, or a ConfState given to Restore) that breaks an invariant.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// Changer computes configuration changes from the configuration of Tracker.
type Changer struct {
	// Tracker holds the configuration and Progress changed from; it is read,
	// never written. Its MaxInflight and MaxInflightBytes size the windows of
	// new members.
	Tracker tracker.ProgressTracker
	// LastIndex is the leader's last log index. A new member's Progress starts
	// with Next = LastIndex (at least 1) and Match = 0: the leader probes it
	// at its log's end and walks back from there.
	LastIndex uint64
}

// EnterJoint enters a joint configuration: the current voters become the
// outgoing half, and ccs are applied to a copy of them that becomes the
// incoming half. autoLeave says whether the leader leaves the joint
// configuration by itself once it is committed.
//
// It fails with ErrAlreadyJoint if the configuration is joint, with
// ErrZeroVoterJoint if it has no voters, and with ErrRemovedAllVoters if ccs
// leave the incoming half empty.
func (c Changer) EnterJoint(autoLeave bool, ccs ...pb.ConfChangeSingle) (tracker.Config, tracker.ProgressMap, error) {
	cfg, trk, err := c.checkAndCopy()
	if err != nil {
		return failed(err)
	}
	if cfg.IsJoint() {
		return failed(ErrAlreadyJoint)
	}
	if len(cfg.Voters[0]) == 0 {
		// An empty configuration may grow by simple changes (that is how a
		// cluster is bootstrapped), but it has nothing to be joint with.
		return failed(ErrZeroVoterJoint)
	}
	cfg.Voters[1] = maps.Clone(cfg.Voters[0])
	if err := c.apply(&cfg, trk, ccs...); err != nil {
		return failed(err)
	}
	cfg.AutoLeave = autoLeave
	return checkAndReturn(cfg, trk)
}

// LeaveJoint leaves a joint configuration for its incoming half: learners-next
// become learners, the outgoing half is dropped along with the Progress of the
// members that are in no configuration any more, and AutoLeave is cleared.
//
// It fails with ErrNotJoint if the configuration is not joint.
func (c Changer) LeaveJoint() (tracker.Config, tracker.ProgressMap, error) {
	cfg, trk, err := c.checkAndCopy()
	if err != nil {
		return failed(err)
	}
	if !cfg.IsJoint() {
		return failed(ErrNotJoint)
	}
	for id := range cfg.LearnersNext {
		addID(&cfg.Learners, id)
		trk[id].IsLearner = true
	}
	cfg.LearnersNext = nil
	for id := range cfg.Voters[1] {
		_, isVoter := cfg.Voters[0][id]
		_, isLearner := cfg.Learners[id]
		if !isVoter && !isLearner {
			delete(trk, id)
		}
	}
	cfg.Voters[1] = nil
	cfg.AutoLeave = false
	return checkAndReturn(cfg, trk)
}

// Simple applies ccs directly, without joint consensus. That is only safe when
// at most one voter is added or removed (learner changes are free).
//
// It fails with ErrAlreadyJoint in a joint configuration, with
// ErrTooManyVoterChanges if the voters change by more than one, and with
// ErrRemovedAllVoters if no voter would remain.
func (c Changer) Simple(ccs ...pb.ConfChangeSingle) (tracker.Config, tracker.ProgressMap, error) {
	cfg, trk, err := c.checkAndCopy()
	if err != nil {
		return failed(err)
	}
	if cfg.IsJoint() {
		return failed(fmt.Errorf("%w: cannot apply a simple change", ErrAlreadyJoint))
	}
	if err := c.apply(&cfg, trk, ccs...); err != nil {
		return failed(err)
	}
	if n := symDiff(c.Tracker.Voters[0], cfg.Voters[0]); n > 1 {
		return failed(ErrTooManyVoterChanges)
	}
	return checkAndReturn(cfg, trk)
}

// apply applies ccs in order to the incoming half of cfg (and to the learner
// sets and trk). A change of node id 0 is skipped: callers that decide not to
// apply a committed change zero its id, as etcd does.
func (c Changer) apply(cfg *tracker.Config, trk tracker.ProgressMap, ccs ...pb.ConfChangeSingle) error {
	for _, cc := range ccs {
		if cc.NodeID == 0 {
			continue
		}
		switch cc.Type {
		case pb.ConfChangeAddNode:
			c.makeVoter(cfg, trk, cc.NodeID)
		case pb.ConfChangeAddLearnerNode:
			c.makeLearner(cfg, trk, cc.NodeID)
		case pb.ConfChangeRemoveNode:
			remove(cfg, trk, cc.NodeID)
		case pb.ConfChangeUpdateNode:
			// Metadata only (the address, say); nothing changes here.
		default:
			return fmt.Errorf("%w: %s", ErrUnknownChangeType, cc.Type)
		}
	}
	if len(cfg.Voters[0]) == 0 {
		return ErrRemovedAllVoters
	}
	return nil
}

// makeVoter makes id a voter of the incoming half: a new member, or a learner
// promoted, or an outgoing voter that was to become a learner and now stays.
func (c Changer) makeVoter(cfg *tracker.Config, trk tracker.ProgressMap, id uint64) {
	pr := trk[id]
	if pr == nil {
		c.initProgress(cfg, trk, id, false)
		return
	}
	pr.IsLearner = false
	deleteID(&cfg.Learners, id)
	deleteID(&cfg.LearnersNext, id)
	cfg.Voters[0][id] = struct{}{}
}

// makeLearner makes id a learner: a new member, or a voter demoted. A voter of
// the outgoing half is still a voter until the joint configuration is left,
// so it goes to LearnersNext instead and LeaveJoint finishes the job.
func (c Changer) makeLearner(cfg *tracker.Config, trk tracker.ProgressMap, id uint64) {
	pr := trk[id]
	if pr == nil {
		c.initProgress(cfg, trk, id, true)
		return
	}
	if pr.IsLearner {
		return
	}
	// Out of the incoming half, but keep the Progress: the follower keeps
	// its log and need not be probed again.
	remove(cfg, trk, id)
	trk[id] = pr
	if _, outgoing := cfg.Voters[1][id]; outgoing {
		addID(&cfg.LearnersNext, id)
	} else {
		pr.IsLearner = true
		addID(&cfg.Learners, id)
	}
}

// remove takes id out of the incoming half and the learner sets. Its Progress
// goes too unless it is still a voter of the outgoing half.
func remove(cfg *tracker.Config, trk tracker.ProgressMap, id uint64) {
	if _, ok := trk[id]; !ok {
		return
	}
	delete(cfg.Voters[0], id)
	deleteID(&cfg.Learners, id)
	deleteID(&cfg.LearnersNext, id)
	if _, outgoing := cfg.Voters[1][id]; !outgoing {
		delete(trk, id)
	}
}

// initProgress adds a new member, as a voter of the incoming half or as a
// learner, with a fresh Progress.
func (c Changer) initProgress(cfg *tracker.Config, trk tracker.ProgressMap, id uint64, isLearner bool) {
	if isLearner {
		addID(&cfg.Learners, id)
	} else {
		cfg.Voters[0][id] = struct{}{}
	}
	trk[id] = &tracker.Progress{
		Match:     0,
		Next:      max(c.LastIndex, 1), // Invariant: Match < Next.
		State:     tracker.StateProbe,
		Inflights: tracker.NewInflights(c.Tracker.MaxInflight, c.Tracker.MaxInflightBytes),
		IsLearner: isLearner,
		// A member just added has had no chance to answer yet; counting it
		// as down could make check-quorum depose the leader that added it.
		RecentActive: true,
	}
}

// failed is the return of a refused change.
func failed(err error) (tracker.Config, tracker.ProgressMap, error) {
	return tracker.Config{}, nil, err
}

// addID adds id to *m, creating the map if needed.
func addID(m *map[uint64]struct{}, id uint64) {
	if *m == nil {
		*m = map[uint64]struct{}{}
	}
	(*m)[id] = struct{}{}
}

// deleteID deletes id from *m, and sets *m to nil once it is empty so that
// empty sets are always nil.
func deleteID(m *map[uint64]struct{}, id uint64) {
	delete(*m, id)
	if len(*m) == 0 {
		*m = nil
	}
}

// symDiff returns how many ids are in exactly one of l and r.
func symDiff(l, r quorum.MajorityConfig) int {
	n := 0
	for id := range l {
		if _, ok := r[id]; !ok {
			n++
		}
	}
	for id := range r {
		if _, ok := l[id]; !ok {
			n++
		}
	}
	return n
}
