package raft

import (
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// BasicStatus is a member's state without per-member progress.
type BasicStatus struct {
	ID uint64
	pb.HardState
	SoftState
	// Applied is the last index the caller reported applied.
	Applied uint64
	// LeadTransferee is the member leadership is being handed to, or None.
	LeadTransferee uint64
	// LastIndex and LastTerm are the last entry of the log, durable or not:
	// of several members, the one with the highest (LastTerm, LastIndex) holds
	// every entry the others hold that a leader may have committed (§5.4.1).
	LastIndex, LastTerm uint64
}

// Status is a member's state; on a leader it includes every member's progress.
type Status struct {
	BasicStatus
	// Config is the configuration in force.
	Config tracker.Config
	// Progress is set on the leader only; the values are copies.
	Progress map[uint64]tracker.Progress
}

func getBasicStatus(r *raft) BasicStatus {
	return BasicStatus{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LeadTransferee: r.leadTransferee,
		LastIndex:      r.raftLog.lastIndex(),
		LastTerm:       r.raftLog.lastTerm(),
	}
}

func getStatus(r *raft) Status {
	s := Status{BasicStatus: getBasicStatus(r), Config: r.trk.Config.Clone()}
	if s.RaftState == StateLeader {
		s.Progress = make(map[uint64]tracker.Progress, len(r.trk.Progress))
		r.trk.Visit(func(id uint64, pr *tracker.Progress) {
			p := *pr
			p.Inflights = pr.Inflights.Clone()
			s.Progress[id] = p
		})
	}
	return s
}

func (s Status) String() string {
	return fmt.Sprintf("id=%x term=%d vote=%x commit=%d applied=%d lead=%x state=%s config=%s",
		s.ID, s.Term, s.Vote, s.Commit, s.Applied, s.Lead, s.RaftState, s.Config.String())
}
