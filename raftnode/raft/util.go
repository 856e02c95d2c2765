package raft

import (
	"math"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// None is the id of no member: no leader, no vote.
const None uint64 = 0

// noLimit disables a size limit.
const noLimit = math.MaxUint64

// entsSize returns the encoded size of ents.
func entsSize(ents []pb.Entry) uint64 {
	var size uint64
	for i := range ents {
		size += uint64(ents[i].Size())
	}
	return size
}

// limitSize returns the longest prefix of ents whose encoded size is at most
// maxSize, but always at least the first entry, so progress is never blocked by one
// large entry.
func limitSize(ents []pb.Entry, maxSize uint64) []pb.Entry {
	if len(ents) <= 1 || maxSize == noLimit {
		return ents
	}
	size := uint64(ents[0].Size())
	for limit := 1; limit < len(ents); limit++ {
		size += uint64(ents[limit].Size())
		if size > maxSize {
			// Capped, so that appending to the result cannot overwrite the entries
			// cut off, which belong to the log the slice was taken from.
			return ents[:limit:limit]
		}
	}
	return ents
}

// payloadSize is the size that counts against the uncommitted-bytes bound: the
// data only, so empty entries (a new leader's, a leave-joint) are always accepted.
func payloadSize(e *pb.Entry) uint64 { return uint64(len(e.Data)) }

// payloadsSize sums payloadSize over ents.
func payloadsSize(ents []pb.Entry) uint64 {
	var s uint64
	for i := range ents {
		s += payloadSize(&ents[i])
	}
	return s
}

// isLocalMsg reports whether t never leaves a member.
func isLocalMsg(t pb.MessageType) bool {
	switch t {
	case pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum:
		return true
	}
	return false
}

// isResponseMsg reports whether t answers a request.
func isResponseMsg(t pb.MessageType) bool {
	switch t {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgHeartbeatResp, pb.MsgUnreachable, pb.MsgPreVoteResp:
		return true
	}
	return false
}

// voteRespMsgType returns the response type of a (pre-)vote request.
func voteRespMsgType(t pb.MessageType) pb.MessageType {
	switch t {
	case pb.MsgVote:
		return pb.MsgVoteResp
	case pb.MsgPreVote:
		return pb.MsgPreVoteResp
	default:
		panic("not a vote message: " + t.String())
	}
}
