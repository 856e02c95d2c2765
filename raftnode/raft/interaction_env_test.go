package raft

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// This file holds the environment the scenario scripts (testdata/*.txt) run in:
// RawNodes over MemoryStorage, a queue of messages in flight that the scripts
// deliver explicitly, and one output buffer that receives both what the commands
// print and what the members log, in the order it happens. Nothing here reads a
// clock or a random source, so a script's output is the same on every run.

// interactionNode is one member of the scenario environment.
type interactionNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	// stateMachine is the applied data, in order, each with the index it was
	// applied at (a restored snapshot's data carries the snapshot's index).
	stateMachine []appliedDatum
	// confState is the configuration this member last installed through a
	// snapshot or ApplyConfChange, to print it only when it changes.
	confState pb.ConfState
}

// queuedMsg is a message in flight.
type queuedMsg struct {
	pb.Message
	// lost is set when the message was sent across a partition: it will be
	// dropped even if the partition heals before it is delivered.
	lost bool
}

// appliedDatum is one value of a member's state machine.
type appliedDatum struct {
	index uint64
	data  string
}

// interactionEnv is the world a scenario script runs in.
type interactionEnv struct {
	// nodes are the members; member i+1 is nodes[i].
	nodes []*interactionNode
	// messages are the messages sent and not yet delivered, in send order.
	messages []queuedMsg
	// isolated members neither receive nor send: a message from or to one is
	// lost, whether it was sent during the isolation or is delivered during it.
	isolated map[uint64]bool
	// out receives the output of the command being run, log lines included.
	out *strings.Builder
	// level is the lowest log level written to out.
	level logLevel
}

func newInteractionEnv() *interactionEnv {
	return &interactionEnv{
		isolated: make(map[uint64]bool),
		out:      &strings.Builder{},
		level:    levelInfo,
	}
}

// handle runs one command of a script and returns its output.
func (env *interactionEnv) handle(t *testing.T, td *datadriven.TestData) string {
	env.out.Reset()
	h, ok := interactionHandlers[td.Cmd]
	if !ok {
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	h(env, t, td)
	if env.out.Len() == 0 {
		return "ok\n"
	}
	return env.out.String()
}

// printf writes to the output of the command being run.
func (env *interactionEnv) printf(format string, args ...any) {
	fmt.Fprintf(env.out, format, args...)
}

// withIndent runs f and indents what it writes by two spaces, so the Readies and
// deliveries of stabilize nest under their headers.
func (env *interactionEnv) withIndent(f func()) {
	orig := env.out
	env.out = &strings.Builder{}
	defer func() {
		inner := env.out.String()
		env.out = orig
		for _, line := range strings.SplitAfter(inner, "\n") {
			if line != "" {
				env.out.WriteString("  " + line)
			}
		}
	}()
	f()
}

// node returns member id, failing the test if there is none.
func (env *interactionEnv) node(t *testing.T, td *datadriven.TestData, id uint64) *interactionNode {
	if id == 0 || id > uint64(len(env.nodes)) {
		td.Fatalf(t, "no member %d (members are 1..%d)", id, len(env.nodes))
	}
	return env.nodes[id-1]
}

// processReady handles one Ready of n the way a correct caller does: persist,
// send (queue), apply, Advance. It prints the Ready first, then whatever applying
// it and advancing logs.
func (env *interactionEnv) processReady(t *testing.T, n *interactionNode) {
	rd := n.rn.Ready()
	env.printf("%s", ieDescribeReady(rd))

	if !IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			t.Fatalf("member %d: persist hard state: %v", n.id, err)
		}
	}
	if !IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			t.Fatalf("member %d: persist snapshot: %v", n.id, err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		t.Fatalf("member %d: persist entries: %v", n.id, err)
	}
	// LeaderMessages may leave before the rest is persisted; Messages only after.
	// The queue keeps them in that order.
	env.send(rd.LeaderMessages)
	env.send(rd.Messages)

	if !IsEmptySnap(rd.Snapshot) {
		n.restoreStateMachine(rd.Snapshot)
		// The core installed the snapshot's configuration itself.
		env.noteConfState(n, rd.Snapshot.Metadata.ConfState)
	}
	for _, e := range rd.CommittedEntries {
		env.apply(t, n, e)
	}
	n.rn.Advance(rd)
}

// apply applies one committed entry to n's state machine, or its configuration
// change to n's RawNode.
func (env *interactionEnv) apply(t *testing.T, n *interactionNode, e pb.Entry) {
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) > 0 {
			n.stateMachine = append(n.stateMachine, appliedDatum{index: e.Index, data: string(e.Data)})
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			t.Fatalf("member %d: entry %d/%d: decode ConfChange: %v", n.id, e.Term, e.Index, err)
		}
		env.noteConfState(n, n.rn.ApplyConfChange(cc))
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			t.Fatalf("member %d: entry %d/%d: decode ConfChangeV2: %v", n.id, e.Term, e.Index, err)
		}
		env.noteConfState(n, n.rn.ApplyConfChange(cc))
	}
}

