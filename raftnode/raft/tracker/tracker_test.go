package tracker

import (
	"math"
	"reflect"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ids builds an id set.
func ids(list ...uint64) map[uint64]struct{} {
	m := make(map[uint64]struct{}, len(list))
	for _, id := range list {
		m[id] = struct{}{}
	}
	return m
}

// newTracker builds a tracker with the given voters (incoming, outgoing) and
// learners; every member gets a Progress with the match given in matches
// (0 when absent) and RecentActive set when listed in active.
func newTracker(in, out, learners []uint64, matches map[uint64]uint64, active ...uint64) ProgressTracker {
	p := MakeProgressTracker(4, 0)
	p.Voters[0] = ids(in...)
	if len(out) > 0 {
		p.Voters[1] = ids(out...)
	}
	if len(learners) > 0 {
		p.Learners = ids(learners...)
	}
	add := func(id uint64, learner bool) {
		m := matches[id]
		p.Progress[id] = &Progress{Match: m, Next: m + 1, Inflights: NewInflights(4, 0), IsLearner: learner}
	}
	for id := range p.Voters.IDs() {
		add(id, false)
	}
	for _, id := range learners {
		add(id, true)
	}
	for _, id := range active {
		p.Progress[id].RecentActive = true
	}
	return p
}

func TestConfigString(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "voters=()"},
		{Config{Voters: quorum.JointConfig{ids(1, 2, 3)}}, "voters=(1 2 3)"},
		{Config{
			Voters:       quorum.JointConfig{ids(1, 2, 3), ids(1, 2)},
			Learners:     ids(4),
			LearnersNext: ids(3),
			AutoLeave:    true,
		}, "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave"},
		{Config{Voters: quorum.JointConfig{ids(1)}, Learners: ids()}, "voters=(1)"},
	}
	for _, tt := range tests {
		if got := tt.cfg.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestConfigClone(t *testing.T) {
	c := Config{
		Voters:       quorum.JointConfig{ids(1, 2, 3), ids(1, 2)},
		Learners:     ids(4),
		LearnersNext: ids(3),
		AutoLeave:    true,
	}
	clone := c.Clone()
	if !reflect.DeepEqual(c, clone) {
		t.Fatalf("clone %s differs from %s", clone, c)
	}
	clone.Voters[0][9] = struct{}{}
	clone.Voters[1][9] = struct{}{}
	clone.Learners[9] = struct{}{}
	clone.LearnersNext[9] = struct{}{}
	if want := "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave"; c.String() != want {
		t.Fatalf("original changed through its clone: %s", c)
	}
	empty := (&Config{}).Clone()
	if empty.Voters[0] != nil || empty.Voters[1] != nil || empty.Learners != nil || empty.LearnersNext != nil {
		t.Fatalf("clone of nil maps is not nil: %#v", empty)
	}
}

func TestConfStateAndNodes(t *testing.T) {
	p := newTracker([]uint64{3, 1, 2}, []uint64{4, 1}, []uint64{6, 5}, nil)
	p.LearnersNext = ids(4)
	p.AutoLeave = true
	want := pb.ConfState{
		Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 4},
		Learners: []uint64{5, 6}, LearnersNext: []uint64{4}, AutoLeave: true,
	}
	if got := p.ConfState(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConfState() = %+v, want %+v", got, want)
	}
	if got, want := p.VoterNodes(), []uint64{1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("VoterNodes() = %v, want %v", got, want)
	}
	if got, want := p.LearnerNodes(), []uint64{5, 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("LearnerNodes() = %v, want %v", got, want)
	}

	empty := MakeProgressTracker(1, 0)
	if got := empty.ConfState(); !reflect.DeepEqual(got, pb.ConfState{}) {
		t.Errorf("empty ConfState() = %+v, want all nil", got)
	}
	if empty.LearnerNodes() != nil || empty.VoterNodes() != nil {
		t.Errorf("empty tracker has nodes")
	}
}

