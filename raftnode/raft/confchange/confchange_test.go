package confchange

import (
	"errors"
	"strings"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

const lastIndex = 10

// Builders of single changes.
func add(ids ...uint64) []pb.ConfChangeSingle { return ccs(pb.ConfChangeAddNode, ids) }
func learner(ids ...uint64) []pb.ConfChangeSingle {
	return ccs(pb.ConfChangeAddLearnerNode, ids)
}
func rm(ids ...uint64) []pb.ConfChangeSingle  { return ccs(pb.ConfChangeRemoveNode, ids) }
func upd(ids ...uint64) []pb.ConfChangeSingle { return ccs(pb.ConfChangeUpdateNode, ids) }

func ccs(typ pb.ConfChangeType, ids []uint64) []pb.ConfChangeSingle {
	out := make([]pb.ConfChangeSingle, 0, len(ids))
	for _, id := range ids {
		out = append(out, pb.ConfChangeSingle{Type: typ, NodeID: id})
	}
	return out
}

// seq concatenates lists of changes.
func seq(lists ...[]pb.ConfChangeSingle) []pb.ConfChangeSingle {
	var out []pb.ConfChangeSingle
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// from returns a Changer whose tracker holds cs, with Match = id*100 for every
// member so that kept and fresh Progress can be told apart.
func from(t *testing.T, cs pb.ConfState) Changer {
	t.Helper()
	chg := Changer{Tracker: tracker.MakeProgressTracker(4, 0), LastIndex: lastIndex}
	cfg, trk, err := Restore(chg, cs)
	if err != nil {
		t.Fatalf("Restore(%+v): %v", cs, err)
	}
	for id, pr := range trk {
		pr.Match, pr.Next = id*100, id*100+1
	}
	chg.Tracker.Config, chg.Tracker.Progress = cfg, trk
	return chg
}

// opCase is a change and what it should give: the config's String, the
// progress map's String (lines joined), or an error.
type opCase struct {
	name    string
	start   pb.ConfState
	op      func(Changer) (tracker.Config, tracker.ProgressMap, error)
	want    string
	wantPrs []string
	wantErr error
}

func runOpCases(t *testing.T, tests []opCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chg := from(t, tt.start)
			before := snapshotTracker(chg.Tracker)
			cfg, prs, err := tt.op(chg)
			checkUnchanged(t, before, chg.Tracker)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if prs != nil {
					t.Fatalf("progress map returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := cfg.String(); got != tt.want {
				t.Errorf("config = %s, want %s", got, tt.want)
			}
			if got, want := prs.String(), strings.Join(tt.wantPrs, "\n")+"\n"; got != want {
				t.Errorf("progress =\n%swant\n%s", got, want)
			}
		})
	}
}

func simple(cc ...[]pb.ConfChangeSingle) func(Changer) (tracker.Config, tracker.ProgressMap, error) {
	return func(c Changer) (tracker.Config, tracker.ProgressMap, error) { return c.Simple(seq(cc...)...) }
}

func enterJoint(autoLeave bool, cc ...[]pb.ConfChangeSingle) func(Changer) (tracker.Config, tracker.ProgressMap, error) {
	return func(c Changer) (tracker.Config, tracker.ProgressMap, error) {
		return c.EnterJoint(autoLeave, seq(cc...)...)
	}
}

func leaveJoint(c Changer) (tracker.Config, tracker.ProgressMap, error) { return c.LeaveJoint() }

var (
	cs123      = pb.ConfState{Voters: []uint64{1, 2, 3}}
	cs12l3     = pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}
	csJoint    = pb.ConfState{Voters: []uint64{2, 3, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true}
	csJointLN  = pb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}}
	csJointAll = pb.ConfState{Voters: []uint64{1, 4}, VotersOutgoing: []uint64{1, 2, 3},
		Learners: []uint64{5}, LearnersNext: []uint64{3}}
)

