package quorum

import (
	"math"
	"testing"
)

func TestJointCommittedIndex(t *testing.T) {
	tests := []struct {
		name string
		cfg  JointConfig
		acks MapAckIndexer
		want Index
	}{
		{"both empty", JointConfig{}, acks(1, 5), math.MaxUint64},
		{"outgoing nil is neutral", JointConfig{cfg(1, 2, 3)}, acks(1, 5, 2, 6, 3, 7), 6},
		{"incoming empty is neutral", JointConfig{cfg(), cfg(1, 2)}, acks(1, 5, 2, 6), 5},
		{"outgoing holds back", JointConfig{cfg(1, 2, 3), cfg(4, 5, 6)},
			acks(1, 10, 2, 10, 3, 10, 4, 3, 5, 4, 6, 5), 4},
		{"incoming holds back", JointConfig{cfg(1, 2, 3), cfg(4, 5, 6)},
			acks(1, 1, 2, 2, 3, 3, 4, 10, 5, 10, 6, 10), 2},
		{"overlapping halves", JointConfig{cfg(1, 2, 3), cfg(1, 2)}, acks(1, 9, 2, 4, 3, 8), 4},
		{"unknown voter in outgoing", JointConfig{cfg(1, 2, 3), cfg(4)}, acks(1, 9, 2, 9, 3, 9), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.CommittedIndex(tt.acks); got != tt.want {
				t.Errorf("CommittedIndex = %s, want %s\n%s", got, tt.want, tt.cfg.Describe(tt.acks))
			}
		})
	}
}

func TestJointVoteResult(t *testing.T) {
	tests := []struct {
		name    string
		cfg     JointConfig
		yes, no []uint64
		want    VoteResult
	}{
		{"both empty wins", JointConfig{}, nil, nil, VoteWon},
		{"simple config", JointConfig{cfg(1, 2, 3)}, []uint64{1, 2}, nil, VoteWon},
		{"won and won", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{1, 3, 4}, nil, VoteWon},
		{"won and pending", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{1, 3}, nil, VotePending},
		{"pending and won", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{3, 4}, nil, VotePending},
		{"won and lost", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{1, 2}, []uint64{4, 5}, VoteLost},
		{"lost and won", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{4, 5}, []uint64{1, 2}, VoteLost},
		{"pending and lost", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{1}, []uint64{4, 5}, VoteLost},
		{"pending and pending", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, []uint64{1}, []uint64{4}, VotePending},
		{"lost and lost", JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, nil, []uint64{1, 2, 4, 5}, VoteLost},
		{"shared voter counts twice", JointConfig{cfg(1, 2), cfg(2)}, []uint64{1, 2}, nil, VoteWon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.VoteResult(votes(tt.yes, tt.no)); got != tt.want {
				t.Errorf("VoteResult = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJointHasQuorum(t *testing.T) {
	tests := []struct {
		cfg  JointConfig
		ids  map[uint64]struct{}
		want bool
	}{
		{JointConfig{}, set(), true},
		{JointConfig{cfg(1, 2, 3)}, set(1, 2), true},
		{JointConfig{cfg(1, 2, 3)}, set(1), false},
		{JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, set(1, 2), false},
		{JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, set(1, 3, 4), true},
		{JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, set(4, 5), false},
		{JointConfig{cfg(1, 2, 3), cfg(3, 4, 5)}, set(1, 2, 4, 5), true},
	}
	for _, tt := range tests {
		if got := tt.cfg.HasQuorum(tt.ids); got != tt.want {
			t.Errorf("%s.HasQuorum(%s) = %t, want %t", tt.cfg, MajorityConfig(tt.ids), got, tt.want)
		}
	}
}