func TestIsSingletonAndIsJoint(t *testing.T) {
	tests := []struct {
		in, out       []uint64
		singleton     bool
		joint         bool
		learnersExtra bool
	}{
		{in: nil, singleton: false},
		{in: []uint64{1}, singleton: true},
		{in: []uint64{1}, learnersExtra: true, singleton: true},
		{in: []uint64{1, 2}, singleton: false},
		{in: []uint64{1}, out: []uint64{1}, singleton: false, joint: true},
		{in: []uint64{1}, out: []uint64{2}, singleton: false, joint: true},
	}
	for _, tt := range tests {
		var learners []uint64
		if tt.learnersExtra {
			learners = []uint64{7}
		}
		p := newTracker(tt.in, tt.out, learners, nil)
		if got := p.IsSingleton(); got != tt.singleton {
			t.Errorf("%s: IsSingleton() = %t, want %t", p.Config, got, tt.singleton)
		}
		if got := p.IsJoint(); got != tt.joint {
			t.Errorf("%s: IsJoint() = %t, want %t", p.Config, got, tt.joint)
		}
	}
}

func TestCommitted(t *testing.T) {
	tests := []struct {
		name     string
		in, out  []uint64
		learners []uint64
		matches  map[uint64]uint64
		want     uint64
	}{
		{"no voters", nil, nil, nil, nil, math.MaxUint64},
		{"singleton", []uint64{1}, nil, nil, map[uint64]uint64{1: 7}, 7},
		{"three voters", []uint64{1, 2, 3}, nil, nil, map[uint64]uint64{1: 7, 2: 5, 3: 3}, 5},
		{"learners do not count", []uint64{1, 2, 3}, nil, []uint64{4, 5},
			map[uint64]uint64{1: 7, 2: 1, 3: 1, 4: 9, 5: 9}, 1},
		{"joint takes the lower half", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil,
			map[uint64]uint64{1: 9, 2: 9, 3: 4, 4: 2, 5: 3}, 3},
		{"joint outgoing ahead", []uint64{1, 2, 3}, []uint64{4, 5}, nil,
			map[uint64]uint64{1: 2, 2: 3, 3: 1, 4: 9, 5: 9}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.in, tt.out, tt.learners, tt.matches)
			if got := p.Committed(); got != tt.want {
				t.Errorf("Committed() = %d, want %d\n%s", got, tt.want,
					p.Voters.Describe(matchAckIndexer(p.Progress)))
			}
		})
	}
}

