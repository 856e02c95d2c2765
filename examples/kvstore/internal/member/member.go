// Package member runs one member of the replicated key-value store: a
// raft.RawNode driven by one goroutine (Run) that ticks it, steps peers'
// messages into it, proposes clients' writes and conf changes, and handles
// each Ready: send the leader's messages, persist, send the rest, apply,
// Advance (see ready.go). Everything else reaches that goroutine through
// channels, so nothing but Run touches the RawNode, the storage's writing
// methods or the state machine.
package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/statemachine"
	"github.com/raftkube/raftkube/examples/kvstore/internal/storage"
	"github.com/raftkube/raftkube/examples/kvstore/internal/transport"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Errors the member's requests return.
var (
	// ErrUnavailable means the request could not be handed to a leader (none
	// is known, or leadership is moving); nothing was done, retry.
	ErrUnavailable = errors.New("no leader to take the request")
	// ErrOutcomeUnknown means the leader changed between proposing and
	// applying: the write may or may not be applied.
	ErrOutcomeUnknown = errors.New("the leader changed before the request was applied; its outcome is unknown")
	// ErrRefused means a membership change was refused: another is in
	// progress, or it makes no sense (removing a member that is not one).
	ErrRefused = errors.New("membership change refused")
	// ErrRemoved is what Run returns once this member applied its own
	// removal from the cluster.
	ErrRemoved = errors.New("this member was removed from the cluster")
	// ErrStopped means Run has returned.
	ErrStopped = errors.New("member stopped")
)

// Config configures a member.
type Config struct {
	// ID is this member's id, unique in the cluster and never 0.
	ID uint64
	// DataDir holds the member's log and snapshots.
	DataDir string
	// Peers are peer URLs by member id. For a new cluster they are its
	// initial voters, this member included; for a member that joins (Join)
	// they are where to reach the current members. Once the member has
	// state, the URLs in the replicated state take precedence.
	Peers map[uint64]string
	// Join says the member is joining an existing cluster: it starts with an
	// empty log and learns the cluster's state from the leader, once a
	// member added it with a conf change.
	Join bool
	// TickInterval is the real time of one Raft tick.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks; the leader sends
	// heartbeats every tick.
	ElectionTicks int
	// SnapshotEntries is how many applied entries make the member snapshot
	// its state and compact its log.
	SnapshotEntries uint64
	// Logger receives the member's and the core's diagnostics.
	Logger *slog.Logger
}

// ErrInvalidConfig means a Config cannot make a member.
var ErrInvalidConfig = errors.New("invalid member config")

func (c *Config) validate() error {
	switch {
	case c.ID == raft.None:
		return fmt.Errorf("%w: ID must not be 0", ErrInvalidConfig)
	case c.TickInterval <= 0:
		return fmt.Errorf("%w: TickInterval must be positive", ErrInvalidConfig)
	case c.SnapshotEntries == 0:
		return fmt.Errorf("%w: SnapshotEntries must be positive", ErrInvalidConfig)
	case !c.Join && c.Peers[c.ID] == "":
		return fmt.Errorf("%w: a member of a new cluster must be among its Peers", ErrInvalidConfig)
	}
	return nil
}

// Member is one member of the cluster.
type Member struct {
	id      uint64
	cfg     Config
	log     *slog.Logger
	storage *storage.Storage
	rn      *raft.RawNode
	net     *transport.Transport
	state   *statemachine.State

	// confState is the configuration as of the applied index.
	confState pb.ConfState
	// applied is the index of the last entry applied to state; snapIndex
	// the index of the last snapshot taken or restored.
	applied, snapIndex uint64
	// lead is the leader this member knows, or raft.None.
	lead uint64
	// removed is set once this member applied its own removal.
	removed bool

	// calls are requests to run on the loop; recv are messages from peers;
	// reports are the transport's delivery reports.
	calls   chan func()
	recv    chan pb.Message
	reports chan transport.Report
	// done is closed when Run returns.
	done chan struct{}

	requests requests
}

