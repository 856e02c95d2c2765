package member

import (
	"slices"
)

// Status describes a member as it sees itself and the cluster.
type Status struct {
	ID     uint64 `json:"id"`
	Role   string `json:"role"`
	Leader uint64 `json:"leader"`
	Term   uint64 `json:"term"`
	// Commit is the highest index known committed; Applied the highest
	// applied to the state machine; LastIndex the last in the log.
	Commit    uint64 `json:"commit"`
	Applied   uint64 `json:"applied"`
	LastIndex uint64 `json:"lastIndex"`
	// SnapshotIndex is the index of the snapshot the log starts after.
	SnapshotIndex uint64 `json:"snapshotIndex"`
	// Voters and Learners are the configuration applied; VotersOutgoing is
	// set while it is joint.
	Voters         []uint64 `json:"voters"`
	VotersOutgoing []uint64 `json:"votersOutgoing,omitempty"`
	Learners       []uint64 `json:"learners,omitempty"`
	// Peers are the members' URLs in the replicated state.
	Peers map[uint64]string `json:"peers"`
	// Keys is how many keys are set.
	Keys int `json:"keys"`
}

func (m *Member) status() Status {
	st := m.rn.BasicStatus()
	return Status{
		ID:             m.id,
		Role:           st.RaftState.String(),
		Leader:         st.Lead,
		Term:           st.Term,
		Commit:         st.Commit,
		Applied:        m.applied,
		LastIndex:      st.LastIndex,
		SnapshotIndex:  m.snapIndex,
		Voters:         slices.Sorted(slices.Values(m.confState.Voters)),
		VotersOutgoing: slices.Sorted(slices.Values(m.confState.VotersOutgoing)),
		Learners:       slices.Sorted(slices.Values(m.confState.Learners)),
		Peers:          m.state.Peers(),
		Keys:           m.state.Len(),
	}
}
