package confchange

import (
	"fmt"
	"slices"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// Restore builds the configuration described by cs, with fresh Progress for
// every member, as on restart or when a snapshot is applied.
//
// It starts from the empty configuration — chg.Tracker's Config and Progress
// are ignored; its MaxInflight and MaxInflightBytes and chg.LastIndex size and
// place the new Progress — and gets to cs through the same steps a live
// cluster takes, so that every step is checked:
//
//   - not joint: one Simple change per voter, then per learner;
//   - joint: one Simple change per outgoing voter, then EnterJoint with the
//     changes that turn those voters into the incoming ones, learners and
//     learners-next.
//
// cs's slices need not be sorted. It fails with ErrInvalidConfig when cs does
// not describe a valid configuration (duplicate or zero ids, a member in two
// roles, learners-next that are not outgoing voters, ...).
func Restore(chg Changer, cs pb.ConfState) (tracker.Config, tracker.ProgressMap, error) {
	for _, ids := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		if slices.Contains(ids, 0) {
			// The changes would skip it (see Changer.apply): refuse it here.
			return failed(fmt.Errorf("%w: restore %+v: node id 0", ErrInvalidConfig, cs))
		}
	}
	chg.Tracker = tracker.MakeProgressTracker(chg.Tracker.MaxInflight, chg.Tracker.MaxInflightBytes)
	outgoing, incoming := toConfChangeSingle(cs)

	type op func(Changer) (tracker.Config, tracker.ProgressMap, error)
	var ops []op
	if len(outgoing) == 0 {
		for _, cc := range incoming {
			ops = append(ops, func(c Changer) (tracker.Config, tracker.ProgressMap, error) { return c.Simple(cc) })
		}
	} else {
		// Build the outgoing voters as a simple configuration first; entering
		// the joint configuration then moves them to the outgoing half.
		for _, cc := range outgoing {
			ops = append(ops, func(c Changer) (tracker.Config, tracker.ProgressMap, error) { return c.Simple(cc) })
		}
		ops = append(ops, func(c Changer) (tracker.Config, tracker.ProgressMap, error) {
			return c.EnterJoint(cs.AutoLeave, incoming...)
		})
	}
	for _, op := range ops {
		cfg, trk, err := op(chg)
		if err != nil {
			return failed(fmt.Errorf("restore %+v: %w", cs, err))
		}
		chg.Tracker.Config, chg.Tracker.Progress = cfg, trk
	}
	if got := chg.Tracker.ConfState(); !sameConfState(got, cs) {
		// The steps reinterpreted cs: it was not a valid configuration.
		return failed(fmt.Errorf("%w: restore %+v gave %+v", ErrInvalidConfig, cs, got))
	}
	return chg.Tracker.Config, chg.Tracker.Progress, nil
}

// toConfChangeSingle returns the changes that build cs from the empty
// configuration: out builds the outgoing voters as a simple configuration, in
// turns that into cs when applied while entering the joint configuration (or,
// when cs is not joint, builds cs by itself).
//
// For example voters=(1 2 3) outgoing=(1 2 4 6) learners=(5)
// learners_next=(4) gives
//
//	out: add 1, add 2, add 4, add 6                 -> (1 2 4 6)
//	in:  remove 1, remove 2, remove 4, remove 6,
//	     add 1, add 2, add 3,
//	     add-learner 5, add-learner 4               -> (1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4)
//
// Whether 5 was a learner before the joint configuration was entered cannot
// be told and does not matter.
func toConfChangeSingle(cs pb.ConfState) (out, in []pb.ConfChangeSingle) {
	for _, id := range cs.VotersOutgoing {
		out = append(out, pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeID: id})
	}
	for _, id := range cs.VotersOutgoing {
		in = append(in, pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeID: id})
	}
	for _, id := range cs.Voters {
		in = append(in, pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeID: id})
	}
	for _, id := range cs.Learners {
		in = append(in, pb.ConfChangeSingle{Type: pb.ConfChangeAddLearnerNode, NodeID: id})
	}
	// Learners-next are outgoing voters, so adding them as learners puts them
	// in LearnersNext.
	for _, id := range cs.LearnersNext {
		in = append(in, pb.ConfChangeSingle{Type: pb.ConfChangeAddLearnerNode, NodeID: id})
	}
	return out, in
}

// sameConfState reports whether got (sorted, as ConfState returns it) holds
// exactly the ids of want, whose slices may be in any order.
func sameConfState(got, want pb.ConfState) bool {
	same := func(sorted, ids []uint64) bool {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		return slices.Equal(sorted, ids)
	}
	return got.AutoLeave == want.AutoLeave &&
		same(got.Voters, want.Voters) &&
		same(got.VotersOutgoing, want.VotersOutgoing) &&
		same(got.Learners, want.Learners) &&
		same(got.LearnersNext, want.LearnersNext)
}
