// Package tracker keeps the leader's view of the cluster: the membership
// configuration in force (voters, possibly joint, and learners) and the
// replication Progress of every member, and from them the committed index,
// election results and whether a quorum is active.
//
// The semantics follow etcd raft v3.6's tracker package. Configurations are
// changed only through package confchange, which validates them; this package
// trusts what it is given.
package tracker

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Config is a membership configuration: who votes and who learns.
type Config struct {
	// Voters are the voters: Voters[0] the incoming (or only) set, Voters[1]
	// the outgoing set while joint.
	// Invariant: Voters[1] is empty unless the config is joint (by definition).
	Voters quorum.JointConfig
	// AutoLeave says the leader leaves the joint configuration by itself as
	// soon as it can (ConfChangeTransitionAuto/JointImplicit).
	// Invariant: false unless joint.
	AutoLeave bool
	// Learners receive the log but neither vote nor count toward commit.
	// Invariant: no learner is a voter in either half.
	Learners map[uint64]struct{}
	// LearnersNext are voters of the outgoing config that become learners
	// when the joint config is left. They cannot be in Learners meanwhile,
	// because a member cannot be a voter and a learner at once: demoting
	// voter 3 while entering joint consensus gives
	//
	//	voters=(1 2)&&(1 2 3) learners_next=(3)
	//
	// and LeaveJoint makes it voters=(1 2) learners=(3).
	// Invariant: LearnersNext ⊆ Voters[1], and it is empty unless joint.
	LearnersNext map[uint64]struct{}
}

// IsJoint reports whether c is a joint configuration (its outgoing half is
// not empty).
func (c Config) IsJoint() bool { return len(c.Voters[1]) > 0 }

// String describes c, as in
// "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave". Empty
// learner sets are left out.
func (c Config) String() string {
	var buf strings.Builder
	fmt.Fprintf(&buf, "voters=%s", c.Voters)
	if len(c.Learners) > 0 {
		fmt.Fprintf(&buf, " learners=%s", quorum.MajorityConfig(c.Learners))
	}
	if len(c.LearnersNext) > 0 {
		fmt.Fprintf(&buf, " learners_next=%s", quorum.MajorityConfig(c.LearnersNext))
	}
	if c.AutoLeave {
		buf.WriteString(" autoleave")
	}
	return buf.String()
}

// Clone returns a deep copy of c: no map is shared. Nil maps stay nil.
func (c *Config) Clone() Config {
	return Config{
		Voters:       quorum.JointConfig{maps.Clone(c.Voters[0]), maps.Clone(c.Voters[1])},
		AutoLeave:    c.AutoLeave,
		Learners:     maps.Clone(c.Learners),
		LearnersNext: maps.Clone(c.LearnersNext),
	}
}

// ProgressTracker is the configuration together with the Progress of every
// member and the votes of the current election.
type ProgressTracker struct {
	Config

	// Progress has an entry for every member of Config (voter of either half,
	// learner or learner-next) and for nobody else.
	// Invariant: maintained by confchange; Visit and Committed rely on it.
	Progress ProgressMap

	// Votes are the votes received in the current election: true granted,
	// false rejected. Ids that are not voters are ignored when tallying.
	Votes map[uint64]bool

	// members and voters cache what Install was given, sorted by id, so that the
	// leader's per-proposal paths (Visit, Committed) walk slices instead of
	// iterating maps.
	// Invariant: when members is not nil, it lists exactly the entries of
	// Progress in ascending id order, and voters[i] those of Voters[i].
	members []memberProgress
	voters  [2][]*Progress

	// MaxInflight is the window size, in MsgApps, given to new members'
	// Inflights.
	MaxInflight int
	// MaxInflightBytes is the window size, in bytes, given to new members'
	// Inflights; 0 means no byte limit.
	MaxInflightBytes uint64
}

