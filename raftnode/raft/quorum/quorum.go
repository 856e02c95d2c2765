// Package quorum holds the quorum rules of Raft as small pure types.
//
// A majority configuration (MajorityConfig) is a set of voters. A decision — a
// commit index, an election — needs the agreement of a majority of them: more
// than half, that is Majority(n) = n/2+1 of n voters.
//
// A joint configuration (JointConfig) is two majority configurations, the
// incoming one and the outgoing one, in force at the same time while the
// membership moves from the old set of voters to the new (joint consensus, Raft
// thesis §4.3). A decision then needs a majority of each half separately. When
// the configuration is not joint the outgoing half is empty, and an empty
// majority configuration is neutral: it commits everything (its committed index
// is math.MaxUint64) and wins every vote, so code that works on a JointConfig
// needs no special case for the simple configuration.
//
// The package has no dependencies on the rest of the consensus core, so that
// other components — the Kubernetes operator in particular — use these rules
// rather than recomputing n/2+1 by hand.
package quorum

import (
	"math"
	"strconv"
)

// Index is a log index as acknowledged by a voter.
type Index uint64

// String returns the decimal form of i, or "∞" for math.MaxUint64 (the committed
// index of an empty configuration).
func (i Index) String() string {
	if i == math.MaxUint64 {
		return "∞"
	}
	return strconv.FormatUint(uint64(i), 10)
}

// AckedIndexer tells, for a voter, the highest log index it is known to have
// durably appended.
type AckedIndexer interface {
	// AckedIndex returns the acknowledged index of voterID, and whether the
	// voter is known at all. An unknown voter counts as having acknowledged 0.
	AckedIndex(voterID uint64) (idx Index, found bool)
}

// MapAckIndexer is an AckedIndexer backed by a map from voter id to index.
type MapAckIndexer map[uint64]Index

// AckedIndex implements AckedIndexer.
func (m MapAckIndexer) AckedIndex(id uint64) (Index, bool) {
	idx, ok := m[id]
	return idx, ok
}

// VoteResult is the outcome of an election as far as it can be told from the
// votes received so far.
type VoteResult uint8

const (
	// VotePending means the election is undecided: the votes still missing can
	// tip it either way.
	VotePending VoteResult = 1 + iota
	// VoteLost means enough voters rejected that the election cannot be won.
	VoteLost
	// VoteWon means a quorum granted its vote.
	VoteWon
)

// String returns "VotePending", "VoteLost" or "VoteWon".
func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(" + strconv.Itoa(int(v)) + ")"
}

// Majority returns how many of n voters form a majority: n/2+1 for n > 0, and 0
// for n <= 0 (an empty configuration needs nobody).
func Majority(n int) int {
	if n <= 0 {
		return 0
	}
	return n/2 + 1
}
