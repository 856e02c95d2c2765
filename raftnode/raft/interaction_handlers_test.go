package raft

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// The commands of the scenario scripts, one small handler each. Member ids are
// positional arguments ("campaign 1"); options are key=value ("voters=(1 2 3)",
// "voters=(1,2,3)" works too). A handler prints what the command did, or the
// error the core returned; a malformed command fails the test.
type interactionHandler func(env *interactionEnv, t *testing.T, td *datadriven.TestData)

var interactionHandlers = map[string]interactionHandler{
	"add-nodes":           handleAddNodes,
	"campaign":            handleCampaign,
	"compact":             handleCompact,
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
	"stabilize":           handleStabilize,
	"state-machine":       handleStateMachine,
	"status":              handleStatus,
	"tick-election":       handleTickElection,
	"tick-heartbeat":      handleTickHeartbeat,
	"transfer-leadership": handleTransferLeadership,
}

// handleAddNodes: add-nodes N [voters=(1 2 3)] [learners=(4)] [index=1]
// [content=a,b] [prevote=true] [checkquorum=true] [read-only=safe|lease]
// [max-inflight=256] [max-size-per-msg=N]
//
// Adds N members with the next free ids. With a configuration (voters or
// learners) they start from a bootstrap snapshot at index (default 1, term 1)
// holding that configuration and content as state-machine data, as the members
// of a new cluster do. Without one (or with index=0) they start empty, like a
// member about to be added by a configuration change, and get everything from
// the leader.
func handleAddNodes(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	count := ieID(t, td, 0)
	voters, learners := ieIDList(t, td, "voters"), ieIDList(t, td, "learners")
	index := uint64(0)
	if len(voters)+len(learners) > 0 {
		index = 1
	}
	ieScanOpt(t, td, "index", &index)
	if index == 0 && len(voters)+len(learners) > 0 {
		td.Fatalf(t, "a configuration needs a bootstrap snapshot (index > 0)")
	}
	var content string
	ieScanOpt(t, td, "content", &content)
	for range count {
		id := uint64(len(env.nodes) + 1)
		storage := NewMemoryStorage()
		snap := pb.Snapshot{Data: []byte(content), Metadata: pb.SnapshotMetadata{
			Index: index, Term: 1, ConfState: pb.ConfState{Voters: voters, Learners: learners},
		}}
		if index > 0 {
			if err := storage.ApplySnapshot(snap); err != nil {
				td.Fatalf(t, "bootstrap member %d: %v", id, err)
			}
		}
		cfg := Config{
			ID:              id,
			ElectionTick:    10,
			HeartbeatTick:   1,
			Storage:         storage,
			MaxSizePerMsg:   noLimit,
			MaxInflightMsgs: 256,
			Logger:          interactionLogger{env: env},
		}
		ieScanOpt(t, td, "prevote", &cfg.PreVote)
		ieScanOpt(t, td, "checkquorum", &cfg.CheckQuorum)
		ieScanOpt(t, td, "max-inflight", &cfg.MaxInflightMsgs)
		ieScanOpt(t, td, "max-size-per-msg", &cfg.MaxSizePerMsg)
		readOnly := "safe"
		ieScanOpt(t, td, "read-only", &readOnly)
		switch readOnly {
		case "safe":
			cfg.ReadOnlyOption = ReadOnlySafe
		case "lease":
			cfg.ReadOnlyOption = ReadOnlyLeaseBased
		default:
			td.Fatalf(t, "read-only=%s: want safe or lease", readOnly)
		}
		rn, err := NewRawNode(&cfg)
		if err != nil {
			td.Fatalf(t, "new member %d: %v", id, err)
		}
		n := &interactionNode{id: id, rn: rn, storage: storage, confState: rn.raft.trk.ConfState()}
		if index > 0 {
			n.restoreStateMachine(snap)
		}
		env.nodes = append(env.nodes, n)
	}
}

// handleCampaign: campaign ID. The member starts an election now.
func handleCampaign(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	if err := n.rn.Campaign(); err != nil {
		env.printf("%v\n", err)
	}
}

// handlePropose: propose ID DATA... Proposes each DATA as an entry of its own.
func handlePropose(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	if len(td.CmdArgs) < 2 {
		td.Fatalf(t, "usage: propose ID DATA...")
	}
	for _, arg := range td.CmdArgs[1:] {
		if err := n.rn.Propose([]byte(arg.Key)); err != nil {
			env.printf("propose %s: %v\n", arg.Key, err)
		}
	}
}