// MakeProgressTracker returns a tracker with an empty configuration, whose new
// members get windows of maxInflight MsgApps and maxBytes bytes (0: no limit).
func MakeProgressTracker(maxInflight int, maxBytes uint64) ProgressTracker {
	return ProgressTracker{
		Config: Config{
			// The incoming half is always a map so that it can be written
			// to; the others are nil until used.
			Voters: quorum.JointConfig{quorum.MajorityConfig{}, nil},
		},
		Progress:         ProgressMap{},
		Votes:            map[uint64]bool{},
		MaxInflight:      maxInflight,
		MaxInflightBytes: maxBytes,
	}
}

// memberProgress is one member's id with its Progress.
type memberProgress struct {
	id uint64
	pr *Progress
}

// Install makes cfg and prs the tracker's configuration and progress, as
// produced by the confchange package. Replacing Config or Progress any other way
// leaves the cached id order stale; Install is the way to switch.
func (p *ProgressTracker) Install(cfg Config, prs ProgressMap) {
	p.Config = cfg
	p.Progress = prs
	p.members = p.members[:0]
	for id, pr := range prs {
		p.members = append(p.members, memberProgress{id: id, pr: pr})
	}
	slices.SortFunc(p.members, func(a, b memberProgress) int { return cmp.Compare(a.id, b.id) })
	for half := range p.voters {
		p.voters[half] = p.voters[half][:0]
		for _, m := range p.members {
			if _, ok := cfg.Voters[half][m.id]; ok {
				p.voters[half] = append(p.voters[half], m.pr)
			}
		}
	}
	if p.members == nil {
		p.members = []memberProgress{}
	}
}

// cached reports whether the caches set by Install still describe Progress.
func (p *ProgressTracker) cached() bool {
	return p.members != nil && len(p.members) == len(p.Progress)
}

// ConfState returns the configuration as recorded in snapshots: sorted id
// slices, nil when empty.
func (p *ProgressTracker) ConfState() pb.ConfState {
	return pb.ConfState{
		Voters:         p.Voters[0].Slice(),
		VotersOutgoing: p.Voters[1].Slice(),
		Learners:       quorum.MajorityConfig(p.Learners).Slice(),
		LearnersNext:   quorum.MajorityConfig(p.LearnersNext).Slice(),
		AutoLeave:      p.AutoLeave,
	}
}

// IsSingleton reports whether the configuration has exactly one voter and is
// not joint: that voter alone decides everything.
func (p *ProgressTracker) IsSingleton() bool {
	return len(p.Voters[0]) == 1 && len(p.Voters[1]) == 0
}

// matchAckIndexer reads the acknowledged index of a voter from its Progress.
// Being a map type, it converts to an AckedIndexer without allocating.
type matchAckIndexer ProgressMap

// AckedIndex implements quorum.AckedIndexer.
func (l matchAckIndexer) AckedIndex(id uint64) (quorum.Index, bool) {
	pr, ok := l[id]
	if !ok {
		return 0, false
	}
	return quorum.Index(pr.Match), true
}

// Committed returns the highest index a quorum of voters (of both halves when
// joint) has in its log: the largest index the leader may commit, term rules
// aside. It does not allocate for configs of up to seven voters per half. With
// no voters at all it returns math.MaxUint64.
func (p *ProgressTracker) Committed() uint64 {
	if p.cached() {
		if ignoreOutgoingVoters {
			return committedOf(p.voters[0]) // mutation build only: see mutation_on.go
		}
		return min(committedOf(p.voters[0]), committedOf(p.voters[1]))
	}
	return uint64(p.Voters.CommittedIndex(matchAckIndexer(p.Progress)))
}

// committedOf returns the highest Match a majority of prs has reached, or
// math.MaxUint64 for no voters (an empty half of a joint config decides nothing).
func committedOf(prs []*Progress) uint64 {
	n := len(prs)
	switch n {
	case 0:
		return math.MaxUint64
	case 1:
		return prs[0].Match
	}
	var stk [visitStack]uint64
	var srt []uint64
	if n <= len(stk) {
		srt = stk[:n]
	} else {
		srt = make([]uint64, n)
	}
	for i, pr := range prs {
		srt[i] = pr.Match
	}
	insertionSort(srt)
	// The smallest index that a majority (n/2+1 voters) has reached.
	return srt[n-(n/2+1)]
}

