package raft

import (
	"fmt"
	"strings"

	pb "github.com/raftkube/raftkube/raftnode/raftpb"
)

// The stable, one-line descriptions the scenario scripts print. They show what
// a reader of the protocol needs (types, terms, indexes, entries, configurations)
// and nothing that varies between runs.

// ieDescribeMessage describes m as in
//
//	1->2 MsgApp Term:1 Log:1/3 Commit:3 Entries:[1/4 EntryNormal "x"]
func ieDescribeMessage(m pb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Reject {
		fmt.Fprintf(&b, " Rejected (Hint: %d)", m.RejectHint)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Context:%q", m.Context)
	}
	if m.Priority != 0 {
		fmt.Fprintf(&b, " Priority:%d", m.Priority)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ieDescribeEntry(e))
		}
		b.WriteString("]")
	}
	if m.Snapshot != nil && !IsEmptySnap(*m.Snapshot) {
		b.WriteString(" Snapshot: " + ieDescribeSnapshot(*m.Snapshot))
	}
	return b.String()
}

// ieDescribeEntry describes e as term/index, type and payload; a configuration
// change is shown in the compact notation of pb.ConfChangesFromString, with its
// transition when it is not the automatic one.
func ieDescribeEntry(e pb.Entry) string {
	prefix := fmt.Sprintf("%d/%d %s", e.Term, e.Index, e.Type)
	switch e.Type {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Sprintf("%s <%v>", prefix, err)
		}
		return prefix + " " + pb.ConfChangesToString(cc.AsV2().Changes)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Sprintf("%s <%v>", prefix, err)
		}
		s := prefix
		if len(cc.Changes) > 0 {
			s += " " + pb.ConfChangesToString(cc.Changes)
		}
		switch cc.Transition {
		case pb.ConfChangeTransitionJointImplicit:
			s += " (implicit)"
		case pb.ConfChangeTransitionJointExplicit:
			s += " (explicit)"
		}
		return s
	default:
		return fmt.Sprintf("%s %q", prefix, e.Data)
	}
}

// ieDescribeConfState describes cs with every field, so changes stand out.
func ieDescribeConfState(cs pb.ConfState) string {
	return fmt.Sprintf("Voters:%v VotersOutgoing:%v Learners:%v LearnersNext:%v AutoLeave:%t",
		ieIDs(cs.Voters), ieIDs(cs.VotersOutgoing), ieIDs(cs.Learners), ieIDs(cs.LearnersNext), cs.AutoLeave)
}

// ieIDs prints nil and empty id lists alike, as [].
func ieIDs(ids []uint64) string {
	if len(ids) == 0 {
		return "[]"
	}
	return fmt.Sprint(ids)
}

func ieDescribeSnapshot(s pb.Snapshot) string {
	return fmt.Sprintf("Index:%d Term:%d ConfState:%s", s.Metadata.Index, s.Metadata.Term, ieDescribeConfState(s.Metadata.ConfState))
}

func ieDescribeHardState(hs pb.HardState) string {
	return fmt.Sprintf("Term:%d Vote:%d Commit:%d", hs.Term, hs.Vote, hs.Commit)
}

// ieDescribeReady lists what rd asks of the caller, section by section, leaving
// out empty sections.
func ieDescribeReady(rd Ready) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Ready MustSync=%t:\n", rd.MustSync)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "Lead:%d State:%s\n", rd.SoftState.Lead, rd.SoftState.RaftState)
	}
	if !IsEmptyHardState(rd.HardState) {
		fmt.Fprintf(&b, "HardState %s\n", ieDescribeHardState(rd.HardState))
	}
	if !IsEmptySnap(rd.Snapshot) {
		fmt.Fprintf(&b, "Snapshot %s\n", ieDescribeSnapshot(rd.Snapshot))
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
		ents = append(ents, ieDescribeEntry(e))
	}
	for _, e := range rd.CommittedEntries {
		committed = append(committed, ieDescribeEntry(e))
	}
	for _, m := range rd.LeaderMessages {
		early = append(early, ieDescribeMessage(m))
	}
	for _, m := range rd.Messages {
		msgs = append(msgs, ieDescribeMessage(m))
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
