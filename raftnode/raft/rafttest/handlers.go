package rafttest

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/datadriven"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// handler runs one command. It prints what the command did, or the error
// the core returned; it returns an error only when the command cannot run.
type handler func(env *InteractionEnv, td *datadriven.TestData) error

// handlers are the commands, one small handler each; the package doc
// describes them.
var handlers = map[string]handler{
	"add-nodes":           handleAddNodes,
	"campaign":            handleCampaign,
	"compact":             handleCompact,
	"crash":               handleCrash,
	"deliver-msgs":        handleDeliverMsgs,
	"heal":                handleHeal,
	"isolate":             handleIsolate,
	"log-level":           handleLogLevel,
	"process-ready":       handleProcessReady,
	"propose":             handlePropose,
	"propose-conf-change": handleProposeConfChange,
	"raft-log":            handleRaftLog,
	"raft-state":          handleRaftState,
	"read-index":          handleReadIndex,
	"report-unreachable":  handleReportUnreachable,
	"restart":             handleRestart,
	"stabilize":           handleStabilize,
	"state-machine":       handleStateMachine,
	"status":              handleStatus,
	"tick-election":       handleTickElection,
	"tick-heartbeat":      handleTickHeartbeat,
	"transfer-leadership": handleTransferLeadership,
}

// firstRunning returns the running member named by the first positional
// argument.
func (env *InteractionEnv) firstRunning(td *datadriven.TestData) (*member, error) {
	id, err := positionalUint(td, 0)
	if err != nil {
		return nil, err
	}
	return env.running(id)
}

// handleCampaign: campaign ID.
func handleCampaign(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	if err := m.rn.Campaign(); err != nil {
		env.printf("%v\n", err)
	}
	return nil
}

// handlePropose: propose ID DATA...
func handlePropose(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	if len(td.CmdArgs) < 2 {
		return fmt.Errorf("%w: usage: propose ID DATA [DATA ...]", ErrBadArgument)
	}
	for _, arg := range td.CmdArgs[1:] {
		if err := m.rn.Propose([]byte(arg.Key)); err != nil {
			env.printf("propose %s: %v\n", arg.Key, err)
		}
	}
	return nil
}

// handleProposeConfChange: propose-conf-change ID [v1=BOOL]
// [transition=auto|implicit|explicit], the changes as input.
func handleProposeConfChange(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	ccs, err := pb.ConfChangesFromString(td.Input)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadArgument, err)
	}
	var v1 bool
	transition := "auto"
	if err := firstErr(optBool(td, "v1", &v1), optString(td, "transition", &transition)); err != nil {
		return err
	}
	var cc pb.ConfChangeI
	if v1 {
		if len(ccs) != 1 {
			return fmt.Errorf("%w: a v1 conf change makes exactly one change, got %d", ErrBadArgument, len(ccs))
		}
		cc = pb.ConfChange{Type: ccs[0].Type, NodeID: ccs[0].NodeID}
	} else {
		v2 := pb.ConfChangeV2{Changes: ccs}
		switch transition {
		case "auto":
			v2.Transition = pb.ConfChangeTransitionAuto
		case "implicit":
			v2.Transition = pb.ConfChangeTransitionJointImplicit
		case "explicit":
			v2.Transition = pb.ConfChangeTransitionJointExplicit
		default:
			return fmt.Errorf("%w: unknown transition %q", ErrBadArgument, transition)
		}
		cc = v2
	}
	if err := m.rn.ProposeConfChange(cc); err != nil {
		env.printf("%v\n", err)
	}
	return nil
}

// handleTickHeartbeat: tick-heartbeat ID.
func handleTickHeartbeat(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	for range m.cfg.HeartbeatTick {
		m.rn.Tick()
	}
	return nil
}

// handleTickElection: tick-election ID.
func handleTickElection(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	for range m.rn.TicksToElectionTimeout() {
		m.rn.Tick()
	}
	return nil
}

// handleTransferLeadership: transfer-leadership from=ID to=ID.
func handleTransferLeadership(env *InteractionEnv, td *datadriven.TestData) error {
	var from, to uint64
	if err := firstErr(requiredUint(td, "from", &from), requiredUint(td, "to", &to)); err != nil {
		return err
	}
	m, err := env.running(from)
	if err != nil {
		return err
	}
	m.rn.TransferLeader(to)
	return nil
}

// handleReadIndex: read-index ID CTX.
func handleReadIndex(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	if len(td.CmdArgs) != 2 {
		return fmt.Errorf("%w: usage: read-index ID CTX", ErrBadArgument)
	}
	m.rn.ReadIndex([]byte(td.CmdArgs[1].Key))
	return nil
}

// handleReportUnreachable: report-unreachable ID PEER.
func handleReportUnreachable(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	peer, err := positionalUint(td, 1)
	if err != nil {
		return err
	}
	m.rn.ReportUnreachable(peer)
	return nil
}

// handleCompact: compact ID INDEX.
func handleCompact(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	index, err := positionalUint(td, 1)
	if err != nil {
		return err
	}
	st := m.rn.Status()
	if index > st.Applied {
		return fmt.Errorf("%w: compact %d past the applied index %d", ErrBadArgument, index, st.Applied)
	}
	cs := confStateOf(st.Config)
	if _, err := m.storage.CreateSnapshot(index, &cs, m.snapshotData(index)); err != nil {
		return fmt.Errorf("member %d: create snapshot: %w", m.id, err)
	}
	if err := m.storage.Compact(index); err != nil {
		return fmt.Errorf("member %d: compact: %w", m.id, err)
	}
	env.printRaftLog(m)
	return nil
}

// handleLogLevel: log-level debug|info|warn|error|none.
func handleLogLevel(env *InteractionEnv, td *datadriven.TestData) error {
	if len(td.CmdArgs) != 1 {
		return fmt.Errorf("%w: usage: log-level debug|info|warn|error|none", ErrBadArgument)
	}
	name := strings.ToUpper(td.CmdArgs[0].Key)
	for i, l := range logLevelNames {
		if l == name || (name == "WARNING" && l == "WARN") {
			env.level = logLevel(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown log level %q", ErrBadArgument, td.CmdArgs[0].Key)
}
