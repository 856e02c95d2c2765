package server

import "slices"

// proposalTracker is the term each write this member proposed (or forwarded
// to the leader) was handed to the core in, by request id, until it is
// applied. Once an entry of a later term is applied, a write still waiting
// was dropped (a deposed leader's uncommitted tail, a proposal the leader
// refused during a transfer) or relayed to a newer leader: settle hands it
// back so its caller learns at once that the outcome is unknown, instead of
// waiting out its deadline. Owned by the event loop; it holds no channel,
// so it is tested step by step.
type proposalTracker struct {
	terms map[uint64]uint64
	// settledTerm is the applied term settle last looked at terms for.
	settledTerm uint64
}

// settledProposal is a write settle hands back: its request id and the term
// it was proposed in.
type settledProposal struct {
	id, term uint64
}

func newProposalTracker() *proposalTracker {
	return &proposalTracker{terms: map[uint64]uint64{}}
}

// proposed records that request id went to the core in term.
func (p *proposalTracker) proposed(id, term uint64) { p.terms[id] = term }

// applied forgets request id: its entry was applied.
func (p *proposalTracker) applied(id uint64) { delete(p.terms, id) }

// settle hands back the writes proposed in a term before appliedTerm (the
// term of the entry applied last) whose callers still wait: log terms only
// grow, so none of them can be applied in the term it was proposed in any
// more. Writes no longer waiting are forgotten.
func (p *proposalTracker) settle(appliedTerm uint64, waiting func(id uint64) bool) []settledProposal {
	if appliedTerm <= p.settledTerm {
		return nil // nothing new since the last look: the common case, kept cheap
	}
	p.settledTerm = appliedTerm
	var out []settledProposal
	for id, term := range p.terms {
		switch {
		case !waiting(id):
			delete(p.terms, id)
		case term < appliedTerm:
			delete(p.terms, id)
			out = append(out, settledProposal{id: id, term: term})
		}
	}
	return out
}

// takeAll hands back every write still tracked, in request id order, and
// forgets them: the member lost its leader, and each may still be applied
// by the leader it reached.
func (p *proposalTracker) takeAll() []uint64 {
	ids := make([]uint64, 0, len(p.terms))
	for id := range p.terms {
		ids = append(ids, id)
	}
	clear(p.terms)
	slices.Sort(ids)
	return ids
}
