package explore

import (
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Kind is a kind of transition.
type Kind uint8

// The kinds of transition. Each but Drop and Crash acts on one member and is
// followed by that member handling its Readys.
const (
	// Deliver steps one in-flight message into its recipient.
	Deliver Kind = iota + 1
	// Drop loses one in-flight message.
	Drop
	// Campaign makes a voter that does not lead start an election.
	Campaign
	// Heartbeat ticks a leader once: a heartbeat round (HeartbeatTick is 1).
	Heartbeat
	// ProposeWrite makes a leader propose a normal entry.
	ProposeWrite
	// ProposeConfChange makes a leader propose one of the scenario's
	// configuration changes.
	ProposeConfChange
	// Crash crashes a member and restarts it from its disk: it loses its
	// volatile state and whatever it had not persisted.
	Crash
)

func (k Kind) String() string {
	switch k {
	case Deliver:
		return "deliver"
	case Drop:
		return "drop"
	case Campaign:
		return "campaign"
	case Heartbeat:
		return "heartbeat"
	case ProposeWrite:
		return "propose write"
	case ProposeConfChange:
		return "propose conf change"
	case Crash:
		return "crash"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Transition is one step of a path, as a trace reports it.
type Transition struct {
	Kind Kind
	// Member is the member that acts; for Deliver and Drop, the recipient.
	Member uint64
	// Message is the message delivered or dropped.
	Message pb.Message
	// Change is the configuration change proposed (ProposeConfChange), by its
	// index in Scenario.ConfChanges.
	Change int
	// CrashMidReady makes the member crash while handling the Ready the
	// transition causes: after sending its LeaderMessages, before persisting.
	// It is set only when that Ready has LeaderMessages and something to
	// persist, the one window where a crash loses what others already saw.
	CrashMidReady bool
}

// String describes t on one line.
func (t Transition) String() string {
	var s string
	switch t.Kind {
	case Deliver, Drop:
		s = t.Kind.String() + " " + pb.DescribeMessage(t.Message)
	case ProposeConfChange:
		s = fmt.Sprintf("%d proposes conf change #%d", t.Member, t.Change)
	default:
		s = fmt.Sprintf("%s %d", t.Kind, t.Member)
	}
	if t.CrashMidReady {
		s += ", then crashes after sending its LeaderMessages, before persisting"
	}
	return s
}

// move is a transition as the explorer stores it: small, with the message by
// its id in the exploration's messageTable.
type move struct {
	kind          Kind
	crashMidReady bool
	change        uint8
	member        uint32
	msg           uint32
}
