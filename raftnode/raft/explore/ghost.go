package explore

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ghost is what the checks remember of a path beyond the members' own state:
// what was committed, and who led each term. It is part of the explored state.
type ghost struct {
	// committed are the entries members reported committed, from the first
	// after the bootstrap snapshot on.
	// Invariant: committed[i].entry.Index == bootstrapIndex+1+i.
	committed []committedEntry
	// leaders maps each term to the member that led it.
	leaders map[uint64]uint64
}

// committedEntry is an entry some member reported committed.
type committedEntry struct {
	entry pb.Entry
	// knownIn is the lowest term of a member when it reported the entry
	// committed. A member learns of a commit in the committing leader's
	// term or later, so the entry was committed in knownIn or earlier, and
	// every leader of a later term must hold it.
	knownIn uint64
}

func newGhost() ghost { return ghost{leaders: map[uint64]uint64{}} }

// clone returns a copy of g that shares nothing g changes.
func (g *ghost) clone() ghost {
	return ghost{committed: slices.Clone(g.committed), leaders: maps.Clone(g.leaders)}
}

// sameEntry reports whether a and b are the same entry.
func sameEntry(a, b *pb.Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

// recordCommitted records that member id, in term term, reported e committed,
// and checks it against what others reported at its index.
func (g *ghost) recordCommitted(id uint64, e pb.Entry, term uint64) error {
	k := int(e.Index) - (bootstrapIndex + 1)
	switch {
	case k < len(g.committed):
		ce := &g.committed[k]
		if !sameEntry(&ce.entry, &e) {
			return fmt.Errorf("%w: member %d committed %s where %s was committed before",
				ErrStateMachineSafety, id, pb.DescribeEntry(e), pb.DescribeEntry(ce.entry))
		}
		ce.knownIn = min(ce.knownIn, term)
	case k == len(g.committed):
		e.Data = bytes.Clone(e.Data)
		g.committed = append(g.committed, committedEntry{entry: e, knownIn: term})
	default:
		// Members commit and apply in index order from the bootstrap
		// snapshot on, so whoever commits k committed everything before.
		panic(fmt.Sprintf("explore: member %d committed index %d with only %d entries recorded", id, e.Index, len(g.committed)))
	}
	return nil
}

// hash folds the ghost into w.
func (g *ghost) hash(w *hasher) {
	w.word(uint64(len(g.committed)))
	for i := range g.committed {
		ce := &g.committed[i]
		w.word(ce.entry.Term)
		w.word(uint64(ce.entry.Type))
		w.bytes(ce.entry.Data)
		w.word(ce.knownIn)
	}
	terms := slices.Sorted(maps.Keys(g.leaders))
	w.word(uint64(len(terms)))
	for _, t := range terms {
		w.word(t)
		w.word(g.leaders[t])
	}
}

// check checks the invariants in c; it records each term's leader.
func (c *cluster) check() error {
	logs := make([][]pb.Entry, len(c.members))
	for i, m := range c.members {
		log, err := m.log()
		if err != nil {
			return err
		}
		logs[i] = log
	}
	for i, m := range c.members {
		st := m.rn.BasicStatus()
		if err := c.ghost.checkCommitted(m.id, logs[i], st.Commit); err != nil {
			return err
		}
		if st.RaftState != raft.StateLeader {
			continue
		}
		if err := c.ghost.checkLeader(m.id, st.Term, logs[i]); err != nil {
			return err
		}
	}
	for i := range c.members {
		for j := i + 1; j < len(c.members); j++ {
			if err := checkLogMatching(c.members[i].id, logs[i], c.members[j].id, logs[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCommitted checks that the entries of log up to commit are those
// recorded committed. Members apply everything they commit before a state is
// checked, so each is recorded.
func (g *ghost) checkCommitted(id uint64, log []pb.Entry, commit uint64) error {
	for k := range log {
		e := &log[k]
		if e.Index > commit {
			break
		}
		if k >= len(g.committed) {
			return fmt.Errorf("%w: member %d holds %s as committed, which nobody applied",
				ErrStateMachineSafety, id, pb.DescribeEntry(*e))
		}
		if ce := &g.committed[k]; !sameEntry(&ce.entry, e) {
			return fmt.Errorf("%w: member %d holds %s as committed where %s was committed",
				ErrStateMachineSafety, id, pb.DescribeEntry(*e), pb.DescribeEntry(ce.entry))
		}
	}
	return nil
}

// checkLeader checks the invariants of the leader id of term, whose log is
// log: it is the only leader of its term, it holds every entry committed in
// an earlier term, and it has at most one configuration change past the
// committed entries. It records id as the term's leader.
func (g *ghost) checkLeader(id, term uint64, log []pb.Entry) error {
	if prev, ok := g.leaders[term]; ok && prev != id {
		return fmt.Errorf("%w: members %d and %d both led term %d", ErrElectionSafety, prev, id, term)
	}
	g.leaders[term] = id
	committed := 0 // how much of log is known committed
	for k := range g.committed {
		ce := &g.committed[k]
		holds := k < len(log) && sameEntry(&log[k], &ce.entry)
		if !holds && ce.knownIn < term {
			return fmt.Errorf("%w: leader %d of term %d lacks %s, committed by term %d",
				ErrLeaderCompleteness, id, term, pb.DescribeEntry(ce.entry), ce.knownIn)
		}
		if holds && committed == k {
			committed = k + 1
		}
	}
	var pending []string
	for k := committed; k < len(log); k++ {
		if log[k].Type == pb.EntryConfChange || log[k].Type == pb.EntryConfChangeV2 {
			pending = append(pending, pb.DescribeEntry(log[k]))
		}
	}
	if len(pending) > 1 {
		return fmt.Errorf("%w: leader %d of term %d holds uncommitted %v", ErrConcurrentConfChanges, id, term, pending)
	}
	return nil
}

// checkLogMatching checks that wherever logs a and b hold entries of the same
// term at an index, they hold the same entry there and agree before it.
func checkLogMatching(a uint64, la []pb.Entry, b uint64, lb []pb.Entry) error {
	diverged := -1
	for k := range min(len(la), len(lb)) {
		ea, eb := &la[k], &lb[k]
		if ea.Term != eb.Term {
			if diverged < 0 {
				diverged = k
			}
			continue
		}
		if !sameEntry(ea, eb) {
			return fmt.Errorf("%w: members %d and %d hold %s and %s", ErrLogMatching, a, b,
				pb.DescribeEntry(*ea), pb.DescribeEntry(*eb))
		}
		if diverged >= 0 {
			return fmt.Errorf("%w: members %d and %d agree on %s but not at index %d before it", ErrLogMatching, a, b,
				pb.DescribeEntry(*ea), la[diverged].Index)
		}
	}
	return nil
}
