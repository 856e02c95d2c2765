package server

import (
	"context"
	"fmt"
	"time"

	"github.com/raftkube/raftkube/raftnode/raft"
)

// handOffLeadership runs when a leader shuts down gracefully (a pod deleted,
// a rolling restart): it transfers leadership to the most up-to-date other
// voter and waits, so the cluster goes on without waiting an election timeout.
// It gives up after the given timeout; shutdown continues either way.
func (s *Server) handOffLeadership(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var to uint64
	err := s.inLoop(ctx, func() {
		st := s.rn.Status()
		if st.RaftState != raft.StateLeader || len(s.confState.VotersOutgoing) > 0 {
			return // a joint configuration finishes first; leaving it needs this leader
		}
		var best uint64
		for _, id := range s.confState.Voters {
			if pr, ok := st.Progress[id]; ok && id != s.id && pr.RecentActive && (to == 0 || pr.Match > best) {
				to, best = id, pr.Match
			}
		}
		if to != 0 {
			s.rn.TransferLeader(to)
		}
	})
	if err != nil || to == 0 {
		return
	}
	s.log.Info("shutting down: handing leadership over", "to", fmt.Sprintf("%x", to))
	// Wait until this member hears from a new leader, not merely until it
	// steps down: its vote for the transferee leaves only once synced, and
	// stopping before it leaves makes the transferee wait an election
	// timeout for a vote it cannot win without.
	for {
		changed := s.changes.next() // before the look: no change is missed
		if lead := s.leader.Load(); lead != s.id && lead != raft.None {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			s.log.Warn("leadership not handed over before shutdown", "to", fmt.Sprintf("%x", to))
			return
		}
	}
}
