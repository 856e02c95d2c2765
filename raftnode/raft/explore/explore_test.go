package explore

import (
	"context"
	"errors"
	"flag"
	"slices"
	"testing"
	"time"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

var longBudget = flag.Duration("explore.long", 0,
	"run TestSearchLong: search each built-in scenario as deep as this budget, split evenly between them, allows")

// TestSearch is the short run: every built-in scenario to its depth bound,
// with no invariant violated, through the configurations it is about.
func TestSearch(t *testing.T) {
	wantConfigs := map[string][]string{
		"elections":                     {"(1 2 3)"},
		"elections-prevote":             {"(1 2 3)"},
		"enter-joint":                   {"(1 2 3)", "(2 3 4)&&(1 2 3)"},
		"enter-joint-removing-leader":   {"(1 2 3)", "(2 3 4)&&(1 2 3)"},
		"joint-with-partitioned-member": {"(1 2 3)", "(2 3 4)&&(1 2 3)", "(2 3 4)"},
		"leave-joint":                   {"(2 3 4)&&(1 2 3)", "(2 3 4)"},
		"back-to-old":                   {"(2 3 4)", "(1 2 3)&&(2 3 4)"},
	}
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			r, err := Search(t.Context(), s)
			t.Log(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range wantConfigs[s.Name] {
				if !slices.Contains(r.Configs, want) {
					t.Errorf("no member reached configuration %s: %v", want, r.Configs)
				}
			}
			if r.Depth != s.Bounds.MaxDepth && !r.Exhausted {
				t.Errorf("searched to depth %d of %d without exhausting the space", r.Depth, s.Bounds.MaxDepth)
			}
			if r.Expanded == 0 || r.Distinct <= r.Expanded {
				t.Errorf("expanded %d of %d states: the search went nowhere", r.Expanded, r.Distinct)
			}
		})
	}
}

// TestSearchLong is the long run, behind -explore.long: each scenario with its
// bounds but the depth, searched until its share of the budget runs out.
func TestSearchLong(t *testing.T) {
	if *longBudget <= 0 {
		t.Skip("the long run needs -explore.long=<budget>")
	}
	scenarios := Scenarios()
	share := *longBudget / time.Duration(len(scenarios))
	for _, s := range scenarios {
		t.Run(s.Name, func(t *testing.T) {
			s.Bounds.MaxDepth = 1 << 10
			ctx, cancel := context.WithTimeout(t.Context(), share)
			defer cancel()
			r, err := Search(ctx, s)
			t.Log(r)
			t.Logf("new states per depth: %v", r.PerDepth)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
		})
	}
}

// TestSearchStopsWithContext: a cancelled search returns what it covered and
// the context's error.
func TestSearchStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r, err := Search(ctx, Scenarios()[0])
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Search = %v, want context.Canceled", err)
	}
	if r.Distinct != 1 || r.Depth != 0 {
		t.Errorf("report %v, want the starting state only", r)
	}
}

// TestReproduce: a trace replays from the setup, and a transition the state
// does not enable is refused as such.
func TestReproduce(t *testing.T) {
	s := scenarioNamed(t, "enter-joint")
	propose := Transition{Kind: ProposeConfChange, Member: 2, Change: 0}
	if err := Reproduce(s, []Transition{propose}); err != nil {
		t.Fatalf("Reproduce(propose on the leader) = %v", err)
	}
	stray := Transition{Kind: Deliver, Member: 3, Message: pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 3, Term: 9}}
	err := Reproduce(s, []Transition{propose, stray})
	var te *TraceError
	if !errors.Is(err, ErrNotEnabled) || !errors.As(err, &te) || len(te.Trace) != 2 {
		t.Fatalf("Reproduce(a message never sent) = %v, want ErrNotEnabled with a 2-step trace", err)
	}
	notLeader := Transition{Kind: ProposeWrite, Member: 3}
	if err := Reproduce(s, []Transition{notLeader}); !errors.Is(err, ErrNotEnabled) {
		t.Fatalf("Reproduce(propose on a follower) = %v, want ErrNotEnabled", err)
	}
}

// TestSearchRefusesBadScenario: a scenario the explorer cannot encode is
// refused before anything runs.
func TestSearchRefusesBadScenario(t *testing.T) {
	for name, s := range map[string]Scenario{
		"no members":            {Name: "empty"},
		"voter not a member":    {Name: "stray", Members: []uint64{1, 2}, Voters: []uint64{1, 3}},
		"id beyond 32 bits":     {Name: "wide", Members: []uint64{1 << 40}, Voters: []uint64{1 << 40}},
		"too many conf changes": {Name: "many", Members: []uint64{1}, Voters: []uint64{1}, ConfChanges: make([]pb.ConfChangeV2, 257)},
	} {
		if _, err := Search(t.Context(), s); !errors.Is(err, ErrSetup) {
			t.Errorf("%s: Search = %v, want ErrSetup", name, err)
		}
	}
}

func scenarioNamed(t *testing.T, name string) Scenario {
	t.Helper()
	for _, s := range Scenarios() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return Scenario{}
}
