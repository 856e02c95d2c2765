//go:build raftmutation_nojoint || raftmutation_concurrentconf

package explore

import (
	"errors"
	"testing"
)

// requireCaught searches s, built with a mutated core, and requires an
// invariant violation that its trace reproduces.
func requireCaught(t *testing.T, s Scenario) {
	t.Helper()
	r, err := Search(t.Context(), s)
	t.Log(r)
	var te *TraceError
	if !errors.Is(err, ErrInvariantViolated) || !errors.As(err, &te) {
		t.Fatalf("Search = %v, want an invariant violation", err)
	}
	t.Log(err)
	for _, invariant := range []error{ErrElectionSafety, ErrLogMatching, ErrStateMachineSafety,
		ErrLeaderCompleteness, ErrConcurrentConfChanges, ErrIllegalConfig} {
		if errors.Is(err, invariant) {
			if rerr := Reproduce(s, te.Trace); !errors.Is(rerr, invariant) {
				t.Fatalf("Reproduce(trace) = %v, want %v", rerr, invariant)
			}
			return
		}
	}
	t.Fatalf("%v is none of the invariants", err)
}
