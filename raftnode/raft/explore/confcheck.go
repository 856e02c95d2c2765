package explore

import (
	"errors"
	"fmt"
	"slices"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Why a configuration is no legal successor of another; wrapped in
// ErrIllegalConfig when a member applies one.
var (
	errMalformedConfig      = errors.New("malformed configuration")
	errTooManyVoters        = errors.New("a simple change may add or remove at most one voter")
	errWrongOutgoing        = errors.New("a joint configuration's outgoing half must be the configuration it was entered from")
	errJointToJoint         = errors.New("a joint configuration may only be left")
	errWrongLeave           = errors.New("leaving a joint configuration must keep its incoming voters and turn learners-next into learners")
	errSimpleWithJointState = errors.New("learners-next or auto-leave outside a joint configuration")
)

// legalSuccessor checks that a member may switch from configuration prev to
// next, by the rules of Raft thesis §4.3 as this core implements them
// (ConfChangeV2, after etcd raft), written out independently of package
// confchange so that it can catch that package's mistakes:
//   - from a simple configuration: a simple one whose voters differ by at
//     most one member, or a joint one whose outgoing half is prev's voters;
//   - from a joint configuration: the simple configuration of its incoming
//     voters, whose learners are prev's learners and learners-next;
//   - next == prev always (a refused change, skipped on apply).
func legalSuccessor(prev, next pb.ConfState) error {
	if err := wellFormed(next); err != nil {
		return err
	}
	if sameConf(prev, next) {
		return nil
	}
	prevJoint, nextJoint := len(prev.VotersOutgoing) > 0, len(next.VotersOutgoing) > 0
	switch {
	case !prevJoint && !nextJoint:
		if symmetricDifference(prev.Voters, next.Voters) > 1 {
			return errTooManyVoters
		}
	case !prevJoint && nextJoint:
		if !sameSet(next.VotersOutgoing, prev.Voters) {
			return errWrongOutgoing
		}
	case prevJoint && nextJoint:
		return errJointToJoint
	default:
		learners := append(slices.Clone(prev.Learners), prev.LearnersNext...)
		if !sameSet(next.Voters, prev.Voters) || !sameSet(next.Learners, learners) || next.AutoLeave {
			return errWrongLeave
		}
	}
	return nil
}

// wellFormed checks the shape of cs: no member both votes and learns,
// learners-next are outgoing voters that no longer vote in the incoming half,
// and only a joint configuration has learners-next or leaves automatically.
func wellFormed(cs pb.ConfState) error {
	joint := len(cs.VotersOutgoing) > 0
	if !joint && (len(cs.LearnersNext) > 0 || cs.AutoLeave) {
		return errSimpleWithJointState
	}
	for _, id := range cs.Learners {
		if slices.Contains(cs.Voters, id) || slices.Contains(cs.VotersOutgoing, id) {
			return fmt.Errorf("%w: %d is both a voter and a learner", errMalformedConfig, id)
		}
	}
	for _, id := range cs.LearnersNext {
		if !slices.Contains(cs.VotersOutgoing, id) || slices.Contains(cs.Voters, id) {
			return fmt.Errorf("%w: learner-next %d is not an outgoing-only voter", errMalformedConfig, id)
		}
	}
	return nil
}

func sameConf(a, b pb.ConfState) bool {
	return sameSet(a.Voters, b.Voters) && sameSet(a.VotersOutgoing, b.VotersOutgoing) &&
		sameSet(a.Learners, b.Learners) && sameSet(a.LearnersNext, b.LearnersNext) && a.AutoLeave == b.AutoLeave
}

func sameSet(a, b []uint64) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

// symmetricDifference counts the ids in exactly one of a and b.
func symmetricDifference(a, b []uint64) int {
	n := 0
	for _, id := range a {
		if !slices.Contains(b, id) {
			n++
		}
	}
	for _, id := range b {
		if !slices.Contains(a, id) {
			n++
		}
	}
	return n
}
