//go:build !etcd_v370

package etcdbench

// etcd raft v3.6.0: gogoproto value types (pb.Message, pb.Entry, ...).

import pb "go.etcd.io/raft/v3/raftpb"

// message is the element type of Ready.Messages and the argument of Step.
type message = pb.Message

// entry is the element type of Ready.Entries and Ready.CommittedEntries.
type entry = pb.Entry

const (
	msgApp  = pb.MsgApp
	msgVote = pb.MsgVote
)

func bootstrapSnapshot(voters []uint64) pb.Snapshot {
	return pb.Snapshot{Metadata: pb.SnapshotMetadata{
		ConfState: pb.ConfState{Voters: voters},
		Index:     1,
		Term:      1,
	}}
}

func msgType(m message) pb.MessageType { return m.Type }
func msgTo(m message) uint64           { return m.To }
func entryIndex(e entry) uint64        { return e.Index }

// voteGrant is the MsgVoteResp granting the vote that m asked for.
func voteGrant(m message) message {
	return pb.Message{Type: pb.MsgVoteResp, To: m.From, From: m.To, Term: m.Term}
}

// appAck is the MsgAppResp acknowledging every entry of the MsgApp m.
func appAck(m message) message {
	return pb.Message{
		Type:  pb.MsgAppResp,
		To:    m.From,
		From:  m.To,
		Term:  m.Term,
		Index: m.Index + uint64(len(m.Entries)),
	}
}
