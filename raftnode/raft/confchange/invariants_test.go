package confchange

import (
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// trackerCopy is a deep copy of a tracker, plus the identity of its maps and
// Progress values, to tell whether a change touched its input.
type trackerCopy struct {
	deep     tracker.ProgressTracker
	prs      map[uint64]*tracker.Progress // the original pointers
	inflight map[uint64]*tracker.Inflights
}

func snapshotTracker(p tracker.ProgressTracker) trackerCopy {
	c := trackerCopy{
		deep:     p,
		prs:      maps.Clone(p.Progress),
		inflight: map[uint64]*tracker.Inflights{},
	}
	current := p.Config
	c.deep.Config = current.Clone()
	c.deep.Votes = maps.Clone(p.Votes)
	c.deep.Progress = tracker.ProgressMap{}
	for id, pr := range p.Progress {
		cp := *pr
		cp.Inflights = pr.Inflights.Clone()
		c.deep.Progress[id] = &cp
		c.inflight[id] = pr.Inflights
	}
	return c
}

func checkUnchanged(t *testing.T, before trackerCopy, after tracker.ProgressTracker) {
	t.Helper()
	if !reflect.DeepEqual(before.deep, after) {
		t.Fatalf("input tracker changed:\nbefore %s\n%s\nafter  %s\n%s",
			before.deep.Config, before.deep.Progress, after.Config, after.Progress)
	}
	for id, pr := range after.Progress {
		if before.prs[id] != pr || before.inflight[id] != pr.Inflights {
			t.Fatalf("input progress of %d replaced", id)
		}
	}
}

// TestBrokenInputs gives the changer configurations that break an invariant:
// every operation must refuse them with ErrInvalidConfig, without panicking.
func TestBrokenInputs(t *testing.T) {
	set := func(ids ...uint64) map[uint64]struct{} {
		m := map[uint64]struct{}{}
		for _, id := range ids {
			m[id] = struct{}{}
		}
		return m
	}
	pr := func(learner bool) *tracker.Progress {
		return &tracker.Progress{Next: 1, IsLearner: learner, Inflights: tracker.NewInflights(1, 0)}
	}
	tests := []struct {
		name string
		cfg  tracker.Config
		prs  tracker.ProgressMap
	}{
		{"voter without progress", tracker.Config{Voters: quorum.JointConfig{set(1, 2)}},
			tracker.ProgressMap{1: pr(false)}},
		{"outgoing voter without progress", tracker.Config{Voters: quorum.JointConfig{set(1), set(2)}},
			tracker.ProgressMap{1: pr(false)}},
		{"learner without progress", tracker.Config{Voters: quorum.JointConfig{set(1)}, Learners: set(2)},
			tracker.ProgressMap{1: pr(false)}},
		{"progress of a stranger", tracker.Config{Voters: quorum.JointConfig{set(1)}},
			tracker.ProgressMap{1: pr(false), 2: pr(false)}},
		{"nil progress", tracker.Config{Voters: quorum.JointConfig{set(1)}},
			tracker.ProgressMap{1: nil}},
		{"learner and voter", tracker.Config{Voters: quorum.JointConfig{set(1, 2)}, Learners: set(2)},
			tracker.ProgressMap{1: pr(false), 2: pr(true)}},
		{"learner and outgoing voter", tracker.Config{Voters: quorum.JointConfig{set(1), set(1, 2)}, Learners: set(2)},
			tracker.ProgressMap{1: pr(false), 2: pr(true)}},
		{"learner not flagged", tracker.Config{Voters: quorum.JointConfig{set(1)}, Learners: set(2)},
			tracker.ProgressMap{1: pr(false), 2: pr(false)}},
		{"voter flagged as learner", tracker.Config{Voters: quorum.JointConfig{set(1, 2)}},
			tracker.ProgressMap{1: pr(false), 2: pr(true)}},
		{"learner-next not an outgoing voter", tracker.Config{Voters: quorum.JointConfig{set(1), set(1)},
			LearnersNext: set(2)}, tracker.ProgressMap{1: pr(false), 2: pr(false)}},
		{"learner-next flagged as learner", tracker.Config{Voters: quorum.JointConfig{set(1), set(1, 2)},
			LearnersNext: set(2)}, tracker.ProgressMap{1: pr(false), 2: pr(true)}},
		{"learner-next and learner", tracker.Config{Voters: quorum.JointConfig{set(1), set(1, 2)},
			Learners: set(2), LearnersNext: set(2)}, tracker.ProgressMap{1: pr(false), 2: pr(true)}},
		{"learner-next without joint", tracker.Config{Voters: quorum.JointConfig{set(1, 2)},
			LearnersNext: set(2)}, tracker.ProgressMap{1: pr(false), 2: pr(false)}},
		{"autoleave without joint", tracker.Config{Voters: quorum.JointConfig{set(1)}, AutoLeave: true},
			tracker.ProgressMap{1: pr(false)}},
	}
	ops := map[string]func(Changer) (tracker.Config, tracker.ProgressMap, error){
		"Simple":     simple(add(1)),
		"EnterJoint": enterJoint(false, add(1)),
		"LeaveJoint": leaveJoint,
	}
	for _, tt := range tests {
		for opName, op := range ops {
			chg := Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}
			chg.Tracker.Config, chg.Tracker.Progress = tt.cfg, tt.prs
			_, prs, err := op(chg)
			if !errors.Is(err, ErrInvalidConfig) || prs != nil {
				t.Errorf("%s: %s: err = %v, want ErrInvalidConfig", tt.name, opName, err)
			}
		}
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrAlreadyJoint, ErrNotJoint, ErrZeroVoterJoint, ErrRemovedAllVoters,
		ErrTooManyVoterChanges, ErrUnknownChangeType, ErrInvalidConfig}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %t", a, b, errors.Is(a, b))
			}
		}
	}
	if ErrTooManyVoterChanges.Error() != "more than one voter changed without entering joint config" {
		t.Errorf("ErrTooManyVoterChanges = %q", ErrTooManyVoterChanges)
	}
}