// handleProposeConfChange: propose-conf-change ID [v1=true]
// [transition=auto|implicit|explicit], with the changes ("v4 l5 r1") as input.
// No input proposes the empty ConfChangeV2, which leaves a joint configuration.
func handleProposeConfChange(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	ccs, err := pb.ConfChangesFromString(td.Input)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	var v1 bool
	ieScanOpt(t, td, "v1", &v1)
	var cc pb.ConfChangeI
	if v1 {
		if len(ccs) != 1 {
			td.Fatalf(t, "a v1 conf change makes exactly one change, got %d", len(ccs))
		}
		cc = pb.ConfChange{Type: ccs[0].Type, NodeID: ccs[0].NodeID}
	} else {
		v2 := pb.ConfChangeV2{Changes: ccs}
		transition := "auto"
		ieScanOpt(t, td, "transition", &transition)
		switch transition {
		case "auto":
			v2.Transition = pb.ConfChangeTransitionAuto
		case "implicit":
			v2.Transition = pb.ConfChangeTransitionJointImplicit
		case "explicit":
			v2.Transition = pb.ConfChangeTransitionJointExplicit
		default:
			td.Fatalf(t, "unknown transition %q", transition)
		}
		cc = v2
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		env.printf("%v\n", err)
	}
}

// handleStabilize: stabilize [IDs...]. Handles Readies and delivers messages
// among the given members (default all) until they are quiet.
func handleStabilize(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	env.stabilize(t, env.idsOrAll(t, td))
}

// handleProcessReady: process-ready ID... Handles one Ready of each member.
func handleProcessReady(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	ids := env.idsOrAll(t, td)
	for _, id := range ids {
		n := env.node(t, td, id)
		process := func() {
			if !n.rn.HasReady() {
				env.printf("<empty Ready>\n")
				return
			}
			env.processReady(t, n)
		}
		if len(ids) == 1 {
			process()
			continue
		}
		env.printf("> %d handling Ready\n", id)
		env.withIndent(process)
	}
}

// handleDeliverMsgs: deliver-msgs ID... [drop=true]. Delivers (or drops) the
// queued messages addressed to each member.
func handleDeliverMsgs(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	var drop bool
	ieScanOpt(t, td, "drop", &drop)
	ids := env.idsOrAll(t, td)
	for _, id := range ids {
		deliver := func() {
			if !env.deliverMsgs(id, drop) {
				env.printf("no messages\n")
			}
		}
		if len(ids) == 1 {
			deliver()
			continue
		}
		env.printf("> %d receiving messages\n", id)
		env.withIndent(deliver)
	}
}

// handleTickHeartbeat: tick-heartbeat ID. Ticks until a leader's heartbeat
// timer fires (HeartbeatTick ticks for anyone else).
func handleTickHeartbeat(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	r := n.rn.raft
	ticks := r.heartbeatTimeout
	if r.state == StateLeader {
		ticks = max(1, r.heartbeatTimeout-r.heartbeatElapsed)
	}
	for range ticks {
		n.rn.Tick()
	}
}

// handleTickElection: tick-election ID. Ticks until the member's election timer
// fires: a follower or candidate campaigns (its randomized timeout, which is
// deterministic per member id), a leader runs its check-quorum round.
func handleTickElection(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	r := n.rn.raft
	timeout := r.randomizedElectionTimeout
	if r.state == StateLeader {
		timeout = r.electionTimeout
	}
	for range max(1, timeout-r.electionElapsed) {
		n.rn.Tick()
	}
}

// handleTransferLeadership: transfer-leadership from=ID to=ID.
func handleTransferLeadership(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	var from, to uint64
	td.ScanArgs(t, "from", &from)
	td.ScanArgs(t, "to", &to)
	env.node(t, td, from).rn.TransferLeader(to)
}

// handleReadIndex: read-index ID CTX. Requests a linearizable read point; the
// answer shows up as a ReadState in a later Ready.
func handleReadIndex(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	if len(td.CmdArgs) != 2 {
		td.Fatalf(t, "usage: read-index ID CTX")
	}
	n.rn.ReadIndex([]byte(td.CmdArgs[1].Key))
}

// handleReportUnreachable: report-unreachable ID PEER. ID learns that a message
// to PEER was lost.
func handleReportUnreachable(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	env.node(t, td, ieID(t, td, 0)).rn.ReportUnreachable(ieID(t, td, 1))
}

// handleIsolate: isolate ID. Messages from and to the member are dropped until
// heal.
func handleIsolate(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	env.isolated[env.node(t, td, ieID(t, td, 0)).id] = true
}

// handleHeal: heal. Ends every isolation.
func handleHeal(env *interactionEnv, _ *testing.T, _ *datadriven.TestData) {
	clear(env.isolated)
}

// handleCompact: compact ID INDEX. The member snapshots its state machine at
// INDEX (at most its applied index) with its current configuration and drops
// the log up to there, as a real member does to bound its log.
func handleCompact(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	index := ieID(t, td, 1)
	if applied := n.rn.raft.raftLog.applied; index > applied {
		td.Fatalf(t, "compact %d past the applied index %d", index, applied)
	}
	cs := n.rn.raft.trk.ConfState()
	if _, err := n.storage.CreateSnapshot(index, &cs, n.snapshotData(index)); err != nil {
		td.Fatalf(t, "create snapshot: %v", err)
	}
	if err := n.storage.Compact(index); err != nil {
		td.Fatalf(t, "compact: %v", err)
	}
	env.printRaftLog(n)
}

