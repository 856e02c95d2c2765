package raftpb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The Describe functions render values on one line for scenario test output, logs
// and debugging tools. Their output is part of checked-in test expectations, so it
// is deterministic (no map order, no pointers, ID sets sorted) and stable: change it
// only together with those expectations.

// DescribeEntry renders e as "term/index type payload": normal entries show their
// data quoted ("1/5 EntryNormal \"data\""), conf change entries show the decoded
// change in ConfChangesToString notation ("1/6 EntryConfChangeV2 v2 v3"), followed
// by the transition when it is not the automatic one.
func DescribeEntry(e Entry) string {
	var b strings.Builder
	writeEntry(&b, e)
	return b.String()
}

func writeEntry(b *strings.Builder, e Entry) {
	fmt.Fprintf(b, "%d/%d %s", e.Term, e.Index, e.Type)
	var payload string
	switch e.Type {
	case EntryConfChange:
		var cc ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			payload = fmt.Sprintf("<undecodable: %v>", err)
		} else {
			payload = ConfChangesToString(cc.AsV2().Changes)
		}
	case EntryConfChangeV2:
		var cc ConfChangeV2
		if err := cc.Unmarshal(e.Data); err != nil {
			payload = fmt.Sprintf("<undecodable: %v>", err)
		} else {
			payload = ConfChangesToString(cc.Changes)
			if cc.Transition != ConfChangeTransitionAuto {
				payload = strings.TrimSpace(payload + " Transition:" + transitionName(cc.Transition))
			}
		}
	default:
		payload = strconv.Quote(string(e.Data))
	}
	if payload != "" {
		// An empty ConfChangeV2 (leave joint) has nothing to show; no trailing space.
		b.WriteByte(' ')
		b.WriteString(payload)
	}
}

func transitionName(t ConfChangeTransition) string {
	switch t {
	case ConfChangeTransitionAuto:
		return "Auto"
	case ConfChangeTransitionJointImplicit:
		return "JointImplicit"
	case ConfChangeTransitionJointExplicit:
		return "JointExplicit"
	case ConfChangeTransitionForce:
		return "Force"
	default:
		return "ConfChangeTransition(" + strconv.Itoa(int(t)) + ")"
	}
}

// DescribeMessage renders m as "from->to type Term:t Log:logTerm/index" followed by
// the fields that are set, in this order: Commit, Reject, RejectHint, Priority,
// Context (quoted), Entries ([e1, e2] as DescribeEntry) and Snapshot ({...} as
// DescribeSnapshot). For example
//
//	1->2 MsgApp Term:1 Log:1/4 Commit:4 Entries:[1/5 EntryNormal "x"]
func DescribeMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Commit != 0 {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	if m.Reject {
		b.WriteString(" Reject:true")
	}
	if m.RejectHint != 0 {
		fmt.Fprintf(&b, " RejectHint:%d", m.RejectHint)
	}
	if m.Priority != 0 {
		fmt.Fprintf(&b, " Priority:%d", m.Priority)
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Context:%q", m.Context)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			writeEntry(&b, e)
		}
		b.WriteByte(']')
	}
	if m.Snapshot != nil {
		b.WriteString(" Snapshot:{")
		writeSnapshot(&b, *m.Snapshot)
		b.WriteByte('}')
	}
	return b.String()
}

// DescribeHardState renders h as "Term:t Vote:v Commit:c".
func DescribeHardState(h HardState) string {
	return fmt.Sprintf("Term:%d Vote:%d Commit:%d", h.Term, h.Vote, h.Commit)
}

// DescribeConfState renders cs as
//
//	Voters:[1 2 3] VotersOutgoing:[1] Learners:[4] LearnersNext:[] AutoLeave:false
//
// Every list is shown, empty or not, so lines line up in test output, and each is
// sorted: a configuration is a set, and its order in memory is an accident of how it
// was built.
func DescribeConfState(cs ConfState) string {
	var b strings.Builder
	writeConfState(&b, cs)
	return b.String()
}

func writeConfState(b *strings.Builder, cs ConfState) {
	writeIDs(b, "Voters", cs.Voters)
	b.WriteByte(' ')
	writeIDs(b, "VotersOutgoing", cs.VotersOutgoing)
	b.WriteByte(' ')
	writeIDs(b, "Learners", cs.Learners)
	b.WriteByte(' ')
	writeIDs(b, "LearnersNext", cs.LearnersNext)
	fmt.Fprintf(b, " AutoLeave:%t", cs.AutoLeave)
}

func writeIDs(b *strings.Builder, name string, ids []uint64) {
	b.WriteString(name)
	b.WriteString(":[")
	for i, id := range slices.Sorted(slices.Values(ids)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteByte(']')
}

// DescribeSnapshot renders the metadata of s as
//
//	Index:10 Term:2 ConfState:{Voters:[1 2 3] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false}
//
// followed by " Data:<n>B" when s carries data; the data itself is not shown, as
// snapshots are usually large and opaque.
func DescribeSnapshot(s Snapshot) string {
	var b strings.Builder
	writeSnapshot(&b, s)
	return b.String()
}

func writeSnapshot(b *strings.Builder, s Snapshot) {
	fmt.Fprintf(b, "Index:%d Term:%d ConfState:{", s.Metadata.Index, s.Metadata.Term)
	writeConfState(b, s.Metadata.ConfState)
	b.WriteByte('}')
	if len(s.Data) > 0 {
		fmt.Fprintf(b, " Data:%dB", len(s.Data))
	}
}