func TestSimple(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "bootstrap from empty", start: pb.ConfState{}, op: simple(add(1)),
			want: "voters=(1)", wantPrs: []string{"1: StateProbe match=0 next=10"}},
		{name: "add a voter", start: cs123, op: simple(add(4)),
			want: "voters=(1 2 3 4)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301", "4: StateProbe match=0 next=10"}},
		{name: "add an existing voter is a no-op", start: cs123, op: simple(add(2)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "remove a voter", start: cs123, op: simple(rm(2)),
			want: "voters=(1 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "3: StateProbe match=300 next=301"}},
		{name: "remove a stranger is a no-op", start: cs123, op: simple(rm(9)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "add a learner", start: cs123, op: simple(learner(4)),
			want: "voters=(1 2 3) learners=(4)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301", "4: StateProbe match=0 next=10 learner"}},
		{name: "promote a learner keeps its progress", start: cs12l3, op: simple(add(3)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "demote a voter keeps its progress", start: cs123, op: simple(learner(3)),
			want: "voters=(1 2) learners=(3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301 learner"}},
		{name: "add a learner twice is a no-op", start: cs12l3, op: simple(learner(3)),
			want: "voters=(1 2) learners=(3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301 learner"}},
		{name: "remove a learner", start: cs12l3, op: simple(rm(3)),
			want: "voters=(1 2)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201"}},
		{name: "learner changes are free", start: cs12l3, op: simple(rm(3), learner(4, 5), add(6)),
			want: "voters=(1 2 6) learners=(4 5)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"4: StateProbe match=0 next=10 learner", "5: StateProbe match=0 next=10 learner",
				"6: StateProbe match=0 next=10"}},
		{name: "add and remove the same voter", start: cs123, op: simple(add(4), rm(4)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "update is a no-op", start: cs123, op: simple(upd(1, 9)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "node id 0 is skipped", start: cs123, op: simple(rm(0), add(0), learner(0)),
			want: "voters=(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},

		{name: "two voters added", start: cs123, op: simple(add(4, 5)), wantErr: ErrTooManyVoterChanges},
		{name: "voter swapped", start: cs123, op: simple(rm(1), add(4)), wantErr: ErrTooManyVoterChanges},
		{name: "demote and add", start: cs123, op: simple(learner(3), add(4)), wantErr: ErrTooManyVoterChanges},
		{name: "bootstrap with two voters", start: pb.ConfState{}, op: simple(add(1, 2)),
			wantErr: ErrTooManyVoterChanges},
		{name: "remove the last voter", start: pb.ConfState{Voters: []uint64{1}}, op: simple(rm(1)),
			wantErr: ErrRemovedAllVoters},
		{name: "demote the last voter", start: pb.ConfState{Voters: []uint64{1}}, op: simple(learner(1)),
			wantErr: ErrRemovedAllVoters},
		{name: "only a learner from empty", start: pb.ConfState{}, op: simple(learner(1)),
			wantErr: ErrRemovedAllVoters},
		{name: "unknown type", start: cs123, op: simple([]pb.ConfChangeSingle{{Type: 9, NodeID: 4}}),
			wantErr: ErrUnknownChangeType},
		{name: "in a joint config", start: csJoint, op: simple(add(9)), wantErr: ErrAlreadyJoint},
	})
}

func TestEnterJoint(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "replace a voter", start: cs123, op: enterJoint(true, add(4), rm(1)),
			want: "voters=(2 3 4)&&(1 2 3) autoleave", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301", "4: StateProbe match=0 next=10"}},
		{name: "no changes", start: cs123, op: enterJoint(false),
			want: "voters=(1 2 3)&&(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "demote a voter to learner-next", start: cs123, op: enterJoint(false, learner(3)),
			want: "voters=(1 2)&&(1 2 3) learners_next=(3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "demote then add back", start: cs123, op: enterJoint(false, learner(3), add(3)),
			want: "voters=(1 2 3)&&(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "remove then add as learner", start: cs123, op: enterJoint(false, rm(3), learner(3)),
			want: "voters=(1 2)&&(1 2 3) learners_next=(3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "demote then remove keeps outgoing progress", start: cs123, op: enterJoint(false, learner(3), rm(3)),
			want: "voters=(1 2)&&(1 2 3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301"}},
		{name: "promote a learner and add learners", start: cs12l3, op: enterJoint(true, add(3), learner(4)),
			want: "voters=(1 2 3)&&(1 2) learners=(4) autoleave", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301", "4: StateProbe match=0 next=10 learner"}},
		{name: "replace every voter", start: cs123, op: enterJoint(true, rm(1, 2, 3), add(4, 5, 6)),
			want: "voters=(4 5 6)&&(1 2 3) autoleave", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301", "4: StateProbe match=0 next=10",
				"5: StateProbe match=0 next=10", "6: StateProbe match=0 next=10"}},

		{name: "already joint", start: csJoint, op: enterJoint(false, add(9)), wantErr: ErrAlreadyJoint},
		{name: "from empty", start: pb.ConfState{}, op: enterJoint(false, add(1)), wantErr: ErrZeroVoterJoint},
		{name: "remove all voters", start: cs123, op: enterJoint(false, rm(1, 2, 3)), wantErr: ErrRemovedAllVoters},
		{name: "demote all voters", start: cs123, op: enterJoint(false, learner(1, 2, 3)),
			wantErr: ErrRemovedAllVoters},
		{name: "unknown type", start: cs123, op: enterJoint(false, []pb.ConfChangeSingle{{Type: -1, NodeID: 1}}),
			wantErr: ErrUnknownChangeType},
	})
}

