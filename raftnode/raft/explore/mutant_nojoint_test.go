//go:build raftmutation_nojoint

package explore

import "testing"

// TestMutantNoJointIsCaught: with joint quorums counting the incoming half
// only, a member that has not applied the joint configuration and one that
// has each win or commit with a majority the other does not overlap.
func TestMutantNoJointIsCaught(t *testing.T) {
	s := scenarioNamed(t, "joint-with-partitioned-member")
	s.Bounds = Bounds{MaxDepth: 7, MaxTerm: 2, MaxWrites: 1, MaxInFlight: 6}
	requireCaught(t, s)
}
