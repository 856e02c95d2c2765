package raft_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// simChecker is the history one simulation run checks its members against: every
// leader seen, every entry seen committed, every read request made. Each method
// records a new fact and returns an error if it contradicts what was recorded.
// It knows nothing of the network or of RawNode, so a test can feed it a
// fabricated history (TestSimulationChecker) to show that it catches violations.
type simChecker struct {
	// leaders maps a term to the only member allowed to lead it (Election Safety).
	leaders map[uint64]uint64
	// ents[i] is the entry committed at index i, once some member revealed it.
	ents []simRecord
	// maxIndex is the highest index recorded in ents.
	maxIndex uint64
	// maxCommit is the highest commit index any member reported.
	maxCommit uint64
	// maxTerm is the highest term any member reported. An entry seen committed
	// now was committed in this term or earlier.
	maxTerm uint64
	// reads maps a ReadIndex request context to the commit index the cluster had
	// reached when the request was made.
	reads map[string]uint64
}

// simRecord is an entry known to be committed.
type simRecord struct {
	set  bool
	term uint64
	typ  pb.EntryType
	data []byte
	// commitTerm is the lowest term in which the entry was seen committed. It was
	// committed in that term or earlier, so every leader of a later term must
	// have it (Leader Completeness).
	commitTerm uint64
	// by is the member that revealed the entry first, and how.
	by  uint64
	how string
}

func newSimChecker() *simChecker {
	return &simChecker{leaders: make(map[uint64]uint64), reads: make(map[string]uint64)}
}

// leader records that id leads term (Election Safety: at most one leader a term).
func (c *simChecker) leader(term, id uint64) error {
	if prev, ok := c.leaders[term]; ok && prev != id {
		return fmt.Errorf("election safety: members %d and %d both lead term %d", prev, id, term)
	}
	c.leaders[term] = id
	return nil
}

// status records a member's term and commit index.
func (c *simChecker) status(term, commit uint64) {
	c.maxTerm = max(c.maxTerm, term)
	c.maxCommit = max(c.maxCommit, commit)
}

// committed records that member by holds e as committed: it applied it, or e is
// at or below its commit index. It was committed in term term or earlier. A
// different entry recorded at the same index breaks the rule that committed
// entries never change.
//
// The simulation passes the highest term of the cluster (maxTerm): a member's
// own term would do only if a member learned commit indexes from leaders of its
// term alone, and a refused vote may tell one too (learnCommitFromVoteResp).
func (c *simChecker) committed(e *pb.Entry, by, term uint64, how string) error {
	for uint64(len(c.ents)) <= e.Index {
		c.ents = append(c.ents, simRecord{})
	}
	r := &c.ents[e.Index]
	if !r.set {
		*r = simRecord{set: true, term: e.Term, typ: e.Type, data: e.Data, commitTerm: term, by: by, how: how}
		c.maxIndex = max(c.maxIndex, e.Index)
		c.maxCommit = max(c.maxCommit, e.Index)
		return nil
	}
	if r.term != e.Term || r.typ != e.Type || !bytes.Equal(r.data, e.Data) {
		return fmt.Errorf("committed entry changed: member %d %s %s, but member %d %s %s",
			by, how, describeSimEntry(e), r.by, r.how, r.describe(e.Index))
	}
	r.commitTerm = min(r.commitTerm, term)
	return nil
}

func (r *simRecord) describe(index uint64) string {
	return describeSimEntry(&pb.Entry{Index: index, Term: r.term, Type: r.typ, Data: r.data})
}

func describeSimEntry(e *pb.Entry) string {
	return fmt.Sprintf("%d/%d %s %q", e.Term, e.Index, e.Type, e.Data)
}

// applyOrder checks that member by applies entry index right after prev: a state
// machine applies the log in order and without gaps (a snapshot aside).
func applyOrder(by, prev, index uint64) error {
	if index != prev+1 {
		return fmt.Errorf("state machine safety: member %d applied index %d after index %d", by, index, prev)
	}
	return nil
}

// jointQuorum checks that leader id may consider commit committed: a majority of
// each half of its voters (incoming and outgoing when joint) has the index.
func (c *simChecker) jointQuorum(id, term uint64, voters quorum.JointConfig, acks quorum.MapAckIndexer, commit uint64) error {
	if got := voters.CommittedIndex(acks); uint64(got) < commit {
		return fmt.Errorf("joint quorum: leader %d of term %d committed %d, but voters %s acknowledged only up to %s "+
			"(incoming %s, outgoing %s; acks %v)", id, term, commit, voters, got,
			voters[0].CommittedIndex(acks), voters[1].CommittedIndex(acks), acks)
	}
	return nil
}

// simLogView is a member's log as a leader sees it when it takes office: entries
// up to snapIndex are compacted into a snapshot, then entries up to last.
type simLogView struct {
	snapIndex, snapTerm uint64
	last                uint64
	// entry returns the entry at i, for snapIndex < i <= last.
	entry func(i uint64) pb.Entry
}

