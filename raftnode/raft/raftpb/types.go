// Package raftpb holds the values the consensus core exchanges with its caller and
// with other members: log entries, messages, hard state, configurations, conf changes
// and snapshots.
//
// The wire format is defined by proto/raftkube/raftpb/v1/raft.proto. The core works
// on the plain Go values below rather than on generated protobuf structs: a proposal then
// costs no codec work and no per-message allocations until a caller actually puts it
// on a wire or a disk. codec.go marshals these values to exactly the bytes the
// generated code (package wirepb) produces, and codec_test.go proves the agreement in
// both directions. Decoding is zero-copy: Data and Context of a decoded value alias
// the input buffer, which must not be modified while the value is in use.
package raftpb

// EntryType says how the data of an Entry is to be read.
type EntryType int32

const (
	// EntryNormal carries application data (or nothing: a new leader's empty entry).
	EntryNormal EntryType = 0
	// EntryConfChange carries a marshaled ConfChange.
	EntryConfChange EntryType = 1
	// EntryConfChangeV2 carries a marshaled ConfChangeV2.
	EntryConfChangeV2 EntryType = 2
)

// Entry is one record of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// MessageType names what a Message asks or answers.
type MessageType int32

// The message types. Local messages (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus,
// MsgCheckQuorum) never leave a member; the others travel between members.
const (
	MsgHup            MessageType = 0
	MsgBeat           MessageType = 1
	MsgProp           MessageType = 2
	MsgApp            MessageType = 3
	MsgAppResp        MessageType = 4
	MsgVote           MessageType = 5
	MsgVoteResp       MessageType = 6
	MsgSnap           MessageType = 7
	MsgHeartbeat      MessageType = 8
	MsgHeartbeatResp  MessageType = 9
	MsgUnreachable    MessageType = 10
	MsgSnapStatus     MessageType = 11
	MsgCheckQuorum    MessageType = 12
	MsgTransferLeader MessageType = 13
	MsgTimeoutNow     MessageType = 14
	MsgReadIndex      MessageType = 15
	MsgReadIndexResp  MessageType = 16
	MsgPreVote        MessageType = 17
	MsgPreVoteResp    MessageType = 18
)

var messageTypeNames = [...]string{
	MsgHup:            "MsgHup",
	MsgBeat:           "MsgBeat",
	MsgProp:           "MsgProp",
	MsgApp:            "MsgApp",
	MsgAppResp:        "MsgAppResp",
	MsgVote:           "MsgVote",
	MsgVoteResp:       "MsgVoteResp",
	MsgSnap:           "MsgSnap",
	MsgHeartbeat:      "MsgHeartbeat",
	MsgHeartbeatResp:  "MsgHeartbeatResp",
	MsgUnreachable:    "MsgUnreachable",
	MsgSnapStatus:     "MsgSnapStatus",
	MsgCheckQuorum:    "MsgCheckQuorum",
	MsgTransferLeader: "MsgTransferLeader",
	MsgTimeoutNow:     "MsgTimeoutNow",
	MsgReadIndex:      "MsgReadIndex",
	MsgReadIndexResp:  "MsgReadIndexResp",
	MsgPreVote:        "MsgPreVote",
	MsgPreVoteResp:    "MsgPreVoteResp",
}

func (t MessageType) String() string {
	if t >= 0 && int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return "MessageType(" + itoa(int64(t)) + ")"
}

var entryTypeNames = [...]string{
	EntryNormal:       "EntryNormal",
	EntryConfChange:   "EntryConfChange",
	EntryConfChangeV2: "EntryConfChangeV2",
}

func (t EntryType) String() string {
	if t >= 0 && int(t) < len(entryTypeNames) {
		return entryTypeNames[t]
	}
	return "EntryType(" + itoa(int64(t)) + ")"
}

// Message is the unit of communication between members, and between the caller and
// the core for local events.
type Message struct {
	Type MessageType
	To   uint64
	From uint64
	Term uint64
	// LogTerm is the term of the entry at Index: for MsgApp the entry preceding
	// Entries, for votes the candidate's last entry, for a rejected MsgAppResp the
	// term of the follower's entry at RejectHint.
	LogTerm uint64
	Index   uint64
	Entries []Entry
	Commit  uint64
	// Snapshot is set on MsgSnap only.
	Snapshot *Snapshot
	Reject   bool
	// RejectHint is a rejecting follower's guess of the highest index where its log
	// may still match the leader's.
	RejectHint uint64
	// Context carries opaque bytes: the ReadIndex request id, or the campaign kind on
	// votes caused by a leadership transfer.
	Context []byte
	// Priority is the sender's election priority on vote requests: between
	// candidates with equally up-to-date logs, a voter grants its vote only to one
	// whose priority is not below its own.
	Priority int64
}