func TestLeaveJoint(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "drop the outgoing voters", start: csJoint, op: leaveJoint,
			want: "voters=(2 3 4)", wantPrs: []string{
				"2: StateProbe match=200 next=201", "3: StateProbe match=300 next=301",
				"4: StateProbe match=400 next=401"}},
		{name: "learners-next become learners", start: csJointLN, op: leaveJoint,
			want: "voters=(1 2) learners=(3)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "2: StateProbe match=200 next=201",
				"3: StateProbe match=300 next=301 learner"}},
		{name: "everything at once", start: csJointAll, op: leaveJoint,
			want: "voters=(1 4) learners=(3 5)", wantPrs: []string{
				"1: StateProbe match=100 next=101", "3: StateProbe match=300 next=301 learner",
				"4: StateProbe match=400 next=401", "5: StateProbe match=500 next=501 learner"}},
		{name: "not joint", start: cs123, op: leaveJoint, wantErr: ErrNotJoint},
		{name: "empty", start: pb.ConfState{}, op: leaveJoint, wantErr: ErrNotJoint},
	})
}

// TestJointThenSimple walks a full membership change: enter, leave, and a
// simple change afterwards.
func TestJointThenSimple(t *testing.T) {
	chg := from(t, cs123)
	steps := []struct {
		op   func(Changer) (tracker.Config, tracker.ProgressMap, error)
		want string
	}{
		{enterJoint(true, add(4, 5), learner(1)), "voters=(2 3 4 5)&&(1 2 3) learners_next=(1) autoleave"},
		{leaveJoint, "voters=(2 3 4 5) learners=(1)"},
		{simple(rm(1)), "voters=(2 3 4 5)"},
		{simple(add(6)), "voters=(2 3 4 5 6)"},
	}
	for _, s := range steps {
		cfg, prs, err := s.op(chg)
		if err != nil {
			t.Fatalf("%s: %v", s.want, err)
		}
		if cfg.String() != s.want {
			t.Fatalf("got %s, want %s", cfg, s.want)
		}
		chg.Tracker.Config, chg.Tracker.Progress = cfg, prs
	}
}

func TestNewProgress(t *testing.T) {
	for _, last := range []uint64{0, 1, 10} {
		chg := Changer{Tracker: tracker.MakeProgressTracker(3, 1000), LastIndex: last}
		_, prs, err := chg.Simple(add(1)...)
		if err != nil {
			t.Fatal(err)
		}
		pr := prs[1]
		if pr.Match != 0 || pr.Next != max(last, 1) || pr.State != tracker.StateProbe ||
			!pr.RecentActive || pr.IsLearner || pr.IsPaused() || pr.PendingSnapshot != 0 {
			t.Errorf("LastIndex=%d: new progress %s", last, pr)
		}
		for i := uint64(1); i <= 3; i++ {
			pr.Inflights.Add(i, 1)
		}
		if !pr.Inflights.Full() {
			t.Errorf("window does not have MaxInflight=3")
		}
		pr.Inflights.Reset()
		pr.Inflights.Add(1, 1000)
		if !pr.Inflights.Full() {
			t.Errorf("window does not have MaxInflightBytes=1000")
		}
	}
}
