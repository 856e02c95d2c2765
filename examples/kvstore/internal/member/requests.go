package member

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// proposal is the data of a normal entry: a write, and who waits for it.
type proposal struct {
	// Member and Req identify the request on the member that proposed it.
	Member uint64 `json:"member"`
	Req    uint64 `json:"req"`
	Key    string `json:"key"`
	Value  string `json:"value"`
}

// changeContext is the Context of a conf change entry.
type changeContext struct {
	Member uint64 `json:"member"`
	Req    uint64 `json:"req"`
	// URL is where an added member takes Raft messages.
	URL string `json:"url,omitempty"`
}

// requests are the clients' requests waiting on the loop for an outcome.
type requests struct {
	member uint64
	// lastReq is the last request id handed out. It starts at a random
	// value, so entries proposed before a restart are not taken for the
	// requests of this run.
	lastReq uint64
	// writes wait for their entry to be applied, by request id.
	writes map[uint64]pendingWrite
	// reads wait for a read index and then for it to be applied, by their
	// ReadIndex context.
	reads map[string]*pendingRead
}

type pendingWrite struct {
	ctx context.Context
	res chan<- error
	// change is set for a membership change, checked when applied.
	change *pb.ConfChangeSingle
}

type pendingRead struct {
	ctx context.Context
	key string
	res chan<- readResult
	// index is the read index, once known.
	index      uint64
	indexKnown bool
}

type readResult struct {
	value string
	found bool
	err   error
}

func newRequests(member uint64) requests {
	return requests{
		member:  member,
		lastReq: rand.Uint64() >> 1,
		writes:  map[uint64]pendingWrite{},
		reads:   map[string]*pendingRead{},
	}
}

func (r *requests) nextID() uint64 {
	r.lastReq++
	return r.lastReq
}

// readContext is a ReadIndex context unique in the cluster: the leader keys
// pending reads by it, whichever member they came from.
func (r *requests) readContext(id uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, r.member), id)
}

// applied answers the write req of this member, if it waits, with err.
func (r *requests) applied(member, req uint64, err error) {
	if member != r.member {
		return
	}
	if w, ok := r.writes[req]; ok {
		w.res <- err
		delete(r.writes, req)
	}
}

// leaderChanged fails what waits on the old leader: writes may or may not
// be applied; read index requests are lost.
func (r *requests) leaderChanged() {
	for id, w := range r.writes {
		w.res <- ErrOutcomeUnknown
		delete(r.writes, id)
	}
	for rctx, rd := range r.reads {
		rd.res <- readResult{err: fmt.Errorf("%w: the leader changed", ErrUnavailable)}
		delete(r.reads, rctx)
	}
}

// dropAbandoned forgets requests whose caller gave up.
func (r *requests) dropAbandoned() {
	for id, w := range r.writes {
		if w.ctx.Err() != nil {
			delete(r.writes, id)
		}
	}
	for rctx, rd := range r.reads {
		if rd.ctx.Err() != nil {
			delete(r.reads, rctx)
		}
	}
}

// propose proposes a write, to be answered on res once applied.
func (m *Member) propose(ctx context.Context, key, value string, res chan<- error) {
	req := m.requests.nextID()
	data, err := json.Marshal(proposal{Member: m.id, Req: req, Key: key, Value: value})
	if err != nil {
		res <- fmt.Errorf("encode proposal: %w", err)
		return
	}
	if err := m.rn.Propose(data); err != nil {
		res <- proposeError(err)
		return
	}
	m.requests.writes[req] = pendingWrite{ctx: ctx, res: res}
}

// proposeConfChange proposes a one-member change, to be answered on res once
// applied.
func (m *Member) proposeConfChange(ctx context.Context, change pb.ConfChangeSingle, peerURL string, res chan<- error) {
	req := m.requests.nextID()
	cctx, err := json.Marshal(changeContext{Member: m.id, Req: req, URL: peerURL})
	if err != nil {
		res <- fmt.Errorf("encode conf change: %w", err)
		return
	}
	// A single change takes effect in one step (Auto transition); several
	// at once would go through a joint configuration.
	cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{change}, Context: cctx}
	if err := m.rn.ProposeConfChange(cc); err != nil {
		res <- proposeError(err)
		return
	}
	m.requests.writes[req] = pendingWrite{ctx: ctx, res: res, change: &change}
}

func proposeError(err error) error {
	switch {
	case errors.Is(err, raft.ErrConfChangeRefused):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case errors.Is(err, raft.ErrProposalDropped):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("propose: %w", err)
}

// read starts a linearizable read of key, answered on res.
func (m *Member) read(ctx context.Context, key string, res chan<- readResult) {
	if m.lead == raft.None {
		// A follower without a leader would drop the request silently.
		res <- readResult{err: ErrUnavailable}
		return
	}
	rctx := m.requests.readContext(m.requests.nextID())
	m.requests.reads[string(rctx)] = &pendingRead{ctx: ctx, key: key, res: res}
	m.rn.ReadIndex(rctx)
}

// readIndexes records the read indexes the core answered.
func (m *Member) readIndexes(states []raft.ReadState) {
	for _, rs := range states {
		if rd := m.requests.reads[string(rs.RequestCtx)]; rd != nil {
			rd.index, rd.indexKnown = rs.Index, true
		}
	}
}

// answerReads answers the reads whose read index is applied.
func (m *Member) answerReads() {
	for rctx, rd := range m.requests.reads {
		if rd.indexKnown && rd.index <= m.applied {
			v, ok := m.state.Get(rd.key)
			rd.res <- readResult{value: v, found: ok}
			delete(m.requests.reads, rctx)
		}
	}
}
