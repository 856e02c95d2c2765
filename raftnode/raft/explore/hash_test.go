package explore

import (
	"reflect"
	"testing"
)

// hashed is a stand-in for the core's state: unexported fields, a map, a
// pointer.
type hashed struct {
	term  uint64
	votes map[uint64]bool
	next  *hashed
	data  []byte
}

func hashOf(v any) uint64 {
	w := newValueHasher()
	w.value(reflect.ValueOf(v), 0)
	return w.h
}

func TestValueHash(t *testing.T) {
	base := func() hashed {
		return hashed{term: 2, votes: map[uint64]bool{1: true, 2: false, 3: true}, data: []byte("abc")}
	}
	reordered := base()
	reordered.votes = map[uint64]bool{3: true, 2: false}
	reordered.votes[1] = true
	if hashOf(base()) != hashOf(reordered) {
		t.Error("a map's hash depends on how it was built")
	}
	for name, change := range map[string]func(*hashed){
		"unexported field": func(h *hashed) { h.term = 3 },
		"map value":        func(h *hashed) { h.votes[2] = true },
		"map key":          func(h *hashed) { delete(h.votes, 3); h.votes[4] = true },
		"pointer":          func(h *hashed) { h.next = &hashed{} },
		"bytes":            func(h *hashed) { h.data = []byte("abd") },
		"moved bytes":      func(h *hashed) { h.data, h.term = []byte{2}, 0 },
	} {
		h := base()
		change(&h)
		if hashOf(h) == hashOf(base()) {
			t.Errorf("changing the %s leaves the hash as it was", name)
		}
	}
}

// TestStateHash: equal paths give equal hashes, different states different
// ones, and a rebuilt member hashes as the one it replaces.
func TestStateHash(t *testing.T) {
	s := scenarioNamed(t, "enter-joint")
	e := newExplorer(&s)
	a, err := e.replay(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.replay(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.hash(a) != e.hash(b) {
		t.Fatal("two replays of the setup hash differently")
	}
	start := e.hash(a)
	saved := a.save()
	propose := move{kind: ProposeConfChange, member: 2}
	if taken, err := a.do(propose); err != nil || !taken {
		t.Fatalf("propose: taken=%v, %v", taken, err)
	}
	if e.hash(a) == start {
		t.Fatal("a proposal leaves the state hash as it was")
	}
	if err := a.restore(&saved, a.touches(propose)); err != nil {
		t.Fatal(err)
	}
	for _, m := range a.members {
		m.hashed = false // rehash the rebuilt member, and the others
	}
	if got := e.hash(a); got != start {
		t.Errorf("restored state hashes %x, want %x", got, start)
	}
}