// HardState is what a member must persist before it sends messages or applies.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is a membership configuration as recorded in snapshots and returned by
// ApplyConfChange.
type ConfState struct {
	// Voters are the voters of the incoming (or only) configuration.
	Voters []uint64
	// Learners receive the log but do not vote.
	Learners []uint64
	// VotersOutgoing are the voters of the outgoing configuration while joint.
	VotersOutgoing []uint64
	// LearnersNext are members that become learners when the joint configuration is
	// left: they are voters in the outgoing configuration and cannot be learners at
	// the same time.
	LearnersNext []uint64
	// AutoLeave says the core leaves the joint configuration by itself.
	AutoLeave bool
}

// ConfChangeType is the kind of a single membership change.
type ConfChangeType int32

// The kinds of single membership changes.
const (
	ConfChangeAddNode        ConfChangeType = 0
	ConfChangeRemoveNode     ConfChangeType = 1
	ConfChangeUpdateNode     ConfChangeType = 2
	ConfChangeAddLearnerNode ConfChangeType = 3
)

var confChangeTypeNames = [...]string{
	ConfChangeAddNode:        "ConfChangeAddNode",
	ConfChangeRemoveNode:     "ConfChangeRemoveNode",
	ConfChangeUpdateNode:     "ConfChangeUpdateNode",
	ConfChangeAddLearnerNode: "ConfChangeAddLearnerNode",
}

func (t ConfChangeType) String() string {
	if t >= 0 && int(t) < len(confChangeTypeNames) {
		return confChangeTypeNames[t]
	}
	return "ConfChangeType(" + itoa(int64(t)) + ")"
}

// ConfChange is the original one-member change. It is kept for callers that only
// ever change one member at a time; ConfChangeV2 can express everything it can.
type ConfChange struct {
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
	// ID is unused by the core; callers may use it to match proposals.
	ID uint64
}

// ConfChangeSingle is one member change inside a ConfChangeV2.
type ConfChangeSingle struct {
	Type   ConfChangeType
	NodeID uint64
}

// ConfChangeTransition says how a ConfChangeV2 moves through joint consensus.
type ConfChangeTransition int32

const (
	// ConfChangeTransitionAuto uses a simple one-step change when that is safe (at
	// most one voter changes) and otherwise joint consensus left automatically.
	ConfChangeTransitionAuto ConfChangeTransition = 0
	// ConfChangeTransitionJointImplicit always uses joint consensus and leaves it
	// automatically once the joint configuration is committed.
	ConfChangeTransitionJointImplicit ConfChangeTransition = 1
	// ConfChangeTransitionJointExplicit always uses joint consensus and stays joint
	// until the caller proposes an empty ConfChangeV2 to leave.
	ConfChangeTransitionJointExplicit ConfChangeTransition = 2
	// ConfChangeTransitionForce replaces the configuration in force, whatever
	// it is, with one whose only members are the voters its ConfChangeAddNode
	// changes name. It breaks Raft's membership rules on purpose, for disaster
	// recovery: only RawNode.ForceNewConfiguration appends it, and a proposal
	// carrying it is refused.
	ConfChangeTransitionForce ConfChangeTransition = 3
)

// ConfChangeV2 changes several members at once. The empty ConfChangeV2 leaves a
// joint configuration.
type ConfChangeV2 struct {
	Transition ConfChangeTransition
	Changes    []ConfChangeSingle
	Context    []byte
}

// SnapshotMetadata says where a snapshot sits in the log and which configuration
// was in force there.
type SnapshotMetadata struct {
	ConfState ConfState
	Index     uint64
	Term      uint64
}

// Snapshot is the state machine's state up to Metadata.Index.
type Snapshot struct {
	Data     []byte
	Metadata SnapshotMetadata
}

// IsEmpty reports whether s holds no snapshot.
func (s *Snapshot) IsEmpty() bool { return s == nil || s.Metadata.Index == 0 }

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
