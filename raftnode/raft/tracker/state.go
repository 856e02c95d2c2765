package tracker

import "strconv"

// StateType is the replication state of a follower as the leader sees it.
type StateType uint64

const (
	// StateProbe means the leader does not know where the follower's log matches its
	// own. It sends one MsgApp at a time and waits for the answer (or a
	// heartbeat response) before sending the next, walking Next back on
	// rejections until the logs match.
	StateProbe StateType = iota
	// StateReplicate means the logs match up to Match, and the leader streams
	// entries optimistically, bounded by the Inflights window.
	StateReplicate
	// StateSnapshot means the follower needs entries the leader has compacted, so a
	// snapshot is on its way; no MsgApp is sent until it is applied or fails.
	StateSnapshot
)

var stateNames = [...]string{
	StateProbe:     "StateProbe",
	StateReplicate: "StateReplicate",
	StateSnapshot:  "StateSnapshot",
}

// String returns "StateProbe", "StateReplicate" or "StateSnapshot".
func (st StateType) String() string {
	if st < StateType(len(stateNames)) {
		return stateNames[st]
	}
	return "StateType(" + strconv.FormatUint(uint64(st), 10) + ")"
}