// activeIndexer acknowledges index 1 for recently active members and 0 for the
// others, so that a config's committed index is 1 exactly when its active
// voters form a quorum.
type activeIndexer ProgressMap

// AckedIndex implements quorum.AckedIndexer.
func (l activeIndexer) AckedIndex(id uint64) (quorum.Index, bool) {
	pr, ok := l[id]
	if !ok || !pr.RecentActive {
		return 0, ok
	}
	return 1, true
}

// QuorumActive reports whether the recently active voters form a quorum (of
// both halves when joint). The leader steps down when they do not
// (check-quorum). It does not allocate.
func (p *ProgressTracker) QuorumActive() bool {
	return p.Voters.CommittedIndex(activeIndexer(p.Progress)) >= 1
}

// visitStack is the member count up to which Visit does not allocate.
const visitStack = 7

// Visit calls f for every member, in ascending id order so that the messages a
// leader sends come out deterministically. f may change the Progress it is
// given but must not add or remove members. Visit does not allocate for up to
// seven members.
func (p *ProgressTracker) Visit(f func(id uint64, pr *Progress)) {
	if p.cached() {
		for _, m := range p.members {
			f(m.id, m.pr)
		}
		return
	}
	n := len(p.Progress)
	var stk [visitStack]uint64
	var ids []uint64
	if n <= len(stk) {
		ids = stk[:0]
	} else {
		ids = make([]uint64, 0, n)
	}
	for id := range p.Progress {
		ids = append(ids, id)
	}
	insertionSort(ids)
	for _, id := range ids {
		f(id, p.Progress[id])
	}
}

// insertionSort sorts a handful of ids without making the slice escape.
func insertionSort(sl []uint64) {
	for i := 1; i < len(sl); i++ {
		for j := i; j > 0 && sl[j] < sl[j-1]; j-- {
			sl[j], sl[j-1] = sl[j-1], sl[j]
		}
	}
}

// VoterNodes returns the voters of both halves, sorted, without duplicates.
func (p *ProgressTracker) VoterNodes() []uint64 {
	return quorum.MajorityConfig(p.Voters.IDs()).Slice()
}

// LearnerNodes returns the learners, sorted, or nil if there are none.
// Learners-next are still voters and are not included.
func (p *ProgressTracker) LearnerNodes() []uint64 {
	return quorum.MajorityConfig(p.Learners).Slice()
}

// ResetVotes forgets the votes of the previous election.
func (p *ProgressTracker) ResetVotes() {
	clear(p.Votes)
}

// RecordVote records that id granted (v) or rejected its vote. Only the first
// vote of an id counts; later ones (retransmissions) are ignored.
func (p *ProgressTracker) RecordVote(id uint64, v bool) {
	if p.Votes == nil {
		p.Votes = map[uint64]bool{}
	}
	if _, ok := p.Votes[id]; !ok {
		p.Votes[id] = v
	}
}

// TallyVotes counts the votes granted and rejected by voters (of either half,
// each voter once; votes of non-voters are ignored) and tells the outcome of
// the election so far.
func (p *ProgressTracker) TallyVotes() (granted int, rejected int, _ quorum.VoteResult) {
	count := func(id uint64) {
		v, voted := p.Votes[id]
		switch {
		case !voted:
		case v:
			granted++
		default:
			rejected++
		}
	}
	for id := range p.Voters[0] {
		count(id)
	}
	for id := range p.Voters[1] {
		if _, ok := p.Voters[0][id]; !ok {
			count(id)
		}
	}
	return granted, rejected, p.Voters.VoteResult(p.Votes)
}
