package quorum

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The property tests below compare the optimized code with a reference that
// follows the definition as plainly as possible.

// refCommittedIndex sorts the acknowledged indexes of all voters (unknown ones
// as 0) and takes the one a majority has reached.
func refCommittedIndex(c MajorityConfig, l MapAckIndexer) Index {
	if len(c) == 0 {
		return math.MaxUint64
	}
	var sl []Index
	for id := range c {
		sl = append(sl, l[id]) // 0 when unknown
	}
	slices.Sort(sl)
	n := len(sl)
	return sl[n-(n/2+1)]
}

// refVoteResult counts: won when a majority granted, lost when a majority can
// no longer be reached.
func refVoteResult(c MajorityConfig, votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	yes, no := 0, 0
	for id := range c {
		if v, ok := votes[id]; ok {
			if v {
				yes++
			} else {
				no++
			}
		}
	}
	switch q := len(c)/2 + 1; {
	case yes >= q:
		return VoteWon
	case len(c)-no < q:
		return VoteLost
	}
	return VotePending
}

// refJointVoteResult: won in both halves, or lost in one.
func refJointVoteResult(c JointConfig, votes map[uint64]bool) VoteResult {
	r0, r1 := refVoteResult(c[0], votes), refVoteResult(c[1], votes)
	if r0 == VoteWon && r1 == VoteWon {
		return VoteWon
	}
	if r0 == VoteLost || r1 == VoteLost {
		return VoteLost
	}
	return VotePending
}

// randConfig returns a config of 0..maxVoters voters with ids drawn from
// 1..idSpace, so that two configs drawn this way often overlap.
func randConfig(r *rand.Rand, maxVoters, idSpace int) MajorityConfig {
	c := MajorityConfig{}
	n := r.IntN(maxVoters + 1)
	for len(c) < n {
		c[uint64(1+r.IntN(idSpace))] = struct{}{}
	}
	return c
}

// randAcks gives an index (from a small range, to make ties likely) to some of
// the ids in 1..idSpace and leaves the others unknown.
func randAcks(r *rand.Rand, idSpace int) MapAckIndexer {
	l := MapAckIndexer{}
	for id := 1; id <= idSpace; id++ {
		if r.IntN(5) > 0 {
			l[uint64(id)] = Index(r.IntN(20))
		}
	}
	return l
}

func randVotes(r *rand.Rand, idSpace int) map[uint64]bool {
	votes := map[uint64]bool{}
	for id := 1; id <= idSpace; id++ {
		switch r.IntN(3) {
		case 0:
			votes[uint64(id)] = true
		case 1:
			votes[uint64(id)] = false
		}
	}
	return votes
}

func TestQuickMajorityCommittedIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		c := randConfig(r, 11, 14)
		l := randAcks(r, 14)
		if got, want := c.CommittedIndex(l), refCommittedIndex(c, l); got != want {
			t.Fatalf("%s: CommittedIndex = %s, reference %s\n%s", c, got, want, c.Describe(l))
		}
	}
}

func TestQuickJointCommittedIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		c := JointConfig{randConfig(r, 9, 10), randConfig(r, 9, 10)}
		l := randAcks(r, 10)
		want := min(refCommittedIndex(c[0], l), refCommittedIndex(c[1], l))
		if got := c.CommittedIndex(l); got != want {
			t.Fatalf("%s: CommittedIndex = %s, reference %s\n%s", c, got, want, c.Describe(l))
		}
	}
}

func TestQuickVoteResult(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 5000; i++ {
		c := JointConfig{randConfig(r, 9, 10), randConfig(r, 9, 10)}
		votes := randVotes(r, 10)
		if got, want := c[0].VoteResult(votes), refVoteResult(c[0], votes); got != want {
			t.Fatalf("%s: VoteResult(%v) = %s, reference %s", c[0], votes, got, want)
		}
		if got, want := c.VoteResult(votes), refJointVoteResult(c, votes); got != want {
			t.Fatalf("%s: VoteResult(%v) = %s, reference %s", c, votes, got, want)
		}
	}
}

// TestQuickHasQuorumAgreesWithVotes checks that a set of ids is a quorum
// exactly when the election they all vote for is won.
func TestQuickHasQuorumAgreesWithVotes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 5000; i++ {
		c := JointConfig{randConfig(r, 9, 10), randConfig(r, 9, 10)}
		ids := map[uint64]struct{}(randConfig(r, 10, 10))
		votes := map[uint64]bool{}
		for id := range ids {
			votes[id] = true
		}
		if got, want := c.HasQuorum(ids), c.VoteResult(votes) == VoteWon; got != want {
			t.Fatalf("%s.HasQuorum(%s) = %t, vote says %t", c, MajorityConfig(ids), got, want)
		}
	}
}
