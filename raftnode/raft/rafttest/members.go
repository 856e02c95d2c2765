package rafttest

import (
	"fmt"
	"math"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkube/raftkube/raftnode/raft"
	"github.com/raftkube/raftkube/raftnode/raft/quorum"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// The timing every member runs with: tick-heartbeat is one Tick, and a
// follower's election timeout is 10 to 19 Ticks (tick-election finds it).
const (
	electionTick  = 10
	heartbeatTick = 1
)

// member is one member of the environment.
type member struct {
	id uint64
	// cfg is the Config the member runs with; restart reuses it, Storage and
	// Logger included.
	cfg raft.Config
	// storage is the member's disk: it survives a crash.
	storage *raft.MemoryStorage
	// rn is the running core, nil while the member is down.
	rn *raft.RawNode
	// stateMachine is the applied data, in order, each with the index it was
	// applied at (a restored snapshot's data carries the snapshot's index).
	// It lives in memory: a crash loses it, and a restart rebuilds it from
	// the stored snapshot and the committed entries the core hands out again.
	stateMachine []appliedDatum
	// confState is the configuration this member last installed through a
	// snapshot or ApplyConfChange, to print it only when it changes.
	confState pb.ConfState
}

// appliedDatum is one value of a member's state machine.
type appliedDatum struct {
	index uint64
	data  string
}

func (m *member) down() bool { return m.rn == nil }

// start creates the member's core from its storage, as a process does when
// it starts, and its state machine from the stored snapshot.
func (m *member) start() error {
	cfg := m.cfg
	rn, err := raft.NewRawNode(&cfg)
	if err != nil {
		return fmt.Errorf("start member %d: %w", m.id, err)
	}
	snap, err := m.storage.Snapshot()
	if err != nil {
		return fmt.Errorf("start member %d: read snapshot: %w", m.id, err)
	}
	m.rn = rn
	m.confState = confStateOf(rn.Status().Config)
	m.restoreStateMachine(snap)
	return nil
}

// confStateOf is c as recorded in snapshots.
func confStateOf(c tracker.Config) pb.ConfState {
	return pb.ConfState{
		Voters:         c.Voters[0].Slice(),
		VotersOutgoing: c.Voters[1].Slice(),
		Learners:       quorum.MajorityConfig(c.Learners).Slice(),
		LearnersNext:   quorum.MajorityConfig(c.LearnersNext).Slice(),
		AutoLeave:      c.AutoLeave,
	}
}

// handleAddNodes: add-nodes N [voters=(IDS)] [learners=(IDS)] [index=I]
// [content=A,B] [prevote=BOOL] [checkquorum=BOOL] [read-only=safe|lease]
// [max-inflight=N] [max-size-per-msg=N].
func handleAddNodes(env *InteractionEnv, td *datadriven.TestData) error {
	count, err := positionalUint(td, 0)
	if err != nil {
		return err
	}
	voters, err := optIDs(td, "voters")
	if err != nil {
		return err
	}
	learners, err := optIDs(td, "learners")
	if err != nil {
		return err
	}
	var index uint64
	if len(voters)+len(learners) > 0 {
		index = 1
	}
	var content string
	if err := firstErr(optUint(td, "index", &index), optString(td, "content", &content)); err != nil {
		return err
	}
	if index == 0 && len(voters)+len(learners) > 0 {
		return fmt.Errorf("%w: a configuration needs a bootstrap snapshot (index > 0)", ErrBadArgument)
	}
	template, err := env.memberConfig(td)
	if err != nil {
		return err
	}
	for range count {
		m := &member{id: uint64(len(env.members) + 1), cfg: template, storage: raft.NewMemoryStorage()}
		m.cfg.ID, m.cfg.Storage = m.id, m.storage
		if index > 0 {
			snap := pb.Snapshot{Data: []byte(content), Metadata: pb.SnapshotMetadata{
				Index: index, Term: 1, ConfState: pb.ConfState{Voters: voters, Learners: learners},
			}}
			if err := m.storage.ApplySnapshot(snap); err != nil {
				return fmt.Errorf("bootstrap member %d: %w", m.id, err)
			}
		}
		if err := m.start(); err != nil {
			return err
		}
		env.members = append(env.members, m)
	}
	return nil
}

// memberConfig is the Config of add-nodes' options, without ID and Storage.
func (env *InteractionEnv) memberConfig(td *datadriven.TestData) (raft.Config, error) {
	cfg := raft.Config{
		ElectionTick:    electionTick,
		HeartbeatTick:   heartbeatTick,
		MaxSizePerMsg:   math.MaxUint64,
		MaxInflightMsgs: 256,
		Logger:          interactionLogger{env: env},
	}
	readOnly := "safe"
	err := firstErr(
		optBool(td, "prevote", &cfg.PreVote),
		optBool(td, "checkquorum", &cfg.CheckQuorum),
		optInt(td, "max-inflight", &cfg.MaxInflightMsgs),
		optUint(td, "max-size-per-msg", &cfg.MaxSizePerMsg),
		optString(td, "read-only", &readOnly),
	)
	if err != nil {
		return raft.Config{}, err
	}
	switch readOnly {
	case "safe":
		cfg.ReadOnlyOption = raft.ReadOnlySafe
	case "lease":
		cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
	default:
		return raft.Config{}, fmt.Errorf("%w: read-only=%s: want safe or lease", ErrBadArgument, readOnly)
	}
	return cfg, nil
}

// handleCrash: crash ID. The member stops: what it had not persisted (a
// Ready not yet handled) and its state machine are gone, and so are the
// messages on their way to it.
func handleCrash(env *InteractionEnv, td *datadriven.TestData) error {
	id, err := positionalUint(td, 0)
	if err != nil {
		return err
	}
	m, err := env.running(id)
	if err != nil {
		return err
	}
	m.rn, m.stateMachine, m.confState = nil, nil, pb.ConfState{}
	for i := range env.messages {
		if q := &env.messages[i]; q.To == id && q.lost == "" {
			q.lost = lostDown
		}
	}
	return nil
}

// handleRestart: restart ID. A crashed member starts again from its storage.
func handleRestart(env *InteractionEnv, td *datadriven.TestData) error {
	id, err := positionalUint(td, 0)
	if err != nil {
		return err
	}
	m, err := env.member(id)
	if err != nil {
		return err
	}
	if !m.down() {
		return fmt.Errorf("%w: member %d is running; crash it first", ErrBadArgument, id)
	}
	return m.start()
}
