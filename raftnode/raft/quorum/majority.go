package quorum

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// MajorityConfig is a set of voters whose decisions need a simple majority.
// The empty (or nil) MajorityConfig is neutral: see the package doc.
type MajorityConfig map[uint64]struct{}

// stackVoters is the largest configuration whose CommittedIndex is computed
// without allocating. Seven voters covers every cluster size Raft is sensibly
// run at.
const stackVoters = 7

// String returns the voters in ascending order, as in "(1 2 3)".
func (c MajorityConfig) String() string {
	var buf strings.Builder
	buf.WriteByte('(')
	for i, id := range c.Slice() {
		if i > 0 {
			buf.WriteByte(' ')
		}
		fmt.Fprint(&buf, id)
	}
	buf.WriteByte(')')
	return buf.String()
}

// Slice returns the voters in ascending order, or nil for an empty config.
func (c MajorityConfig) Slice() []uint64 {
	if len(c) == 0 {
		return nil
	}
	sl := make([]uint64, 0, len(c))
	for id := range c {
		sl = append(sl, id)
	}
	slices.Sort(sl)
	return sl
}

// HasQuorum reports whether ids contains a majority of the voters of c. Ids that
// are not voters of c do not count. Every set is a quorum of the empty config.
func (c MajorityConfig) HasQuorum(ids map[uint64]struct{}) bool {
	n := 0
	for id := range c {
		if _, ok := ids[id]; ok {
			n++
		}
	}
	return n >= Majority(len(c))
}

// CommittedIndex returns the highest index acknowledged by a majority of the
// voters: the largest i such that at least Majority(len(c)) voters have
// acknowledged i or more. Voters that l does not know count as having
// acknowledged 0. The empty config returns math.MaxUint64, so that it never
// holds back the other half of a JointConfig.
//
// It runs on every append on the leader and does not allocate for configs of up
// to seven voters.
func (c MajorityConfig) CommittedIndex(l AckedIndexer) Index {
	n := len(c)
	if n == 0 {
		return math.MaxUint64
	}
	var stk [stackVoters]uint64
	var srt []uint64
	if n <= len(stk) {
		srt = stk[:n]
	} else {
		srt = make([]uint64, n)
	}
	// Fill from the back: unknown voters keep their 0 at the front, which is
	// where the sort would put them anyway.
	i := n - 1
	for id := range c {
		if idx, ok := l.AckedIndex(id); ok {
			srt[i] = uint64(idx)
			i--
		}
	}
	insertionSort(srt)
	// srt is ascending; the Majority(n) largest entries are all >= this one.
	return Index(srt[n-Majority(n)])
}

// insertionSort sorts sl ascending. For the handful of voters a config has it
// beats the general sort, and it does not make sl escape.
func insertionSort(sl []uint64) {
	for i := 1; i < len(sl); i++ {
		for j := i; j > 0 && sl[j] < sl[j-1]; j-- {
			sl[j], sl[j-1] = sl[j-1], sl[j]
		}
	}
}

// VoteResult tells the outcome of an election given the votes so far (true =
// granted, false = rejected; voters absent from votes have not answered).
// Votes of ids that are not voters of c are ignored. The empty config wins
// every election, so that it is neutral in a JointConfig.
func (c MajorityConfig) VoteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	granted, missing := 0, 0
	for id := range c {
		v, ok := votes[id]
		switch {
		case !ok:
			missing++
		case v:
			granted++
		}
	}
	q := Majority(len(c))
	switch {
	case granted >= q:
		return VoteWon
	case granted+missing >= q:
		return VotePending
	default:
		return VoteLost
	}
}

// describeRow is one voter's line in Describe.
type describeRow struct {
	id  uint64
	idx Index
	ok  bool // whether the AckedIndexer knows the voter
	bar int  // length of the bar drawn before the '>'
}

// Describe draws the acknowledged index of every voter as a bar, for tests and
// debugging. Voters with the i-th smallest index get a bar of length i (equal
// indexes get equal bars), so the committed index is where the bars of a
// majority end. Unknown voters are shown as '?':
//
//	    idx
//	x>    101    (id=1)
//	xx>   102    (id=2)
//	>      99    (id=3)
//	?       0    (id=4)
func (c MajorityConfig) Describe(l AckedIndexer) string {
	if len(c) == 0 {
		return "<empty majority quorum>"
	}
	n := len(c)
	rows := make([]describeRow, 0, n)
	for id := range c {
		idx, ok := l.AckedIndex(id)
		rows = append(rows, describeRow{id: id, idx: idx, ok: ok})
	}
	slices.SortFunc(rows, func(a, b describeRow) int {
		if a.idx != b.idx {
			if a.idx < b.idx {
				return -1
			}
			return 1
		}
		return compareIDs(a.id, b.id)
	})
	for i := 1; i < n; i++ {
		rows[i].bar = rows[i-1].bar
		if rows[i-1].idx < rows[i].idx {
			rows[i].bar = i
		}
	}
	slices.SortFunc(rows, func(a, b describeRow) int { return compareIDs(a.id, b.id) })

	var buf strings.Builder
	buf.WriteString(strings.Repeat(" ", n) + "    idx\n")
	for _, r := range rows {
		if r.ok {
			buf.WriteString(strings.Repeat("x", r.bar) + ">" + strings.Repeat(" ", n-r.bar))
		} else {
			buf.WriteString("?" + strings.Repeat(" ", n))
		}
		fmt.Fprintf(&buf, " %5d    (id=%d)\n", uint64(r.idx), r.id)
	}
	return buf.String()
}

func compareIDs(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