// Open reads the member's data dir, bootstrapping a new cluster's member if
// it is empty and not joining, and makes the Raft core over it.
func Open(cfg Config) (*Member, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := storage.Open(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	if n := st.TornBytes(); n > 0 {
		cfg.Logger.Warn("truncated the torn end of the log", "bytes", n)
	}
	m, err := open(cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return m, nil
}

func open(cfg Config, st *storage.Storage) (*Member, error) {
	if st.Empty() && !cfg.Join {
		if err := bootstrap(st, cfg.Peers); err != nil {
			return nil, err
		}
	}
	snap, err := st.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	state := statemachine.New()
	if !raft.IsEmptySnap(snap) {
		if state, err = statemachine.Unmarshal(snap.Data); err != nil {
			return nil, fmt.Errorf("restore snapshot %d: %w", snap.Metadata.Index, err)
		}
	}
	reports := make(chan transport.Report, 64)
	m := &Member{
		id:        cfg.ID,
		cfg:       cfg,
		log:       cfg.Logger,
		storage:   st,
		net:       transport.New(reports),
		state:     state,
		confState: snap.Metadata.ConfState,
		applied:   snap.Metadata.Index,
		snapIndex: snap.Metadata.Index,
		calls:     make(chan func()),
		recv:      make(chan pb.Message, 256),
		reports:   reports,
		done:      make(chan struct{}),
		requests:  newRequests(cfg.ID),
	}
	m.rn, err = raft.NewRawNode(&raft.Config{
		ID:            cfg.ID,
		ElectionTick:  cfg.ElectionTicks,
		HeartbeatTick: 1,
		Storage:       st,
		// The state machine was restored from the snapshot: the core hands
		// out the committed entries after it.
		Applied:         snap.Metadata.Index,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raft.SlogLogger{L: cfg.Logger},
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// bootstrap saves the first snapshot of a new cluster: index 1, with the
// initial members as voters and their URLs in the state. Every initial
// member saves the same one.
func bootstrap(st *storage.Storage, peers map[uint64]string) error {
	state := statemachine.New()
	for id, url := range peers {
		state.SetPeer(id, url)
	}
	data, err := state.Marshal()
	if err != nil {
		return err
	}
	voters := slices.Sorted(maps.Keys(peers))
	snap := pb.Snapshot{Data: data, Metadata: pb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters},
	}}
	if err := st.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// PeerHandler is the endpoint at which peers deliver messages.
func (m *Member) PeerHandler() http.Handler { return transport.Handler(m.step) }

// Run drives the member until ctx is done (returning nil), it applies its
// own removal (ErrRemoved) or it fails. It closes the storage on return.
func (m *Member) Run(ctx context.Context) error {
	defer close(m.done)
	defer func() {
		// Let the last messages out: a removed leader hands over in them.
		drain, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m.net.Close(drain)
		if err := m.storage.Close(); err != nil {
			m.log.Error("close storage", "err", err)
		}
	}()
	m.net.SetPeers(m.peerURLs())
	ticker := time.NewTicker(m.cfg.TickInterval)
	defer ticker.Stop()
	for {
		if err := m.handleReadys(); err != nil {
			return err
		}
		if m.removed {
			return ErrRemoved
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			m.rn.Tick()
			m.requests.dropAbandoned()
		case msg := <-m.recv:
			if err := m.rn.Step(msg); err != nil {
				m.log.Debug("step", "type", msg.Type, "from", msg.From, "err", err)
			}
		case r := <-m.reports:
			m.report(r)
		case call := <-m.calls:
			call()
		}
	}
}

// report hands a delivery report to the core.
func (m *Member) report(r transport.Report) {
	if r.Failed {
		m.rn.ReportUnreachable(r.Peer)
	}
	if r.Snapshot {
		status := raft.SnapshotFinish
		if r.Failed {
			status = raft.SnapshotFailure
		}
		m.rn.ReportSnapshot(r.Peer, status)
	}
}

// peerURLs are the URLs to send to: those of the replicated state, and for
// members it does not know (yet), those configured. Not this member's own.
func (m *Member) peerURLs() map[uint64]string {
	urls := maps.Clone(m.cfg.Peers)
	if urls == nil {
		urls = map[uint64]string{}
	}
	maps.Copy(urls, m.state.Peers())
	delete(urls, m.id)
	return urls
}

// step hands a message from a peer to the loop.
func (m *Member) step(ctx context.Context, msg pb.Message) error {
	select {
	case m.recv <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return ErrStopped
	}
}

// inLoop runs f on the loop and waits for the answer f sends on res.
func inLoop[T any](ctx context.Context, m *Member, f func(res chan<- T)) (T, error) {
	var zero T
	res := make(chan T, 1)
	select {
	case m.calls <- func() { f(res) }:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-m.done:
		return zero, ErrStopped
	}
	select {
	case v := <-res:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-m.done:
		return zero, ErrStopped
	}
}

// awaitError returns the error of waiting, or else the answer.
func awaitError(answer, waitErr error) error {
	if waitErr != nil {
		return waitErr
	}
	return answer
}

// Put sets key to value once a quorum has it, and returns after this member
// applied it.
func (m *Member) Put(ctx context.Context, key, value string) error {
	return awaitError(inLoop(ctx, m, func(res chan<- error) {
		m.propose(ctx, key, value, res)
	}))
}

// Get returns the value of key, linearizably: a ReadIndex round confirms the
// leader's commit index, and the value is read once this member applied it.
func (m *Member) Get(ctx context.Context, key string) (value string, found bool, err error) {
	r, waitErr := inLoop(ctx, m, func(res chan<- readResult) {
		m.read(ctx, key, res)
	})
	if waitErr != nil {
		return "", false, waitErr
	}
	return r.value, r.found, r.err
}

// AddMember adds member id, reachable at peerURL, as a voter, and returns
// once this member applied the change.
func (m *Member) AddMember(ctx context.Context, id uint64, peerURL string) error {
	return m.changeMembers(ctx, pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeID: id}, peerURL)
}

// RemoveMember removes member id, and returns once this member applied the
// change.
func (m *Member) RemoveMember(ctx context.Context, id uint64) error {
	return m.changeMembers(ctx, pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeID: id}, "")
}

func (m *Member) changeMembers(ctx context.Context, change pb.ConfChangeSingle, peerURL string) error {
	if change.NodeID == raft.None {
		return fmt.Errorf("%w: member id 0", ErrRefused)
	}
	return awaitError(inLoop(ctx, m, func(res chan<- error) {
		m.proposeConfChange(ctx, change, peerURL, res)
	}))
}

// Status describes the member.
func (m *Member) Status(ctx context.Context) (Status, error) {
	return inLoop(ctx, m, func(res chan<- Status) { res <- m.status() })
}
