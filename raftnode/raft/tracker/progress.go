package tracker

import (
	"fmt"
	"slices"
	"strings"
)

// Progress is the leader's view of one follower (voter or learner): how much of
// the log it has, what has been sent to it, and how to send more. The leader
// keeps one per member, including itself.
//
// The states and their transitions (after etcd raft v3.6):
//
//	StateProbe     --MaybeUpdate-->      StateReplicate (BecomeReplicate, by the caller)
//	StateReplicate --MaybeDecrTo-->      StateProbe     (BecomeProbe, by the caller)
//	StateProbe/Replicate --compacted-->  StateSnapshot  (BecomeSnapshot)
//	StateSnapshot  --applied/failed-->   StateProbe     (BecomeProbe)
type Progress struct {
	// Match is the highest index known to be in the follower's log and to
	// match the leader's.
	// Invariant: 0 <= Match < Next.
	Match uint64
	// Next is the index of the next entry to send. Entries in [Match+1, Next)
	// have been sent (in StateReplicate) and are not yet acknowledged.
	// Invariant: Match < Next (so Next >= 1).
	// Invariant: in StateSnapshot, Next >= PendingSnapshot+1 (equal on entry;
	// an acknowledgement past the snapshot may raise it).
	Next uint64

	// sentCommit is the highest commit index sent to the follower. It only
	// decides whether a new commit index is worth an extra message (see
	// CanBumpCommit), so it may regress without harm: it is lowered to Next-1
	// when Next goes back, as the follower probably did not apply it.
	// BecomeSnapshot sets it to the snapshot's index, which the follower
	// commits by applying the snapshot.
	sentCommit uint64

	// State is the replication state; see StateType.
	State StateType

	// PendingSnapshot is the index of the snapshot being sent in StateSnapshot.
	// Invariant: PendingSnapshot == 0 unless State == StateSnapshot.
	PendingSnapshot uint64

	// RecentActive is true if the leader heard from the follower since the
	// last check-quorum round (which resets it), and for a member just added,
	// so that check-quorum does not count it as down before it had a chance to
	// answer.
	RecentActive bool

	// MsgAppFlowPaused stops the flow of MsgApps to the follower. In
	// StateProbe it is set once a MsgApp with entries is sent and cleared by
	// the answer or a heartbeat response, so that probing goes one message at
	// a time. In StateReplicate it mirrors Inflights.Full(). It is cleared by
	// every state change. In StateSnapshot it is not consulted: see IsPaused.
	MsgAppFlowPaused bool

	// Inflights is the window of MsgApps in flight.
	// Invariant: Inflights is empty unless State == StateReplicate.
	Inflights *Inflights

	// IsLearner is true if the follower is a learner: it receives the log but
	// neither votes nor counts toward commit.
	// Invariant: agrees with the configuration (tracker.Config.Learners).
	IsLearner bool
}

// ResetState moves pr to state with a clean slate: not paused, no pending
// snapshot, nothing in flight. Match, Next and sentCommit are left to the
// caller (the Become* methods).
func (pr *Progress) ResetState(state StateType) {
	pr.MsgAppFlowPaused = false
	pr.PendingSnapshot = 0
	pr.State = state
	if pr.Inflights != nil {
		pr.Inflights.Reset()
	}
}

// BecomeProbe moves pr to StateProbe. Next restarts just after Match; coming
// from StateSnapshot it restarts after the snapshot if that is further, as the
// follower applied it (or will have to be probed from there anyway).
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.ResetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
	} else {
		pr.ResetState(StateProbe)
		pr.Next = pr.Match + 1
	}
	pr.sentCommit = min(pr.sentCommit, pr.Next-1)
}

