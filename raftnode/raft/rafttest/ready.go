package rafttest

import (
	"fmt"
	"strings"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// processReady handles one Ready of m the way a correct caller does (see the
// raft package's Ready loop): persist, send (queue), apply, Advance. It
// prints the Ready first, then whatever applying it and advancing logs.
func (env *InteractionEnv) processReady(m *member) error {
	rd := m.rn.Ready()
	env.printf("%s", describeReady(rd))

	if !raft.IsEmptyHardState(rd.HardState) {
		if err := m.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("member %d: persist hard state: %w", m.id, err)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := m.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("member %d: persist snapshot: %w", m.id, err)
		}
	}
	if err := m.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("member %d: persist entries: %w", m.id, err)
	}
	// LeaderMessages may leave before the rest is persisted; Messages only
	// after. The queue keeps them in that order.
	env.send(rd.LeaderMessages)
	env.send(rd.Messages)

	if !raft.IsEmptySnap(rd.Snapshot) {
		m.restoreStateMachine(rd.Snapshot)
		// The core installed the snapshot's configuration itself.
		env.noteConfState(m, rd.Snapshot.Metadata.ConfState)
	}
	for _, e := range rd.CommittedEntries {
		if err := env.apply(m, e); err != nil {
			return err
		}
	}
	m.rn.Advance(rd)
	return nil
}

// apply applies one committed entry to m's state machine, or its
// configuration change to m's RawNode.
func (env *InteractionEnv) apply(m *member, e pb.Entry) error {
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) > 0 {
			m.stateMachine = append(m.stateMachine, appliedDatum{index: e.Index, data: string(e.Data)})
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("member %d: entry %d/%d: decode ConfChange: %w", m.id, e.Term, e.Index, err)
		}
		env.noteConfState(m, m.rn.ApplyConfChange(cc))
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("member %d: entry %d/%d: decode ConfChangeV2: %w", m.id, e.Term, e.Index, err)
		}
		env.noteConfState(m, m.rn.ApplyConfChange(cc))
	}
	return nil
}

// noteConfState prints cs if it differs from the configuration m had.
func (env *InteractionEnv) noteConfState(m *member, cs pb.ConfState) {
	if pb.DescribeConfState(cs) == pb.DescribeConfState(m.confState) {
		return
	}
	m.confState = cs
	env.printf("ConfState %s\n", pb.DescribeConfState(cs))
}

// restoreStateMachine replaces m's state machine with the snapshot's data:
// values separated by commas, each applied at the snapshot's index.
func (m *member) restoreStateMachine(s pb.Snapshot) {
	m.stateMachine = nil
	if len(s.Data) == 0 {
		return
	}
	for _, d := range strings.Split(string(s.Data), ",") {
		m.stateMachine = append(m.stateMachine, appliedDatum{index: s.Metadata.Index, data: d})
	}
}

// snapshotData returns the state machine's content as of index, in the
// format restoreStateMachine reads.
func (m *member) snapshotData(index uint64) []byte {
	var vals []string
	for _, d := range m.stateMachine {
		if d.index <= index {
			vals = append(vals, d.data)
		}
	}
	return []byte(strings.Join(vals, ","))
}

// describeReady lists what rd asks of the caller, section by section,
// leaving out empty sections. Messages, entries and states use the stable
// one-line descriptions of package raftpb (DescribeMessage and friends), as in
//
//	1->2 MsgApp Term:1 Log:1/3 Commit:3 Entries:[1/4 EntryNormal "x"]
func describeReady(rd raft.Ready) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Ready MustSync=%t:\n", rd.MustSync)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "Lead:%d State:%s\n", rd.SoftState.Lead, rd.SoftState.RaftState)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		fmt.Fprintf(&b, "HardState %s\n", pb.DescribeHardState(rd.HardState))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		fmt.Fprintf(&b, "Snapshot %s\n", pb.DescribeSnapshot(rd.Snapshot))
	}
	section := func(name string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", name)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	var ents, committed, early, msgs, reads []string
	for _, e := range rd.Entries {
		ents = append(ents, pb.DescribeEntry(e))
	}
	for _, e := range rd.CommittedEntries {
		committed = append(committed, pb.DescribeEntry(e))
	}
	for _, m := range rd.LeaderMessages {
		early = append(early, pb.DescribeMessage(m))
	}
	for _, m := range rd.Messages {
		msgs = append(msgs, pb.DescribeMessage(m))
	}
	for _, rs := range rd.ReadStates {
		reads = append(reads, fmt.Sprintf("Index:%d RequestCtx:%q", rs.Index, rs.RequestCtx))
	}
	section("Entries", ents)
	section("CommittedEntries", committed)
	section("LeaderMessages", early)
	section("Messages", msgs)
	section("ReadStates", reads)
	return b.String()
}
