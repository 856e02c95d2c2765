package raft

import (
	"errors"
	"fmt"
)

// ReadOnlyOption says how ReadIndex requests are answered.
type ReadOnlyOption int

const (
	// ReadOnlySafe confirms leadership with a quorum round of heartbeats for each
	// batch of read requests. It needs no clock assumptions.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased answers from the leader's lease without a round trip. It is
	// correct only while clock drift stays below the election timeout, and requires
	// CheckQuorum (which maintains the lease).
	ReadOnlyLeaseBased
)

// Config configures one member's RawNode.
type Config struct {
	// ID is this member's id; it must not be None.
	ID uint64
	// ElectionTick is the number of Ticks a follower waits without hearing from a
	// leader before campaigning; the real timeout is randomized in
	// [ElectionTick, 2*ElectionTick). It must be greater than HeartbeatTick;
	// 10*HeartbeatTick is a good choice.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between a leader's heartbeats.
	HeartbeatTick int
	// Storage holds the persisted log and state. Required.
	Storage Storage
	// Applied is the last index the caller had applied before a restart; the core
	// will not hand out entries at or below it again. 0 for a new member.
	Applied uint64
	// MaxSizePerMsg bounds the encoded size of the entries in one append message;
	// 0 means one entry per message, math.MaxUint64 no bound.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady bounds the committed entries one Ready carries;
	// 0 means MaxSizePerMsg.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize bounds the payload bytes a leader holds in
	// uncommitted entries; proposals beyond it fail with ErrProposalDropped.
	// 0 means no bound.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs bounds the append messages in flight to one follower while
	// it is replicating. Required (> 0).
	MaxInflightMsgs int
	// MaxInflightBytes bounds the bytes of entries in flight to one follower;
	// 0 means no bound. When set it must be at least MaxSizePerMsg.
	MaxInflightBytes uint64
	// CheckQuorum makes a leader step down when it has not heard from a quorum
	// within an election timeout, and makes followers ignore vote requests while
	// they still hear from a leader.
	CheckQuorum bool
	// PreVote makes a member first ask whether it could win before it raises its
	// term, so a member rejoining after a partition does not disrupt the cluster.
	PreVote bool
	// ReadOnlyOption chooses how ReadIndex is answered.
	ReadOnlyOption ReadOnlyOption
	// DisableProposalForwarding makes followers drop proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// Priority breaks ties between candidates with equally up-to-date logs: a voter
	// grants its vote only to a candidate whose priority is at least its own.
	Priority int64
	// AsyncPersistence separates handing a Ready's writes to storage from making
	// them durable. Advance then means only that the writes are visible through
	// Storage; the caller syncs them in the background and reports each sync
	// with RawNode.Persisted. Until then a leader does not count its own copy of
	// the entries toward commit, and sends nothing early in a term whose hard
	// state is not durable. Messages of a Ready still wait until everything up
	// to that Ready is durable: holding them is the caller's job. This lets the
	// caller keep stepping messages and proposals while an fsync runs.
	AsyncPersistence bool
	// ReuseReadyMessages lets the core reuse the backing arrays of a Ready's
	// Messages and LeaderMessages once Advance is called for it: Advance
	// clears them, and the next Ready fills them again. It saves one
	// allocation per Ready that carries messages, for a caller that is done
	// with the slices by Advance (it sent them, or copied the messages it
	// keeps, as a transport that queues pb.Message values does). Without it
	// (the default) every Ready's message slices are the caller's to keep,
	// as in etcd raft: handing rd.Messages to another goroutine is safe.
	ReuseReadyMessages bool
	// Logger receives diagnostics; nil means DiscardLogger.
	Logger Logger
}

// Configuration errors returned by NewRawNode.
var (
	ErrInvalidConfig = errors.New("raft: invalid config")
)

func (c *Config) validate() error {
	if c.ID == None {
		return fmt.Errorf("%w: ID must not be 0 (None)", ErrInvalidConfig)
	}
	if c.HeartbeatTick <= 0 {
		return fmt.Errorf("%w: HeartbeatTick must be greater than 0", ErrInvalidConfig)
	}
	if c.ElectionTick <= c.HeartbeatTick {
		return fmt.Errorf("%w: ElectionTick (%d) must be greater than HeartbeatTick (%d)", ErrInvalidConfig, c.ElectionTick, c.HeartbeatTick)
	}
	if c.Storage == nil {
		return fmt.Errorf("%w: Storage is required", ErrInvalidConfig)
	}
	if c.MaxInflightMsgs <= 0 {
		return fmt.Errorf("%w: MaxInflightMsgs must be greater than 0", ErrInvalidConfig)
	}
	if c.MaxInflightBytes != 0 && c.MaxInflightBytes < c.MaxSizePerMsg {
		return fmt.Errorf("%w: MaxInflightBytes (%d) must be at least MaxSizePerMsg (%d)", ErrInvalidConfig, c.MaxInflightBytes, c.MaxSizePerMsg)
	}
	if c.ReadOnlyOption == ReadOnlyLeaseBased && !c.CheckQuorum {
		return fmt.Errorf("%w: CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased", ErrInvalidConfig)
	}
	return nil
}
