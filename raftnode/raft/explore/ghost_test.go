package explore

import (
	"errors"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// logOf builds a log from the first index after the bootstrap snapshot, one
// entry per term given; the data tells entries of one term apart.
func logOf(terms ...uint64) []pb.Entry {
	log := make([]pb.Entry, len(terms))
	for i, term := range terms {
		log[i] = pb.Entry{Index: uint64(bootstrapIndex + 1 + i), Term: term, Data: []byte{byte(i)}}
	}
	return log
}

func confEntry(index, term uint64) pb.Entry {
	return pb.Entry{Index: index, Term: term, Type: pb.EntryConfChangeV2}
}

func TestCheckLogMatching(t *testing.T) {
	changed := logOf(1, 1, 2)
	changed[1].Data = []byte("other")
	for _, tt := range []struct {
		name   string
		a, b   []pb.Entry
		wantOK bool
	}{
		{"equal", logOf(1, 1, 2), logOf(1, 1, 2), true},
		{"one a prefix of the other", logOf(1, 1), logOf(1, 1, 2, 2), true},
		{"diverging at the end", logOf(1, 1, 2), logOf(1, 1, 3), true},
		{"same index and term, other entry", logOf(1, 1, 2), changed, false},
		{"agreeing after diverging", logOf(1, 2, 3), logOf(1, 3, 3), false},
		{"empty", nil, logOf(1), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLogMatching(1, tt.a, 2, tt.b)
			if tt.wantOK != (err == nil) || err != nil && !errors.Is(err, ErrLogMatching) {
				t.Errorf("checkLogMatching = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestRecordCommitted(t *testing.T) {
	g := newGhost()
	log := logOf(1, 1, 2)
	for _, e := range log[:2] {
		if err := g.recordCommitted(1, e, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.recordCommitted(2, log[0], 1); err != nil {
		t.Fatalf("the same entry again: %v", err)
	}
	if got := g.committed[0].knownIn; got != 1 {
		t.Errorf("knownIn = %d, want the lowest term reported (1)", got)
	}
	other := log[1]
	other.Term = 2
	if err := g.recordCommitted(3, other, 2); !errors.Is(err, ErrStateMachineSafety) {
		t.Errorf("another entry at a committed index: %v, want ErrStateMachineSafety", err)
	}
	if err := g.checkCommitted(3, logOf(1, 2), 3); !errors.Is(err, ErrStateMachineSafety) {
		t.Errorf("a log committed past what was recorded at odds with it: %v, want ErrStateMachineSafety", err)
	}
	if err := g.checkCommitted(3, logOf(1, 1, 1), 3); err != nil {
		t.Errorf("a log agreeing with what was committed: %v", err)
	}
	if err := g.checkCommitted(3, logOf(1, 1, 1), 4); !errors.Is(err, ErrStateMachineSafety) {
		t.Errorf("a commit index past anything applied: %v, want ErrStateMachineSafety", err)
	}
}

func TestCheckLeader(t *testing.T) {
	withConf := append(logOf(1), confEntry(3, 1))
	for _, tt := range []struct {
		name      string
		committed []pb.Entry // recorded committed
		knownIn   uint64     // in this term
		prevLead  uint64     // the leader already recorded for term 2, or 0
		leader    uint64     // of term 2
		log       []pb.Entry // the leader's
		want      error
	}{
		{name: "holds everything", committed: logOf(1, 1), knownIn: 1, leader: 1, log: logOf(1, 1, 2)},
		{name: "lacks an entry of an earlier term", committed: logOf(1, 1), knownIn: 1, leader: 1, log: logOf(1),
			want: ErrLeaderCompleteness},
		{name: "stale leader of the term that committed", committed: logOf(1, 1), knownIn: 2, leader: 1, log: logOf(1)},
		{name: "second leader of the term", committed: logOf(1, 1), knownIn: 1, prevLead: 1, leader: 3, log: logOf(1, 1, 2),
			want: ErrElectionSafety},
		{name: "same leader again", committed: logOf(1, 1), knownIn: 1, prevLead: 1, leader: 1, log: logOf(1, 1, 2)},
		{name: "one pending change", committed: logOf(1, 1), knownIn: 1, leader: 1,
			log: append(logOf(1, 1), confEntry(4, 2))},
		{name: "two pending changes", committed: logOf(1, 1), knownIn: 1, leader: 1,
			log: append(logOf(1, 1), confEntry(4, 2), confEntry(5, 2)), want: ErrConcurrentConfChanges},
		{name: "a committed change and a pending one", committed: withConf, knownIn: 1, leader: 1,
			log: append(append(logOf(1), confEntry(3, 1)), confEntry(4, 2))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGhost()
			for _, e := range tt.committed {
				if err := g.recordCommitted(1, e, tt.knownIn); err != nil {
					t.Fatal(err)
				}
			}
			if tt.prevLead != 0 {
				g.leaders[2] = tt.prevLead
			}
			err := g.checkLeader(tt.leader, 2, tt.log)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("checkLeader = %v, want %v", err, tt.want)
			}
			if err == nil && g.leaders[2] != tt.leader {
				t.Errorf("leader of term 2 recorded as %d, want %d", g.leaders[2], tt.leader)
			}
		})
	}
}
