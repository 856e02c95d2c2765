package quorum

// JointConfig is the configuration in force during joint consensus (Raft thesis
// §4.3): c[0] is the incoming set of voters, c[1] the outgoing one. Every
// decision needs a majority of both. Outside joint consensus c[1] is nil or
// empty, which makes a JointConfig behave exactly like its c[0].
type JointConfig [2]MajorityConfig

// String returns "(1 2 3)&&(1 2)" for a joint config and "(1 2 3)" when the
// outgoing half is empty.
func (c JointConfig) String() string {
	if len(c[1]) > 0 {
		return c[0].String() + "&&" + c[1].String()
	}
	return c[0].String()
}

// IDs returns the union of the voters of both halves, as a new map.
func (c JointConfig) IDs() map[uint64]struct{} {
	m := make(map[uint64]struct{}, len(c[0])+len(c[1]))
	for _, half := range c {
		for id := range half {
			m[id] = struct{}{}
		}
	}
	return m
}

// Describe draws the acknowledged index of every voter of either half; see
// MajorityConfig.Describe.
func (c JointConfig) Describe(l AckedIndexer) string {
	return MajorityConfig(c.IDs()).Describe(l)
}

// outgoing returns the outgoing half, which decides together with the incoming
// one (always, except in the explorer's mutation build: see mutation_on.go).
func (c JointConfig) outgoing() MajorityConfig {
	if ignoreOutgoingVoters {
		return nil
	}
	return c[1]
}

// HasQuorum reports whether ids contains a majority of each half.
func (c JointConfig) HasQuorum(ids map[uint64]struct{}) bool {
	return c[0].HasQuorum(ids) && c.outgoing().HasQuorum(ids)
}

// CommittedIndex returns the highest index committed by both halves: the
// smaller of their committed indexes. Like MajorityConfig.CommittedIndex it
// returns math.MaxUint64 when both halves are empty, and does not allocate for
// halves of up to seven voters.
func (c JointConfig) CommittedIndex(l AckedIndexer) Index {
	return min(c[0].CommittedIndex(l), c.outgoing().CommittedIndex(l))
}

// VoteResult tells the outcome of an election that must be won in both halves:
// won when both are won, lost when either is lost, pending otherwise.
func (c JointConfig) VoteResult(votes map[uint64]bool) VoteResult {
	r0, r1 := c[0].VoteResult(votes), c.outgoing().VoteResult(votes)
	switch {
	case r0 == r1:
		return r0
	case r0 == VoteLost || r1 == VoteLost:
		return VoteLost
	default:
		// One half won, the other is pending.
		return VotePending
	}
}
