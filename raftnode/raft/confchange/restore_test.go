package confchange

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

func TestRestore(t *testing.T) {
	tests := []struct {
		name    string
		cs      pb.ConfState
		want    string
		wantErr error
	}{
		{name: "empty", cs: pb.ConfState{}, want: "voters=()"},
		{name: "singleton", cs: pb.ConfState{Voters: []uint64{1}}, want: "voters=(1)"},
		{name: "unsorted", cs: pb.ConfState{Voters: []uint64{3, 1, 2}, Learners: []uint64{5, 4}},
			want: "voters=(1 2 3) learners=(4 5)"},
		{name: "joint", cs: csJoint, want: "voters=(2 3 4)&&(1 2 3) autoleave"},
		{name: "joint with learners-next", cs: csJointAll,
			want: "voters=(1 4)&&(1 2 3) learners=(5) learners_next=(3)"},
		{name: "joint, same voters", cs: pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}},
			want: "voters=(1)&&(1)"},
		{name: "joint, disjoint halves", cs: pb.ConfState{Voters: []uint64{4, 5}, VotersOutgoing: []uint64{1, 2, 3}},
			want: "voters=(4 5)&&(1 2 3)"},

		{name: "learners only", cs: pb.ConfState{Learners: []uint64{1}}, wantErr: ErrRemovedAllVoters},
		{name: "no incoming voters", cs: pb.ConfState{VotersOutgoing: []uint64{1}}, wantErr: ErrRemovedAllVoters},
		{name: "duplicate voter", cs: pb.ConfState{Voters: []uint64{1, 1, 2}}, wantErr: ErrInvalidConfig},
		{name: "zero id", cs: pb.ConfState{Voters: []uint64{0, 1}}, wantErr: ErrInvalidConfig},
		{name: "voter and learner", cs: pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}},
			wantErr: ErrInvalidConfig},
		{name: "learner and outgoing voter", cs: pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 2},
			Learners: []uint64{2}}, wantErr: ErrInvalidConfig},
		{name: "learner-next not outgoing", cs: pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1},
			LearnersNext: []uint64{2}}, wantErr: ErrInvalidConfig},
		{name: "learner-next without joint", cs: pb.ConfState{Voters: []uint64{1}, LearnersNext: []uint64{2}},
			wantErr: ErrInvalidConfig},
		{name: "learner-next still incoming voter", cs: pb.ConfState{Voters: []uint64{1, 2},
			VotersOutgoing: []uint64{1, 2}, LearnersNext: []uint64{2}}, wantErr: ErrInvalidConfig},
		{name: "autoleave without joint", cs: pb.ConfState{Voters: []uint64{1}, AutoLeave: true},
			wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chg := Changer{Tracker: tracker.MakeProgressTracker(4, 0), LastIndex: lastIndex}
			cfg, prs, err := Restore(chg, tt.cs)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || prs != nil {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.String(); got != tt.want {
				t.Errorf("config = %s, want %s", got, tt.want)
			}
			for id, pr := range prs {
				if pr.Match != 0 || pr.Next != lastIndex || !pr.RecentActive || pr.State != tracker.StateProbe {
					t.Errorf("progress of %d = %s, want fresh", id, pr)
				}
			}
		})
	}
}

// TestRestoreIgnoresCurrentConfig checks that Restore starts from scratch
// whatever the Changer holds, and does not touch it.
func TestRestoreIgnoresCurrentConfig(t *testing.T) {
	chg := from(t, csJointAll)
	before := snapshotTracker(chg.Tracker)
	cfg, prs, err := Restore(chg, cs123)
	if err != nil {
		t.Fatal(err)
	}
	checkUnchanged(t, before, chg.Tracker)
	if cfg.String() != "voters=(1 2 3)" || len(prs) != 3 || prs[1].Match != 0 {
		t.Fatalf("got %s\n%s", cfg, prs)
	}
}

