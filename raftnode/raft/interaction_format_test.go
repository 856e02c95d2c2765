package raft

import (
	"fmt"
	"strings"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ieDescribeReady lists what rd asks of the caller, section by section, leaving
// out empty sections. Messages, entries and states use the stable one-line
// descriptions of package raftpb (DescribeMessage and friends), as in
//
//	1->2 MsgApp Term:1 Log:1/3 Commit:3 Entries:[1/4 EntryNormal "x"]
func ieDescribeReady(rd Ready) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Ready MustSync=%t:\n", rd.MustSync)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "Lead:%d State:%s\n", rd.SoftState.Lead, rd.SoftState.RaftState)
	}
	if !IsEmptyHardState(rd.HardState) {
		fmt.Fprintf(&b, "HardState %s\n", pb.DescribeHardState(rd.HardState))
	}
	if !IsEmptySnap(rd.Snapshot) {
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
