package quorum

import (
	"fmt"
	"math"
	"testing"
)

func TestMajorityCommittedIndex(t *testing.T) {
	tests := []struct {
		name string
		cfg  MajorityConfig
		acks MapAckIndexer
		want Index
	}{
		{"empty config is neutral", cfg(), acks(1, 5), math.MaxUint64},
		{"nil config is neutral", nil, acks(), math.MaxUint64},
		{"single voter", cfg(1), acks(1, 12), 12},
		{"single voter unknown", cfg(1), acks(), 0},
		{"two voters need both", cfg(1, 2), acks(1, 10, 2, 7), 7},
		{"three voters take the median", cfg(1, 2, 3), acks(1, 10, 2, 7, 3, 4), 7},
		{"three voters one unknown", cfg(1, 2, 3), acks(1, 10, 2, 7), 7},
		{"three voters two unknown", cfg(1, 2, 3), acks(1, 10), 0},
		{"acks of non-voters ignored", cfg(1, 2, 3), acks(1, 10, 4, 20, 5, 20), 0},
		{"four voters need three", cfg(1, 2, 3, 4), acks(1, 10, 2, 9, 3, 8, 4, 1), 8},
		{"five voters", cfg(1, 2, 3, 4, 5), acks(1, 5, 2, 4, 3, 3, 4, 2, 5, 1), 3},
		{"five voters with ties", cfg(1, 2, 3, 4, 5), acks(1, 5, 2, 5, 3, 1, 4, 1, 5, 1), 1},
		{"seven voters", cfg(1, 2, 3, 4, 5, 6, 7), acks(1, 70, 2, 60, 3, 50, 4, 40, 5, 30, 6, 20, 7, 10), 40},
		{"nine voters allocate but agree", cfg(1, 2, 3, 4, 5, 6, 7, 8, 9),
			acks(1, 9, 2, 8, 3, 7, 4, 6, 5, 5, 6, 4, 7, 3, 8, 2, 9, 1), 5},
		{"huge indexes", cfg(1, 2, 3), acks(1, math.MaxUint64, 2, math.MaxUint64, 3, 0), math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.CommittedIndex(tt.acks); got != tt.want {
				t.Errorf("CommittedIndex = %s, want %s\n%s", got, tt.want, tt.cfg.Describe(tt.acks))
			}
		})
	}
}

func TestMajorityVoteResult(t *testing.T) {
	tests := []struct {
		name    string
		cfg     MajorityConfig
		yes, no []uint64
		want    VoteResult
	}{
		{"empty config wins", cfg(), nil, nil, VoteWon},
		{"empty config wins despite rejections", cfg(), nil, []uint64{1}, VoteWon},
		{"single pending", cfg(1), nil, nil, VotePending},
		{"single won", cfg(1), []uint64{1}, nil, VoteWon},
		{"single lost", cfg(1), nil, []uint64{1}, VoteLost},
		{"two voters one yes pending", cfg(1, 2), []uint64{1}, nil, VotePending},
		{"two voters one no lost", cfg(1, 2), []uint64{1}, []uint64{2}, VoteLost},
		{"three voters one yes pending", cfg(1, 2, 3), []uint64{1}, nil, VotePending},
		{"three voters two yes won", cfg(1, 2, 3), []uint64{1, 3}, nil, VoteWon},
		{"three voters one no pending", cfg(1, 2, 3), []uint64{1}, []uint64{2}, VotePending},
		{"three voters two no lost", cfg(1, 2, 3), nil, []uint64{2, 3}, VoteLost},
		{"votes of non-voters ignored", cfg(1, 2, 3), []uint64{4, 5, 6}, nil, VotePending},
		{"four voters two yes pending", cfg(1, 2, 3, 4), []uint64{1, 2}, nil, VotePending},
		{"four voters two no lost", cfg(1, 2, 3, 4), []uint64{1, 2}, []uint64{3, 4}, VoteLost},
		{"five voters three yes won", cfg(1, 2, 3, 4, 5), []uint64{1, 2, 5}, []uint64{3, 4}, VoteWon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.VoteResult(votes(tt.yes, tt.no)); got != tt.want {
				t.Errorf("VoteResult = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMajorityHasQuorum(t *testing.T) {
	tests := []struct {
		cfg  MajorityConfig
		ids  map[uint64]struct{}
		want bool
	}{
		{cfg(), set(), true},
		{cfg(), nil, true},
		{cfg(1), set(), false},
		{cfg(1), set(1), true},
		{cfg(1, 2), set(1), false},
		{cfg(1, 2, 3), set(1, 3), true},
		{cfg(1, 2, 3), set(1, 4, 5), false},
		{cfg(1, 2, 3, 4), set(1, 2), false},
		{cfg(1, 2, 3, 4), set(1, 2, 4), true},
	}
	for _, tt := range tests {
		if got := tt.cfg.HasQuorum(tt.ids); got != tt.want {
			t.Errorf("%s.HasQuorum(%s) = %t, want %t", tt.cfg, MajorityConfig(tt.ids), got, tt.want)
		}
	}
}

func TestMajorityCommittedIndexDoesNotAllocate(t *testing.T) {
	for n := 1; n <= stackVoters; n++ {
		c, l := benchConfig(n)
		var sink Index
		allocs := testing.AllocsPerRun(100, func() { sink = c.CommittedIndex(l) })
		if allocs != 0 {
			t.Errorf("voters=%d: %v allocations, want 0", n, allocs)
		}
		_ = sink
		j := JointConfig{c, c}
		allocs = testing.AllocsPerRun(100, func() { sink = j.CommittedIndex(l) })
		if allocs != 0 {
			t.Errorf("joint voters=%d: %v allocations, want 0", n, allocs)
		}
	}
}

// benchConfig builds a config of n voters and distinct acknowledged indexes.
func benchConfig(n int) (MajorityConfig, MapAckIndexer) {
	c, l := MajorityConfig{}, MapAckIndexer{}
	for i := 1; i <= n; i++ {
		c[uint64(i)] = struct{}{}
		l[uint64(i)] = Index(1000 + i*7%n)
	}
	return c, l
}

func BenchmarkMajorityCommittedIndex(b *testing.B) {
	for _, n := range []int{1, 3, 5, 7, 9} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, l := benchConfig(n)
			b.ReportAllocs()
			for b.Loop() {
				_ = c.CommittedIndex(l)
			}
		})
	}
}

func BenchmarkJointCommittedIndex(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, l := benchConfig(n)
			out, _ := benchConfig(n - 1)
			j := JointConfig{c, out}
			b.ReportAllocs()
			for b.Loop() {
				_ = j.CommittedIndex(l)
			}
		})
	}
}
