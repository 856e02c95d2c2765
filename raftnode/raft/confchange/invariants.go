package confchange

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// checkAndCopy checks the Changer's configuration and returns deep copies of
// it and of its Progress map, for the change to work on.
func (c Changer) checkAndCopy() (tracker.Config, tracker.ProgressMap, error) {
	current := c.Tracker.Config
	cfg := current.Clone()
	if cfg.Voters[0] == nil {
		cfg.Voters[0] = quorum.MajorityConfig{} // written to by the changes
	}
	trk := make(tracker.ProgressMap, len(c.Tracker.Progress))
	for id, pr := range c.Tracker.Progress {
		if pr == nil {
			return failed(fmt.Errorf("current configuration: %w: nil progress for %d", ErrInvalidConfig, id))
		}
		cp := *pr
		cp.Inflights = pr.Inflights.Clone()
		trk[id] = &cp
	}
	if err := checkInvariants(cfg, trk); err != nil {
		return failed(fmt.Errorf("current configuration: %w", err))
	}
	return cfg, trk, nil
}

// checkAndReturn normalizes cfg (empty sets other than the incoming voters are
// nil) and checks it.
func checkAndReturn(cfg tracker.Config, trk tracker.ProgressMap) (tracker.Config, tracker.ProgressMap, error) {
	if len(cfg.Voters[1]) == 0 {
		cfg.Voters[1] = nil
	}
	if len(cfg.Learners) == 0 {
		cfg.Learners = nil
	}
	if len(cfg.LearnersNext) == 0 {
		cfg.LearnersNext = nil
	}
	if err := checkInvariants(cfg, trk); err != nil {
		return failed(err)
	}
	return cfg, trk, nil
}

// checkInvariants checks that cfg and trk agree and that cfg is well formed.
// The empty configuration is valid: configurations are built from it.
func checkInvariants(cfg tracker.Config, trk tracker.ProgressMap) error {
	members := cfg.Voters.IDs()
	for _, set := range []map[uint64]struct{}{cfg.Learners, cfg.LearnersNext} {
		for id := range set {
			members[id] = struct{}{}
		}
	}
	for id := range members {
		if _, ok := trk[id]; !ok {
			return fmt.Errorf("%w: no progress for %d", ErrInvalidConfig, id)
		}
	}
	for id := range trk {
		if _, ok := members[id]; !ok {
			return fmt.Errorf("%w: progress for %d, which is in no configuration", ErrInvalidConfig, id)
		}
	}
	if err := checkLearners(cfg, trk); err != nil {
		return err
	}
	if !cfg.IsJoint() {
		if len(cfg.LearnersNext) > 0 {
			return fmt.Errorf("%w: learners_next %s without a joint configuration",
				ErrInvalidConfig, quorum.MajorityConfig(cfg.LearnersNext))
		}
		if cfg.AutoLeave {
			return fmt.Errorf("%w: autoleave without a joint configuration", ErrInvalidConfig)
		}
	}
	return nil
}

// checkLearners checks that voters, learners and learners-next are where they
// may be and that the IsLearner flags say the same.
func checkLearners(cfg tracker.Config, trk tracker.ProgressMap) error {
	// A learner-next is waiting for the outgoing half, where it is a voter,
	// to go away.
	for id := range cfg.LearnersNext {
		if _, ok := cfg.Voters[1][id]; !ok {
			return fmt.Errorf("%w: %d is in learners_next but not an outgoing voter", ErrInvalidConfig, id)
		}
		if _, ok := cfg.Learners[id]; ok {
			return fmt.Errorf("%w: %d is in learners_next and learners", ErrInvalidConfig, id)
		}
		if trk[id].IsLearner {
			return fmt.Errorf("%w: %d is in learners_next but marked as a learner", ErrInvalidConfig, id)
		}
	}
	for id := range cfg.Learners {
		if _, ok := cfg.Voters[0][id]; ok {
			return fmt.Errorf("%w: %d is a learner and an incoming voter", ErrInvalidConfig, id)
		}
		if _, ok := cfg.Voters[1][id]; ok {
			return fmt.Errorf("%w: %d is a learner and an outgoing voter", ErrInvalidConfig, id)
		}
		if !trk[id].IsLearner {
			return fmt.Errorf("%w: %d is a learner but not marked as one", ErrInvalidConfig, id)
		}
	}
	for _, half := range cfg.Voters {
		for id := range half {
			if trk[id].IsLearner {
				return fmt.Errorf("%w: %d is a voter but marked as a learner", ErrInvalidConfig, id)
			}
		}
	}
	return nil
}