// noteConfState prints cs if it differs from the configuration n had.
func (env *interactionEnv) noteConfState(n *interactionNode, cs pb.ConfState) {
	if pb.DescribeConfState(cs) == pb.DescribeConfState(n.confState) {
		return
	}
	n.confState = cs
	env.printf("ConfState %s\n", pb.DescribeConfState(cs))
}

// restoreStateMachine replaces n's state machine with the snapshot's data.
func (n *interactionNode) restoreStateMachine(s pb.Snapshot) {
	n.stateMachine = nil
	if len(s.Data) == 0 {
		return
	}
	for _, d := range strings.Split(string(s.Data), ",") {
		n.stateMachine = append(n.stateMachine, appliedDatum{index: s.Metadata.Index, data: d})
	}
}

// snapshotData returns the state machine's content as of index, in the format
// restoreStateMachine reads.
func (n *interactionNode) snapshotData(index uint64) []byte {
	var vals []string
	for _, d := range n.stateMachine {
		if d.index <= index {
			vals = append(vals, d.data)
		}
	}
	return []byte(strings.Join(vals, ","))
}

// send queues msgs for delivery, marking those sent across a partition as lost.
func (env *interactionEnv) send(msgs []pb.Message) {
	for _, m := range msgs {
		env.messages = append(env.messages, queuedMsg{Message: m, lost: env.isolated[m.From] || env.isolated[m.To]})
	}
}

// deliverMsgs delivers (or, with drop, discards) the queued messages addressed
// to id, in the order they were sent, and reports whether there were any.
// Messages from or to an isolated member are dropped.
func (env *interactionEnv) deliverMsgs(id uint64, drop bool) bool {
	var mine, rest []queuedMsg
	for _, m := range env.messages {
		if m.To == id {
			mine = append(mine, m)
		} else {
			rest = append(rest, m)
		}
	}
	env.messages = rest
	for _, m := range mine {
		switch {
		case drop:
			env.printf("dropped: %s\n", pb.DescribeMessage(m.Message))
			continue
		case m.lost || env.isolated[m.To] || env.isolated[m.From]:
			env.printf("dropped (partitioned): %s\n", pb.DescribeMessage(m.Message))
			continue
		case m.To == 0 || m.To > uint64(len(env.nodes)):
			env.printf("dropped (no such member): %s\n", pb.DescribeMessage(m.Message))
			continue
		}
		env.printf("%s\n", pb.DescribeMessage(m.Message))
		if err := env.nodes[m.To-1].rn.Step(m.Message); err != nil {
			env.printf("%v\n", err)
		}
	}
	return len(mine) > 0
}

// stabilizeRounds bounds stabilize, so that a livelock fails the test instead
// of hanging it.
const stabilizeRounds = 1000

// stabilize handles Readies and delivers messages among ids until none of them
// has anything left to do. Each round handles every member's Ready in id order,
// then delivers to every member in id order.
func (env *interactionEnv) stabilize(t *testing.T, ids []uint64) {
	for round := 0; ; round++ {
		if round == stabilizeRounds {
			t.Fatalf("members %v still busy after %d rounds", ids, stabilizeRounds)
		}
		done := true
		for _, id := range ids {
			n := env.nodes[id-1]
			if n.rn.HasReady() {
				done = false
				env.printf("> %d handling Ready\n", id)
				env.withIndent(func() { env.processReady(t, n) })
			}
		}
		for _, id := range ids {
			if !env.hasMsgsFor(id) {
				continue
			}
			done = false
			env.printf("> %d receiving messages\n", id)
			env.withIndent(func() { env.deliverMsgs(id, false) })
		}
		if done {
			return
		}
	}
}

func (env *interactionEnv) hasMsgsFor(id uint64) bool {
	for _, m := range env.messages {
		if m.To == id {
			return true
		}
	}
	return false
}

// logLevel orders the levels of interactionLogger.
type logLevel int

const (
	levelDebug logLevel = iota
	levelInfo
	levelWarn
	levelError
	levelNone
)

var logLevelNames = [...]string{"DEBUG", "INFO", "WARN", "ERROR", "NONE"}

// interactionLogger writes the members' logs into the output of the command
// being run, so a script shows why a member did what it did.
type interactionLogger struct{ env *interactionEnv }

func (l interactionLogger) logf(level logLevel, format string, v ...any) {
	if level < l.env.level {
		return
	}
	l.env.printf("%s %s\n", logLevelNames[level], fmt.Sprintf(format, v...))
}

// Debugf implements Logger.
func (l interactionLogger) Debugf(format string, v ...any) { l.logf(levelDebug, format, v...) }

// Infof implements Logger.
func (l interactionLogger) Infof(format string, v ...any) { l.logf(levelInfo, format, v...) }

// Warningf implements Logger.
func (l interactionLogger) Warningf(format string, v ...any) { l.logf(levelWarn, format, v...) }

// Errorf implements Logger.
func (l interactionLogger) Errorf(format string, v ...any) { l.logf(levelError, format, v...) }

// Panicf implements Logger.
func (l interactionLogger) Panicf(format string, v ...any) {
	l.logf(levelError, format, v...)
	panic(fmt.Sprintf(format, v...))
}