// leaderLog checks Leader Completeness: the log of the new leader of term must
// hold every entry committed in an earlier term.
func (c *simChecker) leaderLog(id, term uint64, v simLogView) error {
	for i := uint64(1); i <= c.maxIndex; i++ {
		r := &c.ents[i]
		if !r.set || r.commitTerm >= term {
			continue
		}
		switch {
		case i > v.last:
			return fmt.Errorf("leader completeness: member %d leads term %d with a log ending at %d, "+
				"without %s committed in term %d or earlier", id, term, v.last, r.describe(i), r.commitTerm)
		case i < v.snapIndex:
		case i == v.snapIndex:
			if v.snapTerm != r.term {
				return fmt.Errorf("leader completeness: member %d leads term %d from a snapshot at %d of term %d, "+
					"but %s was committed in term %d or earlier", id, term, i, v.snapTerm, r.describe(i), r.commitTerm)
			}
		default:
			if e := v.entry(i); e.Term != r.term || e.Type != r.typ || !bytes.Equal(e.Data, r.data) {
				return fmt.Errorf("leader completeness: member %d leads term %d with %s, but %s was committed "+
					"in term %d or earlier", id, term, describeSimEntry(&e), r.describe(i), r.commitTerm)
			}
		}
	}
	return nil
}

// readRequested records a ReadIndex request made now.
func (c *simChecker) readRequested(ctx string) { c.reads[ctx] = max(c.maxCommit, c.maxIndex) }

// readAnswered checks that a ReadState's index covers everything committed
// before the request was made (a linearizable read sees every earlier write).
func (c *simChecker) readAnswered(by uint64, ctx string, index uint64) error {
	want, ok := c.reads[ctx]
	if !ok {
		return fmt.Errorf("read index: member %d got a ReadState for %q, which nobody requested", by, ctx)
	}
	if index < want {
		return fmt.Errorf("read index: member %d got index %d for %q, but index %d was committed when it was requested",
			by, index, ctx, want)
	}
	return nil
}

// TestSimulationChecker feeds the checker fabricated histories that break each
// invariant, so a simulation that passes is known to have been checked.
func TestSimulationChecker(t *testing.T) {
	ent := func(index, term uint64, data string) *pb.Entry {
		return &pb.Entry{Index: index, Term: term, Data: []byte(data)}
	}
	mustOK := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: unexpected violation: %v", what, err)
		}
	}
	mustFail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: violation not caught", what)
		}
		t.Logf("%s: caught: %v", what, err)
	}

	c := newSimChecker()
	mustOK("first leader", c.leader(2, 1))
	mustOK("same leader seen again", c.leader(2, 1))
	mustOK("next term", c.leader(3, 2))
	mustFail("two leaders in one term", c.leader(2, 3))

	mustOK("commit", c.committed(ent(2, 2, "a"), 1, 2, "applied"))
	mustOK("same entry elsewhere", c.committed(ent(2, 2, "a"), 2, 3, "applied"))
	mustFail("changed term", c.committed(ent(2, 3, "a"), 3, 3, "applied"))
	mustFail("changed data", c.committed(ent(2, 2, "b"), 3, 3, "applied"))
	mustFail("changed type", c.committed(&pb.Entry{Index: 2, Term: 2, Type: pb.EntryConfChangeV2, Data: []byte("a")}, 3, 3, "applied"))

	mustOK("in order", applyOrder(1, 2, 3))
	mustFail("gap", applyOrder(1, 2, 4))
	mustFail("repeat", applyOrder(1, 3, 3))

	joint := quorum.JointConfig{
		quorum.MajorityConfig{1: {}, 2: {}, 3: {}},
		quorum.MajorityConfig{1: {}, 4: {}, 5: {}},
	}
	mustFail("incoming majority only", c.jointQuorum(1, 3, joint, quorum.MapAckIndexer{1: 5, 2: 5, 3: 5}, 5))
	mustFail("outgoing majority only", c.jointQuorum(1, 3, joint, quorum.MapAckIndexer{1: 5, 4: 5, 5: 5}, 5))
	mustOK("both majorities", c.jointQuorum(1, 3, joint, quorum.MapAckIndexer{1: 5, 2: 5, 4: 5}, 5))

	mustOK("commit 3", c.committed(ent(3, 2, "b"), 1, 2, "applied"))
	log := func(last uint64, ents ...*pb.Entry) simLogView {
		return simLogView{snapIndex: 1, snapTerm: 1, last: last, entry: func(i uint64) pb.Entry { return *ents[i-2] }}
	}
	mustOK("complete log", c.leaderLog(2, 3, log(3, ent(2, 2, "a"), ent(3, 2, "b"))))
	mustOK("entries committed in its own term need not be there", c.leaderLog(2, 2, log(2, ent(2, 2, "a"))))
	mustFail("missing entry", c.leaderLog(2, 3, log(2, ent(2, 2, "a"))))
	mustFail("different entry", c.leaderLog(2, 3, log(3, ent(2, 2, "a"), ent(3, 1, "x"))))
	mustFail("snapshot of another term", c.leaderLog(2, 3, simLogView{snapIndex: 3, snapTerm: 1, last: 3}))
	mustOK("compacted into a matching snapshot", c.leaderLog(2, 3, simLogView{snapIndex: 3, snapTerm: 2, last: 3}))

	c.readRequested("r1")
	mustOK("read at commit", c.readAnswered(1, "r1", 3))
	mustFail("stale read", c.readAnswered(1, "r1", 2))
	mustFail("unknown read", c.readAnswered(1, "r2", 9))
}
