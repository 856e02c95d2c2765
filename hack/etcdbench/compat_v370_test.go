//go:build etcd_v370

package etcdbench

// etcd raft v3.7.0: protobuf-go generated structs, handled through pointers and
// with pointer fields. Build with -modfile=go.v370.mod -tags etcd_v370.

import pb "go.etcd.io/raft/v3/raftpb"

// message is the element type of Ready.Messages and the argument of Step.
type message = *pb.Message

// entry is the element type of Ready.Entries and Ready.CommittedEntries.
type entry = *pb.Entry

const (
	msgApp  = pb.MsgApp
	msgVote = pb.MsgVote
)

func bootstrapSnapshot(voters []uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		ConfState: &pb.ConfState{Voters: voters},
		Index:     new(uint64(1)),
		Term:      new(uint64(1)),
	}}
}

func msgType(m message) pb.MessageType { return m.GetType() }
func msgTo(m message) uint64           { return m.GetTo() }
func entryIndex(e entry) uint64        { return e.GetIndex() }

// voteGrant is the MsgVoteResp granting the vote that m asked for.
func voteGrant(m message) message {
	return &pb.Message{
		Type: pb.MsgVoteResp.Enum(),
		To:   new(m.GetFrom()),
		From: new(m.GetTo()),
		Term: new(m.GetTerm()),
	}
}

// appAck is the MsgAppResp acknowledging every entry of the MsgApp m.
func appAck(m message) message {
	return &pb.Message{
		Type:  pb.MsgAppResp.Enum(),
		To:    new(m.GetFrom()),
		From:  new(m.GetTo()),
		Term:  new(m.GetTerm()),
		Index: new(m.GetIndex() + uint64(len(m.GetEntries()))),
	}
}