// randConfState returns a random valid ConfState over ids 1..n: joint about
// half of the time, with learners and learners-next.
func randConfState(r *rand.Rand, n int) pb.ConfState {
	var cs pb.ConfState
	joint := r.IntN(2) == 0
	for id := uint64(1); id <= uint64(n); id++ {
		in := r.IntN(2) == 0
		out := joint && r.IntN(2) == 0
		if in {
			cs.Voters = append(cs.Voters, id)
		}
		if out {
			cs.VotersOutgoing = append(cs.VotersOutgoing, id)
		}
		switch {
		case out && !in && r.IntN(2) == 0:
			cs.LearnersNext = append(cs.LearnersNext, id)
		case !in && !out && r.IntN(2) == 0:
			cs.Learners = append(cs.Learners, id)
		}
	}
	if len(cs.Voters) == 0 {
		// Every valid configuration built by changes has an incoming voter.
		cs.Voters = []uint64{uint64(n + 1)}
	}
	cs.AutoLeave = len(cs.VotersOutgoing) > 0 && r.IntN(2) == 0
	// Restore must not depend on the order of the slices.
	for _, sl := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		r.Shuffle(len(sl), func(i, j int) { sl[i], sl[j] = sl[j], sl[i] })
	}
	return cs
}

func TestQuickRestoreRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	joint := 0
	for i := 0; i < 2000; i++ {
		cs := randConfState(r, 1+r.IntN(8))
		chg := Changer{Tracker: tracker.MakeProgressTracker(4, 0), LastIndex: lastIndex}
		cfg, prs, err := Restore(chg, cs)
		if err != nil {
			t.Fatalf("Restore(%+v): %v", cs, err)
		}
		p := tracker.MakeProgressTracker(4, 0)
		p.Config, p.Progress = cfg, prs
		if got := p.ConfState(); !sameConfState(got, cs) {
			t.Fatalf("Restore(%+v).ConfState() = %+v", cs, got)
		}
		// And once more from the result, which is sorted.
		cfg2, prs2, err := Restore(chg, p.ConfState())
		if err != nil || !reflect.DeepEqual(cfg, cfg2) || len(prs2) != len(prs) {
			t.Fatalf("second round trip of %+v: %s, %v", p.ConfState(), cfg2, err)
		}
		if cfg.IsJoint() {
			joint++
		}
	}
	if joint < 500 {
		t.Fatalf("only %d of 2000 random configs were joint", joint)
	}
}

// randChanges returns up to four random single changes over ids 1..n.
func randChanges(r *rand.Rand, n int) []pb.ConfChangeSingle {
	types := []pb.ConfChangeType{pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode,
		pb.ConfChangeRemoveNode, pb.ConfChangeUpdateNode}
	out := make([]pb.ConfChangeSingle, r.IntN(5))
	for i := range out {
		out[i] = pb.ConfChangeSingle{Type: types[r.IntN(len(types))], NodeID: uint64(1 + r.IntN(n))}
	}
	return out
}

// TestQuickRandomChanges applies random operations to random configurations.
// Whatever the outcome, the input must be unchanged; every configuration
// produced must round trip through its ConfState and Restore.
func TestQuickRandomChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	ok, refused := 0, 0
	for i := 0; i < 3000; i++ {
		chg := Changer{Tracker: tracker.MakeProgressTracker(4, 0), LastIndex: 7}
		cfg, prs, err := Restore(chg, randConfState(r, 6))
		if err != nil {
			t.Fatal(err)
		}
		chg.Tracker.Config, chg.Tracker.Progress = cfg, prs
		for step := 0; step < 5; step++ {
			before := snapshotTracker(chg.Tracker)
			changes := randChanges(r, 7)
			var cfg tracker.Config
			var prs tracker.ProgressMap
			switch r.IntN(3) {
			case 0:
				cfg, prs, err = chg.Simple(changes...)
			case 1:
				cfg, prs, err = chg.EnterJoint(r.IntN(2) == 0, changes...)
			default:
				cfg, prs, err = chg.LeaveJoint()
			}
			checkUnchanged(t, before, chg.Tracker)
			if err != nil {
				refused++
				continue
			}
			ok++
			p := tracker.MakeProgressTracker(4, 0)
			p.Config, p.Progress = cfg, prs
			rcfg, _, err := Restore(chg, p.ConfState())
			if err != nil || !reflect.DeepEqual(rcfg, cfg) {
				t.Fatalf("%s does not round trip: %s, %v", cfg, rcfg, err)
			}
			for id, pr := range prs {
				if before.prs[id] == pr {
					t.Fatalf("result shares the Progress of %d with the input", id)
				}
			}
			chg.Tracker.Config, chg.Tracker.Progress = cfg, prs
		}
	}
	if ok < 1000 || refused < 1000 {
		t.Fatalf("poor coverage: %d changes made, %d refused", ok, refused)
	}
}
