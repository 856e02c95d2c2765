package server

import (
	"slices"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
)

// The read tracker's life, step by step as the event loop drives it: one
// ReadIndex round in flight at a time, reads arriving meanwhile share the
// next, a round unanswered for an election timeout is re-sent with the same
// context, and reads are released once their read index is applied.
func TestReadTrackerRounds(t *testing.T) {
	q := newReadTracker[string](3, 0)
	if _, _, ok := q.startRound(func() bool { return true }); ok {
		t.Fatal("a round started with no read queued")
	}
	q.add("a")
	q.add("b")
	ctx1, refused, ok := q.startRound(func() bool { return true })
	if !ok || len(refused) != 0 {
		t.Fatalf("startRound = %x, %v, %v; want a round for a and b", ctx1, refused, ok)
	}
	q.add("c")
	if _, _, ok := q.startRound(func() bool { return true }); ok {
		t.Fatal("a second round started while one is in flight")
	}

	// Unanswered: re-sent every election timeout (3 ticks), same context.
	for tick := 1; tick <= 6; tick++ {
		resend := q.tick()
		want := tick%3 == 0
		if (resend != nil) != want || (want && !slices.Equal(resend, ctx1)) {
			t.Fatalf("tick %d re-sends %x, want the round's context: %v", tick, resend, want)
		}
	}

	// A stale answer changes nothing; the round's answer moves a and b to
	// wait for index 7, and c's round can start.
	q.readStates([]raft.ReadState{{Index: 5, RequestCtx: []byte("old")}})
	if _, _, ok := q.startRound(func() bool { return true }); ok {
		t.Fatal("a stale ReadState ended the round in flight")
	}
	q.readStates([]raft.ReadState{{Index: 7, RequestCtx: ctx1}})
	ctx2, _, ok := q.startRound(func() bool { return true })
	if !ok || slices.Equal(ctx1, ctx2) {
		t.Fatalf("second round %x (first %x), started %v: want a new context", ctx2, ctx1, ok)
	}
	if got := q.applied(6); len(got) != 0 {
		t.Fatalf("applied 6 releases %v, want nothing before index 7", got)
	}
	q.readStates([]raft.ReadState{{Index: 9, RequestCtx: ctx2}})
	if got := q.applied(8); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("applied 8 releases %v, want a b", got)
	}
	if got := q.applied(9); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("applied 9 releases %v, want c", got)
	}
	if got := q.applied(100); len(got) != 0 || len(q.tick()) != 0 {
		t.Fatalf("after every read was released: %v", got)
	}
}

// Without a leader a round cannot start: the queued reads are handed back to
// be refused, and nothing stays in flight.
func TestReadTrackerRefusesWithoutLeader(t *testing.T) {
	q := newReadTracker[int](10, 0)
	q.add(1)
	q.add(2)
	_, refused, ok := q.startRound(func() bool { return false })
	if ok || !slices.Equal(refused, []int{1, 2}) {
		t.Fatalf("startRound without a leader = %v, %v; want 1 2 refused", refused, ok)
	}
	if _, refused, ok := q.startRound(func() bool { return true }); ok || len(refused) != 0 {
		t.Fatal("refused reads were kept")
	}
	q.add(3)
	if _, _, ok := q.startRound(func() bool { return true }); !ok {
		t.Fatal("no round for a read queued after the leader came back")
	}
}
