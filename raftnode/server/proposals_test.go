package server

import (
	"slices"
	"testing"
)

// The writes a member proposed are settled as the applied term grows: once
// an entry of a later term is applied, a write still waiting cannot be
// applied in its own term any more and is handed back as of unknown outcome;
// one no longer waiting (its caller gave up) is forgotten; an applied write
// leaves at once.
func TestProposalTrackerSettle(t *testing.T) {
	p := newProposalTracker()
	p.proposed(1, 2)
	p.proposed(2, 2)
	p.proposed(3, 3)
	p.proposed(4, 2)
	p.applied(1)
	waiting := func(id uint64) bool { return id != 4 }

	if got := p.settle(2, waiting); len(got) != 0 {
		t.Fatalf("settle(2) = %v: nothing was proposed before term 2", got)
	}
	got := p.settle(3, waiting)
	if ids := settledIDs(got); !slices.Equal(ids, []uint64{2}) || got[0].term != 2 {
		t.Fatalf("settle(3) = %+v, want write 2 of term 2 (1 applied, 4 not waiting, 3 of term 3)", got)
	}
	if got := p.settle(3, waiting); len(got) != 0 {
		t.Fatalf("settle(3) again = %v, want nothing new", got)
	}
	if ids := p.takeAll(); !slices.Equal(ids, []uint64{3}) {
		t.Fatalf("takeAll = %v, want the write still tracked, 3", ids)
	}
	if ids := p.takeAll(); len(ids) != 0 {
		t.Fatalf("takeAll after takeAll = %v", ids)
	}
}

func settledIDs(s []settledProposal) []uint64 {
	ids := make([]uint64, len(s))
	for i, p := range s {
		ids[i] = p.id
	}
	slices.Sort(ids)
	return ids
}
