package explore

import (
	"errors"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func TestLegalSuccessor(t *testing.T) {
	simple := func(voters ...uint64) pb.ConfState { return pb.ConfState{Voters: voters} }
	joint := func(in, out []uint64) pb.ConfState { return pb.ConfState{Voters: in, VotersOutgoing: out} }
	old, next := []uint64{1, 2, 3}, []uint64{2, 3, 4}
	for _, tt := range []struct {
		name       string
		prev, next pb.ConfState
		want       error // nil, or the reason (errors.Is)
	}{
		{"unchanged", simple(1, 2, 3), simple(3, 2, 1), nil},
		{"add a voter", simple(1, 2, 3), simple(1, 2, 3, 4), nil},
		{"remove a voter", simple(1, 2, 3), simple(1, 2), nil},
		{"add a learner", simple(1, 2, 3), pb.ConfState{Voters: old, Learners: []uint64{4}}, nil},
		{"swap two voters at once", simple(1, 2, 3), simple(2, 3, 4), errTooManyVoters},
		{"enter joint", simple(1, 2, 3), joint(next, old), nil},
		{"enter joint from elsewhere", simple(1, 2, 3), joint(next, []uint64{1, 2}), errWrongOutgoing},
		{"leave joint", joint(next, old), simple(2, 3, 4), nil},
		{"leave joint to the outgoing half", joint(next, old), simple(1, 2, 3), errWrongLeave},
		{"leave joint keeping auto-leave", joint(next, old),
			pb.ConfState{Voters: next, AutoLeave: true}, errSimpleWithJointState},
		{"joint to another joint", joint(next, old), joint(old, next), errJointToJoint},
		{"stay joint (a refused change)", joint(next, old), joint(next, old), nil},
		{"demote through joint", simple(1, 2, 3),
			pb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: old, LearnersNext: []uint64{3}}, nil},
		{"leave joint turning learners-next into learners",
			pb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: old, LearnersNext: []uint64{3}},
			pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, nil},
		{"leave joint dropping learners-next",
			pb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: old, LearnersNext: []uint64{3}},
			simple(1, 2), errWrongLeave},
		{"a voter that learns", simple(1, 2, 3), pb.ConfState{Voters: old, Learners: []uint64{3}}, errMalformedConfig},
		{"learners-next that still vote", simple(1, 2, 3),
			pb.ConfState{Voters: old, VotersOutgoing: old, LearnersNext: []uint64{3}}, errMalformedConfig},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := legalSuccessor(tt.prev, tt.next)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("legalSuccessor(%s, %s) = %v, want %v",
					pb.DescribeConfState(tt.prev), pb.DescribeConfState(tt.next), err, tt.want)
			}
		})
	}
}