// BecomeReplicate moves pr to StateReplicate, sending from Match+1 on.
func (pr *Progress) BecomeReplicate() {
	pr.ResetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot moves pr to StateSnapshot while the snapshot at index
// snapshoti is sent.
func (pr *Progress) BecomeSnapshot(snapshoti uint64) {
	pr.ResetState(StateSnapshot)
	pr.PendingSnapshot = snapshoti
	pr.Next = snapshoti + 1
	pr.sentCommit = snapshoti
}

// UpdateOnEntriesSend records a MsgApp carrying entries entries of bytes bytes,
// starting at Next. In StateReplicate it advances Next past them, adds them to
// the window and pauses the flow if the window is now full. In StateProbe it
// pauses the flow until the answer if any entry was sent (an empty MsgApp, for
// instance to carry a commit index, does not pause).
//
// It panics in StateSnapshot, where no MsgApp may be sent: that is a bug of the
// caller, who must check IsPaused first.
func (pr *Progress) UpdateOnEntriesSend(entries int, bytes uint64) {
	switch pr.State {
	case StateReplicate:
		if entries > 0 {
			pr.Next += uint64(entries)
			pr.Inflights.Add(pr.Next-1, bytes)
		}
		pr.MsgAppFlowPaused = pr.Inflights.Full()
	case StateProbe:
		if entries > 0 {
			pr.MsgAppFlowPaused = true
		}
	default:
		panic(fmt.Sprintf("tracker: sending entries in %s", pr.State))
	}
}

// CanBumpCommit reports whether sending commit index index may advance the
// follower's commit index, so that it is worth a message of its own: it is
// above what was sent, and what was sent did not already cover everything
// the follower has been sent.
func (pr *Progress) CanBumpCommit(index uint64) bool {
	return index > pr.sentCommit && pr.sentCommit < pr.Next-1
}

// SentCommit records that commit index commit was sent to the follower.
func (pr *Progress) SentCommit(commit uint64) { pr.sentCommit = commit }

// MaybeUpdate handles an accepted MsgAppResp for index n. If n is above Match,
// Match becomes n, Next moves past it if needed, the flow is unpaused and
// MaybeUpdate returns true. A stale acknowledgement (n <= Match) changes
// nothing and returns false.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	if n <= pr.Match {
		return false
	}
	pr.Match = n
	pr.Next = max(pr.Next, n+1)
	pr.MsgAppFlowPaused = false
	return true
}

// MaybeDecrTo handles a MsgAppResp that rejected the MsgApp whose preceding
// index was rejected; matchHint is the follower's guess of the highest index
// where its log may still match (its RejectHint). It returns false if the
// rejection is stale and was ignored.
//
// In StateReplicate a rejection above Match means entries were lost or the
// follower restarted: Next drops back to Match+1, and the caller is expected to
// BecomeProbe (which also empties the window). In StateProbe only a rejection
// of the one MsgApp in flight (rejected == Next-1) counts: Next moves back to
// the hint, never below Match+1, and the flow is unpaused so the next probe
// goes out.
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		if rejected <= pr.Match {
			return false // stale: the follower has since acknowledged more
		}
		pr.Next = pr.Match + 1
		pr.sentCommit = min(pr.sentCommit, pr.Next-1)
		return true
	}
	if pr.Next-1 != rejected {
		return false // stale: probing sends one MsgApp, at Next-1
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.sentCommit = min(pr.sentCommit, pr.Next-1)
	pr.MsgAppFlowPaused = false
	return true
}

// IsPaused reports whether the leader must hold MsgApps to the follower: the
// flow is paused in StateProbe or StateReplicate, or a snapshot is in flight.
// Heartbeats are sent regardless.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe, StateReplicate:
		return pr.MsgAppFlowPaused
	default:
		return true
	}
}

// String describes pr on one line, as in
// "StateReplicate match=5 next=9 learner paused inflight=3[full]".
func (pr *Progress) String() string {
	var buf strings.Builder
	fmt.Fprintf(&buf, "%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.IsLearner {
		buf.WriteString(" learner")
	}
	if pr.IsPaused() {
		buf.WriteString(" paused")
	}
	if pr.PendingSnapshot > 0 {
		fmt.Fprintf(&buf, " pendingSnap=%d", pr.PendingSnapshot)
	}
	if !pr.RecentActive {
		buf.WriteString(" inactive")
	}
	if pr.Inflights != nil {
		if n := pr.Inflights.Count(); n > 0 {
			fmt.Fprintf(&buf, " inflight=%d", n)
			if pr.Inflights.Full() {
				buf.WriteString("[full]")
			}
		}
	}
	return buf.String()
}

// ProgressMap is the Progress of each member, by id.
type ProgressMap map[uint64]*Progress

// String lists the members in ascending id order, one "id: progress" a line.
func (m ProgressMap) String() string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var buf strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&buf, "%d: %s\n", id, m[id])
	}
	return buf.String()
}