func TestQuorumActive(t *testing.T) {
	tests := []struct {
		name     string
		in, out  []uint64
		learners []uint64
		active   []uint64
		want     bool
	}{
		{"no voters", nil, nil, nil, nil, true},
		{"singleton inactive", []uint64{1}, nil, nil, nil, false},
		{"singleton active", []uint64{1}, nil, nil, []uint64{1}, true},
		{"minority active", []uint64{1, 2, 3}, nil, nil, []uint64{1}, false},
		{"majority active", []uint64{1, 2, 3}, nil, nil, []uint64{1, 3}, true},
		{"learners do not count", []uint64{1, 2, 3}, nil, []uint64{4, 5}, []uint64{1, 4, 5}, false},
		{"joint: incoming only", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, []uint64{1, 2}, false},
		{"joint: outgoing only", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, []uint64{4, 5}, false},
		{"joint: both", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{1, 3, 5}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.in, tt.out, tt.learners, nil, tt.active...)
			if got := p.QuorumActive(); got != tt.want {
				t.Errorf("QuorumActive() = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestVotes(t *testing.T) {
	type vote struct {
		id uint64
		v  bool
	}
	tests := []struct {
		name                  string
		in, out               []uint64
		learners              []uint64
		votes                 []vote
		wantGranted, wantRejd int
		want                  quorum.VoteResult
	}{
		{"no votes yet", []uint64{1, 2, 3}, nil, nil, nil, 0, 0, quorum.VotePending},
		{"won", []uint64{1, 2, 3}, nil, nil, []vote{{1, true}, {2, true}}, 2, 0, quorum.VoteWon},
		{"lost", []uint64{1, 2, 3}, nil, nil, []vote{{1, true}, {2, false}, {3, false}}, 1, 2, quorum.VoteLost},
		{"first vote wins", []uint64{1, 2, 3}, nil, nil,
			[]vote{{1, true}, {2, false}, {2, true}, {3, false}}, 1, 2, quorum.VoteLost},
		{"learner and stranger votes ignored", []uint64{1, 2, 3}, nil, []uint64{4},
			[]vote{{1, true}, {4, true}, {9, true}}, 1, 0, quorum.VotePending},
		{"joint: incoming won, outgoing pending", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil,
			[]vote{{1, true}, {2, true}, {4, true}}, 3, 0, quorum.VotePending},
		{"joint: outgoing lost", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil,
			[]vote{{1, true}, {2, true}, {4, false}, {5, false}}, 2, 2, quorum.VoteLost},
		{"joint: shared voter counted once", []uint64{1, 2, 3}, []uint64{1, 2}, nil,
			[]vote{{1, true}, {2, true}}, 2, 0, quorum.VoteWon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.in, tt.out, tt.learners, nil)
			for _, v := range tt.votes {
				p.RecordVote(v.id, v.v)
			}
			granted, rejected, res := p.TallyVotes()
			if granted != tt.wantGranted || rejected != tt.wantRejd || res != tt.want {
				t.Errorf("TallyVotes() = %d, %d, %s; want %d, %d, %s",
					granted, rejected, res, tt.wantGranted, tt.wantRejd, tt.want)
			}
			p.ResetVotes()
			if granted, rejected, res := p.TallyVotes(); granted != 0 || rejected != 0 ||
				(len(tt.in) > 0 && res != quorum.VotePending) {
				t.Errorf("after ResetVotes: %d, %d, %s", granted, rejected, res)
			}
		})
	}
}

func TestRecordVoteOnZeroTracker(t *testing.T) {
	var p ProgressTracker
	p.RecordVote(1, true)
	if !p.Votes[1] {
		t.Fatal("vote not recorded on a zero tracker")
	}
}

func TestVisit(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 20} {
		p := MakeProgressTracker(4, 0)
		for i := n; i >= 1; i-- {
			p.Progress[uint64(i*3)] = &Progress{Next: 1}
		}
		var got []uint64
		p.Visit(func(id uint64, pr *Progress) {
			if pr != p.Progress[id] {
				t.Fatalf("Visit gave another Progress for %d", id)
			}
			got = append(got, id)
		})
		if len(got) != n {
			t.Fatalf("n=%d: visited %d", n, len(got))
		}
		for i, id := range got {
			if id != uint64((i+1)*3) {
				t.Fatalf("n=%d: visit order %v", n, got)
			}
		}
	}
}

func TestNoAllocations(t *testing.T) {
	matches := map[uint64]uint64{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7}
	p := newTracker([]uint64{1, 2, 3, 4, 5}, []uint64{1, 2, 3, 6, 7}, nil, matches, 1, 2, 3, 6)
	var sum uint64
	visit := func(id uint64, pr *Progress) { sum += pr.Match }
	tests := map[string]func(){
		"Visit":        func() { p.Visit(visit) },
		"Committed":    func() { sum += p.Committed() },
		"QuorumActive": func() { _ = p.QuorumActive() },
	}
	for name, f := range tests {
		if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", name, allocs)
		}
	}
}

func BenchmarkCommitted(b *testing.B) {
	matches := map[uint64]uint64{1: 10, 2: 9, 3: 8, 4: 7, 5: 6}
	p := newTracker([]uint64{1, 2, 3, 4, 5}, nil, nil, matches)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Committed()
	}
}

func BenchmarkVisit(b *testing.B) {
	p := newTracker([]uint64{1, 2, 3, 4, 5}, nil, nil, nil)
	var n uint64
	f := func(id uint64, pr *Progress) { n += id }
	b.ReportAllocs()
	for b.Loop() {
		p.Visit(f)
	}
}
