package tracker

import (
	"testing"
)

// prog builds a Progress in state with match/next and a window of 4 MsgApps.
func prog(state StateType, match, next uint64) *Progress {
	return &Progress{State: state, Match: match, Next: next, Inflights: NewInflights(4, 0), RecentActive: true}
}

// progView is the observable part of a Progress, for comparisons.
type progView struct {
	State           StateType
	Match, Next     uint64
	PendingSnapshot uint64
	Paused          bool
	SentCommit      uint64
	Inflight        int
}

func view(pr *Progress) progView {
	return progView{
		State: pr.State, Match: pr.Match, Next: pr.Next, PendingSnapshot: pr.PendingSnapshot,
		Paused: pr.MsgAppFlowPaused, SentCommit: pr.sentCommit, Inflight: pr.Inflights.Count(),
	}
}

func TestStateTypeString(t *testing.T) {
	tests := []struct {
		st   StateType
		want string
	}{
		{StateProbe, "StateProbe"}, {StateReplicate, "StateReplicate"},
		{StateSnapshot, "StateSnapshot"}, {7, "StateType(7)"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestProgressTransitions(t *testing.T) {
	// A progress with something in every field that a transition resets.
	busy := func(state StateType, match, next, pending uint64) *Progress {
		pr := prog(state, match, next)
		pr.PendingSnapshot = pending
		pr.MsgAppFlowPaused = true
		pr.sentCommit = next + 5
		pr.Inflights.Add(next, 1)
		return pr
	}
	tests := []struct {
		name string
		pr   *Progress
		do   func(pr *Progress)
		want progView
	}{
		{"probe to probe", busy(StateProbe, 1, 4, 0), (*Progress).BecomeProbe,
			progView{State: StateProbe, Match: 1, Next: 2, SentCommit: 1}},
		{"replicate to probe", busy(StateReplicate, 1, 4, 0), (*Progress).BecomeProbe,
			progView{State: StateProbe, Match: 1, Next: 2, SentCommit: 1}},
		{"snapshot to probe, snapshot ahead of match", busy(StateSnapshot, 1, 11, 10), (*Progress).BecomeProbe,
			progView{State: StateProbe, Match: 1, Next: 11, SentCommit: 10}},
		{"snapshot to probe, match ahead of snapshot", busy(StateSnapshot, 12, 13, 10), (*Progress).BecomeProbe,
			progView{State: StateProbe, Match: 12, Next: 13, SentCommit: 12}},
		{"probe to replicate", busy(StateProbe, 1, 4, 0), (*Progress).BecomeReplicate,
			progView{State: StateReplicate, Match: 1, Next: 2, SentCommit: 9}},
		{"snapshot to replicate", busy(StateSnapshot, 10, 11, 10), (*Progress).BecomeReplicate,
			progView{State: StateReplicate, Match: 10, Next: 11, SentCommit: 16}},
		{"probe to snapshot", busy(StateProbe, 1, 4, 0), func(pr *Progress) { pr.BecomeSnapshot(10) },
			progView{State: StateSnapshot, Match: 1, Next: 11, PendingSnapshot: 10, SentCommit: 10}},
		{"replicate to snapshot", busy(StateReplicate, 1, 4, 0), func(pr *Progress) { pr.BecomeSnapshot(20) },
			progView{State: StateSnapshot, Match: 1, Next: 21, PendingSnapshot: 20, SentCommit: 20}},
		{"ResetState", busy(StateSnapshot, 1, 11, 10), func(pr *Progress) { pr.ResetState(StateReplicate) },
			progView{State: StateReplicate, Match: 1, Next: 11, SentCommit: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do(tt.pr)
			if got := view(tt.pr); got != tt.want {
				t.Errorf("\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProgressUpdateOnEntriesSend(t *testing.T) {
	tests := []struct {
		name    string
		pr      *Progress
		entries int
		bytes   uint64
		want    progView
	}{
		{"replicate sends", prog(StateReplicate, 5, 6), 3, 30,
			progView{State: StateReplicate, Match: 5, Next: 9, Inflight: 1}},
		{"replicate empty MsgApp", prog(StateReplicate, 5, 6), 0, 0,
			progView{State: StateReplicate, Match: 5, Next: 6}},
		{"probe pauses", prog(StateProbe, 5, 6), 3, 30,
			progView{State: StateProbe, Match: 5, Next: 6, Paused: true}},
		{"probe empty MsgApp does not pause", prog(StateProbe, 5, 6), 0, 0,
			progView{State: StateProbe, Match: 5, Next: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pr.UpdateOnEntriesSend(tt.entries, tt.bytes)
			if got := view(tt.pr); got != tt.want {
				t.Errorf("\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProgressReplicateWindow(t *testing.T) {
	pr := prog(StateReplicate, 0, 1)
	for i := 1; i <= 4; i++ {
		if pr.IsPaused() {
			t.Fatalf("paused after %d of 4 MsgApps", i-1)
		}
		pr.UpdateOnEntriesSend(2, 10)
	}
	if !pr.IsPaused() || pr.Next != 9 {
		t.Fatalf("after 4 MsgApps: paused=%t next=%d, want true 9", pr.IsPaused(), pr.Next)
	}
	// The acknowledgement of the first MsgApp (entries 1-2) frees a slot.
	if !pr.MaybeUpdate(2) {
		t.Fatal("MaybeUpdate(2) = false")
	}
	pr.Inflights.FreeLE(2)
	if pr.IsPaused() {
		t.Fatal("still paused after an acknowledgement freed the window")
	}
	// An empty MsgApp re-checks the window.
	pr.UpdateOnEntriesSend(1, 10)
	pr.UpdateOnEntriesSend(0, 0)
	if !pr.IsPaused() {
		t.Fatal("not paused with a full window")
	}

	// The byte limit pauses too.
	pr = prog(StateReplicate, 0, 1)
	pr.Inflights = NewInflights(100, 25)
	pr.UpdateOnEntriesSend(1, 20)
	if pr.IsPaused() {
		t.Fatal("paused below the byte limit")
	}
	pr.UpdateOnEntriesSend(1, 20)
	if !pr.IsPaused() {
		t.Fatal("not paused above the byte limit")
	}
}

func TestProgressUpdateOnEntriesSendPanicsInSnapshot(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	pr := prog(StateSnapshot, 1, 11)
	pr.UpdateOnEntriesSend(1, 1)
}

func TestProgressMaybeUpdate(t *testing.T) {
	const match, next = 3, 5
	tests := []struct {
		name string
		n    uint64
		want bool
		view progView
	}{
		{"below match is stale", match - 1, false, progView{Match: match, Next: next, Paused: true}},
		{"at match is stale", match, false, progView{Match: match, Next: next, Paused: true}},
		{"above match, below next", match + 1, true, progView{Match: match + 1, Next: next}},
		{"at next", next, true, progView{Match: next, Next: next + 1}},
		{"beyond next", next + 10, true, progView{Match: next + 10, Next: next + 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := prog(StateProbe, match, next)
			pr.MsgAppFlowPaused = true
			if got := pr.MaybeUpdate(tt.n); got != tt.want {
				t.Errorf("MaybeUpdate(%d) = %t, want %t", tt.n, got, tt.want)
			}
			if got := view(pr); got != tt.view {
				t.Errorf("\ngot  %+v\nwant %+v", got, tt.view)
			}
		})
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		name               string
		state              StateType
		match, next        uint64
		rejected, hint     uint64
		want               bool
		wantNext           uint64
		wantPaused         bool
		pausedBeforeChange bool
	}{
		{name: "replicate: rejection at match is stale", state: StateReplicate, match: 5, next: 10,
			rejected: 5, hint: 5, want: false, wantNext: 10},
		{name: "replicate: rejection below match is stale", state: StateReplicate, match: 5, next: 10,
			rejected: 4, hint: 4, want: false, wantNext: 10},
		{name: "replicate: rejection above match goes back to match+1", state: StateReplicate, match: 5, next: 10,
			rejected: 9, hint: 2, want: true, wantNext: 6},
		{name: "probe: rejection not of next-1 is stale", state: StateProbe, match: 0, next: 10,
			rejected: 5, hint: 5, want: false, wantNext: 10, pausedBeforeChange: true, wantPaused: true},
		{name: "probe: follower behind, use hint", state: StateProbe, match: 0, next: 10,
			rejected: 9, hint: 3, want: true, wantNext: 4, pausedBeforeChange: true},
		{name: "probe: hint beyond rejected, step back one", state: StateProbe, match: 0, next: 10,
			rejected: 9, hint: 20, want: true, wantNext: 9, pausedBeforeChange: true},
		{name: "probe: hint below match is capped", state: StateProbe, match: 5, next: 10,
			rejected: 9, hint: 1, want: true, wantNext: 6, pausedBeforeChange: true},
		{name: "probe: next-1 == 0 rejection", state: StateProbe, match: 0, next: 1,
			rejected: 0, hint: 0, want: true, wantNext: 1, pausedBeforeChange: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := prog(tt.state, tt.match, tt.next)
			pr.MsgAppFlowPaused = tt.pausedBeforeChange
			pr.sentCommit = tt.next + 1
			got := pr.MaybeDecrTo(tt.rejected, tt.hint)
			if got != tt.want || pr.Next != tt.wantNext || pr.MsgAppFlowPaused != tt.wantPaused {
				t.Errorf("MaybeDecrTo(%d, %d) = %t next=%d paused=%t, want %t %d %t", tt.rejected, tt.hint,
					got, pr.Next, pr.MsgAppFlowPaused, tt.want, tt.wantNext, tt.wantPaused)
			}
			if pr.Match != tt.match {
				t.Errorf("Match changed to %d", pr.Match)
			}
			if got && pr.sentCommit != pr.Next-1 {
				t.Errorf("sentCommit = %d, want regressed to %d", pr.sentCommit, pr.Next-1)
			}
		})
	}
}

func TestProgressIsPaused(t *testing.T) {
	tests := []struct {
		state  StateType
		paused bool
		want   bool
	}{
		{StateProbe, false, false},
		{StateProbe, true, true},
		{StateReplicate, false, false},
		{StateReplicate, true, true},
		{StateSnapshot, false, true},
		{StateSnapshot, true, true},
	}
	for _, tt := range tests {
		pr := prog(tt.state, 0, 1)
		pr.MsgAppFlowPaused = tt.paused
		if got := pr.IsPaused(); got != tt.want {
			t.Errorf("%s paused=%t: IsPaused() = %t, want %t", tt.state, tt.paused, got, tt.want)
		}
	}
}

func TestProgressCanBumpCommit(t *testing.T) {
	tests := []struct {
		sentCommit, next, index uint64
		want                    bool
	}{
		{sentCommit: 5, next: 10, index: 6, want: true},
		{sentCommit: 5, next: 10, index: 5, want: false},  // already sent
		{sentCommit: 9, next: 10, index: 12, want: false}, // follower committed all it was sent
		{sentCommit: 0, next: 1, index: 3, want: false},   // nothing sent yet
	}
	for _, tt := range tests {
		pr := prog(StateReplicate, 0, tt.next)
		pr.SentCommit(tt.sentCommit)
		if got := pr.CanBumpCommit(tt.index); got != tt.want {
			t.Errorf("sentCommit=%d next=%d: CanBumpCommit(%d) = %t, want %t",
				tt.sentCommit, tt.next, tt.index, got, tt.want)
		}
	}
}

func TestProgressString(t *testing.T) {
	pr := prog(StateReplicate, 5, 6)
	pr.IsLearner = true
	pr.RecentActive = false
	for i := 0; i < 4; i++ {
		pr.UpdateOnEntriesSend(1, 1)
	}
	snap := prog(StateSnapshot, 1, 2)
	snap.BecomeSnapshot(10)
	tests := []struct {
		pr   *Progress
		want string
	}{
		{prog(StateProbe, 0, 1), "StateProbe match=0 next=1"},
		{pr, "StateReplicate match=5 next=10 learner paused inactive inflight=4[full]"},
		{snap, "StateSnapshot match=1 next=11 paused pendingSnap=10"},
		{&Progress{Next: 1, RecentActive: true}, "StateProbe match=0 next=1"},
	}
	for _, tt := range tests {
		if got := tt.pr.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	m := ProgressMap{3: prog(StateProbe, 0, 1), 1: prog(StateReplicate, 2, 3)}
	want := "1: StateReplicate match=2 next=3\n3: StateProbe match=0 next=1\n"
	if got := m.String(); got != want {
		t.Errorf("ProgressMap.String() = %q, want %q", got, want)
	}
}
