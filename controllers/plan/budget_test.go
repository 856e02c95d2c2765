package plan

import "testing"

func TestMajority(t *testing.T) {
	for n, want := range []int{0, 1, 2, 2, 3, 3, 4, 4, 5, 5} {
		if got := Majority(n); got != want {
			t.Errorf("Majority(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestMinAvailable(t *testing.T) {
	tests := []struct {
		name   string
		obs    Observation
		want   int
		wantOK bool
	}{
		{name: "one voter", obs: cluster(1), want: 1, wantOK: true},
		{name: "three voters", obs: cluster(3), want: 2, wantOK: true},
		{name: "five voters", obs: cluster(5), want: 3, wantOK: true},
		{name: "recomputed as voters change: 5 to 3 committed", obs: cluster(5, desired(3), removeVoters(3, 4), noPod(3), noPod(4)), want: 2, wantOK: true},
		{name: "learners' pods count too, or a ready learner would stand in for an evicted voter",
			obs: cluster(3, desired(5), sts(5), learner(3, 0), learner(4, 0)), want: 4, wantOK: true},
		{name: "a removed pod awaiting recycling counts too",
			obs: cluster(3, desired(4), sts(4), removedPod(3)), want: 3, wantOK: true},
		{name: "a voter pod not answering counts as not known to vote",
			obs: cluster(3, down(2)), want: 3, wantOK: true},
		{name: "terminating pods do not count", obs: cluster(3, desired(4), sts(4), learner(3, 0), terminating(3)), want: 2, wantOK: true},
		{name: "joint 5 -> 3: both halves keep a majority", obs: cluster(5, desired(3), joint(3, 4)), want: 4, wantOK: true},
		{name: "joint 3 -> 5", obs: cluster(5, func(o *Observation) {
			o.Raft.OutgoingVoters = ids(id, 0, 1, 2)
		}), want: 4, wantOK: true},
		{name: "no leader: keep the budget", obs: cluster(3, noLeader()), want: 0, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MinAvailable(tt.obs)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("MinAvailable() = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseOrdinal(t *testing.T) {
	tests := []struct {
		pod  string
		want int
	}{
		{"demo-0", 0}, {"demo-12", 12}, {"demo-", -1}, {"demo-01", -1}, {"demo-+1", -1}, {"demo--1", -1},
		{"demo-x", -1}, {"other-1", -1}, {"demo-web-1", -1}, {"", -1},
	}
	for _, tt := range tests {
		if got := ParseOrdinal("demo", tt.pod); got != tt.want {
			t.Errorf("ParseOrdinal(demo, %q) = %d, want %d", tt.pod, got, tt.want)
		}
	}
}

func TestKinds(t *testing.T) {
	membership := map[Kind]bool{AddLearner: true, PromoteLearners: true, ReplaceMembers: true, LeaveJoint: true, RemoveVoters: true, RemoveLearners: true}
	for k := Steady; k <= RecyclePod; k++ {
		if k.String() == "" || k.String()[0] == 'K' {
			t.Errorf("kind %d has no name", int(k))
		}
		if k.ChangesMembership() != membership[k] {
			t.Errorf("%v.ChangesMembership() = %v", k, k.ChangesMembership())
		}
	}
	if got := Kind(99).String(); got != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", got)
	}
}
