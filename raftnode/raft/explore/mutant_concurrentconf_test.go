//go:build raftmutation_concurrentconf

package explore

import "testing"

// TestMutantConcurrentConfIsCaught: a leader that accepts a second
// configuration change while the first is pending.
func TestMutantConcurrentConfIsCaught(t *testing.T) {
	s := scenarioNamed(t, "enter-joint")
	s.Bounds = Bounds{MaxDepth: 4, MaxTerm: 2, MaxConfChanges: 2, MaxInFlight: 6}
	requireCaught(t, s)
}