// handleLogLevel: log-level debug|info|warn|error|none.
func handleLogLevel(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	if len(td.CmdArgs) != 1 {
		td.Fatalf(t, "usage: log-level debug|info|warn|error|none")
	}
	name := strings.ToUpper(td.CmdArgs[0].Key)
	for i, l := range logLevelNames {
		if l == name || (name == "WARNING" && l == "WARN") {
			env.level = logLevel(i)
			return
		}
	}
	td.Fatalf(t, "unknown log level %q", td.CmdArgs[0].Key)
}

// handleRaftLog: raft-log ID. Prints the member's persisted log.
func handleRaftLog(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	env.printRaftLog(env.node(t, td, ieID(t, td, 0)))
}

func (env *interactionEnv) printRaftLog(n *interactionNode) {
	fi, _ := n.storage.FirstIndex()
	li, _ := n.storage.LastIndex()
	if snap, _ := n.storage.Snapshot(); !IsEmptySnap(snap) {
		env.printf("snapshot %s\n", pb.DescribeSnapshot(snap))
	}
	if li < fi {
		env.printf("log is empty: first index=%d, last index=%d\n", fi, li)
		return
	}
	ents, err := n.storage.Entries(fi, li+1, noLimit)
	if err != nil {
		env.printf("read log: %v\n", err)
		return
	}
	for _, e := range ents {
		env.printf("%s\n", pb.DescribeEntry(e))
	}
}

// handleRaftState: raft-state. One line per member: role, membership, term,
// leader, commit and its view of the configuration.
func handleRaftState(env *interactionEnv, _ *testing.T, _ *datadriven.TestData) {
	for _, n := range env.nodes {
		r := n.rn.raft
		membership := "Non-Member"
		if _, ok := r.trk.Config.Voters.IDs()[n.id]; ok {
			membership = "Voter"
		} else if _, ok := r.trk.Config.Learners[n.id]; ok {
			membership = "Learner"
		}
		isolated := ""
		if env.isolated[n.id] {
			isolated = " (isolated)"
		}
		env.printf("%d: %s (%s) Term:%d Lead:%d Commit:%d %s%s\n",
			n.id, r.state, membership, r.Term, r.lead, r.raftLog.committed, r.trk.Config.String(), isolated)
	}
}

// handleStatus: status ID. The member's Status: role and term, then, on a
// leader, the progress of every member.
func handleStatus(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	st := n.rn.Status()
	env.printf("%s Term:%d Lead:%d Commit:%d Applied:%d %s", st.RaftState, st.Term, st.Lead, st.Commit, st.Applied, st.Config.String())
	if st.LeadTransferee != None {
		env.printf(" LeadTransferee:%d", st.LeadTransferee)
	}
	env.printf("\n")
	if st.Progress != nil {
		prs := make(tracker.ProgressMap, len(st.Progress))
		for id, pr := range st.Progress {
			prs[id] = &pr
		}
		env.printf("progress:\n%s", prs.String())
	}
}

// handleStateMachine: state-machine ID. The data the member applied, with the
// applied index.
func handleStateMachine(env *interactionEnv, t *testing.T, td *datadriven.TestData) {
	n := env.node(t, td, ieID(t, td, 0))
	var vals []string
	for _, d := range n.stateMachine {
		vals = append(vals, d.data)
	}
	env.printf("%d: applied=%d data=[%s]\n", n.id, n.rn.raft.raftLog.applied, strings.Join(vals, " "))
}

// idsOrAll returns the member ids given as positional arguments, or every
// member's id.
func (env *interactionEnv) idsOrAll(t *testing.T, td *datadriven.TestData) []uint64 {
	var ids []uint64
	for i, arg := range td.CmdArgs {
		if len(arg.Vals) == 0 {
			ids = append(ids, env.node(t, td, ieID(t, td, i)).id)
		}
	}
	if len(ids) == 0 {
		for _, n := range env.nodes {
			ids = append(ids, n.id)
		}
	}
	return ids
}

// ieID parses the i-th positional argument as a member id or index.
func ieID(t *testing.T, td *datadriven.TestData, i int) uint64 {
	if i >= len(td.CmdArgs) || len(td.CmdArgs[i].Vals) != 0 {
		td.Fatalf(t, "argument %d: want a number", i+1)
	}
	return ieUint(t, td, td.CmdArgs[i].Key)
}

func ieUint(t *testing.T, td *datadriven.TestData, s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		td.Fatalf(t, "%q: want a number: %v", s, err)
	}
	return v
}

// ieIDList parses key=(1 2 3) or key=(1,2,3); nil when key is absent.
func ieIDList(t *testing.T, td *datadriven.TestData, key string) []uint64 {
	arg, ok := td.Arg(key)
	if !ok {
		return nil
	}
	var ids []uint64
	for _, v := range arg.Vals {
		for _, f := range strings.Fields(v) {
			ids = append(ids, ieUint(t, td, f))
		}
	}
	return ids
}

// ieScanOpt scans the optional key=value into dest, reporting whether it was
// given.
func ieScanOpt(t *testing.T, td *datadriven.TestData, key string, dest any) bool {
	if !td.HasArg(key) {
		return false
	}
	td.ScanArgs(t, key, dest)
	return true
}
